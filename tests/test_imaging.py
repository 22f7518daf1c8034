"""Tests for course_lib.imaging: tensors/arrays to Pillow images, grids, PNG and data URLs."""

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import imaging
from course_lib.imaging import make_grid, save_png, to_data_url, to_pil, to_png_bytes


def ramp(height: int = 5, width: int = 7) -> np.ndarray:
    """A float image whose pixels are all different, to catch transposes."""
    return np.linspace(0.0, 1.0, height * width, dtype=np.float32).reshape(height, width)


def pixels(picture: Image.Image) -> np.ndarray:
    """Pillow image back to a numpy array."""
    return np.asarray(picture)


# ---- to_pil: layouts and modes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected_size"),
    [
        ((784,), (28, 28)),
        ((5, 7), (7, 5)),
        ((1, 5, 7), (7, 5)),
        ((1, 1, 5, 7), (7, 5)),
        ((5, 7, 1), (7, 5)),
    ],
)
def test_grayscale_layouts(shape, expected_size):
    picture = to_pil(np.full(shape, 0.25, dtype=np.float32))
    assert picture.mode == "L"
    assert picture.size == expected_size  # Pillow sizes are (width, height)


@pytest.mark.parametrize("shape", [(3, 5, 7), (5, 7, 3), (1, 3, 5, 7)])
def test_colour_layouts(shape):
    picture = to_pil(np.zeros(shape, dtype=np.float32))
    assert picture.mode == "RGB"
    assert picture.size == (7, 5)


def test_channel_first_and_last_give_the_same_picture():
    rgb = np.random.default_rng(0).random((3, 4, 6)).astype(np.float32)
    first = pixels(to_pil(rgb))
    last = pixels(to_pil(np.moveaxis(rgb, 0, -1)))
    np.testing.assert_array_equal(first, last)
    assert first[:, :, 0].tolist() == pixels(to_pil(rgb[0])).tolist()  # red channel kept


def test_orientation_is_row_major():
    image = ramp()
    picture = pixels(to_pil(image))
    assert picture[0, 0] == 0 and picture[-1, -1] == 255
    assert picture[0, 1] > picture[0, 0]  # values grow along a row first


def test_value_mapping_and_clipping():
    image = np.array([[0.0, 1.0, 0.5, -0.01, 1.02]], dtype=np.float32)
    values = pixels(to_pil(image))[0].tolist()
    assert values[0] == 0 and values[1] == 255
    assert values[2] in (127, 128)
    assert values[3] == 0 and values[4] == 255  # slight overshoot is clipped, not an error


def test_uint8_is_used_as_is():
    image = np.array([[0, 17, 200, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(pixels(to_pil(image)), image)


def test_tensor_with_grad_and_float64():
    tensor = torch.full((1, 28, 28), 0.5, requires_grad=True) * 1.0
    assert to_pil(tensor).size == (28, 28)
    assert to_pil(torch.zeros(784, dtype=torch.float64)).mode == "L"


def test_torch_and_numpy_agree():
    image = ramp()
    np.testing.assert_array_equal(pixels(to_pil(torch.from_numpy(image))), pixels(to_pil(image)))


# ---- to_pil: scaling ---------------------------------------------------------------------------


def test_scale_makes_exact_multiples_and_nearest_is_blocky():
    image = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    picture = to_pil(image, scale=4)
    assert picture.size == (8, 8)
    big = pixels(picture)
    np.testing.assert_array_equal(big[:4, :4], 0)
    np.testing.assert_array_equal(big[:4, 4:], 255)
    np.testing.assert_array_equal(big, np.kron(pixels(to_pil(image)), np.ones((4, 4))))


@pytest.mark.parametrize("resample", ["bicubic", "lanczos"])
def test_smooth_resampling_keeps_size(resample):
    assert to_pil(ramp(), scale=3, resample=resample).size == (21, 15)


# ---- to_pil: bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 3, 4, 5)),  # batch of two is not one image
        np.zeros((1, 1, 1, 4, 4)),  # too many dimensions
        np.zeros(783),  # not a square number of pixels
        np.zeros((4, 5, 2)),  # two channels
        np.zeros((0, 5)),  # no pixels
        np.array([[0.1, np.nan]]),
        np.array([[0.1, np.inf]]),
        np.array([[1, 2]], dtype=np.int64),  # ints must be uint8
        [[0.0, 1.0]],  # a list, not an array
    ],
)
def test_bad_images_raise_value_error(bad):
    with pytest.raises(ValueError):
        to_pil(bad)


@pytest.mark.parametrize("scale", [0, -1, 1.5, True])
def test_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        to_pil(ramp(), scale=scale)


def test_unknown_resample():
    with pytest.raises(ValueError, match="nearest"):
        to_pil(ramp(), scale=2, resample="bilinear-ish")


# ---- make_grid ---------------------------------------------------------------------------------


def test_grid_size_arithmetic():
    grid = make_grid(torch.rand(10, 1, 28, 28), nrow=4, padding=2)
    assert grid.mode == "L"
    assert grid.size == (4 * 28 + 5 * 2, 3 * 28 + 4 * 2)


def test_grid_with_fewer_images_than_nrow_and_scale():
    grid = make_grid(np.zeros((3, 784), dtype=np.float32), nrow=8, padding=1, scale=2)
    assert grid.size == (2 * (3 * 28 + 4), 2 * (28 + 2))


def test_grid_places_tiles_row_major_with_padding():
    images = np.stack([np.full((1, 2, 2), value, dtype=np.float32) for value in (0.0, 0.2, 0.4)])
    grid = pixels(make_grid(images, nrow=2, padding=1, pad_value=1.0))
    assert grid.shape == (2 * 2 + 3, 2 * 2 + 3)
    assert grid[0].tolist() == [255] * 7  # top padding row
    assert grid[1, 1] == 0 and grid[1, 4] == 51  # first row: tiles 0 and 1
    assert grid[4, 1] == 102  # second row starts with tile 2
    assert grid[4, 4] == 255  # empty slot keeps the pad value


def test_grid_from_list_and_rgb():
    grid = make_grid([np.zeros((5, 7, 3)), torch.ones(3, 5, 7)], nrow=2, padding=0)
    assert grid.mode == "RGB"
    assert grid.size == (14, 5)
    assert pixels(grid)[0, 0].tolist() == [0, 0, 0]
    assert pixels(grid)[0, 7].tolist() == [255, 255, 255]


def test_grid_pad_value_zero():
    grid = pixels(make_grid(np.ones((1, 1, 2, 2)), padding=1, pad_value=0.0))
    assert grid[0, 0] == 0 and grid[1, 1] == 255


@pytest.mark.parametrize(
    ("images", "kwargs"),
    [
        (np.zeros((0, 1, 28, 28)), {}),
        ([], {}),
        ([np.zeros((5, 5)), np.zeros((6, 6))], {}),
        (np.zeros((2, 1, 4, 4)), {"nrow": 0}),
        (np.zeros((2, 1, 4, 4)), {"padding": -1}),
        (np.zeros((2, 1, 4, 4)), {"scale": 0}),
        (np.zeros((2, 1, 4, 4)), {"pad_value": 2.0}),
        (np.zeros(784), {}),
    ],
)
def test_bad_grids_raise_value_error(images, kwargs):
    with pytest.raises(ValueError):
        make_grid(images, **kwargs)


# ---- PNG bytes, data URLs, files ---------------------------------------------------------------


def test_png_bytes_round_trip():
    image = ramp()
    data = to_png_bytes(image)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(pixels(Image.open(io.BytesIO(data))), pixels(to_pil(image)))


def test_png_bytes_accepts_pil_and_scale():
    picture = to_pil(ramp())
    assert Image.open(io.BytesIO(to_png_bytes(picture, scale=2))).size == (14, 10)


def test_data_url():
    url = to_data_url(torch.rand(1, 28, 28), scale=2)
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    decoded = Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))
    assert decoded.size == (56, 56) and decoded.mode == "L"


def test_data_url_inlines_png_and_jpeg_bytes_as_they_are():
    png = to_png_bytes(ramp())
    assert to_data_url(png) == "data:image/png;base64," + base64.b64encode(png).decode()
    buffer = io.BytesIO()
    to_pil(ramp()).convert("RGB").save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    assert to_data_url(jpeg) == "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    with pytest.raises(ValueError, match="PNG or JPEG"):
        to_data_url(b"GIF89a...")
    with pytest.raises(ValueError, match="scale"):
        to_data_url(png, scale=2)


def test_save_png_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "digit.png"
    returned = save_png(ramp(), target, scale=2)
    assert returned == target and target.exists()
    assert Image.open(target).size == (14, 10)


def test_save_png_bad_input_writes_nothing(tmp_path):
    target = tmp_path / "bad.png"
    with pytest.raises(ValueError):
        save_png(np.array([[np.nan]]), target)
    assert not target.exists()


def test_data_url_inlines_encoded_bytes_as_they_are():
    png = to_png_bytes(torch.rand(1, 28, 28))
    assert to_data_url(png) == "data:image/png;base64," + base64.b64encode(png).decode()
    jpeg = b"\xff\xd8\xff\xe0 not decoded"
    url = to_data_url(jpeg, mime="image/jpeg")
    assert url.startswith("data:image/jpeg;base64,") and base64.b64decode(url[23:]) == jpeg
    with pytest.raises(ValueError, match="scale must be 1"):
        to_data_url(png, scale=2)
    with pytest.raises(ValueError, match="mime must be 'image/png'"):
        to_data_url(torch.rand(1, 28, 28), mime="image/jpeg")


def test_to_gif_bytes_writes_a_looping_animation_of_every_frame():
    frames = [np.full((4, 4), level, dtype=np.uint8) for level in (0, 100, 200)]
    gif = Image.open(io.BytesIO(imaging.to_gif_bytes(frames, scale=2, frame_ms=50)))
    assert gif.n_frames == 3 and gif.size == (8, 8) and gif.info["loop"] == 0
    levels = []
    for index in range(3):
        gif.seek(index)
        levels.append(int(np.asarray(gif.convert("L"))[0, 0]))
        assert gif.info["duration"] == 50
    assert levels == [0, 100, 200]
    with pytest.raises(ValueError, match="at least one frame"):
        imaging.to_gif_bytes([])
    with pytest.raises(ValueError, match="frame_ms"):
        imaging.to_gif_bytes(frames, frame_ms=0)
