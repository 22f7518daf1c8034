"""Turn tensors and arrays into images with Pillow only.

Matplotlib is deliberately not used here: it is slow to import and its pyplot state machine
is not thread-safe, which matters inside a web server. Everything below works on plain numpy
arrays of ``uint8`` pixels, shaped ``(H, W)`` for grayscale or ``(H, W, 3)`` for colour.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

__all__ = [
    "caption",
    "make_grid",
    "save_png",
    "titled",
    "to_data_url",
    "to_gif_bytes",
    "to_pil",
    "to_png_bytes",
]

# Names accepted for ``resample`` and the Pillow filter each one selects.
RESAMPLE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def _to_numpy(image: Any) -> np.ndarray:
    """Return a numpy copy of a tensor (detached, on the CPU) or an array; reject other types."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()  # numpy has no bfloat16
        return tensor.numpy()
    if isinstance(image, np.ndarray):
        return image
    raise ValueError(
        f"expected a torch tensor or numpy array, got {type(image).__name__}; "
        "convert lists with np.asarray first"
    )


def _to_hw_layout(array: np.ndarray) -> np.ndarray:
    """Reshape an accepted layout to ``(H, W)`` or ``(H, W, 3)``; anything else is an error."""
    shape = tuple(array.shape)
    if array.ndim == 4 and shape[0] == 1:  # (1, C, H, W): a batch holding one image
        array = array[0]
    elif array.ndim == 1:  # flat vector such as an MNIST row of 784 pixels
        side = math.isqrt(array.size)
        if array.size == 0 or side * side != array.size:
            raise ValueError(
                f"a flat image must have a square number of pixels (e.g. 784 = 28x28), "
                f"got {array.size}"
            )
        array = array.reshape(side, side)

    if array.ndim == 3:
        if array.shape[0] in (1, 3):  # channels first: (C, H, W)
            array = np.moveaxis(array, 0, -1)
        elif array.shape[-1] not in (1, 3):
            raise ValueError(f"a 3-D image needs 1 or 3 channels (first or last), got {shape}")
        if array.shape[-1] == 1:
            array = array[..., 0]

    if array.ndim not in (2, 3):
        raise ValueError(
            "unsupported image shape "
            f"{shape}; expected (784,), (H, W), (C, H, W), (H, W, 3) or (1, C, H, W)"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image has no pixels: shape {shape}")
    return array


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Map float values in [0, 1] to 0..255 (clipping small overshoot); keep uint8 as it is."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"pixels must be floats in [0, 1] or uint8 in [0, 255], got dtype {array.dtype}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or infinite values")
    return np.round(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


def _to_pixels(image: Any) -> np.ndarray:
    """Convert any accepted input to a ``uint8`` array shaped ``(H, W)`` or ``(H, W, 3)``."""
    return np.ascontiguousarray(_to_uint8(_to_hw_layout(_to_numpy(image))))


def _check_scale(scale: int) -> None:
    """Reject scale factors that are not integers >= 1."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale!r}")


def _upscale(picture: Image.Image, scale: int, resample: str) -> Image.Image:
    """Enlarge a picture by an integer factor using a named Pillow filter."""
    _check_scale(scale)
    if resample not in RESAMPLE_FILTERS:
        raise ValueError(
            f"unknown resample {resample!r}; choose one of {', '.join(RESAMPLE_FILTERS)}"
        )
    if scale == 1:
        return picture
    size = (picture.width * scale, picture.height * scale)
    return picture.resize(size, RESAMPLE_FILTERS[resample])


def to_pil(image: Any, scale: int = 1, resample: str = "nearest") -> Image.Image:
    """Convert a tensor/array image (floats in [0, 1] or uint8) to a Pillow image, upscaled."""
    if isinstance(image, Image.Image):
        picture = image
    else:
        pixels = _to_pixels(image)
        picture = Image.fromarray(pixels)  # uint8 (H, W) -> "L", (H, W, 3) -> "RGB"
    return _upscale(picture, scale, resample)


def _split_batch(images: Any) -> list[Any]:
    """Split a batch (tensor/array or list) into a list of single images."""
    if isinstance(images, (torch.Tensor, np.ndarray)):
        # (N, C, H, W), (N, H, W) such as raw MNIST uint8 data, or (N, 784) flat rows
        if images.ndim not in (2, 3, 4):
            raise ValueError(
                "a batch must be (N, C, H, W), (N, H, W) or (N, 784), "
                f"got shape {tuple(images.shape)}"
            )
        return list(images)
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        return list(images)
    raise ValueError(
        f"expected a batch tensor/array or a list of images, got {type(images).__name__}"
    )


def make_grid(
    images: Any,
    nrow: int = 8,
    padding: int = 2,
    scale: int = 1,
    pad_value: float = 1.0,
) -> Image.Image:
    """Tile a batch of images row-major into one picture, ``nrow`` per row, to see many at once."""
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow must be an integer >= 1, got {nrow!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
    if not 0.0 <= float(pad_value) <= 1.0:
        raise ValueError(f"pad_value must be in [0, 1], got {pad_value!r}")
    _check_scale(scale)

    tiles = [_to_pixels(image) for image in _split_batch(images)]
    if not tiles:
        raise ValueError("cannot make a grid from an empty batch")
    if any(tile.shape[:2] != tiles[0].shape[:2] for tile in tiles):
        sizes = sorted({tile.shape[:2] for tile in tiles})
        raise ValueError(f"all images in a grid must have the same height and width, got {sizes}")
    if any(tile.ndim == 3 for tile in tiles):  # mixed grayscale and colour: promote to RGB
        tiles = [np.stack([tile] * 3, axis=-1) if tile.ndim == 2 else tile for tile in tiles]

    height, width = tiles[0].shape[:2]
    cols = min(nrow, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    canvas_shape = (
        rows * height + (rows + 1) * padding,
        cols * width + (cols + 1) * padding,
        *tiles[0].shape[2:],
    )
    canvas = np.full(canvas_shape, round(float(pad_value) * 255), dtype=np.uint8)
    for index, tile in enumerate(tiles):
        row, col = divmod(index, cols)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        canvas[top : top + height, left : left + width] = tile
    return to_pil(canvas, scale=scale)


def to_png_bytes(image: Any, scale: int = 1) -> bytes:
    """Encode an image (anything ``to_pil`` accepts, or a Pillow image) as PNG bytes."""
    buffer = io.BytesIO()
    to_pil(image, scale=scale).save(buffer, format="PNG")
    return buffer.getvalue()


def to_gif_bytes(images: Sequence[Any], scale: int = 1, frame_ms: int = 120) -> bytes:
    """Encode frames (each anything ``to_pil`` accepts) as an animated GIF that loops forever.

    GIF stores at most 256 colours per frame, plenty for grayscale digits. Pillow folds a frame
    identical to the one before into it (a longer frame), so the count can be lower than given.
    """
    if not images:
        raise ValueError("a GIF needs at least one frame, got none")
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, int) or frame_ms < 10:
        raise ValueError(f"frame_ms must be a whole number of milliseconds >= 10, got {frame_ms!r}")
    frames = [to_pil(image, scale=scale) for image in images]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
    )
    return buffer.getvalue()


#: Encoded images ``to_data_url`` passes through as they are, by their first bytes.
_MIME_BY_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def to_data_url(image: Any, scale: int = 1, mime: str | None = None) -> str:
    """Encode an image as a ``data:image/...;base64,...`` URL to inline it in HTML or notebooks.

    ``image`` is anything :func:`to_pil` accepts (encoded as PNG, enlarged ``scale`` times), or
    the bytes of a PNG or JPEG file, inlined as they are (the one helper the web apps use too);
    ``mime`` names the bytes' format when they are neither.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if scale != 1:
            raise ValueError(
                f"encoded bytes are inlined as they are, so scale must be 1, got {scale}"
            )
        if mime is None:
            mime = next((m for magic, m in _MIME_BY_MAGIC.items() if data.startswith(magic)), None)
            if mime is None:
                raise ValueError("the bytes are not a PNG or JPEG file: name their mime type")
    elif mime not in (None, "image/png"):
        raise ValueError(f"an image is encoded as PNG, so mime must be 'image/png', got {mime!r}")
    else:
        data, mime = to_png_bytes(image, scale=scale), "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def save_png(image: Any, path: str | Path, scale: int = 1) -> Path:
    """Write an image to ``path`` as PNG, creating parent folders, and return the path."""
    target = Path(path)
    data = to_png_bytes(image, scale=scale)  # encode first so bad input leaves no empty file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def titled(
    picture: Any, title: str = "", row_labels: Sequence[str] = (), font_size: int = 14
) -> Image.Image:
    """Draw a title (one line or several) above a picture, and a label left of each row of a
    grid, onto the image itself, so a figure says what it shows wherever it is seen: GitHub,
    nbviewer, a PNG file. The canvas widens if the text is wider than the picture.

    ``row_labels`` assumes the picture is a grid of equal rows, e.g. from :func:`make_grid`.
    """
    from PIL import ImageDraw, ImageFont

    if not isinstance(title, str) or not all(isinstance(s, str) for s in row_labels):
        raise ValueError("title and row_labels must be text")
    _check_scale(font_size)
    picture = to_pil(picture).convert("RGB")
    font = ImageFont.load_default(size=font_size)
    measure = ImageDraw.Draw(picture)
    left = max((measure.textlength(s, font=font) for s in row_labels), default=0)
    left = int(left) + 8 if row_labels else 0
    pad = max(2, font_size // 3)
    text_width, text_height = 0, 0
    if title:
        x0, y0, x1, y1 = measure.multiline_textbbox((0, 0), title, font=font)
        text_width, text_height = x1 - x0 + 2 * pad, y1 + 2 * pad
    width = max(picture.width + left, text_width)
    canvas = Image.new("RGB", (width, picture.height + text_height), "white")
    canvas.paste(picture, (left, text_height))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.multiline_text((pad, pad), title, fill="black", font=font)
    if row_labels:
        step = picture.height / len(row_labels)
        for index, label in enumerate(row_labels):
            middle = text_height + (index + 0.5) * step
            draw.text((4, middle), label, fill="black", font=font, anchor="lm")
    return canvas


def caption(picture: Any, text: str, *, size: int = 14) -> Image.Image:
    """``picture`` under a white band with ``text`` in it (:func:`titled`, with text required)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"caption text must be a non-empty string, got {text!r}")
    return titled(picture, text, font_size=size)


# --- the lesson's two gallery functions, as library calls (notebook 04) ----------------------


def generate_image(
    model: Any, seed: int | None = None, temperature: float = 1.0, scale: int = 1
) -> Image.Image:
    """One new image from a generative model's own prior, as a Pillow image.

    The lesson's ``generate_image`` view: draw a code, decode it, turn the pixels into a PNG for
    a web page (``to_data_url`` of the result is the lesson's base64 string). It samples through
    ``model.sample``, so each model uses its own prior; the same ``seed`` gives the same image.
    """
    sample = getattr(model, "sample", None)
    if not callable(sample):
        raise ValueError(f"{type(model).__name__} cannot generate images: it has no sample()")
    was_training = bool(getattr(model, "training", False))
    if was_training:
        model.eval()
    try:
        with torch.no_grad():
            images = sample(1, seed=seed, temperature=temperature)
    finally:
        if was_training:
            model.train()
    return to_pil(images[0], scale=scale)
