from __future__ import annotations

import importlib.metadata

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
