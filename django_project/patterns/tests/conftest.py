"""Fixtures for the pattern studio tests: a valid recipe (media: django_project/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def recipe() -> dict[str, object]:
    """POST data for a small valid pattern."""
    return {
        "pattern_type": "mandala",
        "width": 120,
        "height": 100,
        "primary_color": "#ff8800",
        "secondary_color": "#0000FF",
    }
