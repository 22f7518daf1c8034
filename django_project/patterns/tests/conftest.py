"""Fixtures for the pattern studio tests: media in a temporary folder, a valid recipe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Point MEDIA_ROOT at a fresh temporary folder so tests never write into the repo."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


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


@pytest.fixture
def media_files(media_root: Path) -> Callable[[], list[Path]]:
    """A function listing every file now stored under MEDIA_ROOT."""
    return lambda: sorted(path for path in media_root.rglob("*") if path.is_file())
