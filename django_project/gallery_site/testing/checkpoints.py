"""Tiny untrained course models saved under the gallery's checkpoint names, for fast tests."""

from __future__ import annotations

from pathlib import Path

import torch

from course_lib import checkpoints
from course_lib.flow import LatentFlowModel
from course_lib.models import (
    AutoencoderModel,
    ConvGenerator,
    Generator,
    MixturePriorVAE,
    VariationalAutoencoder,
)
from gallery import generation

#: The latent size of each tiny model, by generation method: the conditional GAN's code is 4
#: numbers of noise and 10 of class code, the flow's 4 of noise and 4 of class embedding.
LATENT = {"VAE": 4, "GAN": 14, "AUTOENCODER": 4, "FLOW": 8}
#: The tiny lesson models (``generation.LESSON_CHECKPOINTS``), by method.
LESSON_LATENT = {"VAE": 3, "GAN": 8}


def write_tiny_checkpoints(root: Path) -> Path:
    """Save one tiny seeded model per generation method, and the lesson's two, under
    ``root/checkpoints/``; ``root`` then works as a ``COURSE_DATA_DIR``. The autoencoder's prior
    sits far from the origin, so tests can tell that its codes come from that prior."""
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(hidden_dim=16, latent_dim=LATENT["AUTOENCODER"])
    autoencoder.latent_mean.fill_(5.0)
    autoencoder.latent_scale_tril.mul_(0.5)
    models = {
        "VAE": MixturePriorVAE(hidden_dim=16, latent_dim=LATENT["VAE"], n_components=3),
        "GAN": ConvGenerator(noise_dim=4, width=4, n_classes=10),
        "AUTOENCODER": autoencoder,
        "FLOW": LatentFlowModel(
            {"hidden_dim": 16, "latent_dim": 4}, n_classes=10, width=16, depth=1, class_dim=4
        ),
    }
    folder = root / "checkpoints"
    for method, model in models.items():
        checkpoints.save(model.eval(), folder / f"{generation.CHECKPOINTS[method]}.pt")
    lesson = {
        "VAE": VariationalAutoencoder(hidden_dim=16, latent_dim=LESSON_LATENT["VAE"]),
        "GAN": Generator(noise_dim=LESSON_LATENT["GAN"], hidden_dim=16),
    }
    for method, model in lesson.items():
        checkpoints.save(model, folder / f"{generation.LESSON_CHECKPOINTS[method]}.pt")
    return root
