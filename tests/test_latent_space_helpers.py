"""Tests for the notebook helpers of notebook 05: plotly display, neighbour agreement, 2-D maps."""

from unittest import mock

import ipywidgets
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from course_lib.latent import latent_scatter, manifold_grid
from course_lib.metrics import neighbour_agreement
from course_lib.models import AutoencoderModel, VariationalAutoencoder
from course_lib.notebook import show_plotly


def test_show_plotly_keeps_the_figure_out_of_the_compared_text():
    figure = go.Figure(go.Scatter(x=[0.1, 0.2], y=[0.3, 0.4]), layout={"title": "two points"})
    with mock.patch("IPython.display.display") as display:
        show_plotly(figure)
    (output,), _ = display.call_args
    assert isinstance(output, ipywidgets.Output)
    assert repr(output) != "Output()"  # it holds the figure now...
    (shown,) = output.outputs
    data = shown["data"]
    assert data["text/plain"] == "<plotly figure: two points>"
    plotted = data["application/vnd.plotly.v1+json"]["data"][0]
    assert plotted["type"] == "scatter"
    assert "layout" in data["application/vnd.plotly.v1+json"]


def test_show_plotly_displays_the_widget_before_filling_it():
    seen = []
    figure = go.Figure(go.Scatter(x=[1.0], y=[2.0]))
    with mock.patch("IPython.display.display", side_effect=lambda w: seen.append(repr(w))):
        show_plotly(figure)
    assert seen == ["Output()"]  # what nbval compares: no coordinates in it


def test_neighbour_agreement_is_one_for_separate_clusters_and_low_for_mixed_labels():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (50, 3)), rng.normal(10, 0.1, (50, 3))])
    labels = np.repeat([0, 1], 50)
    assert neighbour_agreement(points, labels, k=5) == 1.0
    shuffled = rng.permutation(labels)
    assert neighbour_agreement(points, shuffled, k=5) < 0.7
    # a point is never its own neighbour: two points with different labels agree 0 %
    assert neighbour_agreement([[0.0], [1.0]], [0, 1], k=1) == 0.0


def test_neighbour_agreement_rejects_bad_inputs():
    with pytest.raises(ValueError, match="labels"):
        neighbour_agreement(np.zeros((4, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="k must be"):
        neighbour_agreement(np.zeros((4, 2)), [0, 1, 2, 3], k=4)


def test_manifold_grid_decodes_the_grid_row_by_row_from_the_top():
    torch.manual_seed(0)
    model = VariationalAutoencoder(hidden_dim=16, latent_dim=2).train()
    images = manifold_grid(model, n=3, limit=2.0)
    assert images.shape == (9, 1, 28, 28)
    assert model.training  # the mode is restored
    with torch.no_grad():
        top_left = model.decode(torch.tensor([[-2.0, 2.0]]))
        centre = model.decode(torch.tensor([[0.0, 0.0]]))
        bottom_right = model.decode(torch.tensor([[2.0, -2.0]]))
    assert torch.allclose(images[0], top_left[0])
    assert torch.allclose(images[4], centre[0])
    assert torch.allclose(images[8], bottom_right[0])


def test_manifold_grid_needs_a_two_dimensional_latent():
    with pytest.raises(ValueError, match="latent_dim == 2"):
        manifold_grid(AutoencoderModel(hidden_dim=8, latent_dim=3))
    model = VariationalAutoencoder(hidden_dim=8, latent_dim=2)
    with pytest.raises(ValueError, match="n must be"):
        manifold_grid(model, n=1)
    with pytest.raises(ValueError, match="limit"):
        manifold_grid(model, limit=0)


def test_latent_scatter_draws_one_group_per_label_and_the_box():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5], [0.5, -1.0]])
    fig = latent_scatter(points, [3, 3, 7, 7], title="codes", limit=2.0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["3", "7", "grid"]
    assert ax.get_title() == "codes"
    with pytest.raises(ValueError, match="one label each"):
        latent_scatter(np.zeros((3, 3)), [0, 1, 2])
