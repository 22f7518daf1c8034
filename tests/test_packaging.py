"""The install paths and the notebook files: things that break a fresh clone silently."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_runtime_dependencies_are_pinned_exactly():
    deps = (
        PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    )
    loose = [d for d in deps if "==" not in d]
    assert not loose, f"unpinned dependencies: {loose}"
    names = {_name(d) for d in deps}
    for needed in (
        "torch",
        "torchvision",
        "jupyterlab",
        "ipywidgets",
        "ipykernel",
        "matplotlib",
        "plotly",
        "nbformat",
        "scikit-learn",
        "pillow",
        "numpy",
        "scipy",
        "mlxtend",
        "tqdm",
        "django",
        "pytest",
        "nbval",
        "pytest-django",
        "ruff",
    ):
        assert needed in names, f"{needed} missing from pyproject.toml"


def test_torch_pair_is_the_one_that_works_here():
    deps = PYPROJECT["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps
    assert any(d.startswith("django==5.2.") for d in deps), "Django must stay on the 5.2 LTS"


def test_environment_yml_installs_the_same_pins():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M), (
        "environment.yml must use Python 3.11"
    )
    # It installs this very package with its test extra, so the pins cannot drift apart.
    assert re.search(r"^\s*-\s*-e\s+\.\[test\]\s*$", text, re.M)
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11")


def test_make_test_runs_strict_nbval_and_ci_calls_make_test():
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "--nbval" in test_recipe and "--nbval-lax" not in makefile
    assert "notebooks" in test_recipe
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_saved_executed_with_the_python3_kernel(path: Path):
    notebook = json.loads(path.read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code cells is not checked by nbval"
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unexecuted, f"code cells saved without running: {unexecuted}"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "a notebook was saved with an error output"
    # NN_topic, or NNb_topic for a notebook that follows NN in the course order
    assert re.match(r"^\d\d[a-z]?_[a-z0-9_]+\.ipynb$", path.name), "name notebooks NN_topic.ipynb"
