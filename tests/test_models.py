"""Tests for course_lib.models: shapes, ranges, sampling, input checks and the VAE loss."""

import inspect
import math

import numpy as np
import pytest
import torch

from course_lib.models import (
    MODEL_CLASSES,
    AutoencoderModel,
    Discriminator,
    Generator,
    VariationalAutoencoder,
    vae_loss,
    vae_loss_terms,
)

IMAGE_MODELS = [AutoencoderModel, VariationalAutoencoder]


def _defaults(cls) -> dict:
    return {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self"
    }


def _small(cls, **dims):
    """A small instance with a fixed initialisation."""
    torch.manual_seed(0)
    if cls is Generator:
        return cls(**{"noise_dim": 8, "hidden_dim": 16, "output_dim": 784, **dims})
    if cls is Discriminator:
        return cls(**{"input_dim": 784, "hidden_dim": 16, **dims})
    return cls(**{"input_dim": 784, "hidden_dim": 16, "latent_dim": 4, **dims})


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ---- constructors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (AutoencoderModel, {"input_dim": 784, "hidden_dim": 128, "latent_dim": 32}),
        (VariationalAutoencoder, {"input_dim": 784, "hidden_dim": 128, "latent_dim": 32}),
        (Generator, {"noise_dim": 100, "hidden_dim": 128, "output_dim": 784}),
        (Discriminator, {"input_dim": 784, "hidden_dim": 128}),
    ],
)
def test_constructor_defaults_match_the_lesson(cls, expected):
    assert _defaults(cls) == expected
    model = cls()
    assert model.config == expected


def test_model_classes_names_every_loadable_model():
    import course_lib.models as models

    expected = {
        name: getattr(models, name)
        for name in (
            "AutoencoderModel",
            "VariationalAutoencoder",
            "MixturePriorVAE",
            "Generator",
            "Discriminator",
            "ConvGenerator",
            "ConvDiscriminator",
            "DigitClassifier",
            "StyleVAE",
        )
    }
    assert expected == MODEL_CLASSES


@pytest.mark.parametrize(
    "cls", [AutoencoderModel, VariationalAutoencoder, Generator, Discriminator]
)
@pytest.mark.parametrize("bad", [0, -3, 2.0, True, None])
def test_constructors_reject_non_positive_or_non_integer_dims(cls, bad):
    first = next(iter(_defaults(cls)))
    with pytest.raises(ValueError, match=f"{first} must be a positive integer"):
        cls(**{first: bad})


@pytest.mark.parametrize("cls", IMAGE_MODELS)
def test_latent_dim_and_image_shape_follow_the_config(cls):
    model = _small(cls, latent_dim=5)
    assert model.latent_dim == 5
    assert model.image_shape == (1, 28, 28)
    rgb = _small(cls, input_dim=3 * 32 * 32)
    assert rgb.image_shape == (3, 32, 32)
    assert rgb.decode(torch.zeros(2, 4)).shape == (2, 3, 32, 32)


# ---- forward passes -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (5, 784)])
def test_autoencoder_forward_shapes_and_range(shape):
    model = _small(AutoencoderModel)
    x = _images(5).reshape(shape)
    reconstructed, latent = model(x)
    assert reconstructed.shape == shape
    assert latent.shape == (5, 4)
    assert reconstructed.min() >= 0 and reconstructed.max() <= 1
    assert torch.equal(latent, model.encode(x))


@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (5, 784)])
def test_vae_forward_shapes_and_range(shape):
    model = _small(VariationalAutoencoder).eval()
    x = _images(5).reshape(shape)
    reconstructed, mu, logvar = model(x)
    assert reconstructed.shape == shape
    assert mu.shape == logvar.shape == (5, 4)
    assert reconstructed.min() >= 0 and reconstructed.max() <= 1
    enc_mu, enc_logvar = model.encode(x)
    assert torch.equal(mu, enc_mu) and torch.equal(logvar, enc_logvar)
    # In eval mode the code is the mean, so forward is decode(mu).
    assert torch.allclose(reconstructed.reshape(5, 1, 28, 28), model.decode(mu))


def test_image_and_flat_inputs_give_the_same_result():
    x = _images(3)
    ae = _small(AutoencoderModel)
    assert torch.equal(ae.encode(x), ae.encode(x.reshape(3, 784)))
    disc = _small(Discriminator)
    assert torch.equal(disc(x), disc(x.reshape(3, 784)))


def test_vae_reparameterize_samples_in_train_mode():
    model = _small(VariationalAutoencoder).train()
    mu = torch.full((20000, 2), 3.0)
    logvar = torch.full((20000, 2), math.log(4.0))  # sigma = 2
    first = model.reparameterize(mu, logvar)
    second = model.reparameterize(mu, logvar)
    assert not torch.equal(first, second)
    assert first.mean().item() == pytest.approx(3.0, abs=0.05)
    assert first.std().item() == pytest.approx(2.0, abs=0.05)


def test_vae_reparameterize_returns_mu_in_eval_mode():
    model = _small(VariationalAutoencoder).eval()
    mu = torch.randn(4, 4)
    logvar = torch.full((4, 4), 10.0)  # huge variance: any sampling would show
    assert torch.equal(model.reparameterize(mu, logvar), mu)
    x = _images(4)
    assert torch.equal(model(x)[0], model(x)[0])


def test_vae_gradients_reach_the_encoder_through_the_sample():
    model = _small(VariationalAutoencoder).train()
    reconstructed, mu, logvar = model(_images(4))
    vae_loss(reconstructed, _images(4), mu, logvar).backward()
    assert model.encoder_mu.weight.grad.abs().sum() > 0
    assert model.encoder_logvar.weight.grad.abs().sum() > 0


def test_generator_forward_is_tanh_range_and_decode_rescales_it():
    model = _small(Generator)
    noise = 10 * torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    flat = model(noise)
    assert flat.shape == (6, 784)
    assert flat.min() >= -1 and flat.max() <= 1
    assert flat.min() < 0  # really uses the negative half, unlike a sigmoid
    images = model.decode(noise)
    assert images.shape == (6, 1, 28, 28)
    assert torch.allclose(images.reshape(6, 784), (flat + 1) / 2)


def test_discriminator_outputs_probabilities_equal_to_sigmoid_of_logits():
    model = _small(Discriminator)
    x = _images(7)
    probs = model(x)
    assert probs.shape == (7, 1)
    assert ((probs > 0) & (probs < 1)).all()
    logits = model.logits(x)
    assert logits.shape == (7, 1)
    assert torch.allclose(probs, torch.sigmoid(logits))


# ---- decode and sample --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Generator])
def test_decode_and_sample_give_images_in_unit_range(cls):
    model = _small(cls)
    z = 5 * torch.randn(3, model.latent_dim)
    decoded = model.decode(z)
    assert decoded.shape == (3, 1, 28, 28)
    assert decoded.min() >= 0 and decoded.max() <= 1
    samples = model.sample(4)
    assert samples.shape == (4, 1, 28, 28)
    assert samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Generator])
def test_sample_with_seed_is_reproducible_and_seed_dependent(cls):
    model = _small(cls)
    torch.manual_seed(123)
    a = model.sample(5, seed=7)
    torch.manual_seed(456)  # the global RNG must not matter when a seed is given
    b = model.sample(5, seed=7)
    c = model.sample(5, seed=8)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    # Without a seed, successive calls differ.
    assert not torch.allclose(model.sample(5), model.sample(5))


@pytest.mark.parametrize("cls", [VariationalAutoencoder, Generator])
def test_sample_decodes_seeded_standard_normal_codes_scaled_by_temperature(cls):
    model = _small(cls)
    z = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(model.sample(4, seed=3), model.decode(z))
    assert torch.allclose(model.sample(4, seed=3, temperature=0.5), model.decode(0.5 * z))
    cold = model.sample(3, seed=3, temperature=0.0)
    assert torch.allclose(cold, model.decode(torch.zeros(3, model.latent_dim)).expand_as(cold))


# ---- input checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["encode", "forward"])
@pytest.mark.parametrize("cls", IMAGE_MODELS)
def test_wrong_feature_count_is_a_clear_error(cls, method):
    model = _small(cls)
    with pytest.raises(ValueError, match=r"100 values but the model expects 784"):
        getattr(model, method)(torch.rand(3, 100))


def test_discriminator_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="expects 784"):
        _small(Discriminator)(torch.rand(3, 1, 32, 32))


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Discriminator])
def test_one_dimensional_input_suggests_a_batch_dimension(cls):
    model = _small(cls)
    call = model.encode if hasattr(model, "encode") else model
    with pytest.raises(ValueError, match="unsqueeze"):
        call(torch.rand(784))


@pytest.mark.parametrize("cls", IMAGE_MODELS)
def test_non_tensor_input_is_rejected(cls):
    with pytest.raises(ValueError, match="torch.Tensor"):
        _small(cls).encode(np.zeros((2, 784), dtype=np.float32))


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Generator])
@pytest.mark.parametrize("shape", [(3, 5), (3,), (3, 4, 1)])
def test_decode_rejects_latents_of_the_wrong_shape(cls, shape):
    model = _small(cls, **({"noise_dim": 4} if cls is Generator else {}))
    with pytest.raises(ValueError, match=r"latent codes shaped \(n, 4\)"):
        model.decode(torch.zeros(shape))


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Generator])
@pytest.mark.parametrize("n", [0, -2, 2.0, True])
def test_sample_rejects_non_positive_counts(cls, n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        _small(cls).sample(n)


@pytest.mark.parametrize("cls", [AutoencoderModel, VariationalAutoencoder, Generator])
@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -0.5])
def test_sample_rejects_bad_temperatures(cls, temperature):
    with pytest.raises(ValueError, match="temperature"):
        _small(cls).sample(2, temperature=temperature)


# ---- the VAE loss -------------------------------------------------------------------------------


def test_vae_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 1, 28, 28))
    r = rng.uniform(0.01, 0.99, (3, 1, 28, 28))
    mu = rng.normal(size=(3, 4))
    logvar = rng.normal(size=(3, 4))
    expected_recon = np.sum(-(x * np.log(r) + (1 - x) * np.log(1 - r)))
    expected_kl = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar))

    def t(a):
        return torch.tensor(a, dtype=torch.float64)

    recon, kl = vae_loss_terms(t(r), t(x), t(mu), t(logvar))
    assert recon.item() == pytest.approx(expected_recon, rel=1e-9)
    assert kl.item() == pytest.approx(expected_kl, rel=1e-9)
    total = vae_loss(t(r), t(x), t(mu), t(logvar))
    assert total.item() == pytest.approx(expected_recon + expected_kl, rel=1e-9)
    # A flat reconstruction of the same images gives the same loss.
    flat = vae_loss(t(r).reshape(3, 784), t(x), t(mu), t(logvar))
    assert flat.item() == pytest.approx(total.item(), rel=1e-12)


def test_vae_loss_is_the_sum_of_its_terms():
    g = torch.Generator().manual_seed(1)
    x, r = torch.rand(4, 784, generator=g), torch.rand(4, 784, generator=g) * 0.98 + 0.01
    mu, logvar = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    recon, kl = vae_loss_terms(r, x, mu, logvar)
    assert torch.allclose(vae_loss(r, x, mu, logvar), recon + kl)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    x = torch.rand(2, 784)
    r = torch.full((2, 784), 0.5)
    _, kl = vae_loss_terms(r, x, torch.zeros(2, 3), torch.zeros(2, 3))
    assert kl.item() == 0.0
    _, kl_shifted = vae_loss_terms(r, x, torch.ones(2, 3), torch.zeros(2, 3))
    assert kl_shifted.item() == pytest.approx(0.5 * 6)  # 1/2 * sum(mu^2)
    _, kl_wide = vae_loss_terms(r, x, torch.zeros(2, 3), torch.ones(2, 3))
    assert kl_wide.item() > 0


def test_vae_loss_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="reconstruction has shape"):
        vae_loss(torch.rand(2, 784), torch.rand(3, 784), torch.zeros(2, 3), torch.zeros(2, 3))


# ---- the autoencoder's fitted prior -------------------------------------------------------------


def _correlated_codes(n: int = 4000, seed: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = np.array([2.0, -1.0, 0.5])
    a = np.array([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.3, 0.2, 0.3]])
    codes = rng.normal(size=(n, 3)) @ a.T + mean
    return torch.tensor(codes, dtype=torch.float32), codes.mean(0), np.cov(codes, rowvar=False)


def test_fit_latent_prior_stores_mean_and_cholesky_of_covariance():
    model = _small(AutoencoderModel, latent_dim=3)
    codes, mean, cov = _correlated_codes()
    model.fit_latent_prior(codes)
    assert np.allclose(model.latent_mean.numpy(), mean, atol=1e-5)
    tril = model.latent_scale_tril.numpy()
    assert np.allclose(tril, np.tril(tril))
    assert np.allclose(tril @ tril.T, cov, atol=1e-3)


def test_sample_draws_codes_from_the_fitted_gaussian(monkeypatch):
    model = _small(AutoencoderModel, latent_dim=3)
    codes, mean, cov = _correlated_codes()
    model.fit_latent_prior(codes)
    monkeypatch.setattr(model, "decode", lambda z: z)  # look at the codes sample() decodes
    drawn = model.sample(20000, seed=0).numpy()
    assert np.allclose(drawn.mean(0), mean, atol=0.05)
    assert np.allclose(np.cov(drawn, rowvar=False), cov, atol=0.05)


def test_unfitted_autoencoder_samples_from_the_standard_normal(monkeypatch):
    model = _small(AutoencoderModel, latent_dim=3)
    monkeypatch.setattr(model, "decode", lambda z: z)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(model.sample(5, seed=4), z)


def test_fit_latent_prior_rejects_too_few_or_misshapen_codes():
    model = _small(AutoencoderModel)
    with pytest.raises(ValueError, match="at least 2"):
        model.fit_latent_prior(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="latent codes shaped"):
        model.fit_latent_prior(torch.zeros(10, 3))
    # A rejected fit leaves the prior untouched.
    assert torch.equal(model.latent_mean, torch.zeros(4))
    assert torch.equal(model.latent_scale_tril, torch.eye(4))


def test_fit_latent_prior_survives_degenerate_codes():
    model = _small(AutoencoderModel, latent_dim=3)
    codes = torch.ones(10, 3)  # zero covariance: the jitter keeps the Cholesky possible
    model.fit_latent_prior(codes)
    assert torch.isfinite(model.latent_scale_tril).all()
    assert torch.allclose(model.latent_mean, torch.ones(3))
