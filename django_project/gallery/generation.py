"""The gallery's service module: load the course models once, make images, map the latent space.

Views call only the functions here; the models themselves live in ``course_lib`` and their
trained weights in the shared checkpoint folder (``course_lib.paths.checkpoint_path``), the same
files the notebooks and ``python manage.py train_models`` write. Each checkpoint is loaded once
per process, under a lock, and reused by every request; ``load_count`` lets tests and the
benchmark check that.
"""

from __future__ import annotations

import html
import io
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from course_lib import checkpoints, imaging
from course_lib.data import load_dataset
from course_lib.flow import LatentFlowModel
from course_lib.latent import LatentSpaceExplorer, nearest_neighbours
from course_lib.latent import interpolate as interpolate_path
from course_lib.models import (
    AutoencoderModel,
    ConvGenerator,
    Generator,
    MixturePriorVAE,
    VariationalAutoencoder,
)
from course_lib.paths import checkpoint_path
from course_lib.runtime import use_threads
from gallery_site.model_cache import LoadOnce

if TYPE_CHECKING:  # scikit-learn is imported where the map is built (a second saved per start)
    from sklearn.decomposition import PCA

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINTS",
    "CREATIVITY_MAX",
    "CREATIVITY_MIN",
    "FLOW_STEPS",
    "GeneratedImageData",
    "LESSON_CHECKPOINTS",
    "LatentMap",
    "LatentMismatch",
    "LatentPoint",
    "ModelUnavailable",
    "NoDigitChoice",
    "Served",
    "check_checkpoint",
    "checkpoint_of",
    "clear_cache",
    "decode_latent",
    "generate",
    "get_model",
    "interpolate",
    "is_conditional",
    "latent_map",
    "latent_size",
    "load_count",
    "morph_gif",
    "nearest_codes",
    "png_data_url",
    "preview_png",
    "served",
    "served_from",
    "temperature_of",
]

#: Which shared checkpoint (a ``course_lib.recipes`` name) each generation method serves by
#: default: the course's best model of each family. The conditional conv GAN and the latent
#: flow draw the digit a visitor asks for; the mixture-prior VAE samples its learned prior.
CHECKPOINTS = {
    "VAE": "mvae_mnist5k",
    "GAN": "cgan_mnist5k",
    "AUTOENCODER": "ae_mnist5k",
    "FLOW": "flow_mnist5k",
}
#: The lesson's own models, kept because the course compares them with the best ones. They are
#: model records like any other: ``/create/?model=<id>`` draws with them (``train_models``
#: trains and registers them too).
LESSON_CHECKPOINTS = {"VAE": "vae_mnist5k", "GAN": "gan_mnist5k"}
#: The model classes a method may draw with (its family: a record of the lesson's model too).
EXPECTED_CLASSES: dict[str, tuple[type[nn.Module], ...]] = {
    "VAE": (VariationalAutoencoder,),  # MixturePriorVAE is one
    "GAN": (ConvGenerator, Generator),
    "AUTOENCODER": (AutoencoderModel,),
    "FLOW": (LatentFlowModel,),
}
METHOD_LABELS = {
    "VAE": "variational autoencoder",
    "GAN": "GAN generator",
    "AUTOENCODER": "autoencoder",
    "FLOW": "latent flow model",
}

#: "Creativity" is the temperature of the model's own prior: how far from its most typical
#: codes a drawing may wander. 1.0 samples the model as it was trained.
CREATIVITY_MIN, CREATIVITY_MAX, CREATIVITY_DEFAULT = 0.1, 2.0, 1.0
#: Euler steps the gallery integrates the flow with (the model's own default is 20).
FLOW_STEPS = 12
#: 28x28 pixels shown 8x larger (224x224) with nearest-neighbour, so pixels stay crisp.
DISPLAY_SCALE = 8
INTERPOLATION_STEPS = 12
#: Real digits encoded for the latent-space map (held-out mnist5k test split, same everywhere).
EXPLORER_DATASET, EXPLORER_SPLIT, EXPLORER_SAMPLES = "mnist5k", "test", 500
EXPLORER_NEIGHBOURS = 5  # t-SNE cannot place new points: use the mean of the nearest digits
PROJECTIONS = ("pca", "tsne")

# Two cores behave like ~1.3 for these small models, and several web workers (or a notebook)
# share the CPU: one thread per worker is the robust choice (no oversubscription stalls).
INFERENCE_THREADS = 1


class ModelUnavailable(RuntimeError):
    """A method's checkpoint is missing or unreadable; the message says how to fix it.

    ``reason`` is the bare cause (no advice), for ``train_models`` to print.
    """

    def __init__(self, method: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.reason = reason or message


class LatentMismatch(ValueError):
    """A stored latent vector does not fit the current model (e.g. it was retrained)."""


class NoDigitChoice(ValueError):
    """A digit was asked of a model that does not draw chosen digits (not class-conditional)."""


@dataclass(frozen=True)
class Served:
    """A loaded model the gallery draws with, and the checkpoint (name and fingerprint) it was
    read from; ``record_id`` is its ``workshop.ModelRecord`` when it was served from one."""

    method: str
    model: nn.Module
    checkpoint_name: str
    checkpoint_fingerprint: str
    record_id: int | None = None


@dataclass(frozen=True)
class GeneratedImageData:
    """A new image as PNG bytes, the exact latent vector that was decoded to make it, and the
    checkpoint (name and ``course_lib.checkpoints.fingerprint``) whose weights decoded it."""

    png_bytes: bytes
    latent_vector: list[float]
    checkpoint_name: str = ""
    checkpoint_fingerprint: str = ""
    digit: int | None = None  # the digit a class-conditional model was asked to draw


@dataclass(frozen=True)
class LatentPoint:
    """A stored artwork to mark on the latent-space map."""

    artwork_id: int
    title: str
    latent_vector: Any


@dataclass(frozen=True)
class LatentMap:
    """The explorer's plotly HTML fragment and how many artworks it could place."""

    html: str
    dataset_points: int
    artworks_plotted: int
    artworks_skipped: int


# --- the per-process model cache --------------------------------------------------------------

#: Each method's model and the fingerprint of the file it was loaded from, once per process.
_models: LoadOnce[str, tuple[nn.Module, str]] = LoadOnce()


def _check_method(method: str) -> None:
    if method not in CHECKPOINTS:
        raise ValueError(
            f"unknown generation method {method!r}; choose one of {', '.join(CHECKPOINTS)}"
        )


def get_model(method: str) -> nn.Module:
    """The trained model for ``method``, loaded from its checkpoint on first use, then cached."""
    _check_method(method)
    return _models.get(method, lambda: _load_served(method))[0]


def _load_served(method: str) -> tuple[nn.Module, str]:
    use_threads(INFERENCE_THREADS)
    fingerprint = _fingerprint(method)
    return _load(method), fingerprint


#: What to do about a checkpoint that cannot be used: train_models retrains exactly those.
RETRAIN_ADVICE = (
    "Run `python manage.py train_models` (or `make gallery`), which trains again every "
    "checkpoint that is missing or cannot be loaded (`--force` retrains all), then reload "
    "this page."
)


def _load(method: str, name: str | None = None) -> nn.Module:
    """Read the checkpoint (``name``, by default the method's own), turning every way it can
    fail into a ModelUnavailable.

    Failures are never cached: the next request reads the file again, so a checkpoint that was
    fixed (retrained) is used at once, without restarting the server.
    """
    name = name or CHECKPOINTS[method]
    path = checkpoint_path(name)
    label = METHOD_LABELS[method]
    if not path.is_file():
        raise ModelUnavailable(
            method,
            f"The {label} is not trained yet (no checkpoint {path.name} in {path.parent}). "
            "Run `python manage.py train_models` (or `make gallery`), then reload this page.",
            reason=f"no checkpoint {path}",
        )
    try:
        model = checkpoints.load(path)
    except (ValueError, OSError) as err:
        # checkpoints.load refuses pickles that could run code and explains damaged files.
        raise ModelUnavailable(
            method,
            f"The {label} checkpoint cannot be used: {err}. {RETRAIN_ADVICE}",
            reason=str(err),
        ) from err
    except Exception as err:  # a bug or an exotic failure: still a page that says what to do
        logger.exception("loading %s failed", path)
        raise ModelUnavailable(
            method,
            f"The {label} checkpoint {path} could not be loaded "
            f"({type(err).__name__}: {err}). {RETRAIN_ADVICE}",
            reason=f"{type(err).__name__}: {err}",
        ) from err
    if wrong := _wrong_family(method, model):
        raise ModelUnavailable(
            method, f"{path} holds {wrong}. {RETRAIN_ADVICE}", reason=f"{path} holds {wrong}"
        )
    return model.eval()


def _wrong_family(method: str, model: nn.Module) -> str:
    """'' if ``model`` belongs to ``method``'s family, else what is wrong, in words."""
    expected = EXPECTED_CLASSES[method]
    if isinstance(model, expected):
        return ""
    names = " or ".join(cls.__name__ for cls in expected)
    return f"a {type(model).__name__}, but the gallery needs a {names} for this method"


def _fingerprint(method: str) -> str:
    """The fingerprint of ``method``'s checkpoint file ('' if it is missing: _load says why)."""
    try:
        return checkpoints.fingerprint(checkpoint_path(CHECKPOINTS[method]))
    except ValueError:
        return ""


def checkpoint_of(method: str) -> tuple[str, str]:
    """``(checkpoint name, fingerprint)`` of the model that ``method`` decodes with now."""
    _check_method(method)
    return CHECKPOINTS[method], _models.get(method, lambda: _load_served(method))[1]


def served(method: str) -> Served:
    """The method's default model: its shared checkpoint, loaded once per process."""
    model = get_model(method)
    name, fingerprint = checkpoint_of(method)
    return Served(method, model, name, fingerprint)


def served_from(
    method: str, model: nn.Module, checkpoint_name: str, fingerprint: str, record_id: int
) -> Served:
    """A model loaded from a ``workshop.ModelRecord``, checked to be of ``method``'s family."""
    _check_method(method)
    if wrong := _wrong_family(method, model):
        raise ModelUnavailable(method, f"Model record #{record_id} holds {wrong}.")
    return Served(method, model.eval(), checkpoint_name, fingerprint, record_id)


def check_checkpoint(method: str, name: str | None = None) -> None:
    """Raise ModelUnavailable if ``method``'s checkpoint (or its lesson model's, ``name``) is
    missing or unusable (no caching)."""
    _check_method(method)
    _load(method, name)


def load_count(method: str) -> int:
    """How many times this process has loaded ``method``'s checkpoint (1 once it is cached)."""
    _check_method(method)
    return _models.loads[method]


def clear_cache() -> None:
    """Forget loaded models, load counts and the latent map (tests; after retraining)."""
    global _dataset_map
    _models.clear()
    with _explorer_lock:
        _dataset_map = None


# --- images -----------------------------------------------------------------------------------


def check_creativity(creativity: float) -> float:
    """Return ``creativity`` as a float, or raise ValueError if it is outside [0.1, 2.0]."""
    value = float(creativity)
    if not math.isfinite(value) or not CREATIVITY_MIN <= value <= CREATIVITY_MAX:
        raise ValueError(
            f"creativity must be a number from {CREATIVITY_MIN} to {CREATIVITY_MAX}, "
            f"got {creativity!r}"
        )
    return value


def _to_png(image: torch.Tensor) -> bytes:
    """One decoded image ``(C, 28, 28)`` in [0, 1] as a crisp, enlarged PNG."""
    return imaging.to_png_bytes(image, scale=DISPLAY_SCALE)


def _images(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Decode codes to images; the flow with the gallery's (fewer) integration steps."""
    with torch.inference_mode():
        if isinstance(model, LatentFlowModel):
            return model.decode(z, steps=FLOW_STEPS)
        return model.decode(z)


def _decode(model: nn.Module, z: torch.Tensor) -> list[bytes]:
    return [_to_png(image) for image in _images(model, z)]


def is_conditional(model: nn.Module) -> bool:
    """True for a class-conditional model (the conv GAN or flow with classes): it draws the
    digit it is asked for, and its code carries that digit."""
    return getattr(model, "n_classes", 0) > 0


#: For a prior that is one Gaussian, the temperature at creativity 0 (see temperature_of).
ONE_GAUSSIAN_FLOOR = 0.5


def temperature_of(model: nn.Module, creativity: float) -> float:
    """The temperature of the model's prior for a creativity (1.0 -> 1.0 for every model).

    A prior with typical centres (the mixture VAE's components, a conditional model's digit
    codes) gives its most typical digits at a small temperature, so creativity is the
    temperature. A prior that is one Gaussian (the autoencoder's fitted one, the lesson's VAE
    and GANs) has one centre, which decodes into an average of all digits, a grey blob; there
    creativity c is temperature 0.5 + 0.5 c (0.55 to 1.5), which keeps every value a digit
    (measured: the digits at 0.55 vary and are clear; below about 0.4 they merge into one).
    """
    creativity = check_creativity(creativity)
    if isinstance(model, MixturePriorVAE) or is_conditional(model):
        return creativity
    return ONE_GAUSSIAN_FLOOR + (1 - ONE_GAUSSIAN_FLOOR) * creativity


def _code(
    source: Served, creativity: float, seed: int | None, digit: int | None
) -> tuple[torch.Tensor, int | None]:
    """One code from the model's own prior (``model.codes``) and the digit it carries.

    A class-conditional model draws ``digit``, or with ``None`` a digit picked by the seed
    (so a seed still names one image); other models refuse a digit with NoDigitChoice.
    """
    temperature = temperature_of(source.model, creativity)
    model = source.model
    if not is_conditional(model):
        if digit is not None:
            raise NoDigitChoice(
                f"The {METHOD_LABELS[source.method]} ({type(model).__name__}) draws whatever "
                "digit its code gives; it cannot be asked for one. Choose 'any digit', or the "
                "GAN or the latent flow, which draw the digit you ask for."
            )
        return model.codes(1, seed=seed, temperature=temperature), None
    if digit is None:
        digit = int(np.random.default_rng(seed).integers(model.n_classes))
    elif not 0 <= digit < model.n_classes:
        raise NoDigitChoice(f"The digit must be from 0 to {model.n_classes - 1}, got {digit}.")
    return model.codes(1, seed=seed, temperature=temperature, labels=[digit]), digit


def generate(
    method: str,
    creativity: float,
    seed: int | None = None,
    *,
    digit: int | None = None,
    source: Served | None = None,
) -> GeneratedImageData:
    """Draw a random latent code, decode it and return the PNG with the code that made it.

    The code comes from the model's own prior (``model.codes``): a learned mixture for the
    mixture-prior VAE, the Gaussian fitted to the training codes for the autoencoder, noise
    (plus the asked digit's class code, for the conditional GAN and flow) otherwise;
    ``creativity`` is its temperature (the spread around the prior's centre). ``source`` is the
    model to draw with (default: the method's shared checkpoint). The same ``seed`` (and
    ``digit``) gives the same code and image as :func:`preview_png`.
    """
    source = source or served(method)
    z, digit = _code(source, creativity, seed, digit)
    (png,) = _decode(source.model, z)
    return GeneratedImageData(
        png_bytes=png,
        latent_vector=z[0].tolist(),
        checkpoint_name=source.checkpoint_name,
        checkpoint_fingerprint=source.checkpoint_fingerprint,
        digit=digit,
    )


def preview_png(
    method: str,
    creativity: float,
    seed: int | None = None,
    *,
    digit: int | None = None,
    source: Served | None = None,
) -> bytes:
    """A new image as a PNG at the model's own 28x28 pixels, nothing stored: the hot path of
    ``GET /generate/<method>.png`` (pages scale it up with ``image-rendering: pixelated``).

    The same code as :func:`generate` with the same ``seed``, so a preview can be kept as an
    artwork; only the encoding differs (28x28 instead of the gallery's 224x224 files).
    """
    source = source or served(method)
    z, _ = _code(source, creativity, seed, digit)
    # Leaner than imaging.to_png_bytes (which checks any input): the decoder's pixels are known
    # to be one 28x28 channel in [0, 1], and zlib level 1 costs less and loses nothing on 784
    # bytes. Together about a tenth more previews per second under gunicorn.
    pixels = (_images(source.model, z)[0, 0] * 255 + 0.5).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.frombuffer("L", (pixels.shape[1], pixels.shape[0]), pixels.tobytes()).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def _latent_tensor(model: nn.Module, vector: Any, what: str = "latent vector") -> torch.Tensor:
    """A stored latent vector as a ``(1, d)`` tensor, checked against the model's latent size."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # too big for float32: inf, refused
            array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise LatentMismatch(f"the {what} is not a list of numbers") from None
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise LatentMismatch(f"the {what} must be a flat list of finite numbers")
    if array.size != model.latent_dim:
        raise LatentMismatch(
            f"the {what} has {array.size} numbers but the current model's latent space has "
            f"{model.latent_dim}, so another model made it (a style-studio style, or a model "
            "trained with another latent size)"
        )
    return torch.from_numpy(array).unsqueeze(0)


def latent_size(vector: Any) -> int | None:
    """How many numbers a stored latent vector holds, or None if it is not a flat list."""
    if isinstance(vector, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in vector
    ):
        return len(vector)
    return None


def decode_latent(method: str, z: Any, *, source: Served | None = None) -> bytes:
    """Decode one stored latent vector with ``method``'s model (or ``source``), as a PNG."""
    model = (source or served(method)).model
    (png,) = _decode(model, _latent_tensor(model, z))
    return png


def interpolate(
    method: str,
    z_a: Any,
    z_b: Any,
    steps: int = INTERPOLATION_STEPS,
    *,
    source: Served | None = None,
) -> list[bytes]:
    """PNGs of ``steps`` codes along the spherical path (slerp) from ``z_a`` to ``z_b``, decoded
    by ``method``'s model (or ``source``). A conditional model's codes carry their digit, so
    the path morphs one digit into another."""
    model = (source or served(method)).model
    return _decode(model, _morph_codes(model, z_a, z_b, steps))


def _morph_codes(model: nn.Module, z_a: Any, z_b: Any, steps: int) -> torch.Tensor:
    """``(steps, d)`` codes along the spherical path (slerp) between two stored codes."""
    start = _latent_tensor(model, z_a, "first artwork's latent vector")
    end = _latent_tensor(model, z_b, "second artwork's latent vector")
    path = interpolate_path(start[0].numpy(), end[0].numpy(), steps=steps, method="slerp")
    return torch.from_numpy(np.ascontiguousarray(path, dtype=np.float32))


# --- the latent-space map ---------------------------------------------------------------------


@dataclass
class _DatasetMap:
    """Real digits encoded by the VAE, plus a PCA fitted on them (built once per process)."""

    model: nn.Module
    explorer: LatentSpaceExplorer
    pca: PCA


_explorer_lock = threading.Lock()
_dataset_map: _DatasetMap | None = None


def _get_dataset_map() -> _DatasetMap:
    """Encode the held-out digits with the VAE and fit the PCA, once per process."""
    global _dataset_map
    model = get_model("VAE")
    with _explorer_lock:
        if _dataset_map is None or _dataset_map.model is not model:
            data = load_dataset(EXPLORER_DATASET, EXPLORER_SPLIT)
            count = min(EXPLORER_SAMPLES, len(data))
            # evenly spaced digits of the held-out split
            chosen = torch.linspace(0, len(data) - 1, count).round().long()
            explorer = LatentSpaceExplorer(model)
            explorer.collect_latent_representations(
                [(data.images[chosen], data.labels[chosen])], num_samples=count
            )
            # The same PCA the explorer runs (deterministic), kept so that stored artworks can be
            # projected into the very same plane with transform().
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2, random_state=0)
            pca.fit(explorer.latent_vectors.astype(np.float64))
            _dataset_map = _DatasetMap(model=model, explorer=explorer, pca=pca)
        return _dataset_map


def _place_artworks(dataset_map: _DatasetMap, vectors: np.ndarray, projection: str) -> np.ndarray:
    """2-D positions of artwork codes in the dataset's projection."""
    if projection == "pca":
        return dataset_map.pca.transform(vectors.astype(np.float64))
    # t-SNE has no transform for new points: put each artwork at the mean position of its
    # nearest real digits in latent space (the map itself stays fixed as artworks are added).
    positions = dataset_map.explorer.project_2d("tsne")
    placed = []
    for vector in vectors:
        indices, _ = dataset_map.explorer.find_similar_points(vector, k=EXPLORER_NEIGHBOURS)
        placed.append(positions[indices].mean(axis=0))
    return np.array(placed)


def latent_map(
    points: Sequence[LatentPoint], projection: str = "pca", div_id: str = "latent-scatter"
) -> LatentMap:
    """Plotly scatter of real digits' VAE codes (one colour per digit) plus stored artworks.

    Returns an HTML fragment without plotly.js: the page loads its local copy.
    """
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection {projection!r}; choose 'pca' or 'tsne'")
    dataset_map = _get_dataset_map()
    explorer = dataset_map.explorer
    with _explorer_lock:  # t-SNE is computed on first use and cached inside the explorer
        explorer.project_2d(projection)
    figure = explorer.figure_2d(
        projection,
        title=f"VAE latent space of {len(explorer.labels)} held-out digits "
        f"({'PCA' if projection == 'pca' else 't-SNE'})",
    )

    usable: list[tuple[LatentPoint, np.ndarray]] = []
    for point in points:
        try:
            vector = _latent_tensor(dataset_map.model, point.latent_vector)[0].numpy()
        except LatentMismatch:
            continue  # made by an older model with another latent size: cannot be placed
        usable.append((point, vector))
    if usable:
        xy = _place_artworks(dataset_map, np.stack([v for _, v in usable]), projection)
        figure.add_trace(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                name="gallery artworks",
                marker={
                    "symbol": "star",
                    "size": 15,
                    "color": "#212529",
                    "line": {"color": "#ffc107", "width": 1.5},
                },
                customdata=[point.artwork_id for point, _ in usable],
                text=[html.escape(point.title) for point, _ in usable],
                hovertemplate="artwork #%{customdata}<br>%{text}<extra></extra>",
            )
        )
    figure.update_layout(legend_title_text="digit", margin={"l": 40, "r": 20, "t": 60, "b": 40})
    fragment = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"responsive": True, "displaylogo": False},
    )
    return LatentMap(
        html=fragment,
        dataset_points=len(explorer.labels),
        artworks_plotted=len(usable),
        artworks_skipped=len(points) - len(usable),
    )


def png_data_url(png: bytes) -> str:
    """Inline PNG bytes as a ``data:`` URL (for images that are shown but not stored)."""
    return imaging.to_data_url(png, mime="image/png")


# --- artwork pages: the animated morph and the nearest codes ---------------------------------

#: How long each frame of the morph GIF shows, in milliseconds.
MORPH_FRAME_MS = 120


def morph_gif(
    method: str,
    z_a: Any,
    z_b: Any,
    steps: int = INTERPOLATION_STEPS,
    frame_ms: int = MORPH_FRAME_MS,
    *,
    source: Served | None = None,
) -> bytes:
    """The morph from ``z_a`` to ``z_b`` and back as a looping GIF (``2 * steps - 2`` frames: the
    way back skips both ends, so the loop never pauses on a repeated frame). Nothing is stored.
    Decoded by ``method``'s model (or ``source``, the artworks' own record), like the strip."""
    model = (source or served(method)).model
    with torch.no_grad():
        images = list(model.decode(_morph_codes(model, z_a, z_b, steps)))
    return imaging.to_gif_bytes(images + images[-2:0:-1], scale=DISPLAY_SCALE, frame_ms=frame_ms)


def nearest_codes(
    target: Any, candidates: Sequence[tuple[int, Any]], k: int
) -> list[tuple[int, float]]:
    """The ``k`` candidates ``(id, stored code)`` whose codes lie closest to ``target`` in latent
    space (Euclidean), nearest first, as ``(id, distance)``. Codes that are not flat lists of
    the target's size (another model's, or tampered) are left out; a junk target finds none."""
    start = _finite_code(target)
    if start is None:
        return []
    usable = [
        (pk, code)
        for pk, stored in candidates
        if (code := _finite_code(stored, start.size)) is not None
    ]
    if not usable or k < 1:
        return []
    points = np.stack([code for _, code in usable])
    indices, distances = nearest_neighbours(points, start, min(k, len(usable)))
    return [(usable[i][0], float(d)) for i, d in zip(indices, distances, strict=True)]


def _finite_code(vector: Any, size: int | None = None) -> np.ndarray | None:
    """A stored code as a float array if it is a non-empty flat list of finite numbers (of
    ``size`` numbers when given), else None."""
    if not latent_size(vector) or (size is not None and len(vector) != size):
        return None
    try:
        array = np.asarray(vector, dtype=np.float64)
    except (OverflowError, TypeError, ValueError):  # an int too large for a float
        return None
    return array if np.all(np.isfinite(array)) else None
