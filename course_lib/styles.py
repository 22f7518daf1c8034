"""The personal style studio: learn a style from 5-10 images of it, then vary it.

Two ways to learn it (``train_style(method=...)``): by default an autoencoder plus a latent
flow on its codes (``course_lib.flow``, Stable Diffusion's recipe in miniature), whose
variations keep the style's shapes; or a small VAE, whose variations keep the palette but melt
the shapes into soft colour blobs. :func:`compare_methods` measures both side by side.

A handful of images is far too few to train a generative model, so :func:`augment` turns them
into hundreds of crops, turns and flips first. Colour jitter stays gentle on purpose: the
colours *are* the style, so a model that saw every hue would forget them.

The web app and the notebook call the same few functions::

    images = load_style_images("data/style_samples/warm_mandalas")  # (8, 3, 32, 32)
    result = train_style(images, time_budget=45)                    # flow model + report
    print(brief_report(result.report))
    grid = make_grid(variations(result.model, 16, seed=0))
    save_style(result, "data/checkpoints/my_style.pt")

Uploads go through :func:`validate_image_bytes` first, which checks what a file *is*, not what
it is called.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from . import checkpoints
from .data import IMAGE_EXTENSIONS
from .flow import LatentFlowModel
from .metrics import nearest_neighbour_distances
from .models import StyleAutoencoder, StyleVAE
from .paths import PROJECT_ROOT, checkpoint_path
from .patterns import create_pattern
from .runtime import adam, device_of, use_threads
from .training import History, autoencoder_step, fit, train_flow

__all__ = [
    "StyleVAE",
    "StyleAutoencoder",
    "METHODS",
    "DEFAULT_METHOD",
    "StyleResult",
    "augment",
    "load_style_images",
    "validate_image_bytes",
    "train_style",
    "style_report",
    "brief_report",
    "variations",
    "latent_traversal",
    "sharpness",
    "sharpness_ratio",
    "memorisation",
    "measure_style",
    "save_style",
    "load_style",
    "style_checkpoint_path",
    "train_style_or_load",
    "style_checks",
    "style_images_from_uploads",
    "make_sample_styles",
    "SAMPLE_STYLES_DIR",
]

IMAGE_SIZE = 32  # the model's resolution: small enough to train on a CPU in under a minute
MIN_IMAGES, MAX_IMAGES = 5, 10  # the assignment asks for 5-10 samples of a style
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # Pillow's names, read from the content
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_SIDE = 4096
SAMPLE_STYLES_DIR = PROJECT_ROOT / "data" / "style_samples"
#: A style is saved as a course checkpoint of its StyleVAE (checkpoints.save/load).
FORMAT, FORMAT_VERSION = checkpoints.FORMAT, checkpoints.FORMAT_VERSION
#: The header of style files written before styles became checkpoints; still read.
LEGACY_FORMAT = "course_lib.style"

#: How a style is learned: the small VAE (the default), or an autoencoder plus a latent flow on
#: its codes; see train_style. Under the studio's equal 30 s budget (`make bench` section 8,
#: 2026-11-29) the flow's variations were sharper on cool_geometric (sharpness ratio 0.59 vs
#: 0.53), level on warm_mandalas (0.64 vs 0.63), and on sunset_gradients blurrier (0.49 vs 0.79)
#: with 22% near-copies of the originals, the VAE none: not a default to trust yet.
METHODS = ("flow", "vae")
DEFAULT_METHOD = "vae"
#: A trained style's model: the flow (holding its autoencoder) or the VAE.
StyleModel = LatentFlowModel | StyleVAE
AUTOENCODER_SHARE = 0.7  # of the time budget; the flow on 64-number codes learns fast
FLOW_BATCH_SIZE = 64  # 640 codes: 10 steps an epoch
FLOW_EMA_DECAY = 0.99  # a run of under 1,000 steps: average over the last ~100
FLOW_STEPS = 20  # Euler steps from noise to a code


# --- the model -------------------------------------------------------------------------------


# --- images in -------------------------------------------------------------------------------


def validate_image_bytes(
    data: bytes, max_bytes: int = MAX_UPLOAD_BYTES, max_side: int = MAX_UPLOAD_SIDE
) -> Image.Image:
    """Check an uploaded file and return it decoded, or raise ValueError saying what is wrong.

    The format is read from the content (a text file renamed ``.png`` is refused), the size is
    checked before the pixels are decoded, and decompression bombs (a tiny file that expands to
    gigabytes) are refused rather than merely warned about.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"expected the file's bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise ValueError(
            f"the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB"
        )
    bomb = "the image has too many pixels for its file size (a decompression bomb?)"
    try:
        image = Image.open(io.BytesIO(data))  # reads the header only; no pixels decoded yet
        if image.format not in ALLOWED_FORMATS:
            raise ValueError(
                f"{image.format} images are not accepted; upload {', '.join(ALLOWED_FORMATS)}"
            )
        # Pillow only warns between 1x and 2x its limit; checked here rather than by turning
        # the warning into an error, because warnings.catch_warnings is not thread-safe.
        if Image.MAX_IMAGE_PIXELS and image.width * image.height > Image.MAX_IMAGE_PIXELS:
            raise ValueError(bomb)
        if max(image.size) > max_side:
            raise ValueError(
                f"the image is {image.width}x{image.height} pixels; "
                f"the limit is {max_side} on each side"
            )
        image.load()  # decode now, so a truncated or corrupt file fails here
    except Image.DecompressionBombError:
        raise ValueError(bomb) from None
    except UnidentifiedImageError:
        raise ValueError(
            f"the file is not an image Pillow can read; upload {', '.join(ALLOWED_FORMATS)}"
        ) from None
    except (OSError, SyntaxError, EOFError, struct.error, IndexError) as err:
        # Pillow reports a garbled chunk as SyntaxError (PNG) or struct/index errors (others).
        raise ValueError(f"the image is damaged or truncated: {err}") from None
    return image


def _to_square_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """Rotate as the camera meant, centre-crop to a square, resize: (3, size, size) in [0, 1]."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Put see-through pixels on white (as drawn on paper) rather than on black.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    image = image.convert("RGB")
    image = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


def load_style_images(
    images: str | Path | Sequence[str | Path | Image.Image], size: int = IMAGE_SIZE
) -> torch.Tensor:
    """Load 5-10 style images (a folder, file paths or Pillow images) as ``(n, 3, size, size)``.

    Each image is centre-cropped to a square and resized with Lanczos filtering.
    """
    if isinstance(images, (str, Path)):
        folder = Path(images).expanduser()
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder of images")
        images = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
    images = list(images)
    if not MIN_IMAGES <= len(images) <= MAX_IMAGES:
        raise ValueError(
            f"a style needs {MIN_IMAGES} to {MAX_IMAGES} sample images, got {len(images)}"
        )
    tensors = []
    for item in images:
        if isinstance(item, Image.Image):
            tensors.append(_to_square_tensor(item, size))
            continue
        try:
            with Image.open(item) as image:
                tensors.append(_to_square_tensor(image, size))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read {item} as an image: {err}") from None
    return torch.stack(tensors)


def augment(
    images: torch.Tensor, n_variants: int, seed: int = 0, size: int = IMAGE_SIZE
) -> torch.Tensor:
    """Turn a few images into ``n_variants`` new ones ``(n_variants, 3, size, size)``, seeded.

    Each variant is a random crop (70-100% of the area) of one input, resized, turned by a
    multiple of 90 degrees, maybe mirrored, with gentle colour jitter. Right-angle turns and
    mirrors keep the pixels exact (small-angle rotations would blur them and leave blank
    corners); the colours only wobble a little because they are part of the style.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"expected RGB images shaped (n, 3, H, W), got {shape}")
    if images.shape[0] == 0:
        raise ValueError("there are no images to augment")
    if isinstance(n_variants, bool) or not isinstance(n_variants, int) or n_variants < 1:
        raise ValueError(f"n_variants must be a positive integer, got {n_variants!r}")
    from torchvision.transforms import v2  # here, not at the top: importing it takes a second

    transform = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.15, hue=0.02),
        ]
    )
    images = images.float().clamp(0, 1)
    variants = torch.empty(n_variants, 3, size, size)
    with torch.random.fork_rng(devices=[]):  # torchvision draws from the global generator
        torch.manual_seed(seed)
        for i in range(n_variants):
            variant = transform(images[i % images.shape[0]])
            turns = int(torch.randint(4, ()))
            variants[i] = torch.rot90(variant, turns, dims=(1, 2)).clamp(0, 1)
    return variants


# --- training --------------------------------------------------------------------------------


@dataclass
class StyleResult:
    """A trained style: the model, its training history, the input images and the report."""

    model: StyleModel
    originals: torch.Tensor  # (n, 3, 32, 32), the style images the model learned from
    report: dict[str, Any]  # JSON-able numbers, see train_style
    history: History = field(default_factory=list)


def train_style(
    images: torch.Tensor,
    *,
    method: str = DEFAULT_METHOD,
    time_budget: float | None = 45.0,
    max_epochs: int | None = None,
    n_variants: int = 640,
    latent_dim: int | None = None,
    batch_size: int = 32,
    lr: float = 2e-3,
    kl_weight: float = 1.0,
    autoencoder_share: float = AUTOENCODER_SHARE,
    flow_epochs: int | None = None,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> StyleResult:
    """Learn a style from a few square images ``(n, 3, H, W)`` in [0, 1], by one of two methods.

    - ``method="flow"`` (the default, it keeps the shapes): a :class:`StyleAutoencoder` learns
      to squeeze the pictures into ``latent_dim`` (64) numbers and back, then a
      :class:`LatentFlowModel` learns to draw new codes like theirs (Stable Diffusion's recipe
      in miniature, ``course_lib.flow``). The autoencoder gets ``autoencoder_share`` of the
      time budget and the flow the rest; by epochs, the autoencoder trains ``max_epochs`` and
      the flow ``flow_epochs`` (3 x ``max_epochs`` unless given: its epochs are 7x shorter).
    - ``method="vae"``: the :class:`StyleVAE` of ``latent_dim`` (16) numbers, as before.

    Both learn from ``n_variants`` augmented pictures and stop after ``max_epochs`` or
    ``time_budget`` seconds (the budget covers everything), on one CPU thread (robust on a
    busy machine; the thread count is restored afterwards). ``callback`` gets each epoch's
    record, with ``progress`` from 0 to 1 for a progress bar.

    The VAE's loss is the lesson's negative ELBO: pixel binary cross-entropy plus the model's
    KL. For pixels in [0, 1] the cross-entropy acts like a squared error that weighs
    near-white and near-black pixels more, which keeps flat backgrounds clean. The KL weight
    rises from 0 to ``kl_weight`` over the first third of training ("KL annealing", Bowman et
    al. 2016), so the decoder learns to draw the style before the prior pulls the codes
    together; ``kl_weight`` below 1 is a beta-VAE (Higgins et al. 2017). The autoencoder
    minimises the same cross-entropy alone: nothing pulls its codes together, so its decoder
    need not blur, and the flow learns where the codes lie instead of a prior forcing them.

    The report (all plain numbers, see :func:`style_report`) says how well the originals are
    reconstructed, how varied and how sharp the samples are and whether they copy the
    originals.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"expected RGB images shaped (n, 3, H, W), got {shape}")
    if images.shape[0] < 2:
        raise ValueError(f"a style needs at least 2 images, got {images.shape[0]}")
    if images.shape[2] != images.shape[3]:
        raise ValueError(
            f"the images must be square (load_style_images crops them), got {tuple(images.shape)}"
        )
    if time_budget is None and max_epochs is None:
        raise ValueError("give time_budget, max_epochs or both to say how long to train")
    if not 0 < autoencoder_share < 1:
        raise ValueError(f"autoencoder_share must be between 0 and 1, got {autoencoder_share!r}")
    latent_dim, flow_epochs = _method_defaults(method, latent_dim, max_epochs, flow_epochs)
    images = images.detach().float().cpu().clamp(0, 1)
    originals = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="area")
    start = time.perf_counter()
    threads = use_threads(1)
    try:
        data = augment(images, n_variants, seed=seed)
        torch.manual_seed(seed)  # the model's initial weights and the VAE's sampling noise
        if method == "vae":
            model: StyleModel = StyleVAE(latent_dim=latent_dim)
            history = _train_vae(
                model, data, start, time_budget, max_epochs, batch_size, lr, kl_weight, seed,
                progress, callback,
            )  # fmt: skip
        else:
            model, history = _train_flow(
                StyleAutoencoder(latent_dim=latent_dim), data, start, time_budget, max_epochs,
                flow_epochs, batch_size, lr, autoencoder_share, seed, progress, callback,
            )  # fmt: skip
        training_seconds = time.perf_counter() - start
        model.eval()
        if isinstance(model, StyleVAE):
            with torch.no_grad():
                mu, logvar = model.encode(originals)
                per_dim_kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
                model.dimension_kl.copy_(per_dim_kl.mean(0))
        report = style_report(model, originals, seed=seed)
    finally:
        use_threads(threads)
    report.update(
        method=method,
        training_seconds=round(training_seconds, 2),
        epochs=sum(record.get("stage") != "flow" for record in history),  # over the pictures
        training_images=n_variants,
        final_loss=round(history[-1]["loss"], 2),
    )
    return StyleResult(model=model, originals=originals, report=report, history=history)


def _method_defaults(
    method: str, latent_dim: int | None, max_epochs: int | None, flow_epochs: int | None
) -> tuple[int, int | None]:
    """``latent_dim`` and ``flow_epochs`` as ``train_style`` uses them when left as None."""
    if latent_dim is None:
        latent_dim = 64 if method == "flow" else 16
    if flow_epochs is None and max_epochs is not None:
        flow_epochs = 3 * max_epochs
    return latent_dim, flow_epochs


def _progress_reporter(
    done: Callable[[], float], callback: Callable[[dict[str, Any]], None] | None
) -> Callable[[dict[str, Any]], None]:
    """fit's callback: adds ``progress`` (0 to 1, from ``done``) and passes the record on."""

    def report_progress(record: dict[str, Any]) -> None:
        record["progress"] = round(min(1.0, max(0.0, done())), 4)
        if callback is not None:
            callback(record)

    return report_progress


def _train_vae(
    model: StyleVAE, data, start, time_budget, max_epochs, batch_size, lr, kl_weight, seed,
    progress, callback,
) -> History:  # fmt: skip
    """Train ``model`` on the augmented pictures: negative ELBO with an annealed KL weight."""
    optimizer = adam(model.parameters(), lr=lr)
    steps_per_epoch = math.ceil(data.shape[0] / batch_size)
    steps = 0

    def done() -> float:
        """The fraction of training behind us, by time or by epochs."""
        fractions = []
        if time_budget is not None:
            fractions.append((time.perf_counter() - start) / time_budget)
        if max_epochs is not None:
            fractions.append(steps / (max_epochs * steps_per_epoch))
        return min(1.0, max(fractions))

    def step(x: torch.Tensor) -> dict[str, float]:
        nonlocal steps
        beta = kl_weight * min(1.0, 3 * done())
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar)
        recon = F.binary_cross_entropy(model.decode(z), x, reduction="sum")
        kl = model.kl_divergence(z, mu, logvar)
        loss = (recon + beta * kl) / x.shape[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
        n = x.shape[0]
        return {"loss": loss.item(), "recon": recon.item() / n, "kl": kl.item() / n}

    model.train()
    remaining = None if time_budget is None else time_budget - (time.perf_counter() - start)
    return fit(
        step,
        data,
        epochs=max_epochs,
        time_budget=None if remaining is None else max(remaining, 1e-3),
        batch_size=batch_size,
        seed=seed,
        desc="style VAE",
        progress=progress,
        callback=_progress_reporter(done, callback),
        optimizers=[optimizer],
        lr_schedule="cosine",
    )


def _train_flow(
    autoencoder: StyleAutoencoder, data, start, time_budget, max_epochs, flow_epochs,
    batch_size, lr, autoencoder_share, seed, progress, callback,
) -> tuple[LatentFlowModel, History]:  # fmt: skip
    """Train the autoencoder on the augmented pictures, then a latent flow on its codes.

    The history holds the autoencoder's epochs (``loss``: cross-entropy per picture) then the
    flow's (``loss``: the flow-matching loss), each record naming its ``stage``.
    """
    optimizer = adam(autoencoder.parameters(), lr=lr)
    stage = "autoencoder"

    def elapsed() -> float:
        return time.perf_counter() - start

    def done() -> float:
        """The fraction of training behind us: the autoencoder's share first, then the flow's."""
        if time_budget is not None:
            by_time = elapsed() / time_budget
        if max_epochs is None:
            return by_time
        by_epochs = len(history) / (max_epochs + flow_epochs)  # both stages' epochs so far
        return by_epochs if time_budget is None else max(by_time, by_epochs)

    def step(x: torch.Tensor) -> dict[str, float]:
        return autoencoder_step(autoencoder, x, optimizer)

    history: History = []

    def record(entry: dict[str, Any]) -> None:
        entry["stage"] = stage
        history.append(entry)
        _progress_reporter(done, callback)(entry)

    autoencoder.train()
    fit(
        step,
        data,
        epochs=max_epochs,
        time_budget=None if time_budget is None else max(time_budget * autoencoder_share, 1e-3),
        batch_size=batch_size,
        seed=seed,
        desc="style autoencoder",
        progress=progress,
        callback=record,
        optimizers=[optimizer],
        lr_schedule="cosine",
    )
    autoencoder.eval()
    stage = "flow"
    model = LatentFlowModel(autoencoder, n_classes=0, steps=FLOW_STEPS, guidance=0.0)
    train_flow(
        model,
        data,
        epochs=flow_epochs,
        time_budget=None if time_budget is None else max(time_budget - elapsed(), 1e-3),
        batch_size=FLOW_BATCH_SIZE,
        lr=lr,
        ema_decay=FLOW_EMA_DECAY,
        seed=seed,
        progress=progress,
        callback=record,
    )
    return model, history


# --- what the model learned ------------------------------------------------------------------

#: Below this RMS distance (pixels in [0, 1]) two images look the same to the eye.
SAME_LOOK = 0.05

#: brief_report's wording bands, set from measurements on the shipped sample styles (8 images):
#: 45 s gave 14.8-17.1 dB and variety ratios 0.69-0.75; an unfinished 5 s run gave 12.8 dB and
#: 0.22 (a beige average of the style). Training on the originals alone, without augmentation,
#: gave 43 dB reconstructions but noise from the prior: a high PSNR alone is not a good style.
PSNR_CLOSE, PSNR_BLURRY, PSNR_COLOURS = 20.0, 14.0, 11.0
VARIETY_COLLAPSED, VARIETY_LOW, VARIETY_HIGH = 0.35, 0.6, 1.25


def _mean_pairwise_rms(images: torch.Tensor) -> float:
    flat = images.reshape(images.shape[0], -1).double()
    distances = torch.cdist(flat, flat) / math.sqrt(flat.shape[1])
    n = flat.shape[0]
    return float(distances.sum() / (n * (n - 1)))


def reconstruct(model: StyleModel, images: torch.Tensor) -> torch.Tensor:
    """A style model's own drawing of ``images``: the VAE decodes their mean codes (mu), the
    flow model's autoencoder its codes. A variation this close to a picture is a copy of it."""
    with torch.no_grad():
        if isinstance(model, StyleVAE):
            return model.decode(model.encode(images)[0])
        return model.autoencoder(images)[0]


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Each image's edge strength: the mean absolute brightness step between neighbouring
    pixels, across and down ``(n,)``. Blur lowers it, crisp lines and dots raise it."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"expected images shaped (n, C, H, W), got {shape}")
    grey = images.double().mean(1)
    across = (grey[:, :, 1:] - grey[:, :, :-1]).abs().mean((1, 2))
    down = (grey[:, 1:, :] - grey[:, :-1, :]).abs().mean((1, 2))
    return (across + down) / 2


def sharpness_ratio(images: torch.Tensor, originals: torch.Tensor) -> float:
    """Shape fidelity: the images' mean :func:`sharpness` over the originals' (1.0 = as crisp).

    A soft colour blob keeps the palette (the colour difference cannot tell) but loses the
    edges, so it scores far below 1; pixel noise would score above 1, so read it next to the
    variety ratio. Measured on brightness, so it judges the drawing, not the palette.
    """
    return float(sharpness(images).mean() / sharpness(originals).mean().clamp_min(1e-8))


def memorisation(
    variations: torch.Tensor,
    originals: torch.Tensor,
    augmented: torch.Tensor,
    copy_distance: float = SAME_LOOK,
) -> dict[str, float]:
    """Are the variations copies of the originals or of the augmented training pictures?

    - ``nearest_original_ratio``: the variations' median RMS distance to their nearest original
      over the augmented pictures' own (about 1: as far from the originals as a crop, turn or
      mirror of one; near 0: the originals handed back);
    - ``near_copy_fraction``: the share of variations within ``copy_distance`` (``SAME_LOOK``
      by default) of an original or of an augmented picture; ``nearest_training_min``: the
      closest any variation comes to one of them.
    """
    _, to_originals = nearest_neighbour_distances(variations, originals)
    _, augmented_to_originals = nearest_neighbour_distances(augmented, originals)
    _, to_training = nearest_neighbour_distances(variations, torch.cat([originals, augmented]))
    reference = float(np.median(augmented_to_originals))
    return {
        "nearest_original_median": round(float(np.median(to_originals)), 4),
        "augmented_original_median": round(reference, 4),
        "nearest_original_ratio": round(float(np.median(to_originals)) / max(reference, 1e-8), 3),
        "nearest_training_min": round(float(to_training.min()), 4),
        "near_copy_fraction": round(float((to_training <= copy_distance).mean()), 3),
    }


@torch.no_grad()
def style_report(
    model: StyleModel, originals: torch.Tensor, *, n_samples: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Measure a trained style model against its originals; every value is a plain number.

    - ``reconstruction_rms`` / ``reconstruction_psnr_db``: how far the decoded codes (mu) of
      the originals are from them, as RMS pixel error and as PSNR = 10 log10(1 / MSE).
    - ``variety_samples`` / ``variety_originals`` / ``variety_ratio``: mean pairwise RMS
      distance among ``n_samples`` generated images, among the originals, and their ratio.
    - ``nearest_min`` / ``nearest_median``: each sample's RMS distance to its nearest original.
    - ``copy_fraction``: the share of samples that copy their nearest original: closer to it
      than the model's own reconstruction of it (the model cannot draw it any closer) or than
      ``SAME_LOOK``; ``copy_distance`` is that threshold averaged over the originals.
    - ``colour_difference``: RMS difference of the mean colour (RGB in [0, 1]) of samples
      and originals: small when the model kept the style's palette.
    - ``sharpness_ratio``: the samples' edge strength over the originals'
      (:func:`sharpness_ratio`; 1.0 = as crisp, soft blobs far below).
    """
    was_training = model.training
    model.eval()
    reconstructed = reconstruct(model, originals)
    per_image_rms = (reconstructed - originals).pow(2).mean((1, 2, 3)).sqrt().numpy()
    mse = float((reconstructed - originals).pow(2).mean())
    samples = model.sample(n_samples, seed=seed)
    index, nearest = nearest_neighbour_distances(samples, originals)
    copy_threshold = np.maximum(per_image_rms, SAME_LOOK)
    variety_samples = _mean_pairwise_rms(samples)
    variety_originals = _mean_pairwise_rms(originals)
    colour = (samples.mean((0, 2, 3)) - originals.mean((0, 2, 3))).pow(2).mean().sqrt().item()
    model.train(was_training)
    return {
        "n_originals": originals.shape[0],
        "n_samples": n_samples,
        "reconstruction_rms": round(math.sqrt(mse), 4),
        "reconstruction_psnr_db": round(10 * math.log10(1 / max(mse, 1e-10)), 2),
        "variety_samples": round(variety_samples, 4),
        "variety_originals": round(variety_originals, 4),
        "variety_ratio": round(variety_samples / max(variety_originals, 1e-8), 3),
        "nearest_min": round(float(nearest.min()), 4),
        "nearest_median": round(float(np.median(nearest)), 4),
        "copy_distance": round(float(copy_threshold.mean()), 4),
        "copy_fraction": round(float((nearest <= copy_threshold[index]).mean()), 3),
        "colour_difference": round(colour, 4),
        "sharpness_ratio": round(sharpness_ratio(samples, originals), 3),
    }


def brief_report(report: dict[str, Any]) -> str:
    """A few plain-English sentences on what the model captured, with the numbers behind them."""
    psnr = report["reconstruction_psnr_db"]
    if psnr >= PSNR_CLOSE:
        recon = "close: the model has learned the colours and layout of your samples"
    elif psnr >= PSNR_BLURRY:
        recon = "recognisable but blurry: it has the colours and rough layout, not fine detail"
    elif psnr >= PSNR_COLOURS:
        recon = "only rough: it has the overall colours but little of the layout yet"
    else:
        recon = "far off: train longer or choose samples that share more of a style"
    ratio = report["variety_ratio"]
    if ratio < VARIETY_COLLAPSED:
        variety = "nearly all alike, an average of your style rather than new examples of it"
    elif ratio < VARIETY_LOW:
        variety = "less varied than your samples: it plays safe"
    elif ratio <= VARIETY_HIGH:
        variety = "about as varied as your samples"
    else:
        variety = "more varied than your samples: some may be noise rather than style"
    median, copies = report["nearest_median"], report["copy_fraction"]
    if copies > 0.5:
        copying = "most are copies of a sample, so it memorised more than it learned"
    elif copies > 0:
        copying = "a few are copies of a sample, the rest are new"
    else:
        copying = "none is a copy: it varies rather than repeats"
    return " ".join(
        [
            f"Reconstructions of your {report['n_originals']} samples are {recon} "
            f"(PSNR {psnr:.1f} dB, RMS error {report['reconstruction_rms']:.3f}).",
            f"Generated images differ from each other by {report['variety_samples']:.2f} on "
            f"average, against {report['variety_originals']:.2f} between your samples "
            f"(ratio {ratio:.2f}): {variety}.",
            f"They are a median {median:.2f} away from their nearest sample; a copy would be "
            f"within about {report['copy_distance']:.2f}, as close as the model's own "
            f"reconstruction, and {copies:.0%} are: {copying}.",
            f"Their average colour is {report['colour_difference']:.3f} from your samples' "
            "(0 is the same palette on average).",
        ]
    )


# --- making images ---------------------------------------------------------------------------


def variations(model: StyleModel, n: int, seed: int = 0, temperature: float = 1.0) -> torch.Tensor:
    """``n`` new images ``(n, 3, 32, 32)`` in the learned style; lower temperature, safer."""
    was_training = model.training
    model.eval()
    try:
        return model.sample(n, seed=seed, temperature=temperature)
    finally:
        model.train(was_training)


@torch.no_grad()
def latent_traversal(
    model: StyleModel, dim: int | None = None, steps: int = 8, seed: int = 0, span: float = 2.5
) -> torch.Tensor:
    """Decode ``steps`` codes on a line through the latent space: ``(steps, 3, 32, 32)``.

    The line passes through a seeded draw from the prior and runs from ``-span`` to ``+span``
    along latent dimension ``dim``; by default the VAE's most used one (largest mean KL over
    the style's images), else a seeded random direction. A flow's code walks in its noise
    part only; its "no class" part stays as ``model.codes`` draws it.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    free = getattr(model, "noise_dim", model.latent_dim)
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(free, generator=generator)
    dimension_kl = getattr(model, "dimension_kl", None)
    if dim is None and dimension_kl is not None and bool(dimension_kl.any()):
        dim = int(dimension_kl.argmax())
    if dim is None:
        direction = torch.randn(free, generator=generator)
        direction /= direction.norm()
    elif isinstance(dim, int) and not isinstance(dim, bool) and 0 <= dim < free:
        direction = torch.zeros(free)
        direction[dim] = 1.0
    else:
        raise ValueError(f"dim must be an integer in 0..{free - 1}, got {dim!r}")
    base -= (base @ direction) * direction  # so the middle of the line is at 0 along it
    offsets = torch.linspace(-span, span, steps)
    codes = base + offsets[:, None] * direction
    if free < model.latent_dim:  # the flow's class part ("no class")
        codes = torch.cat([codes, model.codes(steps, seed=seed)[:, free:].cpu()], dim=1)
    was_training = model.training
    model.eval()
    images = model.decode(codes.to(device_of(model)))
    model.train(was_training)
    return images


@torch.no_grad()
def measure_style(result: StyleResult, n: int = 32, seed: int = 0) -> dict[str, Any]:
    """The side-by-side figures of a trained style: shape fidelity, memorisation and times.

    ``n`` variations (seed ``seed``) are judged by :func:`sharpness_ratio` and, against the
    originals and the augmented pictures the model learned from (redrawn by :func:`augment`
    with the report's count and seed 0, as ``train_style`` drew them from 32x32 originals),
    by :func:`memorisation`. ``training_seconds`` comes from the report (a loaded style keeps
    it); ``ms_per_variation`` is timed here, one batch of ``n``.
    """
    model = result.model.eval()
    variations(model, 1, seed=seed)  # the first call pays one-off set-up costs: not timed
    start = time.perf_counter()
    images = variations(model, n, seed=seed)
    seconds = time.perf_counter() - start
    augmented = augment(result.originals, int(result.report.get("training_images", 640)))
    return {
        "method": result.report.get("method", "vae"),
        "sharpness_ratio": round(sharpness_ratio(images, result.originals), 3),
        **memorisation(images, result.originals, augmented),
        "variety_ratio": result.report.get("variety_ratio"),
        "colour_difference": result.report.get("colour_difference"),
        "training_seconds": result.report.get("training_seconds"),
        "ms_per_variation": round(1000 * seconds / n, 3),
    }


# --- saving and loading ----------------------------------------------------------------------


def save_style(result: StyleResult, path: checkpoints.Source) -> checkpoints.Source:
    """Write a trained style (weights, originals, report, history) as a course checkpoint.

    ``path`` is a file name (written atomically) or an open binary file such as ``io.BytesIO``.
    The file holds only tensors and JSON-able data, so :func:`load_style` can read it with
    ``torch.load(weights_only=True)``, which refuses to run code hidden in a pickle.
    """
    try:
        report = json.loads(json.dumps(result.report, allow_nan=False))
        history = json.loads(json.dumps(result.history, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"the report and history must be JSON-serialisable: {err}") from None
    # uint8 is exact for images that came from files, and 4x smaller than floats
    originals = (result.originals.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return checkpoints.save(
        result.model, path, tensors={"originals": originals}, report=report, history=history
    )


def load_style(path: checkpoints.Source) -> StyleResult:
    """Read a style saved by :func:`save_style` (a path or an open binary file); the model
    comes back in eval mode on the CPU. Styles learned by either method load, and so do
    StyleVAE files of the older style format."""
    payload = checkpoints.read_payload(path, kind="saved style")
    if isinstance(payload, dict) and payload.get("format") == LEGACY_FORMAT:
        payload = _from_legacy(payload)
    checkpoints.check_header(payload, path, kind="saved style")
    config = payload.get("config")
    is_flow = payload.get("class") == "LatentFlowModel" and isinstance(config, dict)
    if payload.get("class") != "StyleVAE" and not (
        is_flow and config.get("autoencoder_class") == "StyleAutoencoder"
    ):
        name = checkpoints.source_name(path)
        raise ValueError(
            f"{name} holds a {payload.get('class')!r}, not a style "
            "(a StyleVAE, or a LatentFlowModel on a StyleAutoencoder)"
        )
    model = checkpoints.build(payload, path)  # shapes checked first: no hostile allocation
    originals = model.tensors.get("originals")
    if not isinstance(originals, torch.Tensor) or originals.dim() != 4:
        raise ValueError(f"{checkpoints.source_name(path)} is damaged: it has no original images")
    return StyleResult(
        model=model,
        originals=originals.float() / 255.0,
        report=model.metadata.get("report", {}),
        history=model.metadata.get("history", []),
    )


def _from_legacy(payload: dict[str, Any]) -> dict[str, Any]:
    """A style file of the first format (``course_lib.style`` version 1) as a checkpoint."""
    if payload.get("format_version") != 1:
        return payload  # check_header says what is wrong
    return {
        "format": checkpoints.FORMAT,
        "format_version": checkpoints.FORMAT_VERSION,
        "class": "StyleVAE",
        "config": payload.get("config"),
        "state_dict": payload.get("state_dict"),
        "tensors": {"originals": payload.get("originals")},
        "metadata": {"report": payload.get("report", {}), "history": payload.get("history", [])},
    }


# --- train once, then load: the notebook's cached styles --------------------------------


#: train_style arguments that change how a style is trained (the rest only change what is shown)
_STYLE_DISPLAY_ONLY = ("images", "progress", "callback")


def style_checkpoint_path(name: str, images: torch.Tensor, **settings: Any) -> Path:
    """Where ``train_style_or_load`` keeps a style: its name plus a fingerprint of what made it."""
    bound = inspect.signature(train_style).bind(images, **settings)  # unknown: TypeError
    bound.apply_defaults()
    recipe = {k: v for k, v in bound.arguments.items() if k not in _STYLE_DISPLAY_ONLY}
    # a default left as None and the value it stands for are the same recipe
    recipe["latent_dim"], recipe["flow_epochs"] = _method_defaults(
        recipe["method"], recipe["latent_dim"], recipe["max_epochs"], recipe["flow_epochs"]
    )
    recipe["format_version"] = FORMAT_VERSION
    pixels = (images.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    digest = hashlib.sha256(json.dumps(checkpoints.jsonable(recipe), sort_keys=True).encode())
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
    path = style_checkpoint_path(name, images, **settings)
    with torch.random.fork_rng(devices=[]):
        if path.is_file() and not retrain:
            try:
                result = load_style(path)
            except ValueError:  # damaged, or saved by an older course_lib: train it again
                pass
            else:
                print(f"Loaded {path.name} from the shared checkpoint folder (trained earlier).")
                return result
        save_style(train_style(images, **settings), path)
        print(f"Trained and saved {path.name} in the shared checkpoint folder.")
        return load_style(path)


def style_checks(
    report: dict[str, Any],
    *,
    min_psnr: float = 13.0,
    variety: tuple[float, float] = (0.5, 1.25),
    max_colour: float = 0.1,
) -> bool:
    """Print one check line per bar for a style report, the measured value beside it; True if
    all pass.

    The bars sit well away from typical values and the values are rounded coarsely, so the
    lines read the same on every machine while the report's own numbers move in their last
    digits.
    """
    from .checks import check_value

    low, high = variety
    passed = [
        check_value(
            "reconstructions keep the colours and rough layout (PSNR)",
            report["reconstruction_psnr_db"],
            at_least=min_psnr,
            unit="dB",
        ),
        check_value(
            "variations are neither all alike nor noise (variety ratio)",
            report["variety_ratio"],
            at_least=low,
            at_most=high,
            digits=2,
        ),
        check_value(
            "share of variations that are near-copies of an original",
            100 * report["copy_fraction"],
            at_most=0,
            unit="%",
        ),
        check_value(
            "the palette is kept (average colour difference to the originals)",
            report["colour_difference"],
            at_most=max_colour,
            digits=2,
        ),
    ]
    return all(passed)


def style_images_from_uploads(files: dict[str, bytes]) -> torch.Tensor:
    """Check uploaded files (name -> bytes) with ``validate_image_bytes``, load them as a style."""
    images = []
    for name, data in files.items():
        try:
            images.append(validate_image_bytes(bytes(data)))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    return load_style_images(images)


# --- shipped sample styles -------------------------------------------------------------------

#: Each sample style: (pattern types, colour pairs). Draw i uses pattern i % len and pair i.
_SAMPLE_STYLES: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "warm_mandalas": (
        ("mandala", "spiral"),
        (
            ("#c0392b", "#f39c12"),
            ("#d35400", "#f1c40f"),
            ("#8e2c1a", "#e67e22"),
            ("#e74c3c", "#fbd26a"),
            ("#a93226", "#f5b041"),
            ("#ba4a00", "#f7dc6f"),
            ("#922b21", "#eb984e"),
            ("#cb4335", "#f8c471"),
        ),
    ),
    "cool_geometric": (
        ("geometric", "noise"),
        (
            ("#1f618d", "#48c9b0"),
            ("#154360", "#52be80"),
            ("#2874a6", "#76d7c4"),
            ("#1a5276", "#28b463"),
            ("#21618c", "#5dade2"),
            ("#0e6655", "#85c1e9"),
            ("#1b4f72", "#45b39d"),
            ("#117864", "#3498db"),
        ),
    ),
    "sunset_gradients": (
        ("gradient", "noise"),
        (
            ("#6c3483", "#f5b041"),
            ("#4a235a", "#f1948a"),
            ("#884ea0", "#f8c471"),
            ("#5b2c6f", "#ec7063"),
            ("#7d3c98", "#fad7a0"),
            ("#512e5f", "#e59866"),
            ("#a569bd", "#f9e79f"),
            ("#633974", "#f0b27a"),
        ),
    ),
}
SAMPLE_SIZE = 96


def make_sample_styles(folder: str | Path = SAMPLE_STYLES_DIR, seed: int = 0) -> list[Path]:
    """Draw the shipped sample styles, 8 PNGs of 96x96 each, into ``folder/<style>/``.

    Patterns are drawn at twice the size and shrunk (smooth edges), turned and zoomed a little
    so that no two samples are the same picture. The model sees them at 32x32, where a spiral's
    lines or a noise dot would be thinner than a pixel: spirals are zoomed in further and noise
    is drawn small and enlarged, so that the style survives the shrinking.
    """
    rng = np.random.default_rng(seed)
    written = []
    for style, (kinds, colours) in _SAMPLE_STYLES.items():
        target = Path(folder) / style
        target.mkdir(parents=True, exist_ok=True)
        for i, (primary, secondary) in enumerate(colours):
            kind = kinds[i % len(kinds)]
            canvas = 2 * SAMPLE_SIZE
            drawn = SAMPLE_SIZE // 2 if kind == "noise" else canvas
            image = create_pattern(
                kind, drawn, drawn, primary, secondary, seed=int(rng.integers(2**31))
            )
            image = image.resize((canvas, canvas), Image.Resampling.NEAREST)
            image = image.rotate(90 * int(rng.integers(4)))
            zoom = (0.5, 0.65) if kind == "spiral" else (0.75, 1.0)
            side = int(canvas * rng.uniform(*zoom))
            left, top = (int(v) for v in rng.integers(0, canvas - side + 1, size=2))
            box = (left, top, left + side, top + side)
            image = image.resize((SAMPLE_SIZE, SAMPLE_SIZE), Image.Resampling.LANCZOS, box=box)
            # 64 colours look the same here and make the files 3x smaller (they ship in git)
            image = image.quantize(64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            path = target / f"{style}_{i + 1}.png"
            image.save(path, format="PNG", optimize=True)
            written.append(path)
    return written


if __name__ == "__main__":  # python -m course_lib.styles: redraw data/style_samples/
    for written_path in make_sample_styles():
        print(written_path.relative_to(PROJECT_ROOT))
