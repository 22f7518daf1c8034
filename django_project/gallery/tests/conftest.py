"""Fixtures for the gallery tests (the media folder and tiny models: django_project/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def fresh_service(fresh_generation: None) -> None:
    """Each gallery test starts with no cached models, load counts or latent map."""
