"""Tests for course_lib.metrics: the VAE's negative ELBO, reconstruction BCE, nearest neighbours."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from course_lib.data import ImageDataset
from course_lib.metrics import nearest_neighbour_distances, negative_elbo, reconstruction_bce
from course_lib.models import AutoencoderModel, Generator, VariationalAutoencoder


@pytest.fixture
def vae() -> VariationalAutoencoder:
    torch.manual_seed(0)
    return VariationalAutoencoder(input_dim=784, hidden_dim=16, latent_dim=3)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(5))


def _manual_negative_elbo(model, images, seed):
    with torch.no_grad():
        x = images.reshape(len(images), -1)
        mu, logvar = model.encode(x)
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = F.binary_cross_entropy(model.decode(z).reshape(len(x), -1), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (recon + kl).item() / len(images)


# ---- negative ELBO ------------------------------------------------------------------------------


def test_negative_elbo_matches_a_manual_single_sample_estimate(vae, images):
    for seed in (0, 3):
        value = negative_elbo(vae, images, seed=seed, draws=1)
        assert value == pytest.approx(_manual_negative_elbo(vae, images, seed), rel=1e-5)


def test_negative_elbo_is_deterministic_for_a_seed_and_samples_z(vae, images):
    assert negative_elbo(vae, images, seed=1) == negative_elbo(vae, images, seed=1)
    assert negative_elbo(vae, images, seed=1) != negative_elbo(vae, images, seed=2)


def test_negative_elbo_samples_codes_rather_than_using_the_mean(vae, images):
    """Sampled codes are noisier than the mean, so the honest estimate is not the flattering one."""
    with torch.no_grad():
        mu, logvar = vae.encode(images)
        x = images.reshape(len(images), -1)
        recon = F.binary_cross_entropy(vae.decode(mu).reshape(len(x), -1), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    at_mean = (recon + kl).item() / len(images)
    values = [negative_elbo(vae, images, seed=s) for s in range(5)]
    assert all(v != pytest.approx(at_mean, rel=1e-6) for v in values)


def test_negative_elbo_accepts_datasets_and_tensors_alike(vae, images):
    labels = torch.zeros(len(images), dtype=torch.long)
    expected = negative_elbo(vae, images)
    as_image_dataset = ImageDataset(images, labels, ["0"])
    as_torch_dataset = TensorDataset(images, labels)
    assert negative_elbo(vae, as_image_dataset) == pytest.approx(expected, rel=1e-6)
    assert negative_elbo(vae, as_torch_dataset) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_negative_elbo_restores_the_training_mode(vae, images, training):
    vae.train(training)
    negative_elbo(vae, images)
    assert vae.training is training


def test_negative_elbo_rejects_other_models_and_empty_data(vae):
    with pytest.raises(ValueError, match="VariationalAutoencoder"):
        negative_elbo(AutoencoderModel(784, 8, 2), torch.rand(2, 784))
    with pytest.raises(ValueError, match="empty"):
        negative_elbo(vae, torch.zeros(0, 1, 28, 28))
    with pytest.raises(ValueError, match="empty"):
        negative_elbo(vae, TensorDataset(torch.zeros(0, 1, 28, 28)))


# ---- reconstruction BCE -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder])
def test_reconstruction_bce_is_the_mean_summed_pixel_bce(cls, images):
    torch.manual_seed(0)
    model = cls(784, 16, 3).train()
    value = reconstruction_bce(model, images, batch_size=4)
    assert model.training  # restored
    with torch.no_grad():
        model.eval()
        reconstructed = model(images)[0]
    expected = F.binary_cross_entropy(reconstructed, images, reduction="sum").item() / len(images)
    assert value > 0
    assert value == pytest.approx(expected, rel=1e-5)


def test_reconstruction_bce_is_lower_for_images_the_model_reproduces():
    torch.manual_seed(0)
    model = AutoencoderModel(784, 16, 3)
    blurry = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        own = model(blurry)[0]  # the model reconstructs its own outputs better than noise
    assert reconstruction_bce(model, own) < reconstruction_bce(model, blurry)


def test_reconstruction_bce_rejects_empty_data():
    with pytest.raises(ValueError, match="empty"):
        reconstruction_bce(AutoencoderModel(784, 8, 2), torch.zeros(0, 784))


# ---- nearest neighbours -------------------------------------------------------------------------


def test_copied_samples_find_their_source_at_distance_zero():
    rng = np.random.default_rng(0)
    references = rng.uniform(size=(50, 1, 28, 28))
    picks = rng.integers(0, 50, 300)  # more than one chunk of 256
    index, dist = nearest_neighbour_distances(references[picks], references)
    assert index.tolist() == picks.tolist()
    assert np.allclose(dist, 0, atol=1e-6)
    assert dist.shape == (300,)


def test_distances_are_rms_per_pixel():
    zeros, ones = torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28)
    index, dist = nearest_neighbour_distances(zeros, ones)
    assert index.tolist() == [0] and dist[0] == pytest.approx(1.0)
    # Size does not matter: the same contrast on a 3x8x8 image gives the same distance.
    _, dist_small = nearest_neighbour_distances(np.full((1, 3, 8, 8), 0.2), np.zeros((1, 3, 8, 8)))
    assert dist_small[0] == pytest.approx(0.2)


def test_nearest_is_the_closest_reference():
    references = np.stack([np.full(16, v) for v in (0.0, 0.5, 1.0)])
    samples = np.array([np.full(16, 0.6), np.full(16, 0.1), np.full(16, 0.9)])
    index, dist = nearest_neighbour_distances(samples, references)
    assert index.tolist() == [1, 0, 2]
    assert np.allclose(dist, 0.1)


def test_nearest_neighbours_accept_generated_samples():
    torch.manual_seed(0)
    samples = Generator(noise_dim=4, hidden_dim=8).sample(5, seed=0)
    references = torch.rand(7, 784)
    index, dist = nearest_neighbour_distances(samples, references)
    assert index.shape == dist.shape == (5,)
    assert ((index >= 0) & (index < 7)).all()
    assert (dist > 0).all() and (dist <= 1).all()


def test_nearest_neighbours_reject_bad_shapes():
    with pytest.raises(ValueError, match="784.*100"):
        nearest_neighbour_distances(np.zeros((2, 784)), np.zeros((3, 100)))
    with pytest.raises(ValueError, match="samples must be a non-empty batch"):
        nearest_neighbour_distances(np.zeros((0, 784)), np.zeros((3, 784)))
    with pytest.raises(ValueError, match="references must be a non-empty batch"):
        nearest_neighbour_distances(np.zeros((2, 784)), np.zeros((0, 784)))
    with pytest.raises(ValueError, match="non-empty batch"):
        nearest_neighbour_distances(np.zeros(784), np.zeros((3, 784)))
