"""Small helpers every notebook uses, so notebook cells stay about ideas, not plumbing.

- :func:`setup`: seed everything and fix the thread count, so outputs repeat run after run;
- :func:`train_or_load`: train a model once and reuse its checkpoint from the shared folder;
- :func:`show`: display a batch of images as one grid;
- :func:`plot_history`: loss curves from a training history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import checkpoints
from .imaging import make_grid
from .paths import checkpoint_path
from .training import History, set_seed

__all__ = ["setup", "train_or_load", "show", "plot_history"]

#: Threads used for training in notebooks: results depend (in the last digits) on the thread
#: count, so it is fixed rather than left to the machine.
NOTEBOOK_THREADS = 2


def setup(seed: int = 0, threads: int = NOTEBOOK_THREADS) -> None:
    """Seed Python, NumPy and PyTorch and fix PyTorch's CPU threads; call it in the first cell."""
    torch.set_num_threads(threads)
    set_seed(seed)


def train_or_load(
    name: str,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], History],
    *,
    retrain: bool = False,
    **metadata: Any,
) -> tuple[nn.Module, History]:
    """Return a trained model: loaded from the shared checkpoint folder if it is there, else
    built with ``build()``, trained with ``train(model)`` and saved for later notebooks and the
    web gallery.

    A loaded checkpoint brings back its training history too, so plots look the same either way.
    It is reused only if it was made with the same constructor arguments and ``metadata``
    (for example the epochs and seed), so changing a notebook's settings retrains.
    """
    path = checkpoint_path(name)
    model = build()
    if path.exists() and not retrain:
        try:
            stored = checkpoints.read_metadata(path)
        except (ValueError, FileNotFoundError):
            stored = None
        if (
            stored is not None
            and stored.get("class") == type(model).__name__
            and stored.get("config") == model.config
            and stored.get("recipe") == _jsonable(metadata)
        ):
            loaded = checkpoints.load(path)
            print(f"Loaded {path.name} from the shared checkpoint folder (trained earlier).")
            return loaded, stored.get("history", [])
    history = train(model)
    model.eval()
    checkpoints.save(model, path, recipe=_jsonable(metadata), history=_jsonable(history))
    print(f"Trained and saved {path.name} in the shared checkpoint folder.")
    return model, history


def _jsonable(value: Any) -> Any:
    """Round floats so metadata compares equal after a save/load round trip."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def show(images: Any, nrow: int = 8, scale: int = 2, title: str | None = None) -> None:
    """Display a batch of images as one grid under the cell (in a notebook) or do nothing."""
    from IPython.display import display

    if title:
        print(title)
    display(make_grid(images, nrow=nrow, scale=scale))


def plot_history(
    history: History,
    keys: Sequence[str],
    *,
    title: str = "",
    ylabel: str = "",
    path: str | Path | None = None,
):
    """Plot per-epoch values from a history (e.g. ``["recon", "kl"]``); returns the figure."""
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("the history is empty: nothing to plot")
    missing = [k for k in keys if k not in history[0]]
    if missing:
        raise ValueError(f"history has no {missing}; it has {sorted(history[0])}")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    epochs = [r["epoch"] for r in history]
    for key in keys:
        ax.plot(epochs, [r[key] for r in history], label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    plt.close(fig)
    return fig
