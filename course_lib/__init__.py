"""Helpers for the generative-models course: models, data, training, checkpoints and widgets.

Import the submodule you need (``from course_lib.models import VariationalAutoencoder``);
importing the package itself stays cheap so ``python -m course_lib --help`` answers at once.
"""

from __future__ import annotations

__version__ = "0.1.0"
