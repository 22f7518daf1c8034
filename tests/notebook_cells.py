"""Reading the saved notebooks in tests: their cells, a cell's source and saved text, and the
cells that carry a tag (``core-step``, ``exercise``...). One copy for every notebook test."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cells(name: str) -> list[dict]:
    """The cells of ``notebooks/<name>`` (``name`` with or without ``.ipynb``)."""
    return json.loads((NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb").read_text())["cells"]


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def texts(cell: dict) -> list[str]:
    """The text of each saved output: a stream's text, or a display's ``text/plain``."""
    found = []
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        found.append("".join(text) if isinstance(text, list) else text)
    return found


def tagged(name: str, tag: str) -> list[tuple[int, dict]]:
    """``(index, cell)`` of every cell of ``name`` tagged ``tag``."""
    return [
        (i, c) for i, c in enumerate(cells(name)) if tag in c.get("metadata", {}).get("tags", [])
    ]
