"""Checks a learner runs in a notebook cell: is the environment right, is an answer right?

Each check prints one line per item, ``ok`` or ``PROBLEM`` with what to do, and returns
whether everything passed, so a notebook shows a stable, readable verdict.

A measured bar in a notebook is printed with :func:`check_value` (or :func:`check` for a
yes/no fact), always as one line that starts with ``[pass]`` or ``[FAIL]`` and carries the
measured number beside the bar, e.g. ``[pass] held-out BCE: 77 nats (bar: at most 85)``.
``tests/test_notebook_outputs.py`` fails when any saved notebook shows a ``[FAIL]`` or
``PROBLEM`` line, so a notebook is never saved with its own check failing.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Callable

__all__ = ["check", "check_answer", "check_environment", "check_value", "FAIL", "PASS"]

PASS, FAIL = "[pass]", "[FAIL]"

# Packages the notebooks rely on, and the versions pyproject.toml pins.
PINNED = ("torch", "torchvision", "numpy", "scikit-learn", "ipywidgets", "plotly", "django")


def _line(ok: bool, label: str, detail: str) -> bool:
    print(f"{'ok     ' if ok else 'PROBLEM'}  {label:<24} {detail}")
    return ok


def _dataset_check(name: str, expected: int) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        from .data import load_dataset

        try:
            size = len(load_dataset(name, "all"))
        except (ValueError, FileNotFoundError, OSError) as err:
            return False, f"cannot load: {err}"
        return size == expected, f"{size} images, offline"

    return check


def check_environment() -> bool:
    """Print whether Python, the pinned packages and the offline datasets are in place."""
    python_ok = sys.version_info >= (3, 11)
    found = "{}.{}".format(*sys.version_info[:2])
    results = [_line(python_ok, "Python >= 3.11", "" if python_ok else f"found {found}")]
    pins = _pins()
    for package in PINNED:
        try:
            found = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            results.append(_line(False, package, "not installed: run `make lab`"))
            continue
        wanted = pins.get(package)
        same = wanted is None or found.split("+")[0] == wanted
        detail = (
            found.split("+")[0] if same else f"{found} installed, {wanted} pinned: run make venv"
        )
        results.append(_line(same, package, detail))
    for name, expected in (("mnist5k", 5000), ("digits", 1797)):
        ok, detail = _dataset_check(name, expected)()
        results.append(_line(ok, f"dataset {name}", detail))
    passed = all(results)
    print(
        "All set: the course runs offline on this machine."
        if passed
        else "Something needs fixing: see the PROBLEM lines above."
    )
    return passed


def _pins() -> dict[str, str]:
    """Exact pins of this package's dependencies, read from its installed metadata."""
    try:
        requirements = importlib.metadata.requires("course-lib") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        spec = requirement.split(";")[0].strip()
        if "==" in spec:
            name, version = spec.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def check(label: str, passed: bool, detail: str = "") -> bool:
    """Print one check line, ``[pass] label: detail`` or ``[FAIL] label: detail``."""
    print(f"{PASS if passed else FAIL} {label}" + (f": {detail}" if detail else ""))
    return bool(passed)


def check_value(
    label: str,
    value: float,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    unit: str = "",
    digits: int = 0,
) -> bool:
    """Print a measured value against its bar and return whether it is met.

    ``digits`` rounds the printed value (and the bar) so the line is stable across machines:
    choose the precision that is meaningful, e.g. 0 for nats, 2 for a ratio.
    """
    if at_most is None and at_least is None:
        raise ValueError("check_value needs a bar: at_most=..., at_least=... or both")
    value = float(value)
    if value != value:  # NaN never meets a bar
        passed = False
    else:
        passed = (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
    suffix = f" {unit}" if unit else ""
    bars = []
    if at_least is not None:
        bars.append(f"at least {at_least:.{digits}f}")
    if at_most is not None:
        bars.append(f"at most {at_most:.{digits}f}")
    return check(label, passed, f"{value:.{digits}f}{suffix} (bar: {' and '.join(bars)})")


def check_answer(answer: object, expected: object, *, hint: str = "") -> bool:
    """Say whether an exercise answer is right; ``None`` means "not tried yet", not wrong."""
    if answer is None:
        print("Not answered yet: replace None with your answer and run the cell again.")
        return False
    try:
        correct = (
            bool(answer == expected)
            if not isinstance(expected, float)
            else (abs(float(answer) - expected) <= 1e-6 * max(1.0, abs(expected)))
        )
    except (TypeError, ValueError):
        correct = False
    if correct:
        print(f"Correct: {answer!r}.")
    else:
        print(f"Not quite: {answer!r} is not it." + (f" Hint: {hint}" if hint else ""))
    return correct


def check_seed_free_patterns(answer: object) -> bool:
    """Check a list of the pattern types that draw the same image for every seed (notebook 06)."""
    import numpy as np

    from .patterns import PATTERN_TYPES, create_pattern

    if answer is None:
        print("Not answered yet: replace None with a list of pattern names and run the cell again.")
        return False
    if isinstance(answer, str) or not all(isinstance(name, str) for name in answer):
        print(f"Not quite: give a list of names such as ['mandala'], got {answer!r}.")
        return False

    def same_for_two_seeds(name: str) -> bool:
        first, second = (create_pattern(name, 32, 32, "#000000", "#808080", seed=s) for s in (1, 2))
        return bool(np.array_equal(np.asarray(first), np.asarray(second)))

    given = set(answer)
    expected = {name for name in PATTERN_TYPES if same_for_two_seeds(name)}
    unknown = sorted(given - set(PATTERN_TYPES))
    if unknown:
        print(f"Not quite: {unknown} are not pattern types; choose from {list(PATTERN_TYPES)}.")
        return False
    if given == expected:
        print(f"Correct: {sorted(given)} ignore the seed; the others are random.")
        return True
    for name in sorted(given - expected):
        print(f"Not quite: {name!r} changes with the seed (try two seeds and compare).")
    for name in sorted(expected - given):
        print(f"Missing: {name!r} also draws the same image for every seed.")
    return False
