"""What a notebook cell shows: setup, images, plots, so cells stay about ideas, not plumbing.

- :func:`setup`: seed everything and fix the thread count, so outputs repeat run after run;
- :func:`show`: display a batch of images as one grid;
- :func:`plot_history`, :func:`plot_sweep`, :func:`plot_nearest_originals`: figures;
  :func:`show_plotly`: an interactive plotly figure;
- :func:`use_django_project`: make the gallery's apps importable (notebooks 07 and 08).

The helpers that compute something live where a reader expects them: training and caching
shared models in ``recipes``, numbers in ``metrics``, styles in ``styles``, widgets in
``widgets``, latent-space maps (``latent_scatter`` too) in ``latent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .imaging import make_grid
from .runtime import DEFAULT_THREADS, use_threads
from .training import History, set_seed

__all__ = [
    "setup",
    "show",
    "plot_history",
    "plot_sweep",
    "plot_nearest_originals",
    "show_plotly",
    "use_django_project",
]

#: Threads used for training in notebooks (runtime.DEFAULT_THREADS: results depend in the last
#: digits on the thread count, so it is fixed; see course_lib.runtime for why one).
NOTEBOOK_THREADS = DEFAULT_THREADS


def setup(seed: int = 0, threads: int = NOTEBOOK_THREADS) -> None:
    """Seed Python, NumPy and PyTorch and fix PyTorch's CPU threads; call it in the first cell."""
    use_threads(threads)
    set_seed(seed)


def show(
    images: Any,
    nrow: int = 8,
    scale: int = 2,
    title: str | None = None,
    row_labels: Sequence[str] = (),
    caption: str | None = None,
) -> None:
    """Display a batch of images as one grid under the cell (in a notebook) or do nothing.

    The title (printed too) or the ``caption`` (only drawn), and any ``row_labels``, are drawn
    on the picture, so they travel with it wherever the saved image is seen (GitHub, nbviewer).
    """
    from IPython.display import Image, display

    from .imaging import titled, to_png_bytes

    if title:
        print(title)
    grid = make_grid(images, nrow=nrow, scale=scale)
    if title or row_labels or caption:
        grid = titled(grid, caption or title or "", row_labels)
    # PNG only: displaying a PIL image directly would also store a JPEG copy in the notebook.
    display(Image(data=to_png_bytes(grid)))


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


# --- latent-space helpers (notebook 05) ------------------------------------------------------


def show_plotly(figure: Any) -> None:
    """Show a plotly figure inside an ``ipywidgets.Output``: interactive offline, stable to test.

    JupyterLab draws it with the mime renderer that the pinned ``plotly`` package installs
    (``application/vnd.plotly.v1+json``; plotly.js is bundled, no CDN). Displayed directly, that
    JSON (float64 coordinates as base64 bytes) would be the cell's output, which nbval compares
    byte for byte although it changes with the last bits of the trained weights. Inside the widget
    it is kept in the notebook's widget state instead, and the cell's compared text is ``Output()``.
    """
    import json

    import ipywidgets
    import plotly.io as pio
    from IPython.display import display

    title = getattr(getattr(figure.layout, "title", None), "text", None) or "figure"
    bundle = {
        "application/vnd.plotly.v1+json": json.loads(pio.to_json(figure, validate=False)),
        "text/plain": f"<plotly figure: {title}>",
    }
    output = ipywidgets.Output()
    display(output)  # displayed while still empty, so its text is just "Output()"
    output.outputs = (*output.outputs, {"output_type": "display_data", "data": bundle})


def plot_sweep(
    results: dict[float, float],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    log_x: bool = True,
    path: str | Path | None = None,
):
    """Plot one measured value per setting (e.g. error per latent size), labelled; returns it.

    Each point is annotated with its value rounded to a whole number, so the learner reads the
    numbers off the picture. With ``log_x`` the x axis is logarithmic with the settings as ticks
    (sizes that double: 2, 4, 8, ... sit evenly spaced).
    """
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results is empty: nothing to plot")
    xs = sorted(results)
    if log_x and xs[0] <= 0:
        raise ValueError(f"a logarithmic x axis needs positive settings, got {xs[0]!r}")
    ys = [float(results[x]) for x in xs]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(xs, ys, marker="o")
    for x, y in zip(xs, ys, strict=True):
        ax.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.margins(y=0.15)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    plt.close(fig)
    return fig


# --- web gallery helpers (notebooks 07 and 08) ------------------------------------------------


def use_django_project() -> Path:
    """Put ``django_project/`` on ``sys.path`` (once) so its apps import; return that folder.

    Only the path is touched: ``course_lib`` itself never imports Django.
    """
    import sys

    from .paths import PROJECT_ROOT

    folder = PROJECT_ROOT / "django_project"
    if not (folder / "manage.py").is_file():
        raise FileNotFoundError(f"no Django project at {folder} (manage.py is missing)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return folder


# --- personal style helpers (notebook 09) ----------------------------------------------------


def plot_nearest_originals(samples: torch.Tensor, originals: torch.Tensor, *, bar: float = 0.1):
    """Each generated image (top) above its nearest original (bottom), with their RMS distance.

    Distances at or below ``bar`` are drawn in red: such a pair looks like a copy. Returns the
    matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from .imaging import to_pil
    from .metrics import nearest_neighbour_distances

    if samples.shape[0] < 1:
        raise ValueError("there are no samples to compare")
    index, distance = nearest_neighbour_distances(samples, originals)
    n = samples.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.2 * n, 2.9), squeeze=False)
    for column in range(n):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(to_pil(samples[column]))
        bottom.imshow(to_pil(originals[index[column]]))
        near = distance[column] <= bar
        top.set_title(f"{distance[column]:.2f}", fontsize=9, color="red" if near else "black")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("generated", fontsize=9)
    axes[1, 0].set_ylabel("nearest\noriginal", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig
