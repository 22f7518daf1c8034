"""The GAN playground of notebook 03: its steps really train each player with the course's GAN
loss, its arrows point where the generator's loss pushes, its mode count counts, and its buttons
redraw the picture."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from course_lib.playground import (
    GANPlayground,
    mode_centres,
    modes_covered,
    push_directions,
    ring_of_gaussians,
)
from course_lib.runtime import use_threads
from course_lib.training import generator_loss


@pytest.fixture(autouse=True)
def one_thread():
    previous = use_threads(1)
    yield
    use_threads(previous)


@pytest.fixture
def playground() -> GANPlayground:
    return GANPlayground(n_show=200)


def _d_loss(playground: GANPlayground, real: torch.Tensor, fake: torch.Tensor) -> float:
    """The discriminator's loss on a fixed batch (real -> 0.9, fake -> 0, as train_gan)."""
    with torch.no_grad():
        real_logits = playground.discriminator.logits(real)
        fake_logits = playground.discriminator.logits(fake)
        return (
            F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 0.9))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        ).item()


def test_d_steps_lower_the_discriminators_loss_and_leave_the_generator_alone(playground):
    real = ring_of_gaussians(512, seed=7)
    with torch.no_grad():
        fake = playground.generator(torch.randn(512, 2, generator=torch.Generator().manual_seed(8)))
    generator_before = [p.clone() for p in playground.generator.parameters()]
    before = _d_loss(playground, real, fake)
    for _ in range(5):
        playground.step_d()
    assert _d_loss(playground, real, fake) < before - 0.01
    assert (playground.d_steps, playground.g_steps) == (5, 0)
    for old, new in zip(generator_before, playground.generator.parameters(), strict=True):
        assert torch.equal(old, new), "a D step changed the generator"


def test_g_steps_lower_the_generators_loss_and_leave_the_discriminator_alone(playground):
    noise = torch.randn(512, 2, generator=torch.Generator().manual_seed(9))

    def g_loss() -> float:
        with torch.no_grad():
            return generator_loss(playground.discriminator.logits(playground.generator(noise)))

    for _ in range(3):  # give D an opinion first, so G has something to climb
        playground.step_d()
    discriminator_before = [p.clone() for p in playground.discriminator.parameters()]
    before = g_loss()
    for _ in range(5):
        playground.step_g()
    assert g_loss() < before - 0.001
    assert (playground.d_steps, playground.g_steps) == (3, 5)
    for old, new in zip(discriminator_before, playground.discriminator.parameters(), strict=True):
        assert torch.equal(old, new), "a G step changed the discriminator"


def test_the_arrows_point_towards_a_higher_discriminator_score(playground):
    playground.train(50)
    points = playground.generated()[:20]
    push = push_directions(playground.discriminator, points)
    assert push.shape == (20, 2) and push.norm(dim=1).min() > 0
    step = 1e-3 * push / push.norm(dim=1, keepdim=True)
    with torch.no_grad():
        before = playground.discriminator(points)
        after = playground.discriminator(points + step)
        against = playground.discriminator(points - step)
    assert (after > before).all(), "moving along an arrow lowered D's verdict"
    assert (against < before).all()


def test_modes_covered_counts_planted_distributions():
    centres = mode_centres(8)
    assert modes_covered(ring_of_gaussians(800, seed=1)) == 8
    one_mode = centres[3] + 0.05 * torch.randn(400, 2, generator=torch.Generator().manual_seed(2))
    assert modes_covered(one_mode) == 1
    three = torch.cat([centres[[0, 2, 5]].repeat(50, 1), torch.zeros(10, 2)])
    assert modes_covered(three) == 3
    assert modes_covered(torch.zeros(100, 2)) == 0  # the ring's centre is no mode
    # One stray point per mode is not coverage: a mode needs its share of the points.
    strays = torch.cat([centres, torch.zeros(500, 2)])
    assert modes_covered(strays) == 0
    assert modes_covered(ring_of_gaussians(300, 4, seed=3), 4) == 4


def test_ring_of_gaussians_is_seeded_and_sits_on_the_ring():
    first, again = ring_of_gaussians(1000, seed=5), ring_of_gaussians(1000, seed=5)
    assert torch.equal(first, again)
    assert not torch.equal(first, ring_of_gaussians(1000, seed=6))
    radius = first.norm(dim=1)
    assert abs(radius.mean().item() - 0.75) < 0.02 and radius.max() < 1.0


def test_buttons_redraw_the_picture_and_the_step_counts(playground):
    first_png, first_text = playground.image.value, playground.text.value
    assert "D steps: 0 · G steps: 0" in first_text and "modes covered:" in first_text
    assert Image.open(io.BytesIO(first_png)).size[0] > 300

    playground.buttons["step D"].click()
    assert playground.image.value != first_png
    assert "D steps: 1 · G steps: 0" in playground.text.value
    after_d = playground.image.value

    playground.buttons["step G"].click()
    assert playground.image.value != after_d
    assert "D steps: 1 · G steps: 1" in playground.text.value

    playground.buttons["train 100 steps"].click()
    assert "D steps: 101 · G steps: 101" in playground.text.value

    playground.buttons["reset"].click()
    assert playground.text.value == first_text
    assert playground.image.value == first_png, "reset did not bring back the untrained pair"


def test_the_same_clicks_give_the_same_picture():
    one, two = GANPlayground(n_show=100), GANPlayground(n_show=100)
    for game in (one, two):
        game.train(20)
        game.step_d()
    assert one.render() == two.render()
    assert one.status() == two.status()


def test_more_generator_steps_per_round_collapse_the_generator():
    """The notebook's contrast, at its own settings: one G step per D step spreads over the
    ring; three G steps per D step gather the points in one place."""
    steady, greedy = GANPlayground(n_show=300), GANPlayground(n_show=300, g_steps_per_d=3)
    steady.train(400)
    greedy.train(400)
    assert greedy.g_steps == 1200
    assert steady.coverage() >= 6
    assert greedy.coverage() <= 2


def test_click_latency_reports_the_median_of_real_clicks(playground):
    result = playground.click_latency(4)
    assert result["repeats"] == 4 and 0 < result["p50_ms"] <= result["p95_ms"]
    assert playground.d_steps + playground.g_steps == 6  # 2 warm-up clicks + 4 timed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: GANPlayground(n_modes=0), "n_modes must be an integer >= 1"),
        (lambda: GANPlayground(lr=-1.0), "lr must be a positive number"),
        (lambda: GANPlayground(g_steps_per_d=0), "g_steps_per_d must be an integer >= 1"),
        (lambda: GANPlayground(batch_size=1.5), "batch_size must be an integer"),
        (lambda: GANPlayground(n_show=20).train(0), "steps must be an integer >= 1"),
        (lambda: GANPlayground(n_show=20).click_latency(0), "repeats must be an integer"),
        (lambda: ring_of_gaussians(0), "n must be an integer >= 1"),
        (lambda: ring_of_gaussians(10, std=0), "std must be a positive number"),
        (lambda: mode_centres(0), "n_modes must be an integer >= 1"),
        (lambda: modes_covered(torch.zeros(5, 3)), r"shape \(n, 2\)"),
        (lambda: modes_covered(torch.zeros(0, 2)), "empty"),
        (lambda: modes_covered(torch.zeros(5, 2), min_share=0), "min_share"),
    ],
)
def test_bad_arguments_raise_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_playground_displays_as_its_widget_with_a_stable_text_form(playground):
    bundle = playground._repr_mimebundle_()
    assert bundle["text/plain"] == "GANPlayground(ring of 8 Gaussians, seed 0)"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    labels = [button.description for button in playground.buttons.values()]
    assert labels == ["step D", "step G", "train 100 steps", "reset"]
