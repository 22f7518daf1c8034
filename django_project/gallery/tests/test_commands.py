"""``manage.py train_models``: trains what is missing, skips what exists, --force retrains."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command

from course_lib import checkpoints, recipes
from course_lib.models import Generator

pytestmark = pytest.mark.django_db  # train_models ends by registering model records


@pytest.fixture
def fake_recipes(monkeypatch):
    """Record recipe calls and write a tiny checkpoint instead of training for minutes."""
    calls = []

    def fake_get(name, *, progress=True, retrain=False, **_):
        from course_lib.paths import checkpoint_path

        calls.append((name, retrain))
        checkpoints.save(Generator(noise_dim=2, hidden_dim=4), checkpoint_path(name))
        return None, []

    monkeypatch.setattr(recipes, "get", fake_get)
    return calls


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("train_models", *args, stdout=out)
    return out.getvalue()


def test_trains_every_missing_model(no_models, fake_recipes):
    output = _run()
    # What the gallery serves (the course's best of each family), then the lesson's models.
    served = ["mvae_mnist5k", "cgan_mnist5k", "ae_mnist5k", "flow_mnist5k"]
    assert fake_recipes == [(name, False) for name in [*served, "vae_mnist5k", "gan_mnist5k"]]
    assert output.count("no checkpoint yet, training") == 6
    assert "Trained 6 model(s)" in output
    assert (no_models / "checkpoints" / "cgan_mnist5k.pt").is_file()


def test_skips_trained_models(tiny_models, fake_recipes):
    output = _run()
    assert fake_recipes == []
    assert output.count("is already trained") == 6 and "All models were already trained" in output


def test_force_retrains(tiny_data_dir, no_models, fake_recipes):
    shutil.copytree(tiny_data_dir, no_models)  # a copy: the shared tiny models stay untouched
    output = _run("--force")
    assert [retrain for _, retrain in fake_recipes] == [True] * 6
    assert output.count("retraining (--force)") == 6


def test_one_method_only(no_models, fake_recipes):
    _run("--method", "GAN")
    assert fake_recipes == [("cgan_mnist5k", False), ("gan_mnist5k", False)]
