"""Notebook 03b's projects: the solution functions run, and the checks say right for the
conclusion the solution's own numbers give and wrong for any other."""

from __future__ import annotations

import pytest

from course_lib.data import ImageDataset, load_dataset
from course_lib.gan_projects import (
    STABILISER_RUNS,
    check_critic_depth,
    check_most_important_stabiliser,
    critic_depth_study,
    stabiliser_ablation,
)
from course_lib.runtime import use_threads


@pytest.fixture(scope="module")
def tiny():
    previous = use_threads(1)
    train = load_dataset("mnist5k", "train")
    yield ImageDataset(train.images[:64], train.labels[:64], train.classes, "mnist5k/64")
    use_threads(previous)


def test_project_a_solution_passes_its_check_and_a_wrong_answer_fails(tiny, capsys):
    ratios = stabiliser_ablation(tiny, epochs=1, n_samples=64, progress=False)
    assert set(ratios) == set(STABILISER_RUNS) and all(r > 0 for r in ratios.values())
    assert len(set(ratios.values())) == 4, "the four runs should differ"
    worst = max((n for n in ratios if n != "all four"), key=ratios.get)
    assert check_most_important_stabiliser(worst, ratios) is True
    assert capsys.readouterr().out.startswith("[pass]")
    for other in set(STABILISER_RUNS) - {"all four", worst}:
        assert check_most_important_stabiliser(other, ratios) is False
        assert capsys.readouterr().out.startswith("[FAIL]")


def test_project_b_solution_passes_its_check_and_a_wrong_answer_fails(tiny, capsys):
    ratios = critic_depth_study(tiny, lengths=(1, 2), n_samples=64, progress=False)
    assert sorted(ratios) == [(2, 1), (2, 2), (3, 1), (3, 2)]
    better = [n for n in (1, 2) if ratios[(3, n)] < ratios[(2, n)]]
    expected = better[0] if better else "never"
    assert check_critic_depth(expected, ratios) is True
    for other in {1, 2, "never"} - {expected}:
        assert check_critic_depth(other, ratios) is False
    assert "[FAIL]" in capsys.readouterr().out


def test_the_checks_judge_planted_numbers():
    planted = {"all four": 9.0, "no average": 12.0, "no shift": 30.0, "bce loss": 10.0}
    assert check_most_important_stabiliser("no shift", planted)
    assert not check_most_important_stabiliser("no average", planted)
    depth = {(2, 8): 9.0, (3, 8): 9.5, (2, 60): 8.0, (3, 60): 3.0}
    assert check_critic_depth(60, depth)
    assert not check_critic_depth(8, depth)
    assert not check_critic_depth("never", depth)
    assert check_critic_depth("never", {**depth, (3, 60): 8.5})


def test_unanswered_is_not_wrong_and_bad_input_is_named(capsys):
    assert check_most_important_stabiliser(None, None) is False
    assert check_critic_depth(None, None) is False
    assert "Not answered yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="missing"):
        check_most_important_stabiliser("no shift", {"all four": 1.0})
    with pytest.raises(ValueError, match="answer must be one of"):
        check_most_important_stabiliser("spectral", dict.fromkeys(STABILISER_RUNS, 1.0))
    with pytest.raises(ValueError, match="depth 2 and depth 3"):
        check_critic_depth(8, {(2, 8): 1.0})
    with pytest.raises(ValueError, match="answer must be one of"):
        check_critic_depth(30, {(2, 8): 1.0, (3, 8): 2.0})


def test_notebook_03b_gives_each_project_a_check_and_a_hidden_solution():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / "03b_better_gans.ipynb"
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    hidden = [
        s
        for c, s in zip(cells, sources, strict=True)
        if c["metadata"].get("jupyter", {}).get("source_hidden")
        and "project-solution" in c["metadata"].get("tags", [])
    ]
    for check_name, solution in (
        ("check_most_important_stabiliser(", "stabiliser_ablation("),
        ("check_critic_depth(", "critic_depth_study("),
    ):
        assert any(check_name in s and s not in hidden for s in sources), check_name
        assert any(solution in s and check_name in s for s in hidden), solution
