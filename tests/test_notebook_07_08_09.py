"""Notebooks 07-09 as saved: every exercise has a check and a hidden solution that passes it;
the style uploader's static picture (notebook 09) is the one its button shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_lib import notebook, styles, widgets

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LATE = ["07_build_the_gallery", "08_launch_the_gallery", "09_personal_style"]


def _code_cells(name: str) -> list[dict]:
    cells = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def _output_text(cell: dict) -> str:
    parts = []
    for output in cell.get("outputs", []):
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "".join(parts)


@pytest.mark.parametrize("name", LATE)
def test_every_exercise_has_a_check_and_a_hidden_solution_that_passes(name):
    cells = _code_cells(name)
    tags = [c["metadata"].get("tags", []) for c in cells]
    exercises = [i for i, t in enumerate(tags) if "exercise" in t]
    assert len(exercises) >= 2, f"{name} has {len(exercises)} checked exercises"
    for i in exercises:
        source = "".join(cells[i]["source"])
        assert "answer = None" in source and "check_answer(answer" in source
        assert "Not answered yet" in _output_text(cells[i])  # saved unanswered, not as False
        solution = cells[i + 1]
        assert "solution" in solution["metadata"].get("tags", []), f"cell after {i}"
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert "Correct:" in _output_text(solution)


@pytest.mark.parametrize("name", LATE)
def test_no_check_line_is_saved_as_a_bare_true_or_false(name):
    bare = [
        i
        for i, cell in enumerate(_code_cells(name))
        for output in cell.get("outputs", [])
        if output.get("output_type") == "execute_result"
        and "".join(output["data"].get("text/plain", "")) in ("True", "False")
    ]
    assert not bare, f"{name}: cells {bare} end in a bare True/False"


def test_the_uploaders_static_picture_is_what_its_button_shows(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(notebook, "show", lambda images, **kw: shown.append((images, kw)))
    monkeypatch.setattr(styles, "brief_report", lambda report: "the brief report")
    torch.manual_seed(0)
    model = styles.StyleVAE(latent_dim=4).eval()
    originals = torch.rand(6, 3, 32, 32)
    result = styles.StyleResult(model=model, originals=originals, history=[], report={})
    widgets.StyleUploader.show_result(result, report=False)
    assert [kw["title"] for _, kw in shown] == ["your images", "variations"]
    assert torch.equal(shown[0][0], originals)
    assert torch.equal(shown[1][0], styles.variations(model, 10, seed=0))
    assert "the brief report" not in capsys.readouterr().out
    widgets.StyleUploader.show_result(result)
    assert capsys.readouterr().out.strip() == "the brief report"
