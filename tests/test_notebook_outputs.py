"""What a reader of the saved notebooks sees: no failed check, no interactive output alone.

nbval compares outputs with a fresh run, but a notebook saved with its own check failing would
pass nbval forever; these tests read the saved files the way GitHub or nbviewer shows them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
INTERACTIVE = ("application/vnd.jupyter.widget-view+json", "application/vnd.plotly.v1+json")


def _cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_saved_output_reports_a_failed_check(path):
    failed = [
        f"cell {i}: {line.strip()}"
        for i, cell in enumerate(_cells(path))
        for output in cell.get("outputs", [])
        for line in _text(output).splitlines()
        if line.lstrip().startswith(("[FAIL]", "PROBLEM"))
    ]
    assert not failed, f"{path.name} is saved with failing checks:\n" + "\n".join(failed)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_interactive_output_has_a_static_image_beside_it(path):
    alone = []
    for i, cell in enumerate(_cells(path)):
        outputs = cell.get("outputs", [])
        kinds = {key for output in outputs for key in output.get("data", {})}
        if any(kind in kinds for kind in INTERACTIVE) and "image/png" not in kinds:
            alone.append(i)
    assert not alone, f"{path.name}: interactive outputs without a static image in cells {alone}"
