"""Tests for the VAE with a learned mixture prior (the command line's default VAE)."""

import math

import pytest
import torch

from course_lib import checkpoints
from course_lib.metrics import negative_elbo
from course_lib.models import MixturePriorVAE, VariationalAutoencoder
from course_lib.training import train_vae


def test_prior_log_prob_matches_a_hand_computed_mixture():
    torch.manual_seed(0)
    model = MixturePriorVAE(input_dim=16, hidden_dim=8, latent_dim=2, n_components=3)
    z = torch.randn(5, 2)
    weights = torch.softmax(model.prior_logits, 0)
    expected = torch.zeros(5)
    for k in range(3):
        normal = torch.distributions.Normal(
            model.prior_means[k], (0.5 * model.prior_logvars[k]).exp()
        )
        expected += weights[k] * normal.log_prob(z).sum(-1).exp()
    assert torch.allclose(model.prior_log_prob(z), expected.log(), atol=1e-5)


def test_kl_estimate_matches_the_closed_form_for_a_standard_normal_prior():
    torch.manual_seed(0)
    model = MixturePriorVAE(input_dim=16, hidden_dim=8, latent_dim=3, n_components=1)
    with torch.no_grad():
        model.prior_means.zero_()
        model.prior_logvars.zero_()
    mu, logvar = torch.randn(1, 3).expand(20000, 3), torch.full((20000, 3), -0.5)
    z = mu + torch.randn(20000, 3) * (0.5 * logvar).exp()
    estimate = model.kl_divergence(z, mu, logvar).item() / 20000
    closed = -0.5 * torch.sum(1 + logvar[0] - mu[0].pow(2) - logvar[0].exp()).item()
    assert estimate == pytest.approx(closed, abs=0.05)


def test_sample_draws_from_the_components_reproducibly():
    torch.manual_seed(0)
    model = MixturePriorVAE(input_dim=784, hidden_dim=8, latent_dim=2, n_components=4).eval()
    first = model.sample(8, seed=1)
    assert first.shape == (8, 1, 28, 28) and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, model.sample(8, seed=1))
    with torch.no_grad():  # all weight on one component with no spread: one image only
        model.prior_logits.copy_(torch.tensor([0.0, -1e9, -1e9, -1e9]))
        model.prior_logvars.fill_(-1e3)
    only = model.sample(4, seed=2)
    assert torch.allclose(only, model.decode(model.prior_means[:1]).expand(4, 1, 28, 28))


def test_training_lowers_the_held_out_bound_and_moves_the_prior(small_mnist, tiny_val):
    torch.manual_seed(0)
    model = MixturePriorVAE(hidden_dim=32, latent_dim=4, n_components=5)
    means = model.prior_means.detach().clone()
    before = negative_elbo(model, tiny_val)
    history = train_vae(model, small_mnist, epochs=10, lr=3e-3, progress=False)
    after = negative_elbo(model, tiny_val)
    assert after < before - 50
    assert all(math.isfinite(r["kl"]) for r in history)
    assert not torch.equal(model.prior_means, means)  # the prior is learned, not fixed


def test_negative_elbo_with_more_draws_is_steadier_but_agrees(small_mnist, tiny_val):
    torch.manual_seed(0)
    model = VariationalAutoencoder(hidden_dim=32, latent_dim=4)
    train_vae(model, small_mnist, epochs=1, progress=False)
    one = [negative_elbo(model, tiny_val, draws=1, seed=s) for s in range(4)]
    five = [negative_elbo(model, tiny_val, draws=5, seed=s) for s in range(4)]
    assert max(five) - min(five) < max(one) - min(one)
    assert sum(five) / 4 == pytest.approx(sum(one) / 4, rel=0.02)
    with pytest.raises(ValueError, match="draws"):
        negative_elbo(model, tiny_val, draws=0)


def test_mixture_vae_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MixturePriorVAE(hidden_dim=8, latent_dim=2, n_components=3).eval()
    checkpoints.save(model, tmp_path / "m.pt")
    loaded = checkpoints.load(tmp_path / "m.pt")
    assert isinstance(loaded, MixturePriorVAE)
    assert loaded.config["n_components"] == 3
    assert torch.equal(loaded.sample(3, seed=0), model.sample(3, seed=0))
