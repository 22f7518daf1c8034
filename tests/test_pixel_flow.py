"""Pixel-space flows (course_lib.pixel_flow): the control experiment of notebook 10's "why latent".

They must be the latent flow's method on another input: the same loss function, the same
sampler, the same training loop (now also stoppable after a count of steps).
"""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import training
from course_lib.data import ImageDataset
from course_lib.flow import LatentFlowModel, flow_matching_loss, integrate
from course_lib.models import AutoencoderModel
from course_lib.pixel_flow import PixelMLPFlow, TinyUNetFlow
from course_lib.training import fit, steps_per_second, train_pixel_flow


def _digits(n: int = 48) -> ImageDataset:
    """Tiny stand-in digits: a bright bar whose row depends on the label, in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 10
    images = torch.rand(n, 1, 28, 28, generator=generator) * 0.1
    for i, label in enumerate(labels):
        images[i, 0, 2 + 2 * int(label), 4:24] = 1.0
    return ImageDataset(images, labels, [str(d) for d in range(10)])


@pytest.fixture(params=["mlp", "unet"])
def pixel_flow(request) -> PixelMLPFlow | TinyUNetFlow:
    torch.manual_seed(0)
    if request.param == "mlp":
        return PixelMLPFlow(width=32, depth=1).eval()
    return TinyUNetFlow(channels=4).eval()


def test_shapes_and_the_shared_way_to_sample(pixel_flow):
    assert pixel_flow.latent_dim == 784 + 8 and pixel_flow.noise_dim == 784
    x, t = torch.randn(5, 784), torch.rand(5, 1)
    classes = pixel_flow.class_vectors(torch.arange(5))
    assert pixel_flow.velocity(x, t, classes).shape == (5, 784)
    z = pixel_flow.codes(6, seed=2)
    assert z.shape == (6, pixel_flow.latent_dim)
    images = pixel_flow.sample(6, seed=2, steps=3)
    assert images.shape == (6, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, pixel_flow.decode(z, steps=3))


def test_the_velocity_listens_to_time_and_class(pixel_flow):
    x = torch.randn(3, 784)
    base = pixel_flow.velocity(
        x, torch.full((3, 1), 0.2), pixel_flow.class_vectors(torch.zeros(3).long())
    )
    later = pixel_flow.velocity(
        x, torch.full((3, 1), 0.8), pixel_flow.class_vectors(torch.zeros(3).long())
    )
    other = pixel_flow.velocity(
        x, torch.full((3, 1), 0.2), pixel_flow.class_vectors(torch.ones(3).long())
    )
    assert not torch.allclose(base, later) and not torch.allclose(base, other)


def test_decode_is_the_latent_flows_integrator_on_pixels(pixel_flow):
    """One sampler for every flow: decode = integrate the noise, then pixels back to [0, 1]."""
    z = pixel_flow.codes(4, seed=0, labels=3)
    noise, classes = z[:, :784], z[:, 784:]
    with torch.no_grad():
        x = integrate(pixel_flow, noise, classes, 0.0, 1.0, 4, 2.0, "midpoint")
    expected = ((x + 1) / 2).clamp(0, 1).reshape(4, 1, 28, 28)
    assert torch.equal(pixel_flow.decode(z, steps=4, guidance=2.0, solver="midpoint"), expected)


def test_sampling_is_deterministic_with_a_seed(pixel_flow):
    a = pixel_flow.sample(3, seed=7, steps=2)
    assert torch.equal(a, pixel_flow.sample(3, seed=7, steps=2))
    assert not torch.equal(a, pixel_flow.sample(3, seed=8, steps=2))
    asked = pixel_flow.codes(2, seed=7, labels=[4, 9])
    assert torch.equal(asked[0, 784:], pixel_flow.class_vectors(torch.tensor(4)))


def test_pixels_are_scaled_to_minus_one_one_and_back(pixel_flow):
    images = _digits(4).images
    images[0, 0, 0, 0] = 0.0  # black and white pixels land on -1 and 1, grey in between
    x = pixel_flow.standardise(images)
    assert x.shape == (4, 784) and x.min() == -1 and x.max() == 1 and x[0, 1] > -1
    assert torch.allclose(pixel_flow.destandardise(x), images, atol=1e-6)


def test_training_uses_the_latent_flows_loss_function(monkeypatch, pixel_flow):
    seen = []

    def spy(model, x, labels):
        seen.append((model, tuple(x.shape), labels.clone()))
        return flow_matching_loss(model, x, labels)

    monkeypatch.setattr(training, "flow_matching_loss", spy)
    history = train_pixel_flow(pixel_flow, _digits(24), steps=3, batch_size=8, progress=False)
    assert len(seen) == 3 and all(model is pixel_flow for model, _, _ in seen)
    assert [shape for _, shape, _ in seen] == [(8, 784), (8, 784), (8, 784)]
    assert sum(r["steps"] for r in history) == 3


def test_the_loss_on_pixels_is_flow_matching_written_out(pixel_flow):
    x1 = pixel_flow.standardise(_digits(6).images)
    labels = torch.arange(6)
    torch.manual_seed(5)
    x0, t = torch.randn_like(x1), torch.rand(6, 1)
    by_hand = (
        (
            pixel_flow.velocity((1 - t) * x0 + t * x1, t, pixel_flow.class_vectors(labels))
            - (x1 - x0)
        )
        ** 2
    ).mean()
    torch.manual_seed(5)
    assert flow_matching_loss(pixel_flow, x1, labels).item() == pytest.approx(
        by_hand.item(), rel=1e-6
    )


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(pixel_flow):
    data = _digits(32)
    x1 = pixel_flow.standardise(data.images)

    def fixed_loss() -> float:
        torch.manual_seed(11)  # the same noise and times before and after
        with torch.no_grad():
            return flow_matching_loss(pixel_flow, x1, data.labels).item()

    before = fixed_loss()
    train_pixel_flow(pixel_flow, data, steps=40, batch_size=32, lr=3e-3, progress=False)
    assert fixed_loss() < 0.8 * before


def test_a_count_of_steps_stops_training_across_epochs():
    calls = []
    history = fit(
        lambda x: calls.append(len(x)) or {"loss": 0.0},
        torch.zeros(10, 1, 2, 2),
        steps=5,
        batch_size=4,
        progress=False,
    )
    assert calls == [4, 4, 2, 4, 4]  # three batches per epoch: the run ends inside the second
    assert [r["steps"] for r in history] == [3, 2] and steps_per_second(history)["steps"] == 5


def test_a_time_budget_stops_training():
    model = TinyUNetFlow(channels=4)
    history = train_pixel_flow(model, _digits(512), time_budget=0.3, batch_size=8, progress=False)
    done = steps_per_second(history)
    assert 1 <= done["steps"] < 64  # stopped before one epoch of 64 batches
    assert (
        0.3 <= done["seconds"] < 3 and done["steps_per_second"] == done["steps"] / done["seconds"]
    )


def test_steps_or_epochs_end_the_run_whichever_comes_first():
    history = train_pixel_flow(
        PixelMLPFlow(width=8, depth=1),
        _digits(20),
        epochs=3,
        steps=100,
        batch_size=10,
        progress=False,
    )
    assert steps_per_second(history)["steps"] == 6 and len(history) == 3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PixelMLPFlow(width=0), "width"),
        (lambda: PixelMLPFlow(depth=1.5), "depth"),
        (lambda: TinyUNetFlow(channels=0), "channels"),
        (lambda: TinyUNetFlow(n_classes=-1), "n_classes"),
        (lambda: PixelMLPFlow(steps=0), "steps"),
        (lambda: TinyUNetFlow(guidance=math.nan), "guidance"),
        (lambda: PixelMLPFlow(solver="rk4"), "solver"),
    ],
)
def test_bad_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_sampling_and_training_input_is_refused(pixel_flow):
    with pytest.raises(ValueError, match="latent codes"):
        pixel_flow.decode(torch.zeros(2, 784))
    with pytest.raises(ValueError, match="steps"):
        pixel_flow.sample(2, seed=0, steps=0)
    with pytest.raises(ValueError, match="labels"):
        pixel_flow.codes(2, labels=10)
    with pytest.raises(ValueError, match="unconditional"):
        PixelMLPFlow(n_classes=0, width=8, depth=1).codes(2, labels=1)
    as_bytes = ImageDataset(torch.full((4, 1, 28, 28), 255.0), torch.arange(4), [])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_pixel_flow(pixel_flow, as_bytes, steps=1, progress=False)
    with pytest.raises(ValueError, match="labelled"):
        train_pixel_flow(pixel_flow, torch.rand(4, 1, 28, 28), steps=1, progress=False)
    bad_labels = ImageDataset(torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 12]), [])
    with pytest.raises(ValueError, match="outside"):
        train_pixel_flow(pixel_flow, bad_labels, steps=1, progress=False)
    for steps in (0, True, 2.5):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            train_pixel_flow(pixel_flow, _digits(4), steps=steps, progress=False)
    with pytest.raises(ValueError, match="ema_decay"):
        train_pixel_flow(pixel_flow, _digits(4), steps=1, ema_decay=1.0, progress=False)
    latent = LatentFlowModel(AutoencoderModel(hidden_dim=8, latent_dim=2), width=8, depth=1)
    with pytest.raises(ValueError, match="pixel flow"):
        train_pixel_flow(latent, _digits(4), steps=1, progress=False)


def test_an_unconditional_pixel_flow_trains_on_unlabelled_images():
    model = PixelMLPFlow(n_classes=0, width=8, depth=1)
    history = train_pixel_flow(
        model, torch.rand(8, 1, 28, 28), steps=2, batch_size=4, progress=False
    )
    assert steps_per_second(history)["steps"] == 2
    assert model.sample(2, seed=0, steps=2).shape == (2, 1, 28, 28)
