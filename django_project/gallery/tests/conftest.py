"""Fixtures for the gallery tests (the media folder and tiny models: django_project/conftest.py)."""

from __future__ import annotations

import shutil

import pytest
import torch

from course_lib import checkpoints
from course_lib.models import VariationalAutoencoder
from gallery import generation
from gallery_site.testing.checkpoints import LATENT


@pytest.fixture(autouse=True)
def fresh_service(fresh_generation: None) -> None:
    """Each gallery test starts with no cached models, load counts or latent map."""


@pytest.fixture
def retrain_vae(tiny_models, tmp_path, monkeypatch):
    """A function that replaces the VAE checkpoint with new weights of the same shape."""

    def retrain() -> str:
        data = tmp_path / "retrained"
        shutil.copytree(tiny_models, data)
        torch.manual_seed(123)
        path = data / "checkpoints" / f"{generation.CHECKPOINTS['VAE']}.pt"
        checkpoints.save(VariationalAutoencoder(hidden_dim=16, latent_dim=LATENT["VAE"]), path)
        monkeypatch.setenv("COURSE_DATA_DIR", str(data))
        generation.clear_cache()
        return checkpoints.fingerprint(path)

    return retrain
