"""Tiny untrained course models saved under the gallery's checkpoint names, for fast tests."""

from __future__ import annotations

from pathlib import Path

import torch

from course_lib import checkpoints
from course_lib.models import AutoencoderModel, Generator, VariationalAutoencoder
from gallery import generation

#: The latent size of each tiny model, by generation method.
LATENT = {"VAE": 4, "GAN": 8, "AUTOENCODER": 4}


def write_tiny_checkpoints(root: Path) -> Path:
    """Save one tiny seeded model per generation method under ``root/checkpoints/``; ``root``
    then works as a ``COURSE_DATA_DIR``. The autoencoder's prior sits far from the origin, so
    tests can tell that its codes come from that prior."""
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(hidden_dim=16, latent_dim=LATENT["AUTOENCODER"])
    autoencoder.latent_mean.fill_(5.0)
    autoencoder.latent_scale_tril.mul_(0.5)
    models = {
        "VAE": VariationalAutoencoder(hidden_dim=16, latent_dim=LATENT["VAE"]),
        "GAN": Generator(noise_dim=LATENT["GAN"], hidden_dim=16),
        "AUTOENCODER": autoencoder,
    }
    for method, model in models.items():
        checkpoints.save(model, root / "checkpoints" / f"{generation.CHECKPOINTS[method]}.pt")
    return root
