"""One way to sample: every generative model draws codes from its own prior with ``codes``, and
``sample`` is exactly ``decode(codes(...))``, so widgets, the gallery and the CLI agree."""

from __future__ import annotations

import pytest
import torch

from course_lib.latent import interpolate
from course_lib.models import (
    AutoencoderModel,
    ConvGenerator,
    Generator,
    MixturePriorVAE,
    StyleVAE,
    VariationalAutoencoder,
)


def _models():
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(hidden_dim=8, latent_dim=3)
    autoencoder.fit_latent_prior(torch.randn(50, 3) * 2 + 4)
    return {
        "ae": autoencoder,
        "vae": VariationalAutoencoder(hidden_dim=8, latent_dim=3),
        "mixture": MixturePriorVAE(hidden_dim=8, latent_dim=3, n_components=4),
        "gan": Generator(noise_dim=5, hidden_dim=8),
        "dcgan": ConvGenerator(noise_dim=5, width=4),
        "cgan": ConvGenerator(noise_dim=5, width=4, n_classes=10),
        "style": StyleVAE(latent_dim=4, width=4),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_sample_is_decode_of_codes(name):
    model = _models()[name].eval()
    codes = model.codes(6, seed=7, temperature=0.8)
    assert codes.shape == (6, model.latent_dim)
    assert torch.equal(codes, model.codes(6, seed=7, temperature=0.8))  # seeded
    assert not torch.equal(codes, model.codes(6, seed=8, temperature=0.8))
    with torch.no_grad():
        assert torch.equal(model.sample(6, seed=7, temperature=0.8), model.decode(codes))


@pytest.mark.parametrize("name", ["ae", "vae", "mixture", "gan", "dcgan", "style"])
def test_unconditional_models_refuse_labels(name):
    model = _models()[name]
    with pytest.raises(ValueError, match="unconditional"):
        model.codes(2, labels=3)
    with pytest.raises(ValueError, match="unconditional"):
        model.sample(2, labels=3)


def test_the_autoencoder_draws_from_its_fitted_gaussian():
    model = _models()["ae"]
    codes = model.codes(2000, seed=0)
    assert torch.allclose(codes.mean(0), model.latent_mean, atol=0.2)
    assert torch.allclose(model.codes(5, seed=0, temperature=0.0), model.latent_mean.expand(5, 3))


def test_the_mixture_prior_is_honoured():
    torch.manual_seed(0)
    model = MixturePriorVAE(hidden_dim=8, latent_dim=2, n_components=3)
    centres = torch.tensor([[6.0, 0.0], [-6.0, 0.0], [0.0, 6.0]])
    with torch.no_grad():
        model.prior_means.copy_(centres)
        model.prior_logvars.fill_(-4.0)  # sigma 0.14: tight blobs
        model.prior_logits.copy_(torch.tensor([2.0, 1.0, 0.0]).log())  # weights 2/3, 1/3, 0
    codes = model.codes(3000, seed=0)
    distance, nearest = torch.cdist(codes, centres).min(dim=1)
    assert distance.max() < 1.0  # every code sits on a component, none near the origin
    share = torch.bincount(nearest, minlength=3).float() / len(codes)
    assert share.tolist() == pytest.approx([2 / 3, 1 / 3, 0.0], abs=0.03)
    # temperature shrinks the spread around the component's centre, not towards the origin
    still = model.codes(500, seed=1, temperature=0.0)
    assert torch.cdist(still, centres).min(1).values.max() < 1e-3


def test_the_conditional_code_carries_the_class():
    generator = _models()["cgan"].eval()
    assert generator.latent_dim == generator.noise_dim + generator.n_classes
    threes = generator.codes(4, seed=0, labels=3)
    sevens = generator.codes(4, seed=0, labels=7)
    noise = generator.noise_dim
    assert torch.equal(threes[:, :noise], sevens[:, :noise])  # the same noise ...
    assert torch.equal(threes[:, noise:], generator.class_codes.weight[[3] * 4].detach())
    with torch.no_grad():
        # ... decoded with no labels, drawn as the digit in the code
        assert torch.equal(generator.decode(threes), generator.sample(4, seed=0, labels=3))
        assert torch.equal(generator.decode(threes), (generator(threes[:, :noise], 3) + 1) / 2)
        assert not torch.equal(generator.decode(threes), generator.decode(sevens))
    # by default every digit in turn
    default = generator.codes(10, seed=0)
    assert torch.equal(default[:, noise:], generator.class_codes.weight.detach())
    with pytest.raises(ValueError, match=r"0\.\.9"):
        generator.codes(2, labels=10)


def test_interpolating_between_two_digits_codes_morphs_one_into_the_other():
    generator = _models()["cgan"].eval()
    start, end = generator.codes(1, seed=0, labels=3)[0], generator.codes(1, seed=1, labels=7)[0]
    path = torch.as_tensor(interpolate(start, end, steps=5, method="linear"))
    with torch.no_grad():
        images = generator.decode(path)
        assert torch.allclose(images[0], generator.sample(1, seed=0, labels=3)[0], atol=1e-5)
        assert torch.allclose(images[-1], generator.sample(1, seed=1, labels=7)[0], atol=1e-5)
    middle = images[2]
    assert not torch.equal(middle, images[0]) and not torch.equal(middle, images[-1])
    # the class part of the middle code is halfway between the two digits' class codes
    weights = generator.class_codes.weight.detach()
    assert torch.allclose(path[2, generator.noise_dim :], (weights[3] + weights[7]) / 2)
