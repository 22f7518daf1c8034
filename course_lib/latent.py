"""Explore the latent space of an autoencoder or VAE: collect codes, project, plot, interpolate.

The explorer encodes real images, keeps one latent vector and one label per image, and then
offers 2-D projections (PCA or t-SNE), an interactive plotly scatter, nearest-neighbour search
and interpolation paths between two codes. ``lerp``/``slerp``/``interpolate`` are plain numpy
helpers that notebooks and the web app also use on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from threadpoolctl import threadpool_limits
from torch import nn

if TYPE_CHECKING:  # plotly is imported where a figure is drawn
    import plotly.graph_objects as go

__all__ = [
    "LatentSpaceExplorer",
    "interpolate",
    "lerp",
    "manifold_grid",
    "nearest_neighbours",
    "neighbour_strip",
    "picked_index",
    "slerp",
]

PROJECTION_METHODS = ("pca", "tsne")
INTERPOLATION_METHODS = ("linear", "slerp")
AXIS_PREFIX = {"pca": "PC", "tsne": "t-SNE"}
METHOD_TITLE = {"pca": "PCA", "tsne": "t-SNE"}

#: One colour per label (matplotlib's tab10), shared by the interactive and the static maps:
#: neighbours in the list differ in hue, and 4 (purple) and 9 (cyan), the digits the maps mix
#: most, are easy to tell apart.
LABEL_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

# Below this norm a vector has no usable direction, so slerp falls back to lerp.
_TINY = 1e-8


# --------------------------------------------------------------------------------------------
# Interpolation helpers
# --------------------------------------------------------------------------------------------


def _as_vector(value: Any, name: str) -> np.ndarray:
    """Turn a list, array or tensor into a finite 1-D float array (a ``(1, d)`` row is allowed)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().float().numpy()
    try:
        vector = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a vector of numbers: {error}") from None
    if vector.ndim == 2 and vector.shape[0] == 1:
        vector = vector[0]
    if vector.ndim != 1 or vector.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector, got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return vector


def _check_pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert two vectors and make sure they live in the same space."""
    a_vec, b_vec = _as_vector(a, "start vector"), _as_vector(b, "end vector")
    if a_vec.shape != b_vec.shape:
        raise ValueError(
            f"start and end vectors must have the same dimension, got {a_vec.size} and {b_vec.size}"
        )
    return a_vec, b_vec


def _check_t(t: float) -> float:
    """Make sure the interpolation weight is a number in [0, 1]."""
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    return t


def lerp(a: Any, b: Any, t: float) -> np.ndarray:
    """Linear interpolation ``(1 - t) * a + t * b``: the straight line between two codes."""
    a_vec, b_vec = _check_pair(a, b)
    t = _check_t(t)
    return (1.0 - t) * a_vec + t * b_vec


def slerp(a: Any, b: Any, t: float) -> np.ndarray:
    """Spherical interpolation: turn along the great circle, scale the norm linearly.

    Gaussian latents concentrate near a shell of radius ~sqrt(d); a straight line cuts through
    the low-density middle, while slerp stays at a typical radius, so decodes look more natural.
    """
    a_vec, b_vec = _check_pair(a, b)
    t = _check_t(t)
    if t == 0.0:
        return a_vec.copy()
    if t == 1.0:
        return b_vec.copy()
    norm_a, norm_b = np.linalg.norm(a_vec), np.linalg.norm(b_vec)
    if norm_a < _TINY or norm_b < _TINY:  # a zero vector has no direction to rotate
        return lerp(a_vec, b_vec, t)
    unit_a, unit_b = a_vec / norm_a, b_vec / norm_b
    angle = np.arccos(np.clip(np.dot(unit_a, unit_b), -1.0, 1.0))
    if np.sin(angle) < 1e-6:  # (anti)parallel: the great circle is not unique
        return lerp(a_vec, b_vec, t)
    direction = (np.sin((1.0 - t) * angle) * unit_a + np.sin(t * angle) * unit_b) / np.sin(angle)
    return ((1.0 - t) * norm_a + t * norm_b) * direction


def interpolate(a: Any, b: Any, steps: int = 10, method: str = "linear") -> np.ndarray:
    """Return ``steps`` evenly spaced points from ``a`` to ``b`` (both included), one per row."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (start and end), got {steps!r}")
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"unknown interpolation method {method!r}; choose 'linear' or 'slerp'")
    a_vec, b_vec = _check_pair(a, b)
    step_fn = lerp if method == "linear" else slerp
    path = np.stack([step_fn(a_vec, b_vec, t) for t in np.linspace(0.0, 1.0, steps)])
    # Keep float32 inputs as float32 so the path can go straight into a torch decoder.
    dtype = np.result_type(_input_dtype(a), _input_dtype(b), np.float32)
    path = path.astype(dtype)
    path[0], path[-1] = a_vec, b_vec  # exact endpoints, whatever the rounding did
    return path


def nearest_neighbours(points: Any, target: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the ``k`` rows of ``points`` (n, d) closest to
    ``target`` (d,), nearest first; ties keep the rows' order."""
    points = np.asarray(points, dtype=np.float64)
    target = _as_vector(target, "target vector")
    if points.ndim != 2 or points.shape[1] != target.size:
        raise ValueError(
            f"points must be shaped (n, {target.size}) like the target, got {points.shape}"
        )
    n_points = points.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n_points:
        raise ValueError(f"k must be an integer between 1 and {n_points}, got {k!r}")
    distances = np.linalg.norm(points - target, axis=1)
    nearest = np.argsort(distances, kind="stable")[:k]
    return nearest, distances[nearest]


def _input_dtype(value: Any) -> np.dtype:
    """The numpy dtype a vector arrived with (float64 for plain Python lists)."""
    if isinstance(value, torch.Tensor):
        return np.dtype(np.float32) if value.dtype != torch.float64 else np.dtype(np.float64)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.dtype
    return np.dtype(np.float64)


# --------------------------------------------------------------------------------------------
# The explorer
# --------------------------------------------------------------------------------------------


def _model_device(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's parameters (CPU/float32 if it has none)."""
    for parameter in model.parameters():
        return parameter.device, parameter.dtype
    return torch.device("cpu"), torch.float32


def _to_label_array(labels: Any) -> np.ndarray:
    """Convert a batch of labels (tensor, array or list) to a 1-D numpy array."""
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    return np.asarray(labels).reshape(-1)


class LatentSpaceExplorer:
    """Collect latent codes of real images from an encoder and explore them."""

    def __init__(self, model: torch.nn.Module) -> None:
        """Wrap a model that has an ``encode`` method (autoencoder or VAE)."""
        if not hasattr(model, "encode"):
            raise ValueError(
                f"{type(model).__name__} has no encode() method; the latent space explorer "
                "needs an encoder (an autoencoder or VAE), not a generator-only model"
            )
        self.model = model
        latent_dim = int(getattr(model, "latent_dim", 0) or 0)
        self.latent_vectors: np.ndarray = np.empty((0, latent_dim), dtype=np.float32)
        self.labels: np.ndarray = np.empty((0,), dtype=np.int64)
        self._projections: dict[tuple[str, int], np.ndarray] = {}

    # ---- collection -------------------------------------------------------------------------

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        """Encode a batch to ``(n, d)`` latents, using the VAE mean rather than a noisy sample."""
        encoded = self.model.encode(images)
        if isinstance(encoded, (tuple, list)):  # VAE: (mu, logvar) -> deterministic mu
            encoded = encoded[0]
        if isinstance(encoded, torch.Tensor):
            return encoded.reshape(encoded.shape[0], -1)
        kind = type(encoded).__name__
        raise ValueError(f"encode() must return a tensor or a (mu, logvar) tuple, got {kind}")

    def collect_latent_representations(
        self, dataloader: Iterable[Any], num_samples: int = 1000
    ) -> np.ndarray:
        """Encode up to ``num_samples`` images from ``(images, labels)`` batches; replaces old."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be an integer >= 1, got {num_samples!r}")
        device, dtype = _model_device(self.model)
        vectors: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        collected = 0
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for batch in dataloader:
                    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                        raise ValueError("the dataloader must yield (images, labels) batches")
                    images, batch_labels = batch
                    take = min(num_samples - collected, len(images))
                    images = torch.as_tensor(images[:take]).to(device=device, dtype=dtype)
                    batch_labels = _to_label_array(batch_labels)[:take]
                    if len(batch_labels) != take:
                        raise ValueError(
                            f"batch has {take} images but only {len(batch_labels)} labels"
                        )
                    vectors.append(self._encode(images).cpu().float().numpy())
                    labels.append(batch_labels)
                    collected += take
                    if collected >= num_samples:
                        break  # stop before pulling (and loading) another batch
        finally:
            self.model.train(was_training)

        if collected == 0:
            raise ValueError("the dataloader yielded no samples; nothing to collect")
        # Only replace earlier results once the new collection has fully succeeded.
        self.latent_vectors = np.concatenate(vectors)
        self.labels = np.concatenate(labels)
        self._projections.clear()
        return self.latent_vectors

    def _require_collected(self) -> None:
        """Fail with a helpful message if no latents have been collected yet."""
        if len(self.latent_vectors) == 0:
            raise ValueError(
                "no latent vectors yet; call collect_latent_representations(dataloader) first"
            )

    # ---- projection and plots ---------------------------------------------------------------

    def project_2d(self, method: str = "pca", seed: int = 0) -> np.ndarray:
        """Project the latents to 2-D with PCA or t-SNE for plotting; cached per method and seed."""
        if method not in PROJECTION_METHODS:
            raise ValueError(f"unknown projection method {method!r}; choose 'pca' or 'tsne'")
        self._require_collected()
        key = (method, seed)
        if key not in self._projections:
            self._projections[key] = self._fit_projection(method, seed)
        return self._projections[key]

    def _fit_projection(self, method: str, seed: int) -> np.ndarray:
        """Run PCA or t-SNE on the collected latents and return a read-only ``(n, 2)`` array."""
        points = self.latent_vectors.astype(np.float64)
        n_points = len(points)
        if n_points < 2:
            raise ValueError(f"a 2-D projection needs at least 2 points, got {n_points}")
        if points.shape[1] < 2:  # a 1-D latent: add a zero column so both methods still work
            points = np.hstack([points, np.zeros((n_points, 2 - points.shape[1]))])
        # scikit-learn is imported here, not at the top: it costs about a second, and most
        # notebooks that import this module (through the widgets) never project anything.
        if method == "pca":
            from sklearn.decomposition import PCA

            projection = PCA(n_components=2, random_state=seed).fit_transform(points)
        else:
            from sklearn.manifold import TSNE

            tsne = TSNE(
                n_components=2,
                perplexity=min(30.0, n_points - 1.0),  # must stay below the number of points
                init="pca",
                random_state=seed,
            )
            # Multi-threaded Barnes-Hut t-SNE competes with torch's own OpenMP threads and was
            # 6-20x slower on a small CPU than a single thread (1000 points: 16 s vs 2.7 s).
            with threadpool_limits(limits=1, user_api="openmp"):
                projection = tsne.fit_transform(points)
        projection = np.asarray(projection, dtype=np.float64)
        projection.flags.writeable = False  # it is cached: protect it from accidental edits
        return projection

    def figure_2d(self, method: str = "pca", seed: int = 0, title: str | None = None) -> go.Figure:
        """Plotly scatter of the 2-D projection, one colour (trace) per label, with hover info."""
        import plotly.graph_objects as go

        projection = self.project_2d(method, seed)
        palette = LABEL_COLOURS  # one colour per digit, as in the static map
        figure = go.Figure()
        for number, label in enumerate(np.unique(self.labels)):
            indices = np.flatnonzero(self.labels == label)
            figure.add_trace(
                go.Scatter(
                    x=projection[indices, 0],
                    y=projection[indices, 1],
                    mode="markers",
                    name=str(label),
                    marker={"color": palette[number % len(palette)], "size": 6, "opacity": 0.8},
                    customdata=indices,
                    hovertemplate=f"index %{{customdata}}<br>label {label}<extra></extra>",
                )
            )
        prefix = AXIS_PREFIX[method]
        figure.update_layout(
            title=title or f"Latent space ({METHOD_TITLE[method]}, {len(projection)} points)",
            xaxis_title=f"{prefix} 1",
            yaxis_title=f"{prefix} 2",
            legend_title_text="label",
            template="plotly_white",
            height=500,
        )
        return figure

    def static_figure_2d(self, method: str = "pca", seed: int = 0, title: str | None = None):
        """The same map as :meth:`figure_2d`, drawn with matplotlib: a picture that shows in a
        saved notebook (on GitHub, nbviewer) where the interactive plotly map cannot."""
        projection = self.project_2d(method, seed)
        prefix = AXIS_PREFIX[method]
        default = f"Latent space ({METHOD_TITLE[method]}, {len(projection)} points)"
        return latent_scatter(
            projection,
            self.labels,
            title=title or default,
            axis_names=(f"{prefix} 1", f"{prefix} 2"),
        )

    def visualize_2d(
        self,
        method: str = "tsne",
        seed: int = 0,
        include_plotlyjs: bool | str = False,
        div_id: str = "latent-scatter",
    ) -> str:
        """HTML fragment of ``figure_2d`` for a page that serves plotly.js itself (offline)."""
        if isinstance(include_plotlyjs, str) and (
            include_plotlyjs.lower() == "cdn" or include_plotlyjs.lower().startswith("http")
        ):
            raise ValueError(
                "include_plotlyjs must not load plotly.js from the internet (the course runs "
                "offline); use False (page serves it) or True (inline it)"
            )
        figure = self.figure_2d(method, seed)
        return figure.to_html(full_html=False, include_plotlyjs=include_plotlyjs, div_id=div_id)

    # ---- neighbours and interpolation -------------------------------------------------------

    def find_similar_points(self, target_vector: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """Indices and Euclidean distances of the ``k`` collected latents closest to a target."""
        self._require_collected()
        dim = self.latent_vectors.shape[1]
        target = _as_vector(target_vector, "target vector")
        if target.size != dim:
            raise ValueError(
                f"target vector has dimension {target.size} but the latents have dimension {dim}"
            )
        return nearest_neighbours(self.latent_vectors, target, k)

    def generate_interpolation_path(
        self, start_vector: Any, end_vector: Any, steps: int = 10, method: str = "linear"
    ) -> np.ndarray:
        """Points from start to end ("linear" or "slerp"), ready to decode into a morphing strip."""
        return interpolate(start_vector, end_vector, steps=steps, method=method)


# --------------------------------------------------------------------------------------------
# A map of a 2-D latent space
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The lesson's morph, as one call (notebook 04)
# --------------------------------------------------------------------------------------------


def interpolate_images(
    model: torch.nn.Module, start: Any, end: Any, steps: int = 10, method: str = "slerp"
) -> torch.Tensor:
    """Decode ``steps`` codes along the path from ``start`` to ``end``: a morphing strip.

    The lesson's ``interpolate_images``: walk between two latent codes and decode every step.
    Returns images ``(steps, C, H, W)`` in [0, 1] on the CPU, the two ends included; "slerp" by
    default because it keeps the codes at a typical length (see :func:`slerp`).
    """
    if not callable(getattr(model, "decode", None)):
        raise ValueError(f"{type(model).__name__} has no decode(z): it cannot draw a latent path")
    path = interpolate(start, end, steps=steps, method=method)
    latent_dim = getattr(model, "latent_dim", path.shape[1])
    if path.shape[1] != latent_dim:
        raise ValueError(
            f"the codes have {path.shape[1]} numbers but the model decodes {latent_dim}"
        )
    device, dtype = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.decode(torch.as_tensor(path).to(device=device, dtype=dtype)).cpu()
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

    ``limit`` draws the box ``[-limit, limit]^2``: the region :func:`manifold_grid` decodes.
    The colours are :data:`LABEL_COLOURS`, the same as the interactive maps.
    """
    import matplotlib.pyplot as plt
    import numpy as np

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


# --------------------------------------------------------------------------------------------
# Click a point, see its neighbours (notebook 05's clickable map, course_lib.widgets.NeighbourMap)
# --------------------------------------------------------------------------------------------


def picked_index(trace: Any, points: Any) -> int | None:
    """The collected index of the point a plotly click or hover reports, or None if none.

    ``FigureWidget`` calls every trace's handlers with ``(trace, points, state)``, and only the
    trace under the mouse gets a non-empty ``points.point_inds`` (positions within that trace).
    Each trace of :meth:`LatentSpaceExplorer.figure_2d` carries the collected indices of its
    points as ``customdata``, which turns a position in a trace into a row of the explorer.
    """
    positions = list(getattr(points, "point_inds", None) or [])
    if not positions:
        return None
    customdata = getattr(trace, "customdata", None)
    if customdata is None:
        raise ValueError("the trace has no customdata: draw the map with figure_2d()")
    position = positions[0]
    if isinstance(position, bool) or not 0 <= int(position) < len(customdata):
        raise ValueError(f"point {position!r} is not in a trace of {len(customdata)} points")
    return int(customdata[int(position)])


def neighbour_strip(
    images: Any, captions: Sequence[str], *, title: str = "", scale: int = 4
) -> Image.Image:
    """A row of images, each enlarged ``scale`` times with its own caption under it; the first
    (the query) is set apart from the rest (its neighbours) by a gap and a grey rule.

    Drawn with Pillow in a few milliseconds, so a widget can redraw it on every click.
    """
    from PIL import ImageDraw, ImageFont

    from .imaging import titled, to_pil

    tiles = [to_pil(image, scale=scale).convert("RGB") for image in _split_images(images)]
    if len(tiles) != len(captions) or not tiles:
        raise ValueError(f"need one caption per image, got {len(tiles)} images, {len(captions)}")
    font = ImageFont.load_default(size=13)
    lines = max(caption.count("\n") + 1 for caption in captions)
    band = 16 * lines + 6
    gap, rule = 4, 14  # between neighbours; before the first neighbour
    tile_w = max(max(t.width for t in tiles), 84)
    width = len(tiles) * tile_w + (len(tiles) - 2) * gap + rule if len(tiles) > 1 else tile_w
    height = max(t.height for t in tiles) + band
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for number, (tile, text) in enumerate(zip(tiles, captions, strict=True)):
        canvas.paste(tile, (x + (tile_w - tile.width) // 2, 0))
        draw.multiline_text(
            (x + tile_w / 2, tile.height + 3),
            text,
            fill="black",
            font=font,
            anchor="ma",
            align="center",
        )
        x += tile_w + (rule if number == 0 else gap)
        if number == 0 and len(tiles) > 1:
            middle = x - rule // 2
            draw.line([(middle, 0), (middle, height)], fill=(160, 160, 160), width=2)
    return titled(canvas, title) if title else canvas


def _split_images(images: Any) -> list[Any]:
    """A batch ``(n, C, H, W)`` tensor/array or a list, as a list of single images."""
    if isinstance(images, (torch.Tensor, np.ndarray)):
        return [images[i] for i in range(len(images))]
    return list(images)
