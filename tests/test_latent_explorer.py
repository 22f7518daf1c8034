"""Notebook 05's clickable map: a click or hover picks the right digit, and the panel shows its
true nearest training digits (``course_lib.latent.picked_index``/``neighbour_strip`` and
``course_lib.widgets.NeighbourMap``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from plotly.callbacks import Points
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.imaging import to_pil
from course_lib.latent import LABEL_COLOURS, LatentSpaceExplorer, neighbour_strip, picked_index
from course_lib.widgets import NeighbourMap, neighbour_map

LATENT_DIM = 6


class PixelEncoder(nn.Module):
    """encode() returns the first pixels as the code: distances are easy to recompute."""

    latent_dim = LATENT_DIM

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.reshape(len(x), -1)[:, :LATENT_DIM]


def _collected(n: int, seed: int) -> tuple[LatentSpaceExplorer, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=generator)
    labels = torch.arange(n) % 10
    explorer = LatentSpaceExplorer(PixelEncoder())
    explorer.collect_latent_representations(DataLoader(TensorDataset(images, labels), 16), n)
    return explorer, images


@pytest.fixture(scope="module")
def clickable() -> NeighbourMap:
    explorer, images = _collected(60, seed=1)
    reference, reference_images = _collected(90, seed=2)
    return neighbour_map(explorer, images, reference, reference_images, method="pca", k=5)


def _send(figure, event: str, trace: int, position: int) -> None:
    """The message plotly.js sends the kernel on a click or hover (one point of one trace)."""
    x, y = figure.data[trace].x[position], figure.data[trace].y[position]
    points = {"xs": [x], "ys": [y], "point_indexes": [position], "trace_indexes": [trace]}
    figure._handler_js2py_pointsCallback({"new": {"event_type": event, "points": points}})


def test_picked_index_maps_a_position_in_a_trace_to_the_collected_row(clickable):
    for trace in clickable.figure.data:
        for position in (0, len(trace.x) - 1):
            index = picked_index(trace, Points(point_inds=[position]))
            # the row's label is the trace's digit and its 2-D position is the point's
            assert str(clickable.explorer.labels[index]) == trace.name
            projected = clickable.explorer.project_2d("pca")[index]
            assert np.allclose(projected, [trace.x[position], trace.y[position]])
    assert picked_index(clickable.figure.data[0], Points(point_inds=[])) is None


def test_picked_index_rejects_what_is_not_a_point_of_the_map(clickable):
    trace = clickable.figure.data[0]
    with pytest.raises(ValueError, match="not in a trace"):
        picked_index(trace, Points(point_inds=[len(trace.x)]))
    with pytest.raises(ValueError, match="customdata"):
        picked_index(type("Bare", (), {"customdata": None})(), Points(point_inds=[0]))


def test_a_click_shows_the_clicked_digit_and_its_true_nearest_training_digits(clickable):
    trace_number, position = 3, 2
    _send(clickable.figure, "plotly_click", trace_number, position)
    index = int(clickable.figure.data[trace_number].customdata[position])
    assert clickable.selected == index
    # brute force over every reference code
    gaps = np.linalg.norm(
        clickable.reference.latent_vectors - clickable.explorer.latent_vectors[index], axis=1
    )
    expected = np.argsort(gaps)[:5]
    found, distances = clickable.neighbours(index)
    assert found.tolist() == expected.tolist()
    assert np.allclose(distances, gaps[expected])
    assert f"digit #{index} (a {clickable.explorer.labels[index]})" in clickable.text.value
    assert (
        f"#{expected[0]} a {clickable.reference.labels[expected[0]]} ({gaps[expected[0]]:.2f})"
        in (clickable.text.value)
    )
    panel = Image.open(io.BytesIO(bytes(clickable.image.value)))
    assert panel.size == clickable.picture(index).size
    assert panel.width >= 6 * 28 * NeighbourMap.SCALE  # the digit and 5 neighbours, enlarged


def test_a_hover_shows_that_digit_big_without_touching_the_clicked_panel(clickable):
    clickable.select(0)
    panel = bytes(clickable.image.value)
    _send(clickable.figure, "plotly_hover", 5, 1)
    index = int(clickable.figure.data[5].customdata[1])
    assert clickable.hovered == index and index != 0
    shown = np.asarray(Image.open(io.BytesIO(bytes(clickable.hover_image.value))))
    expected = np.asarray(to_pil(clickable.images[index], scale=NeighbourMap.HOVER_SCALE))
    assert np.array_equal(shown, expected)
    assert clickable.hover_text.value == f"digit #{index}: a {clickable.explorer.labels[index]}"
    assert bytes(clickable.image.value) == panel


def test_the_panel_draws_the_clicked_digit_first_then_the_neighbours_in_order(clickable):
    index = 7
    picture = np.asarray(clickable.picture(index).convert("L"))
    found, _ = clickable.neighbours(index)
    scale = NeighbourMap.SCALE
    tiles = [clickable.images[index], *(clickable.reference_images[i] for i in found)]
    for tile, x in zip(tiles, _tile_lefts(len(tiles), scale), strict=True):
        want = np.asarray(to_pil(tile, scale=scale))
        band = picture[:, x : x + want.shape[1]]  # the tile sits in this column, under the title
        rows = range(picture.shape[0] - want.shape[0] + 1)
        assert any(np.array_equal(band[row : row + want.shape[0]], want) for row in rows)


def _tile_lefts(count: int, scale: int) -> list[int]:
    """Left edges of the tiles as neighbour_strip lays them out (query, rule, neighbours)."""
    width, lefts, x = max(28 * scale, 84), [], 0
    for number in range(count):
        lefts.append(x)
        x += width + (14 if number == 0 else 4)
    return lefts


@pytest.mark.parametrize("k", [0, -1, 91, 2.5, True, "5"])
def test_a_bad_k_is_refused(clickable, k):
    with pytest.raises(ValueError, match="k must be an integer between 1 and 90"):
        NeighbourMap(
            clickable.explorer,
            clickable.images,
            clickable.reference,
            clickable.reference_images,
            method="pca",
            k=k,
        )


def test_mismatched_images_codes_or_dimensions_are_refused(clickable):
    args = (clickable.explorer, clickable.images, clickable.reference, clickable.reference_images)
    with pytest.raises(ValueError, match="explorer holds 60 codes but 59 images"):
        NeighbourMap(args[0], args[1][:59], *args[2:], method="pca")
    with pytest.raises(ValueError, match="reference holds 90 codes but 10 images"):
        NeighbourMap(*args[:3], args[3][:10], method="pca")
    empty = LatentSpaceExplorer(PixelEncoder())
    with pytest.raises(ValueError, match="reference has no codes"):
        NeighbourMap(*args[:2], empty, args[3], method="pca")
    other = LatentSpaceExplorer(PixelEncoder())
    other.latent_vectors = np.zeros((90, 3), dtype=np.float32)
    other.labels = np.zeros(90, dtype=np.int64)
    with pytest.raises(ValueError, match="6 numbers, the reference's 3"):
        NeighbourMap(*args[:2], other, args[3], method="pca")


def test_a_bad_index_leaves_the_panel_as_it_was(clickable):
    clickable.select(1)
    before = (bytes(clickable.image.value), clickable.text.value, clickable.selected)
    for bad in (60, -1, 1.5):
        with pytest.raises(ValueError, match="index must be an integer between 0 and 59"):
            clickable.select(bad)
    assert (bytes(clickable.image.value), clickable.text.value, clickable.selected) == before


def test_the_still_shows_the_map_above_the_panel(clickable):
    still = clickable.snapshot(4)
    panel = clickable.picture(4)
    assert still.width >= panel.width and still.height > panel.height + 200
    bottom = np.asarray(still.convert("L"))[-panel.height :, : panel.width]
    assert np.array_equal(bottom, np.asarray(panel.convert("L")))


def test_the_text_form_is_stable():
    explorer, images = _collected(20, seed=3)
    reference, reference_images = _collected(30, seed=4)
    shown = neighbour_map(explorer, images, reference, reference_images, method="pca", k=3)
    assert repr(shown) == "NeighbourMap(PCA map of 20 digits, 3 nearest of 30 training digits)"
    assert shown._repr_mimebundle_()["text/plain"] == repr(shown)


def test_neighbour_strip_needs_one_caption_per_image():
    with pytest.raises(ValueError, match="one caption per image"):
        neighbour_strip(torch.zeros(3, 1, 28, 28), ["a", "b"])
    strip = neighbour_strip(torch.zeros(3, 1, 28, 28), ["a", "b", "c"], scale=3)
    assert strip.width == 3 * 84 + 14 + 4


def test_4_and_9_get_clearly_different_colours():
    def rgb(hex_colour: str) -> np.ndarray:
        return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)

    assert len(set(LABEL_COLOURS)) == 10
    assert np.linalg.norm(rgb(LABEL_COLOURS[4]) - rgb(LABEL_COLOURS[9])) > 120
