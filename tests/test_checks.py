from __future__ import annotations

import importlib.metadata

import pytest

from course_lib import checks


def test_check_answer_distinguishes_unanswered_right_and_wrong(capsys):
    assert checks.check_answer(None, 42) is False
    assert "Not answered yet" in capsys.readouterr().out
    assert checks.check_answer(42, 42) is True
    assert "Correct" in capsys.readouterr().out
    assert checks.check_answer(41, 42, hint="count again") is False
    out = capsys.readouterr().out
    assert "Not quite" in out and "count again" in out


def test_check_answer_compares_floats_with_a_tolerance(capsys):
    assert checks.check_answer(0.1 + 0.2, 0.3) is True
    assert checks.check_answer(0.31, 0.3) is False
    assert checks.check_answer("abc", 0.3) is False  # not a number: wrong, not a crash


def test_check_environment_passes_here_and_flags_a_version_mismatch(capsys, monkeypatch):
    assert checks.check_environment() is True
    assert "All set" in capsys.readouterr().out

    real_version = importlib.metadata.version
    monkeypatch.setattr(
        checks.importlib.metadata,
        "version",
        lambda name: "0.0.1" if name == "plotly" else real_version(name),
    )
    assert checks.check_environment() is False
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "plotly" in out and "pinned" in out


def test_check_value_prints_the_measure_beside_the_bar(capsys):
    from course_lib.checks import check_value

    assert check_value("held-out BCE", 77.4, at_most=85, unit="nats") is True
    assert check_value("score ratio", 0.912, at_least=0.95, digits=2) is False
    assert check_value("ratio", float("nan"), at_most=2) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[pass] held-out BCE: 77 nats (bar: at most 85)"
    assert lines[1] == "[FAIL] score ratio: 0.91 (bar: at least 0.95)"
    assert lines[2].startswith("[FAIL] ratio: nan")
    with pytest.raises(ValueError, match="needs a bar"):
        check_value("no bar", 1.0)


def test_check_prints_a_yes_no_fact(capsys):
    from course_lib.checks import check

    assert check("losses agree", True, "difference 0.0000") is True
    assert check("losses agree", False) is False
    assert capsys.readouterr().out.splitlines() == [
        "[pass] losses agree: difference 0.0000",
        "[FAIL] losses agree",
    ]
