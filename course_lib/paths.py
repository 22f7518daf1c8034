"""Where the course keeps data and trained checkpoints, shared by notebooks, CLI and web app.

Everything lives under one data folder: ``data/`` at the top of the repository when the package
is installed from a checkout, else ``~/.course_lib``. Set ``COURSE_DATA_DIR`` to move it.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The folder for downloads (``MNIST/``) and trained checkpoints."""
    override = os.environ.get("COURSE_DATA_DIR")
    if override:
        return Path(override).expanduser().resolve()
    if (PROJECT_ROOT / "pyproject.toml").is_file():
        return PROJECT_ROOT / "data"
    return Path.home() / ".course_lib"


def checkpoint_dir() -> Path:
    """The one shared place where notebooks and the CLI write checkpoints and the gallery reads."""
    return data_dir() / "checkpoints"


def checkpoint_path(name: str) -> Path:
    """Path of a named checkpoint in the shared folder, e.g. ``checkpoint_path("vae_mnist5k")``."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"checkpoint name must be a plain file name, got {name!r}")
    return checkpoint_dir() / (name if name.endswith(".pt") else f"{name}.pt")
