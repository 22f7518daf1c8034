"""Tests for course_lib.latent: interpolation helpers and the LatentSpaceExplorer."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.latent import LatentSpaceExplorer, interpolate, lerp, nearest_neighbours, slerp

# ---- stand-in models with the same interface as course_lib.models ------------------------------


class TinyAutoencoder(nn.Module):
    """encode() returns the first ``latent_dim`` pixels; records whether it ran in eval mode."""

    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.scale = nn.Parameter(torch.ones(()))  # gives the model a device and dtype
        self.seen_training_flags: list[bool] = []
        self.seen_grad_enabled: list[bool] = []

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.seen_training_flags.append(self.training)
        self.seen_grad_enabled.append(torch.is_grad_enabled())
        return self.scale * x.reshape(len(x), -1)[:, : self.latent_dim]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(z.mean(dim=1)).reshape(-1, 1, 1, 1).expand(-1, 1, 28, 28)


class TinyVAE(TinyAutoencoder):
    """encode() returns (mu, logvar) with a huge logvar: sampling would give pure noise."""

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = super().encode(x)
        return mu, torch.full_like(mu, 50.0)


class GeneratorOnly(nn.Module):
    """A GAN generator: it can decode noise but has no encoder."""

    latent_dim = 4

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(z), 1, 28, 28)


def indexed_images(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose first pixel is their index, labels ``index % 10``: easy to check alignment."""
    images = torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    images[:, 0, 0, 0] = torch.arange(count, dtype=torch.float32)
    return images, torch.arange(count) % 10


def loader(count: int = 200, batch_size: int = 64) -> DataLoader:
    return DataLoader(TensorDataset(*indexed_images(count)), batch_size=batch_size)


@pytest.fixture(scope="module")
def explorer() -> LatentSpaceExplorer:
    """An explorer with 60 collected points (small so t-SNE is fast)."""
    result = LatentSpaceExplorer(TinyAutoencoder())
    result.collect_latent_representations(loader(), num_samples=60)
    return result


# ---- lerp / slerp / interpolate ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_endpoints_are_exact(method):
    start = np.array([0.3, -1.7, 2.2], dtype=np.float32)
    end = np.array([1.1, 0.4, -0.9], dtype=np.float32)
    path = interpolate(start, end, steps=7, method=method)
    assert path.shape == (7, 3) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], start)
    np.testing.assert_array_equal(path[-1], end)


def test_linear_path_is_monotone_and_evenly_spaced():
    path = interpolate([0.0, 10.0], [5.0, 0.0], steps=6)
    assert np.all(np.diff(path[:, 0]) > 0) and np.all(np.diff(path[:, 1]) < 0)
    np.testing.assert_allclose(path[:, 0], [0, 1, 2, 3, 4, 5])


def test_slerp_keeps_unit_norm_where_lerp_shrinks():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.linalg.norm(slerp(a, b, 0.5)) == pytest.approx(1.0)
    assert np.linalg.norm(lerp(a, b, 0.5)) == pytest.approx(np.sqrt(0.5))
    np.testing.assert_allclose(slerp(a, b, 0.5), [np.sqrt(0.5), np.sqrt(0.5)])


def test_slerp_interpolates_the_norm_linearly():
    midpoint = slerp(np.array([2.0, 0.0]), np.array([0.0, 4.0]), 0.5)
    assert np.linalg.norm(midpoint) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 2.0], [2.0, 4.0]),  # parallel
        ([1.0, 2.0], [-1.0, -2.0]),  # anti-parallel
        ([0.0, 0.0], [1.0, 2.0]),  # zero start
        ([1.0, 2.0], [0.0, 0.0]),  # zero end
        ([0.0, 0.0], [0.0, 0.0]),
    ],
)
def test_slerp_degenerate_cases_fall_back_without_nan(a, b):
    path = interpolate(a, b, steps=5, method="slerp")
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, interpolate(a, b, steps=5, method="linear"))


def test_interpolation_accepts_tensors_and_lists():
    path = interpolate(torch.zeros(3), [1, 1, 1], steps=3)
    np.testing.assert_allclose(path[1], [0.5, 0.5, 0.5])


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (([0.0, 1.0], [1.0, 0.0]), {"steps": 1}),
        (([0.0, 1.0], [1.0, 0.0]), {"steps": 2.5}),
        (([0.0, 1.0], [1.0, 0.0]), {"method": "cubic"}),
        (([0.0, 1.0], [1.0, 0.0, 2.0]), {}),
        (([0.0, np.nan], [1.0, 0.0]), {}),
        (([], []), {}),
    ],
)
def test_bad_interpolation_arguments(args, kwargs):
    with pytest.raises(ValueError):
        interpolate(*args, **kwargs)


def test_lerp_rejects_t_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        lerp([0.0], [1.0], 1.5)


# ---- collecting latents ------------------------------------------------------------------------


def test_model_without_encoder_is_rejected():
    with pytest.raises(ValueError, match="encoder"):
        LatentSpaceExplorer(GeneratorOnly())


def test_empty_before_collection():
    fresh = LatentSpaceExplorer(TinyAutoencoder())
    assert fresh.latent_vectors.shape == (0, 4) and fresh.labels.shape == (0,)


def test_collect_stops_at_exactly_num_samples_with_aligned_labels():
    fresh = LatentSpaceExplorer(TinyAutoencoder())
    vectors = fresh.collect_latent_representations(loader(batch_size=64), num_samples=100)
    assert vectors.shape == (100, 4) and fresh.labels.shape == (100,)
    assert vectors is fresh.latent_vectors
    indices = vectors[:, 0].astype(int)  # first latent = first pixel = sample index
    np.testing.assert_array_equal(indices, np.arange(100))
    np.testing.assert_array_equal(fresh.labels, indices % 10)


def test_collect_does_not_pull_extra_batches():
    images, labels = indexed_images(30)
    pulled = []

    def batches():
        for start in range(0, 30, 10):
            pulled.append(start)
            yield images[start : start + 10], labels[start : start + 10]

    LatentSpaceExplorer(TinyAutoencoder()).collect_latent_representations(batches(), 15)
    assert pulled == [0, 10]


def test_collect_with_fewer_samples_than_requested_and_flat_numpy_batches():
    images, labels = indexed_images(12)
    batches = [(images[:5].reshape(5, -1).numpy(), labels[:5].tolist()), (images[5:], labels[5:])]
    vectors = LatentSpaceExplorer(TinyAutoencoder()).collect_latent_representations(batches)
    assert vectors.shape == (12, 4)


def test_collecting_twice_replaces_results_and_clears_cache():
    fresh = LatentSpaceExplorer(TinyAutoencoder())
    fresh.collect_latent_representations(loader(), num_samples=30)
    first = fresh.project_2d("pca")
    fresh.collect_latent_representations(loader(), num_samples=50)
    assert fresh.latent_vectors.shape == (50, 4) and fresh.labels.shape == (50,)
    second = fresh.project_2d("pca")
    assert second.shape == (50, 2) and second is not first


def test_vae_uses_the_mean_not_a_sample():
    fresh = LatentSpaceExplorer(TinyVAE())
    first = fresh.collect_latent_representations(loader(), num_samples=40).copy()
    second = fresh.collect_latent_representations(loader(), num_samples=40)
    np.testing.assert_array_equal(first, second)
    expected = indexed_images(40)[0].reshape(40, -1)[:, :4].numpy()
    np.testing.assert_array_equal(first, expected)


@pytest.mark.parametrize("start_in_training_mode", [True, False])
def test_collect_uses_eval_no_grad_and_restores_mode(start_in_training_mode):
    model = TinyAutoencoder()
    model.train(start_in_training_mode)
    LatentSpaceExplorer(model).collect_latent_representations(loader(), num_samples=70)
    assert model.seen_training_flags == [False, False]
    assert model.seen_grad_enabled == [False, False]
    assert model.training is start_in_training_mode


def test_mode_is_restored_even_when_collection_fails():
    model = TinyAutoencoder().train()
    with pytest.raises(ValueError):
        LatentSpaceExplorer(model).collect_latent_representations([torch.zeros(2, 784)])
    assert model.training


@pytest.mark.parametrize("num_samples", [0, -5, 2.0])
def test_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        LatentSpaceExplorer(TinyAutoencoder()).collect_latent_representations(loader(), num_samples)


def test_empty_loader_is_rejected():
    with pytest.raises(ValueError, match="no samples"):
        LatentSpaceExplorer(TinyAutoencoder()).collect_latent_representations([])


# ---- projections and plots ---------------------------------------------------------------------


def test_methods_before_collection_ask_to_collect_first():
    fresh = LatentSpaceExplorer(TinyAutoencoder())
    for call in (fresh.project_2d, lambda: fresh.find_similar_points([0.0] * 4)):
        with pytest.raises(ValueError, match="collect_latent_representations"):
            call()


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_shapes(explorer, method):
    projection = explorer.project_2d(method)
    assert projection.shape == (60, 2)
    assert np.all(np.isfinite(projection))


def test_projection_is_cached_per_method_and_seed(explorer, monkeypatch):
    first = explorer.project_2d("tsne", seed=0)

    def refuse(*args, **kwargs):
        raise AssertionError("t-SNE was refitted")

    import sklearn.manifold  # course_lib.latent imports TSNE from it when it fits one

    monkeypatch.setattr(sklearn.manifold, "TSNE", refuse)
    assert explorer.project_2d("tsne", seed=0) is first
    with pytest.raises(AssertionError):
        explorer.project_2d("tsne", seed=1)  # a new seed is a new fit


def test_pca_on_two_dimensional_latents():
    fresh = LatentSpaceExplorer(TinyAutoencoder(latent_dim=2))
    fresh.collect_latent_representations(loader(), num_samples=20)
    assert fresh.project_2d("pca").shape == (20, 2)


def test_unknown_projection_method(explorer):
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        explorer.project_2d("umap")


def test_figure_has_one_trace_per_label_in_sorted_order(explorer):
    figure = explorer.figure_2d("pca")
    assert isinstance(figure, go.Figure)
    assert [trace.name for trace in figure.data] == [str(d) for d in range(10)]
    assert sum(len(trace.x) for trace in figure.data) == 60
    assert figure.layout.xaxis.title.text == "PC 1"
    assert figure.layout.yaxis.title.text == "PC 2"
    assert "index" in figure.data[0].hovertemplate
    assert len({trace.marker.color for trace in figure.data}) == 10  # categorical colours


def test_tsne_figure_axes(explorer):
    figure = explorer.figure_2d("tsne", title="My title")
    assert figure.layout.xaxis.title.text == "t-SNE 1"
    assert figure.layout.title.text == "My title"


def test_visualize_2d_is_an_offline_fragment(explorer):
    html = explorer.visualize_2d()
    assert 'id="latent-scatter"' in html
    assert "cdn.plot.ly" not in html and "<html" not in html
    assert html == explorer.visualize_2d()  # stable output
    assert 'id="other"' in explorer.visualize_2d("pca", div_id="other")


@pytest.mark.parametrize("bad", ["cdn", "CDN", "https://example.org/plotly.js"])
def test_visualize_2d_refuses_cdn(explorer, bad):
    with pytest.raises(ValueError, match="offline"):
        explorer.visualize_2d(include_plotlyjs=bad)


# ---- neighbours and interpolation --------------------------------------------------------------


def test_find_similar_points_returns_the_point_itself_first(explorer):
    indices, distances = explorer.find_similar_points(explorer.latent_vectors[7], k=5)
    assert indices[0] == 7 and distances[0] == 0.0
    assert len(indices) == len(distances) == 5
    assert np.all(np.diff(distances) >= 0)
    expected = np.linalg.norm(explorer.latent_vectors[indices] - explorer.latent_vectors[7], axis=1)
    np.testing.assert_allclose(distances, expected, rtol=1e-6)


def test_find_similar_points_accepts_tensor_and_list(explorer):
    target = explorer.latent_vectors[3]
    assert explorer.find_similar_points(torch.from_numpy(target), k=1)[0][0] == 3
    assert explorer.find_similar_points(target.tolist(), k=60)[0].shape == (60,)


@pytest.mark.parametrize("k", [0, 61, -1])
def test_find_similar_points_bad_k(explorer, k):
    with pytest.raises(ValueError, match="k must be"):
        explorer.find_similar_points(explorer.latent_vectors[0], k=k)


def test_find_similar_points_bad_dimension_names_both(explorer):
    with pytest.raises(ValueError, match=r"dimension 3 .* dimension 4"):
        explorer.find_similar_points([0.0, 0.0, 0.0])


def test_generate_interpolation_path(explorer):
    start, end = explorer.latent_vectors[0], explorer.latent_vectors[1]
    path = explorer.generate_interpolation_path(start, end, steps=5, method="slerp")
    assert path.shape == (5, 4)
    np.testing.assert_array_equal(path[0], start)
    np.testing.assert_array_equal(path[-1], end)
    with pytest.raises(ValueError):
        explorer.generate_interpolation_path(start, end[:2])
    with pytest.raises(ValueError):
        explorer.generate_interpolation_path(start, end, steps=1)


def test_nearest_neighbours_orders_rows_by_distance_and_checks_its_input():
    points = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, -2.0], [0.0, 1.0]])
    indices, distances = nearest_neighbours(points, [0.0, 0.0], k=3)
    assert indices.tolist() == [1, 3, 2]  # a tie keeps the rows' order
    np.testing.assert_allclose(distances, [1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="shaped"):
        nearest_neighbours(points, [0.0, 0.0, 0.0], k=1)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(points, [0.0, 0.0], k=5)
