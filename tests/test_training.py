"""Tests for course_lib.training: histories, seeding, time budgets, schedules and input checks."""

import math
import time

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from course_lib.metrics import negative_elbo
from course_lib.models import (
    AutoencoderModel,
    ConvGenerator,
    Discriminator,
    Generator,
    VariationalAutoencoder,
    critic_for,
)
from course_lib.training import (
    fit,
    resolve_device,
    train_autoencoder,
    train_conv_gan,
    train_gan,
    train_vae,
)

COMMON = {"epoch", "seconds", "elapsed", "images", "steps", "complete"}
TIMING = {"seconds", "elapsed"}


def _vae(seed: int = 0) -> VariationalAutoencoder:
    torch.manual_seed(seed)
    return VariationalAutoencoder(input_dim=784, hidden_dim=16, latent_dim=4)


def _ae(seed: int = 0) -> AutoencoderModel:
    torch.manual_seed(seed)
    return AutoencoderModel(input_dim=784, hidden_dim=16, latent_dim=4)


def _gan(seed: int = 0, output_dim: int = 784) -> tuple[Generator, Discriminator]:
    torch.manual_seed(seed)
    return (
        Generator(noise_dim=8, hidden_dim=16, output_dim=output_dim),
        Discriminator(input_dim=784, hidden_dim=16),
    )


def _without_timing(history):
    return [{k: v for k, v in record.items() if k not in TIMING} for record in history]


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _check_history(history, epochs: int, n_images: int, keys: set[str]) -> None:
    assert len(history) == epochs
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    for record in history:
        assert set(record) == COMMON | keys
        assert record["images"] == n_images
        assert record["complete"] is True
        assert record["seconds"] > 0
        assert all(math.isfinite(record[k]) for k in keys)
    elapsed = [r["elapsed"] for r in history]
    assert elapsed == sorted(elapsed)


# ---- the three training functions ---------------------------------------------------------------


def test_train_autoencoder_history_and_fitted_prior(small_mnist):
    model = _ae()
    history = train_autoencoder(model, small_mnist, epochs=2, batch_size=64, progress=False)
    _check_history(history, 2, len(small_mnist), {"loss"})
    assert history[-1]["loss"] < history[0]["loss"]
    assert not model.training
    assert not torch.equal(model.latent_mean, torch.zeros(4))
    with torch.no_grad():
        codes = model.encode(small_mnist.images)
    assert torch.allclose(model.latent_mean, codes.mean(0), atol=1e-5)


def test_train_vae_history_and_loss_decreases(small_mnist):
    model = _vae()
    history = train_vae(model, small_mnist, epochs=4, batch_size=32, progress=False)
    _check_history(history, 4, len(small_mnist), {"loss", "recon", "kl"})
    for record in history:
        assert record["loss"] == pytest.approx(record["recon"] + record["kl"], rel=1e-5)
        assert record["kl"] >= 0
    assert history[-1]["loss"] < history[0]["loss"]
    assert not model.training


def test_train_gan_history_and_updates_both_networks(small_mnist):
    generator, discriminator = _gan()
    before_g = {k: v.clone() for k, v in generator.state_dict().items()}
    before_d = {k: v.clone() for k, v in discriminator.state_dict().items()}
    history = train_gan(generator, discriminator, small_mnist, epochs=2, progress=False)
    _check_history(history, 2, len(small_mnist), {"d_loss", "g_loss", "d_real", "d_fake"})
    for record in history:
        assert 0 < record["d_fake"] < 1 and 0 < record["d_real"] < 1
        assert record["d_loss"] > 0 and record["g_loss"] > 0
    assert any(not torch.equal(v, generator.state_dict()[k]) for k, v in before_g.items())
    assert any(not torch.equal(v, discriminator.state_dict()[k]) for k, v in before_d.items())
    assert not generator.training and not discriminator.training


# ---- seeding ------------------------------------------------------------------------------------


def test_vae_training_is_reproducible_with_a_seed(small_mnist):
    runs = []
    for i, seed in enumerate((0, 0, 1)):
        model = _vae()
        torch.manual_seed(1000 + i)  # the global RNG must not matter: training seeds itself
        history = train_vae(model, small_mnist, epochs=2, batch_size=64, seed=seed, progress=False)
        runs.append((model, _without_timing(history)))
    (m0, h0), (m1, h1), (m2, h2) = runs
    assert h0 == h1
    assert _same_weights(m0, m1)
    assert h0 != h2
    assert not _same_weights(m0, m2)


def test_gan_training_is_reproducible_with_a_seed(small_mnist):
    runs = []
    for i, seed in enumerate((3, 3, 4)):
        generator, discriminator = _gan()
        torch.manual_seed(1000 + i)  # the global RNG must not matter: training seeds itself
        history = train_gan(
            generator, discriminator, small_mnist, epochs=1, seed=seed, progress=False
        )
        runs.append((generator, _without_timing(history)))
    assert runs[0][1] == runs[1][1]
    assert _same_weights(runs[0][0], runs[1][0])
    assert runs[0][1] != runs[2][1]
    assert not _same_weights(runs[0][0], runs[2][0])


# ---- how long to train --------------------------------------------------------------------------


def test_time_budget_stops_a_long_run_early(small_mnist):
    start = time.perf_counter()
    history = train_vae(
        _vae(), small_mnist, epochs=1000, time_budget=0.5, batch_size=64, progress=False
    )
    assert time.perf_counter() - start < 5
    assert len(history) < 1000
    assert history[-1]["elapsed"] >= 0.5


def test_time_budget_alone_can_end_in_the_middle_of_an_epoch(mnist5k_train):
    history = train_autoencoder(
        _ae(), mnist5k_train, time_budget=0.02, batch_size=2, progress=False
    )
    assert len(history) == 1
    assert history[0]["complete"] is False
    assert 0 < history[0]["images"] < len(mnist5k_train)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "epochs, time_budget or both"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"epochs": -1}, "epochs must be a positive integer"),
        ({"epochs": 2.0}, "epochs must be a positive integer"),
        ({"epochs": True}, "epochs must be a positive integer"),
        ({"time_budget": -1.0}, "time_budget"),
        ({"time_budget": 0}, "time_budget"),
        ({"time_budget": float("nan")}, "time_budget"),
        ({"time_budget": float("inf")}, "time_budget"),
        ({"epochs": 1, "batch_size": 0}, "batch_size"),
        ({"epochs": 1, "batch_size": 1.5}, "batch_size"),
        ({"epochs": 1, "lr_schedule": "linear"}, "lr_schedule"),
    ],
)
def test_bad_training_options_are_rejected(small_mnist, kwargs, message):
    model = _vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        train_vae(model, small_mnist, progress=False, **kwargs)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_empty_data_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        train_autoencoder(_ae(), torch.zeros(0, 1, 28, 28), epochs=1, progress=False)


def test_wrong_model_types_are_rejected(small_mnist):
    with pytest.raises(ValueError, match="AutoencoderModel"):
        train_autoencoder(_vae(), small_mnist, epochs=1, progress=False)
    with pytest.raises(ValueError, match="VariationalAutoencoder"):
        train_vae(_ae(), small_mnist, epochs=1, progress=False)
    generator, discriminator = _gan()
    with pytest.raises(ValueError, match="Generator and a Discriminator"):
        train_gan(discriminator, generator, small_mnist, epochs=1, progress=False)


def test_gan_with_mismatched_sizes_is_rejected(small_mnist):
    generator, discriminator = _gan(output_dim=100)
    with pytest.raises(ValueError, match="100 values per image.*784"):
        train_gan(generator, discriminator, small_mnist, epochs=1, progress=False)


# ---- callbacks, validation and other data -------------------------------------------------------


def test_callback_sees_every_record(small_mnist):
    seen = []
    history = train_vae(
        _vae(), small_mnist, epochs=3, batch_size=128, progress=False, callback=seen.append
    )
    assert seen == history
    assert len(seen) == 3


def test_val_data_adds_the_held_out_negative_elbo(small_mnist, tiny_val):
    model = _vae()
    history = train_vae(
        model, small_mnist, epochs=2, batch_size=64, progress=False, val_data=tiny_val
    )
    for record in history:
        assert math.isfinite(record["val_neg_elbo"]) and record["val_neg_elbo"] > 0
    # The last epoch's value is the metric of the final weights on the validation set.
    assert history[-1]["val_neg_elbo"] == pytest.approx(negative_elbo(model, tiny_val))
    assert "val_neg_elbo" not in train_vae(_vae(), small_mnist, epochs=1, progress=False)[0]


def test_training_accepts_a_plain_torch_dataset(small_mnist):
    images, labels = small_mnist.images[:64], small_mnist.labels[:64]
    plain = TensorDataset(images, labels)
    assert not hasattr(plain, "images")
    history = train_vae(_vae(), plain, epochs=2, batch_size=16, progress=False)
    assert [r["images"] for r in history] == [64, 64]
    assert all(r["complete"] for r in history)

    model = _ae()
    train_autoencoder(model, plain, epochs=1, batch_size=16, progress=False)
    with torch.no_grad():
        codes = model.encode(images)
    assert torch.allclose(model.latent_mean, codes.mean(0), atol=1e-5)

    generator, discriminator = _gan()
    history = train_gan(generator, discriminator, plain, epochs=1, batch_size=16, progress=False)
    assert history[0]["images"] == 64


def test_training_accepts_a_bare_tensor(small_mnist):
    history = train_vae(_vae(), small_mnist.images[:40], epochs=1, batch_size=16, progress=False)
    assert history[0]["images"] == 40


# ---- the shared loop ----------------------------------------------------------------------------


def _recording_step(store):
    def step(x):
        store.append(x.flatten().tolist())
        return {"value": x.mean().item()}

    return step


def test_fit_visits_every_item_once_per_epoch_and_weights_the_mean():
    data = torch.arange(10.0).reshape(10, 1)
    batches: list[list[float]] = []
    history = fit(_recording_step(batches), data, epochs=3, batch_size=4, progress=False)
    assert [len(b) for b in batches] == [4, 4, 2] * 3
    for epoch in range(3):
        items = sum(batches[3 * epoch : 3 * epoch + 3], [])
        assert sorted(items) == list(range(10))
    # The epoch mean is over images, not over batches (whose last one is smaller).
    for record in history:
        assert record["value"] == pytest.approx(4.5)
        assert record["images"] == 10 and record["complete"] is True


def test_fit_shuffles_with_its_seed():
    data = torch.arange(50.0).reshape(50, 1)
    orders = []
    for seed in (0, 0, 1):
        batches: list[list[float]] = []
        fit(_recording_step(batches), data, epochs=2, batch_size=50, seed=seed, progress=False)
        orders.append(batches)
    assert orders[0] == orders[1]
    assert orders[0] != orders[2]
    assert orders[0][0] != orders[0][1]  # a new order every epoch
    assert orders[0][0] != list(range(50))


def _lr_trace(schedule: str) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    lrs: list[float] = []

    def step(x):
        lrs.append(optimizer.param_groups[0]["lr"])
        return {}

    data = torch.zeros(10, 1)
    fit(
        step,
        data,
        epochs=2,
        batch_size=2,
        optimizers=[optimizer],
        lr_schedule=schedule,
        progress=False,
    )
    return lrs


def test_cosine_schedule_decays_the_learning_rate():
    lrs = _lr_trace("cosine")
    assert len(lrs) == 10
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[5] == pytest.approx(0.05)  # half way through the run, half the rate
    assert all(a > b for a, b in zip(lrs[:-1], lrs[1:], strict=True))
    assert lrs[-1] < 0.01


def test_constant_schedule_keeps_the_learning_rate():
    assert _lr_trace("constant") == [0.1] * 10


class _BareImages(Dataset):
    """A Dataset whose items are images alone, without labels."""

    def __init__(self, images):
        self.images_ = images

    def __len__(self):
        return len(self.images_)

    def __getitem__(self, i):
        return self.images_[i]


def test_fit_accepts_items_without_labels():
    batches: list[list[float]] = []
    history = fit(
        _recording_step(batches),
        _BareImages(torch.arange(6.0).reshape(6, 1)),
        epochs=1,
        batch_size=4,
        progress=False,
    )
    assert sorted(sum(batches, [])) == list(range(6))
    assert history[0]["value"] == pytest.approx(2.5)


# ---- devices ------------------------------------------------------------------------------------


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    auto = resolve_device("auto")
    assert isinstance(auto, torch.device)
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert auto == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("abacus")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_resolve_device_refuses_missing_cuda():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda:0")


def test_train_autoencoder_accepts_items_without_labels():
    model = _ae()
    train_autoencoder(model, _BareImages(torch.rand(20, 784)), epochs=1, progress=False)
    assert not torch.equal(model.latent_mean, torch.zeros(4))


# ---- direction, not only shapes: bugs a learner would suffer ------------------------------------


def _critic_prefers_real(critic, generator, real, labels=None) -> tuple[float, float]:
    """Mean critic score of held-out real digits and of generated ones (both in [-1, 1])."""
    with torch.no_grad():
        fakes = generator.sample(len(real), seed=0, labels=labels) * 2 - 1
        if labels is None:
            return critic(real * 2 - 1).mean().item(), critic(fakes).mean().item()
        return critic(real * 2 - 1, labels).mean().item(), critic(fakes, labels).mean().item()


def test_the_lessons_gan_learns_the_right_way_round(small_mnist, tiny_val):
    """With real and fake labels swapped, the discriminator would score fakes above real digits."""
    torch.manual_seed(0)
    generator, critic = Generator(noise_dim=8, hidden_dim=32), Discriminator(hidden_dim=32)
    train_gan(generator, critic, small_mnist, epochs=2, batch_size=32, progress=False)
    real, fake = _critic_prefers_real(critic, generator, tiny_val.images)
    assert real > 0.5 > fake, (real, fake)


def test_the_hinge_conv_gan_learns_the_right_way_round(small_mnist, tiny_val):
    torch.manual_seed(0)
    generator = ConvGenerator(noise_dim=8, width=8)
    critic = critic_for(generator)
    train_conv_gan(generator, critic, small_mnist, epochs=2, batch_size=32, progress=False)
    real, fake = _critic_prefers_real(critic.logits, generator, tiny_val.images)
    assert real > fake + 0.5, (real, fake)  # hinge scores: real pushed up, fakes down


def test_the_conv_gan_returns_the_weight_average(small_mnist):
    """The returned generator is the moving average: it moved from the initial weights, but
    less than the live generator did (decay 0 makes the 'average' the live weights)."""

    def run(ema_decay: float) -> torch.Tensor:
        torch.manual_seed(0)
        generator = ConvGenerator(noise_dim=8, width=4)
        start = torch.cat([p.detach().flatten().clone() for p in generator.parameters()])
        train_conv_gan(
            generator,
            critic_for(generator),
            small_mnist,
            epochs=2,
            batch_size=64,
            ema_decay=ema_decay,
            progress=False,
        )
        return torch.cat([p.detach().flatten() for p in generator.parameters()]) - start

    averaged, live = run(0.9), run(0.0)
    assert averaged.norm() > 0  # not the untrained generator
    assert averaged.norm() < 0.8 * live.norm()  # an average moves less than the live weights


def test_frozen_skips_only_the_modules_own_gradients_and_restores_them():
    from course_lib.training import frozen

    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    critic[0].bias.requires_grad_(False)  # a weight that was frozen before stays frozen after
    x = torch.randn(5, 4, requires_grad=True)
    critic(x).sum().backward()
    expected = x.grad.clone()
    x.grad = None
    critic.zero_grad(set_to_none=True)
    with frozen(critic):
        assert not any(p.requires_grad for p in critic.parameters())
        critic(x).sum().backward()
    assert torch.allclose(x.grad, expected)  # the gradient to the input is the same ...
    assert all(p.grad is None for p in critic.parameters())  # ... the critic's own were skipped
    assert [p.requires_grad for p in critic.parameters()] == [True, False, True, True]
