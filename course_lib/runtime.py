"""How torch runs here: one place that sets the thread count and picks the device.

Two cores behave like about 1.3 on the course's laptops, and a web worker, a notebook and a
training job each fighting for both cores is slower than each using one; every entry point
(the CLI, the notebooks' ``setup``, the Django services, the tests) calls :func:`use_threads`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DEFAULT_THREADS", "use_threads", "device_of"]

DEFAULT_THREADS = 1


def use_threads(n: int = DEFAULT_THREADS) -> int:
    """Run torch's CPU kernels on ``n`` threads; returns the previous count (to restore it)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the thread count must be a whole number >= 1, got {n!r}")
    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    return previous


def device_of(module: nn.Module) -> torch.device:
    """The device a model's weights (or, for a model without weights, its buffers) live on."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")
