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


def _cells(path: Path) -> list[tuple[int, dict]]:
    """The code cells with their index among all cells (as Jupyter numbers them from 0)."""
    cells = json.loads(path.read_text())["cells"]
    return [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]


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
        for i, cell in _cells(path)
        for output in cell.get("outputs", [])
        for line in _text(output).splitlines()
        if line.lstrip().startswith(("[FAIL]", "PROBLEM"))
    ]
    assert not failed, f"{path.name} is saved with failing checks:\n" + "\n".join(failed)


def _is_finished_bar(output: dict) -> bool:
    """A progress bar's widget: its text form (what a reader without a kernel sees) must be the
    finished bar, which is the static copy it needs."""
    data = output.get("data", {})
    return INTERACTIVE[0] in data and "100%|" in _text(output)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_interactive_output_has_a_static_image_beside_it(path):
    alone = []
    for i, cell in _cells(path):
        outputs = [o for o in cell.get("outputs", []) if not _is_finished_bar(o)]
        kinds = {key for output in outputs for key in output.get("data", {})}
        if any(kind in kinds for kind in INTERACTIVE) and "image/png" not in kinds:
            alone.append(i)
    assert not alone, f"{path.name}: interactive outputs without a static image in cells {alone}"


#: A saved notebook above this is carrying something it should not: typically a plotly
#: FigureWidget's saved widget state, which inlines all of plotly.js (5 MB) into the file.
MAX_NOTEBOOK_BYTES = 2_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_notebook_stays_small(path):
    size = path.stat().st_size
    anywidgets = [
        key
        for key, model in json.loads(path.read_text())["metadata"]
        .get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
        .items()
        if model.get("model_name") == "AnyModel"
    ]
    assert not anywidgets, (
        f"{path.name} saves the state of {len(anywidgets)} anywidget(s) (plotly FigureWidget: "
        "plotly.js inlined); drop them from metadata.widgets, the static PNG stands in"
    )
    assert size < MAX_NOTEBOOK_BYTES, f"{path.name} is {size:,} bytes"
