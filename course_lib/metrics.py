"""Quality in real units: nats per image for likelihood models, distances for memorisation.

- :func:`negative_elbo`: the VAE's loss on held-out images, an upper bound on -log p(x) in
  nats per image. Lower is better; it is the number the course reports for VAEs.
- :func:`reconstruction_bce`: the same pixel cross-entropy for a plain autoencoder.
- :func:`nearest_neighbour_distances`: for each generated image, the distance to the closest
  training image. Near zero means the model copies; large means it invents (or fails).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .data import stack_images
from .models import AutoencoderModel, VariationalAutoencoder

__all__ = ["negative_elbo", "reconstruction_bce", "nearest_neighbour_distances"]


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def negative_elbo(
    model: VariationalAutoencoder,
    data: Dataset | torch.Tensor,
    *,
    batch_size: int = 1000,
    seed: int = 0,
    device: torch.device | None = None,
) -> float:
    """Mean negative ELBO in nats per image: summed pixel BCE + KL, with z sampled from q(z|x).

    The code z is drawn (one sample per image, from a seeded generator) rather than set to the
    mean, so this is the honest single-sample ELBO estimate, not a flattering one.
    """
    if not isinstance(model, VariationalAutoencoder):
        raise ValueError(
            f"negative_elbo needs a VariationalAutoencoder, got {type(model).__name__}"
        )
    images = stack_images(data)
    if images.shape[0] == 0:
        raise ValueError("the dataset is empty")
    device = device or _device_of(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for batch in images.split(batch_size):
        x = batch.to(device).reshape(batch.shape[0], -1)
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=generator).to(device)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy(model.decoder(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        total += (recon + kl).item()
    model.train(was_training)
    return total / images.shape[0]


@torch.no_grad()
def reconstruction_bce(
    model: AutoencoderModel | VariationalAutoencoder,
    data: Dataset | torch.Tensor,
    *,
    batch_size: int = 1000,
) -> float:
    """Mean binary cross-entropy of reconstructions, summed over pixels, in nats per image."""
    images = stack_images(data)
    if images.shape[0] == 0:
        raise ValueError("the dataset is empty")
    device = _device_of(model)
    was_training = model.training
    model.eval()
    total = 0.0
    for batch in images.split(batch_size):
        x = batch.to(device)
        reconstructed = model(x)[0]
        total += F.binary_cross_entropy(reconstructed, x, reduction="sum").item()
    model.train(was_training)
    return total / images.shape[0]


def nearest_neighbour_distances(
    samples: torch.Tensor | np.ndarray, references: torch.Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each sample, the index of and RMS pixel distance to its nearest reference image.

    Distances are root-mean-square over pixels, so 0 is an exact copy and values are comparable
    across image sizes (for images in [0, 1], 0.1 is close, 0.3 is clearly different).
    """
    a = _as_flat(samples, "samples")
    b = _as_flat(references, "references")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"samples have {a.shape[1]} values per image but references have {b.shape[1]}"
        )
    # ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2, in chunks to keep memory small.
    b_sq = (b * b).sum(1)
    index = np.empty(a.shape[0], dtype=np.int64)
    dist = np.empty(a.shape[0], dtype=np.float64)
    for start in range(0, a.shape[0], 256):
        chunk = a[start : start + 256]
        d2 = (chunk * chunk).sum(1, keepdims=True) - 2 * chunk @ b.T + b_sq[None]
        best = d2.argmin(1)
        index[start : start + 256] = best
        dist[start : start + 256] = np.sqrt(np.maximum(d2[np.arange(len(best)), best], 0))
    return index, dist / np.sqrt(a.shape[1])


def _as_flat(images: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    array = np.asarray(images, dtype=np.float64)
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch of images, got shape {array.shape}")
    return array.reshape(array.shape[0], -1)
