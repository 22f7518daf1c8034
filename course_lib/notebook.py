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

#: Threads used for training in notebooks. Results depend (in the last digits) on the thread
#: count, so it is fixed rather than left to the machine; and one thread is the robust choice
#: for these small models: two threads are ~1.5x faster on an idle 2-core laptop but several
#: times slower as soon as anything else (a browser, a web server) wants a core.
NOTEBOOK_THREADS = 1


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
    from IPython.display import Image, display

    from .imaging import to_png_bytes

    if title:
        print(title)
    # PNG only: displaying a PIL image directly would also store a JPEG copy in the notebook.
    display(Image(data=to_png_bytes(make_grid(images, nrow=nrow, scale=scale))))


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


def neighbour_agreement(points: Any, labels: Any, k: int = 5) -> float:
    """Fraction of each point's ``k`` nearest other points that share its label (0 to 1).

    A number for "do similar things sit together?": 0.1 is chance for ten balanced classes,
    1.0 means every neighbourhood is pure.
    """
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    labels = np.asarray(labels).reshape(-1)
    if len(points) != len(labels):
        raise ValueError(f"got {len(points)} points but {len(labels)} labels")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < len(points):
        raise ValueError(f"k must be an integer between 1 and {len(points) - 1}, got {k!r}")
    # kneighbors() without a query leaves each point out of its own neighbour list.
    _, index = NearestNeighbors(n_neighbors=k).fit(points).kneighbors()
    return float((labels[index] == labels[:, None]).mean())


@torch.no_grad()
def manifold_grid(model: nn.Module, n: int = 15, limit: float = 2.5) -> torch.Tensor:
    """Decode an ``n x n`` grid of codes spanning ``[-limit, limit]^2`` of a 2-D latent space.

    Returns ``(n * n, 1, 28, 28)`` images, row by row from the top: z1 grows to the right and
    z2 grows upwards, like the axes of a scatter plot, so the grid is a map of the space.
    """
    if getattr(model, "latent_dim", None) != 2 or not hasattr(model, "decode"):
        raise ValueError("manifold_grid needs a model with latent_dim == 2 and a decode method")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not 0 < float(limit) < float("inf"):
        raise ValueError(f"limit must be a positive number, got {limit!r}")
    values = torch.linspace(-float(limit), float(limit), n)
    z2, z1 = torch.meshgrid(values.flip(0), values, indexing="ij")  # top row: largest z2
    codes = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)
    parameter = next(model.parameters(), None)
    if parameter is not None:
        codes = codes.to(device=parameter.device, dtype=parameter.dtype)
    was_training = model.training
    model.eval()
    try:
        return model.decode(codes).cpu()
    finally:
        model.train(was_training)


def latent_scatter(
    points: Any,
    labels: Any,
    *,
    title: str = "",
    limit: float | None = None,
    axis_names: tuple[str, str] = ("z1", "z2"),
):
    """Matplotlib scatter of 2-D codes coloured by label; returns the figure.

    ``limit`` draws the box ``[-limit, limit]^2``: the region a :func:`manifold_grid` decodes.
    The colours are ``course_lib.latent.LABEL_COLOURS``, the same as the interactive maps.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from .latent import LABEL_COLOURS

    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(
            f"need (n, 2) points with one label each, got {points.shape} and {labels.shape}"
        )
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for number, label in enumerate(np.unique(labels)):
        chosen = labels == label
        colour = LABEL_COLOURS[number % len(LABEL_COLOURS)]
        ax.scatter(*points[chosen].T, s=6, alpha=0.7, color=colour, label=str(label))
    if limit is not None:
        xs = [-limit, limit, limit, -limit, -limit]
        ys = [-limit, -limit, limit, limit, -limit]
        ax.plot(xs, ys, "k--", linewidth=1, label="grid")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2, fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig


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


# --- pattern helpers (notebook 06) ------------------------------------------------------------


def pixel_entropy(images: torch.Tensor) -> float:
    """Mean summed binary entropy of the pixels, in nats per image: the lowest BCE any model gets.

    A gray target such as 0.3 cannot be predicted with certainty, so the summed binary
    cross-entropy (and a VAE's negative ELBO) of gray-level images never reaches 0; this is
    where it bottoms out. For pure black-and-white images it is 0.
    """
    pixels = images.detach().double().reshape(images.shape[0], -1).clamp(0.0, 1.0)
    entropy = -(torch.xlogy(pixels, pixels) + torch.xlogy(1 - pixels, 1 - pixels))
    return float(entropy.sum(1).mean())


# --- GAN helpers (notebook 03) ---------------------------------------------------------------


@torch.no_grad()
def sample_diversity(samples: torch.Tensor, reference: Any) -> dict[str, float]:
    """How varied a batch of images is, to spot mode collapse: two numbers.

    ``spread`` is the mean RMS pixel distance between every pair of images (0 when all are the
    same; about 0.36 for real MNIST digits). ``classes`` counts the labels of their nearest
    images in ``reference`` (a labelled dataset such as the training split): how many different
    digits the batch resembles.
    """
    from .metrics import nearest_neighbour_distances

    flat = torch.as_tensor(samples).detach().cpu().double()
    if flat.dim() < 2 or flat.shape[0] < 2:
        raise ValueError(f"need a batch of at least 2 images, got shape {tuple(flat.shape)}")
    flat = flat.reshape(flat.shape[0], -1)
    spread = torch.pdist(flat).mean().item() / flat.shape[1] ** 0.5
    index, _ = nearest_neighbour_distances(flat, reference.images)
    classes = len(set(torch.as_tensor(reference.labels)[torch.as_tensor(index)].tolist()))
    return {"spread": spread, "classes": classes}


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

#: train_style arguments that change how a style is trained (the rest only change what is shown)
_STYLE_DISPLAY_ONLY = ("images", "progress", "callback")


def style_checkpoint_path(name: str, images: torch.Tensor, **settings: Any) -> Path:
    """Where ``train_style_or_load`` keeps a style: its name plus a fingerprint of what made it."""
    import hashlib
    import inspect
    import json

    from . import styles

    bound = inspect.signature(styles.train_style).bind(images, **settings)  # unknown: TypeError
    bound.apply_defaults()
    recipe = {k: v for k, v in bound.arguments.items() if k not in _STYLE_DISPLAY_ONLY}
    recipe["format_version"] = styles.FORMAT_VERSION
    pixels = (images.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    digest = hashlib.sha256(json.dumps(_jsonable(recipe), sort_keys=True).encode())
    digest.update(repr(tuple(pixels.shape)).encode())
    digest.update(pixels.numpy().tobytes())
    return checkpoint_path(f"{name}-{digest.hexdigest()[:12]}")


def train_style_or_load(
    name: str, images: torch.Tensor, *, retrain: bool = False, **settings: Any
) -> Any:
    """Return a trained ``StyleResult``: loaded if these images and settings were trained before.

    ``settings`` go to ``course_lib.styles.train_style``. The file's name carries a fingerprint
    of the images and of every training setting, defaults included, so changing one retrains
    instead of loading a stale style. The result is always read back from the saved file, and
    the caller's random numbers are left as they were (training and even building a model draw
    from them), so a fresh run and a loaded one continue identically.
    """
    from . import styles

    path = style_checkpoint_path(name, images, **settings)
    with torch.random.fork_rng(devices=[]):
        if path.is_file() and not retrain:
            try:
                result = styles.load_style(path)
            except ValueError:  # damaged, or saved by an older course_lib: train it again
                pass
            else:
                print(f"Loaded {path.name} from the shared checkpoint folder (trained earlier).")
                return result
        styles.save_style(styles.train_style(images, **settings), path)
        print(f"Trained and saved {path.name} in the shared checkpoint folder.")
        return styles.load_style(path)


def style_checks(
    report: dict[str, Any],
    *,
    min_psnr: float = 13.0,
    variety: tuple[float, float] = (0.5, 1.25),
    max_colour: float = 0.1,
) -> bool:
    """Print pass/fail lines for a style report against coarse bars; True if all pass.

    The bars sit well away from typical values, so the lines read the same on every machine,
    while the report's own numbers move in their last digits.
    """
    low, high = variety
    lines = [
        (
            f"reconstructions keep the colours and rough layout (PSNR above {min_psnr:g} dB)",
            report["reconstruction_psnr_db"] > min_psnr,
        ),
        (
            f"variations are neither all alike nor noise (variety ratio {low:g} to {high:g})",
            low <= report["variety_ratio"] <= high,
        ),
        ("no variation is a near-copy of an original", report["copy_fraction"] == 0),
        (
            f"the palette is kept (average colour within {max_colour:g} of the originals')",
            report["colour_difference"] < max_colour,
        ),
    ]
    for text, passed in lines:
        print(f"{text}: {'yes' if passed else 'no'}")
    return all(passed for _, passed in lines)


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


def style_images_from_uploads(files: dict[str, bytes]) -> torch.Tensor:
    """Check uploaded files (name -> bytes) with ``validate_image_bytes``, load them as a style."""
    from .styles import load_style_images, validate_image_bytes

    images = []
    for name, data in files.items():
        try:
            images.append(validate_image_bytes(bytes(data)))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    return load_style_images(images)


class StyleUploader:
    """Upload 5-10 images of your style, press the button: the style is learned and shown."""

    def __init__(self, name: str = "style_mine", **settings: Any) -> None:
        import ipywidgets as w

        self.name = name
        self.settings = {"max_epochs": 50, "time_budget": None, **settings}
        self.result: Any = None
        self.upload = w.FileUpload(accept="image/*", multiple=True, description="Choose images")
        self.button = w.Button(description="Learn my style", button_style="primary")
        self.output = w.Output()
        self.button.on_click(self._clicked)
        self.widget = w.VBox(
            [
                w.HTML("<b>Your style: choose 5 to 10 images, then press the button</b>"),
                w.HBox([self.upload, self.button]),
                self.output,
            ]
        )

    def __repr__(self) -> str:
        epochs = self.settings.get("max_epochs")
        return f"StyleUploader({self.name}, 5-10 images, {epochs} epochs)"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The widget's view plus a deterministic text/plain (nbval compares that text)."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def files(self) -> dict[str, bytes]:
        """The uploaded files, name -> bytes (empty until the learner chooses some)."""
        return {item["name"]: bytes(item["content"]) for item in self.upload.value}

    def learn(self, files: dict[str, bytes]) -> Any:
        """Validate and load ``files``, then train (or load) their style; returns a StyleResult."""
        images = style_images_from_uploads(files)
        self.result = train_style_or_load(self.name, images, **self.settings)
        return self.result

    def _clicked(self, _button: Any = None) -> None:
        """The button's handler: learn from the uploaded files and show the outcome below."""
        from .styles import brief_report, variations

        self.output.clear_output()
        self.button.disabled = True
        try:
            with self.output:
                try:
                    result = self.learn(self.files())
                except ValueError as err:
                    print(f"Cannot learn a style from these files: {err}")
                    return
                show(result.originals, nrow=10, scale=3, title="your images")
                show(variations(result.model, 10, seed=0), nrow=10, scale=3, title="variations")
                print(brief_report(result.report))
        finally:
            self.button.disabled = False
