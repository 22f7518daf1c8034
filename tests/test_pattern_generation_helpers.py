"""Tests for the helpers of notebook 06: the seed exercise check and the BCE floor."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import check_seed_free_patterns
from course_lib.metrics import pixel_entropy


def test_the_deterministic_patterns_are_the_right_answer_in_any_order(capsys):
    assert check_seed_free_patterns(["spiral", "mandala", "gradient"])
    assert "Correct" in capsys.readouterr().out


def test_a_random_pattern_in_the_answer_is_named(capsys):
    assert not check_seed_free_patterns(["mandala", "gradient", "spiral", "noise"])
    out = capsys.readouterr().out
    assert "'noise' changes with the seed" in out


def test_a_missing_pattern_is_named(capsys):
    assert not check_seed_free_patterns(["mandala", "gradient"])
    assert "Missing: 'spiral'" in capsys.readouterr().out


def test_no_answer_unknown_names_and_a_bare_string_are_not_accepted(capsys):
    assert not check_seed_free_patterns(None)
    assert "Not answered yet" in capsys.readouterr().out
    assert not check_seed_free_patterns(["plaid"])
    assert "not pattern types" in capsys.readouterr().out
    assert not check_seed_free_patterns("mandala")
    assert "give a list" in capsys.readouterr().out


def test_pixel_entropy_is_zero_for_black_and_white_and_log2_for_mid_gray():
    assert pixel_entropy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]).reshape(1, 1, 2, 2)) == 0.0
    half = torch.full((3, 1, 2, 2), 0.5)
    assert pixel_entropy(half) == pytest.approx(4 * math.log(2))


def test_pixel_entropy_is_the_floor_of_the_binary_cross_entropy():
    torch.manual_seed(0)
    targets = torch.rand(5, 1, 4, 4)
    floor = pixel_entropy(targets)
    for guess in (targets, targets.clamp(0.1, 0.9), torch.full_like(targets, 0.5)):
        bce = F.binary_cross_entropy(guess, targets, reduction="sum").item() / 5
        assert bce >= floor - 1e-4
    exact = F.binary_cross_entropy(targets, targets, reduction="sum").item() / 5
    assert exact == pytest.approx(floor, rel=1e-4)
