"""Tests for course_lib.patterns, the procedural pattern studio."""

import numpy as np
import pytest
from PIL import Image

from course_lib.patterns import PATTERN_TYPES, ImageChef, create_pattern, pattern_dataset

PRIMARY, SECONDARY = "#1F77B4", "#ff7f0e"
PRIMARY_RGB, SECONDARY_RGB = (31, 119, 180), (255, 127, 14)
SIZES = [(17, 33), (150, 150), (800, 400)]
SEEDED = ["geometric", "noise"]


def pixels(image: Image.Image) -> np.ndarray:
    """Return the image as an (H*W, 3) uint8 array of RGB rows."""
    return np.asarray(image).reshape(-1, 3)


def contains_colour(image: Image.Image, rgb: tuple[int, int, int]) -> bool:
    """Tell whether at least one pixel has exactly the colour ``rgb``."""
    return bool((pixels(image) == rgb).all(axis=1).any())


def test_pattern_types_order():
    assert PATTERN_TYPES == ("mandala", "geometric", "gradient", "noise", "spiral")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_every_pattern_is_rgb_of_the_requested_size_and_not_blank(pattern_type, size):
    image = create_pattern(pattern_type, *size, PRIMARY, SECONDARY, seed=0)
    assert isinstance(image, Image.Image)
    assert image.mode == "RGB"
    assert image.size == size
    packed = pixels(image).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    assert len(np.unique(packed)) > 1  # more than one distinct colour
    assert contains_colour(image, PRIMARY_RGB)
    if pattern_type != "gradient":  # the gradient's bottom row is checked separately
        assert contains_colour(image, SECONDARY_RGB)


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
@pytest.mark.parametrize("size", [(1, 1), (16, 16), (1, 40)])
def test_tiny_canvases_still_work(pattern_type, size):
    assert create_pattern(pattern_type, *size, PRIMARY, SECONDARY, seed=0).size == size


def test_image_chef_methods_match_create_pattern():
    mandala = ImageChef.create_mandala(64, 48, PRIMARY, SECONDARY)
    assert mandala.tobytes() == create_pattern("mandala", 64, 48, PRIMARY, SECONDARY).tobytes()
    noise = ImageChef.create_noise(64, 48, PRIMARY, SECONDARY, seed=5)
    assert noise.tobytes() == create_pattern("noise", 64, 48, PRIMARY, SECONDARY, 5).tobytes()


@pytest.mark.parametrize("size", [(17, 33), (200, 90)])
def test_gradient_runs_from_primary_to_secondary(size):
    array = np.asarray(ImageChef.create_gradient(*size, PRIMARY, SECONDARY)).astype(int)
    assert (array[0] == PRIMARY_RGB).all()
    assert np.abs(array[-1] - SECONDARY_RGB).max() <= 1
    assert (array == array[:, :1]).all()  # every row is a single colour
    red = array[:, 0, 0]
    assert (np.diff(red) >= 0).all()  # primary red 31 rises steadily to secondary red 255


@pytest.mark.parametrize("size", SIZES)
def test_noise_covers_part_of_the_canvas(size):
    image = ImageChef.create_noise(*size, PRIMARY, SECONDARY, seed=1)
    inked = (pixels(image) != 255).any(axis=1).mean()
    assert 0.10 < inked < 0.95


@pytest.mark.parametrize("pattern_type", SEEDED)
def test_seeded_patterns_are_reproducible(pattern_type):
    first = create_pattern(pattern_type, 120, 80, PRIMARY, SECONDARY, seed=42)
    again = create_pattern(pattern_type, 120, 80, PRIMARY, SECONDARY, seed=42)
    other = create_pattern(pattern_type, 120, 80, PRIMARY, SECONDARY, seed=43)
    assert first.tobytes() == again.tobytes()
    assert first.tobytes() != other.tobytes()


def test_deterministic_patterns_ignore_the_seed():
    for pattern_type in ("mandala", "gradient", "spiral"):
        first = create_pattern(pattern_type, 90, 70, PRIMARY, SECONDARY, seed=1)
        other = create_pattern(pattern_type, 90, 70, PRIMARY, SECONDARY, seed=2)
        assert first.tobytes() == other.tobytes()


@pytest.mark.parametrize(
    ("text", "rgb"),
    [
        ("#FF0000", (255, 0, 0)),
        ("#0a0B0c", (10, 11, 12)),
        ("00ff7F", (0, 255, 127)),
        ("#000000", (0, 0, 0)),
    ],
)
def test_hex_to_rgb_known_values(text, rgb):
    assert ImageChef.hex_to_rgb(text) == rgb


@pytest.mark.parametrize("bad", ["red", "#12345", "#GGGGGG", 123, "", "#1234567", "0x1234", None])
def test_hex_to_rgb_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="RRGGBB"):
        ImageChef.hex_to_rgb(bad)


def test_patterns_reject_bad_colours():
    with pytest.raises(ValueError, match="'blue'"):
        create_pattern("spiral", 50, 50, "blue", SECONDARY)


@pytest.mark.parametrize("bad", [0, -5, 5000, 12.5, "100", True])
@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_bad_sizes_raise_value_error(pattern_type, bad):
    with pytest.raises(ValueError, match="width must be an integer between 1 and 4096"):
        create_pattern(pattern_type, bad, 50, PRIMARY, SECONDARY)
    with pytest.raises(ValueError, match="height must be an integer between 1 and 4096"):
        create_pattern(pattern_type, 50, bad, PRIMARY, SECONDARY)


def test_unknown_pattern_type_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown pattern type") as excinfo:
        create_pattern("plaid", 50, 50, PRIMARY, SECONDARY)
    for name in PATTERN_TYPES:
        assert name in str(excinfo.value)


@pytest.fixture(scope="module")
def dataset():
    return pattern_dataset(20, size=28, seed=0)


def test_pattern_dataset_shapes_dtypes_and_range(dataset):
    images, labels = dataset
    assert images.shape == (100, 1, 28, 28)
    assert images.dtype == np.float32
    assert labels.shape == (100,)
    assert labels.dtype == np.int64
    assert images.min() >= 0.0
    assert images.max() <= 1.0
    assert np.bincount(labels).tolist() == [20] * len(PATTERN_TYPES)


def test_pattern_dataset_images_look_like_ink_on_black(dataset):
    images, _ = dataset
    per_image_ink = images.reshape(len(images), -1).mean(axis=1)
    assert (per_image_ink > 0.02).all()  # nothing blank
    assert (per_image_ink < 0.98).all()  # nothing saturated


def test_pattern_dataset_is_deterministic(dataset):
    images, labels = dataset
    again_images, again_labels = pattern_dataset(20, size=28, seed=0)
    other_images, _ = pattern_dataset(20, size=28, seed=1)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(labels, again_labels)
    assert not np.array_equal(images, other_images)


def test_pattern_dataset_classes_differ(dataset):
    images, labels = dataset
    gradient = images[labels == PATTERN_TYPES.index("gradient")].mean(axis=0)
    spiral = images[labels == PATTERN_TYPES.index("spiral")].mean(axis=0)
    assert np.abs(gradient - spiral).mean() > 0.05


def test_pattern_dataset_other_size():
    images, labels = pattern_dataset(2, size=16, seed=3)
    assert images.shape == (10, 1, 16, 16)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


@pytest.mark.parametrize(("n", "size"), [(0, 28), (-1, 28), (2.5, 28), (2, 0), (2, "28")])
def test_pattern_dataset_rejects_bad_arguments(n, size):
    with pytest.raises(ValueError, match="must be"):
        pattern_dataset(n, size=size)
