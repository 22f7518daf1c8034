"""Flow matching on pixels: the control experiment for "why latent" (notebook 10, section 2).

The same flow-matching loss (:func:`course_lib.flow.flow_matching_loss`), the same class
embedding with a "no class" token, the same Euler/midpoint sampler with guidance
(:func:`course_lib.flow.integrate`), but the velocity is learned on the 784 pixels of a digit,
scaled to [-1, 1], instead of on the autoencoder's 32 numbers. Two networks:

- :class:`PixelMLPFlow`: the latent flow's residual MLP, widened for 784 inputs;
- :class:`TinyUNetFlow`: a small U-Net (Ronneberger et al., 2015), the network real pixel-space
  diffusion models use: two halvings of resolution, two doublings back, skip connections,
  the time and class added to every block.

Train them with :func:`course_lib.training.train_pixel_flow`. They are generative models like
the others (``latent_dim``, ``codes``, ``decode``, ``sample``); the code is 784 numbers of
noise plus the class embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from .flow import (
    SOLVERS,
    FlowSampling,
    ResidualMLPVelocity,
    _check_guidance,
    _check_steps,
)
from .models import _check_dims, _flatten_batch

__all__ = ["PixelFlow", "PixelMLPFlow", "TinyUNetFlow"]

PIXELS = 784


class PixelFlow(FlowSampling, nn.Module):
    """What both pixel flows share: pixels <-> the flow's space, the class embedding, the code
    and the sampler. A subclass defines ``velocity(x, t, classes)`` on ``x`` ``(n, 784)``."""

    image_shape = (1, 28, 28)

    def __init__(
        self,
        n_classes: int,
        class_dim: int,
        time_dim: int,
        steps: int,
        guidance: float,
        solver: str,
    ):
        super().__init__()
        _check_dims(class_dim=class_dim, time_dim=time_dim)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 0:
            raise ValueError(f"n_classes must be 0 (unconditional) or more, got {n_classes!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
        self.steps, self.guidance = _check_steps(steps), _check_guidance(guidance)
        self.solver = solver
        self.n_classes, self.null_label = n_classes, n_classes  # the last row: "no class"
        self.noise_dim = PIXELS
        self.latent_dim = PIXELS + class_dim
        self.time_dim = time_dim
        self.class_embedding = nn.Embedding(n_classes + 1, class_dim)

    def standardise(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> the flow's data: ``(n, 784)`` in [-1, 1], so noise and data have
        about the same scale."""
        images = _flatten_batch(images, PIXELS)
        if images.min() < 0 or images.max() > 1:
            raise ValueError("pixel flows learn from images with values in [0, 1]")
        return images * 2 - 1

    def destandardise(self, x: torch.Tensor) -> torch.Tensor:
        """The flow's data -> images ``(n, 1, 28, 28)`` in [0, 1] (clamped: flows overshoot)."""
        return ((x + 1) / 2).clamp(0, 1).reshape(-1, *self.image_shape)

    def _to_images(self, x: torch.Tensor) -> torch.Tensor:
        return self.destandardise(x)  # the flow's data already are the pixels


class PixelMLPFlow(ResidualMLPVelocity, PixelFlow):
    """The latent flow's network (a residual MLP, time and class added to every block) on the
    784 pixels. Per step it costs about as much as the latent flow; it learns far less."""

    def __init__(
        self,
        n_classes: int = 10,
        width: int = 512,
        depth: int = 2,
        class_dim: int = 8,
        time_dim: int = 32,
        steps: int = 20,
        guidance: float = 1.5,
        solver: str = "euler",
    ):
        super().__init__(n_classes, class_dim, time_dim, steps, guidance, solver)
        _check_dims(width=width, depth=depth)
        self.config = {
            "n_classes": n_classes,
            "width": width,
            "depth": depth,
            "class_dim": class_dim,
            "time_dim": time_dim,
            "steps": steps,
            "guidance": self.guidance,
            "solver": solver,
        }
        self._build_velocity_mlp(PIXELS, width, depth, time_dim + class_dim)


class _Block(nn.Module):
    """Two 3x3 convolutions with a residual connection; the condition shifts each channel."""

    def __init__(self, channels_in: int, channels: int, condition_dim: int):
        super().__init__()
        self.first = nn.Sequential(
            nn.GroupNorm(min(8, channels_in), channels_in),
            nn.SiLU(),
            nn.Conv2d(channels_in, channels, 3, padding=1),
        )
        self.shift = nn.Linear(condition_dim, channels)
        self.second = nn.Sequential(
            nn.GroupNorm(min(8, channels), channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.skip = (
            nn.Identity() if channels_in == channels else nn.Conv2d(channels_in, channels, 1)
        )

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        h = self.first(x) + self.shift(condition)[:, :, None, None]
        return self.skip(x) + self.second(h)


class TinyUNetFlow(PixelFlow):
    """A small U-Net velocity on the 28x28 image: 28 -> 14 -> 7 and back, with a skip
    connection at each resolution and the time and class added to every block.

    ``channels`` at 28x28, twice as many at 14x14 and 7x7 (the default 16: about 80,000
    weights, the smallest that still has every part of a diffusion U-Net)."""

    def __init__(
        self,
        n_classes: int = 10,
        channels: int = 16,
        class_dim: int = 8,
        time_dim: int = 32,
        steps: int = 20,
        guidance: float = 1.5,
        solver: str = "euler",
    ):
        super().__init__(n_classes, class_dim, time_dim, steps, guidance, solver)
        _check_dims(channels=channels)
        self.config = {
            "n_classes": n_classes,
            "channels": channels,
            "class_dim": class_dim,
            "time_dim": time_dim,
            "steps": steps,
            "guidance": self.guidance,
            "solver": solver,
        }
        c, width = channels, 4 * channels
        self.condition = nn.Sequential(
            nn.Linear(time_dim + class_dim, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.input = nn.Conv2d(1, c, 3, padding=1)
        self.down1 = _Block(c, c, width)  # 28x28
        self.halve1 = nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)  # -> 14x14
        self.down2 = _Block(2 * c, 2 * c, width)
        self.halve2 = nn.Conv2d(2 * c, 2 * c, 4, stride=2, padding=1)  # -> 7x7
        self.middle = _Block(2 * c, 2 * c, width)
        self.double2 = nn.ConvTranspose2d(2 * c, 2 * c, 4, stride=2, padding=1)  # -> 14x14
        self.up2 = _Block(4 * c, 2 * c, width)  # with the 14x14 skip
        self.double1 = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)  # -> 28x28
        self.up1 = _Block(2 * c, c, width)  # with the 28x28 skip
        self.output = nn.Sequential(
            nn.GroupNorm(min(8, c), c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1)
        )

    def velocity(self, x: torch.Tensor, t: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """The learned velocity at pixels ``x`` ``(n, 784)``, times ``t`` ``(n, 1)``: the image is
        reshaped to 28x28 for the convolutions and the answer flattened back."""
        condition = self.condition(self.condition_features(t, classes))
        h28 = self.down1(self.input(x.reshape(-1, *self.image_shape)), condition)
        h14 = self.down2(self.halve1(h28), condition)
        h = self.middle(self.halve2(h14), condition)
        h = self.up2(torch.cat([self.double2(h), h14], dim=1), condition)
        h = self.up1(torch.cat([self.double1(h), h28], dim=1), condition)
        return self.output(h).flatten(1)
