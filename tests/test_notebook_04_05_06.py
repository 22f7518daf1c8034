"""Library pieces behind notebooks 04-06: the lesson's generate_image / interpolate_images, the
latent sliders' exact reset, the pattern designer's messages, free bits against posterior
collapse, and the notebooks' core-step cells agreeing with the library."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from PIL import Image

from course_lib import widgets
from course_lib.imaging import generate_image, to_pil
from course_lib.latent import LABEL_COLOURS, LatentSpaceExplorer, interpolate_images, slerp
from course_lib.metrics import active_units, kl_per_dimension
from course_lib.models import Discriminator, Generator, VariationalAutoencoder
from course_lib.training import free_bits_kl, train_vae

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture
def vae() -> VariationalAutoencoder:
    torch.manual_seed(0)
    return VariationalAutoencoder(hidden_dim=16, latent_dim=4).eval()


def core_cell(notebook: str, tag: str = "core-step") -> str:
    """The source of the notebook's one code cell tagged ``tag``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    tagged = [c for c in cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{notebook} needs exactly one cell tagged {tag!r}"
    return "".join(tagged[0]["source"])


# --- generate_image / interpolate_images (notebook 04) ---------------------------------------


def test_generate_image_draws_from_the_models_prior_and_repeats_with_a_seed(vae):
    first, again, other = (generate_image(vae, seed=s, scale=2) for s in (3, 3, 4))
    assert first.size == (56, 56) and first.mode == "L"
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    with torch.no_grad():
        expected = to_pil(vae.decode(torch.zeros(1, 4)))
    # temperature 0 scales every code to the prior's centre
    assert np.array_equal(np.asarray(generate_image(vae, seed=5, temperature=0)), expected)


def test_generate_image_keeps_the_training_mode_and_refuses_a_critic(vae):
    vae.train()
    generate_image(vae, seed=0)
    assert vae.training
    with pytest.raises(ValueError, match="no sample"):
        generate_image(Discriminator(hidden_dim=8))


def test_interpolate_images_ends_at_the_two_decodes(vae):
    a, b = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    strip = interpolate_images(vae, a, b, steps=7)
    assert strip.shape == (7, 1, 28, 28)
    with torch.no_grad():
        ends = vae.decode(torch.stack([a, b]))
        middle = vae.decode(torch.as_tensor(slerp(a, b, 0.5), dtype=torch.float32)[None])
    assert torch.allclose(strip[0], ends[0]) and torch.allclose(strip[-1], ends[1])
    assert torch.allclose(strip[3], middle[0], atol=1e-6)
    linear = interpolate_images(vae, a, b, steps=7, method="linear")
    assert not torch.allclose(linear[3], strip[3])


def test_interpolate_images_works_for_a_gan_and_checks_the_code_length():
    torch.manual_seed(0)
    generator = Generator(noise_dim=6, hidden_dim=8).eval()
    assert interpolate_images(generator, torch.zeros(6), torch.ones(6), steps=3).shape[0] == 3
    with pytest.raises(ValueError, match="6"):
        interpolate_images(generator, torch.zeros(5), torch.ones(5))


# --- latent sliders (notebook 05) ----------------------------------------------------------


def browser_snap(value: float, low: float, high: float, step: float) -> float:
    """What JupyterLab's slider (noUiSlider) sends back for ``value``, in the same double
    arithmetic: percent of the range, rounded to the step's percent, mapped back to a value."""
    step_pct = 100 * step / (high - low)
    percent = 100 * (value - low) / (high - low)
    if percent >= 100:
        return high
    snapped = round(percent / step_pct) * step_pct
    return snapped * (100 / 100) * (high - low) / 100 + low


def test_slider_values_survive_the_browsers_snapping(vae):
    code = torch.tensor([0.0809, -1.234567, 2.71828, -0.3333])
    sliders = widgets.latent_sliders(vae, z=code)
    for slider in sliders.sliders:
        assert browser_snap(slider.value, slider.min, slider.max, slider.step) == slider.value
    # the code the sliders hold is the given one on the slider grid, within half a step
    assert (sliders.z - code).abs().max() <= sliders.STEP / 2


def test_reset_restores_the_exact_code_with_one_redraw(vae):
    sliders = widgets.latent_sliders(vae, z=torch.tensor([0.0809, -1.23, 2.7, 0.4]))
    start, picture = sliders.z.clone(), sliders.image.value
    for slider in sliders.sliders:
        slider.value = -2.5
    before = sliders.redraws
    sliders.reset_button.click()
    assert torch.equal(sliders.z, start) and torch.equal(sliders.z, sliders.base)
    assert sliders.redraws == before + 1
    assert sliders.image.value == picture


def test_a_code_outside_the_range_widens_it_to_a_power_of_two(vae):
    sliders = widgets.latent_sliders(vae, z=torch.tensor([5.3, 0.0, 0.0, 0.0]))
    assert sliders.sliders[0].max == 8.0 and sliders.sliders[0].min == -8.0
    assert browser_snap(sliders.sliders[0].value, -8.0, 8.0, sliders.STEP) == 5.296875


# --- maps (notebook 05) --------------------------------------------------------------------


def test_four_and_nine_get_clearly_different_colours():
    four, nine = np.array(to_rgb(LABEL_COLOURS[4])), np.array(to_rgb(LABEL_COLOURS[9]))
    assert np.abs(four - nine).sum() > 0.8
    assert len(set(LABEL_COLOURS)) == 10


def test_static_map_draws_the_same_points_as_the_interactive_one(vae):
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 10
    explorer = LatentSpaceExplorer(vae)
    explorer.collect_latent_representations([(images, labels)], num_samples=40)
    figure = explorer.static_figure_2d("pca")
    axes = figure.axes[0]
    assert axes.get_xlabel() == "PC 1" and "PCA" in axes.get_title()
    drawn = np.concatenate([c.get_offsets() for c in axes.collections])
    interactive = explorer.figure_2d("pca")
    points = np.concatenate([np.column_stack([t.x, t.y]) for t in interactive.data])
    assert np.allclose(np.sort(drawn, axis=0), np.sort(points, axis=0))
    assert interactive.data[4].marker.color == LABEL_COLOURS[4]


# --- pattern designer (notebook 06) --------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_an_invalid_seed_names_the_field_and_other_controls_still_work():
    designer = widgets.pattern_designer(size=128)
    designer.pattern.value = "noise"
    designer.seed.value = -5
    assert "seed" in designer.message.value and "-5" in designer.message.value
    designer.width.value = 96  # still redraws, with the last good seed
    assert png_size(designer.image.value) == (96, 128)
    with pytest.raises(ValueError, match="seed"):
        designer.render()
    designer.seed.value = 3
    assert designer.message.value == ""


def test_a_typed_colour_applies_and_a_bad_one_shows_a_message():
    designer = widgets.pattern_designer(size=64)
    assert designer.primary.continuous_update is False  # sent on Enter, not on every key
    designer.pattern.value = "gradient"
    designer.primary.value = "#00ff00"
    top_left = Image.open(io.BytesIO(designer.image.value)).convert("RGB").getpixel((0, 0))
    assert top_left == (0, 255, 0)
    assert designer.primary_picker.value == "#00ff00"
    designer.primary.value = "blurple"
    assert "primary colour" in designer.message.value and "blurple" in designer.message.value
    designer.height.value = 72  # other controls keep working
    assert png_size(designer.image.value) == (64, 72)
    designer.secondary_picker.value = "#123456"  # the swatch writes the typed field
    assert designer.secondary.value == "#123456"


def test_the_title_shows_the_size_drawn_and_wide_images_wrap():
    designer = widgets.pattern_designer(size=256)
    designer.width.value, designer.height.value = 512, 128
    assert "512x128" in designer.title.value
    assert designer.image.layout.max_width == "100%"
    assert designer.widget.children[1].layout.flex_flow == "row wrap"


# --- free bits (notebook 06) ---------------------------------------------------------------


def test_free_bits_charges_each_dimension_at_least_its_allowance():
    mu = torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    logvar = torch.zeros(2, 2)
    # KL per dimension: 0 and 2 nats; with 0.5 free nats the first is charged 0.5
    assert free_bits_kl(mu, logvar, 0.0).item() == pytest.approx(2.0)
    assert free_bits_kl(mu, logvar, 0.5).item() == pytest.approx(2.5)


def test_with_free_bits_a_dimension_below_its_allowance_feels_no_kl_pull():
    """One full-batch step of train_vae with a huge allowance equals a step on the
    reconstruction alone (every dimension is below it), and differs from the plain ELBO's."""
    import copy

    import torch.nn.functional as F

    data = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    trained = VariationalAutoencoder(hidden_dim=16, latent_dim=4)
    plain, by_hand = copy.deepcopy(trained), copy.deepcopy(trained)
    train_vae(trained, data, epochs=1, batch_size=32, seed=0, progress=False, free_bits=1e6)
    train_vae(plain, data, epochs=1, batch_size=32, seed=0, progress=False)

    torch.manual_seed(0)  # what train_vae does first, so the reparameterization noise matches
    order = torch.randperm(32, generator=torch.Generator().manual_seed(0))
    x = data[order]
    by_hand.train()
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-3)
    reconstructed, _, _ = by_hand(x)
    loss = F.binary_cross_entropy(reconstructed, x, reduction="sum") / 32
    loss.backward()
    optimizer.step()
    for mine, theirs in zip(by_hand.parameters(), trained.parameters(), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6)
    # the plain ELBO's KL does pull (Adam's first step is ~lr * sign, so compare exactly)
    pairs = zip(trained.parameters(), plain.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ValueError, match="free_bits"):
        train_vae(trained, data, epochs=1, progress=False, free_bits=-1)


def test_kl_per_dimension_and_active_units(vae):
    images = torch.rand(30, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    per_dim = kl_per_dimension(vae, images)
    with torch.no_grad():
        mu, logvar = vae.encode(images)
    expected = (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).mean(0)
    assert torch.allclose(per_dim, expected)
    threshold = float(per_dim.sort().values[1])  # exactly two dimensions at or below it
    assert active_units(vae, images, threshold=threshold) == 2
    with pytest.raises(ValueError, match="VariationalAutoencoder"):
        kl_per_dimension(Generator(noise_dim=4, hidden_dim=8), images)


# --- the notebooks' own cells ----------------------------------------------------------------


def test_notebook_06_free_bits_cell_matches_the_library(vae, capsys):
    from course_lib.checks import check_value

    batch = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    namespace = {"torch": torch, "pattern_vae": vae, "originals": batch, "check_value": check_value}
    exec(core_cell("06_pattern_generation.ipynb"), namespace)
    with torch.no_grad():
        mu, logvar = vae.encode(batch)
    assert namespace["charged"].item() == pytest.approx(free_bits_kl(mu, logvar, 2.0).item())
    assert "[pass]" in capsys.readouterr().out


def test_notebook_06_solution_passes_its_check(capsys):
    from course_lib.checks import check_seed_free_patterns
    from course_lib.patterns import PATTERN_TYPES, create_pattern

    namespace = {
        "np": np,
        "PATTERN_TYPES": PATTERN_TYPES,
        "create_pattern": create_pattern,
        "BLUE": "#2b6cb0",
        "ORANGE": "#dd6b20",
        "check_seed_free_patterns": check_seed_free_patterns,
    }
    exec(core_cell("06_pattern_generation.ipynb", "solution"), namespace)
    assert capsys.readouterr().out.startswith("Correct")


def test_notebook_04_slerp_cell_matches_the_library():
    namespace = {"torch": torch}
    source = core_cell("04_image_generation.ipynb")
    exec(source[: source.index("from course_lib.latent import slerp")], namespace)
    a, b = torch.randn(2, 32, generator=torch.Generator().manual_seed(3))
    for t in (0.0, 0.25, 0.5, 0.9, 1.0):
        mine = namespace["my_slerp"](a, b, t)
        assert torch.allclose(mine, torch.as_tensor(slerp(a, b, t), dtype=torch.float32), atol=1e-5)


@pytest.mark.parametrize(
    ("notebook", "tag"),
    [
        ("04_image_generation.ipynb", "solution"),
        ("04_image_generation.ipynb", "solution-2"),
        ("05_latent_space.ipynb", "solution"),
    ],
)
def test_exercise_solutions_pass_their_checks(notebook, tag, capsys):
    import base64
    import math

    from course_lib.checks import check_answer
    from course_lib.latent import interpolate

    a, b = np.zeros(64), np.zeros(64)
    a[0], b[1] = 8.0, 8.0
    namespace = {
        "np": np,
        "math": math,
        "torch": torch,
        "base64": base64,
        "check_answer": check_answer,
        "midpoint": interpolate(a, b, steps=3, method="linear")[1],
    }
    exec(core_cell(notebook, tag), namespace)
    assert "Correct" in capsys.readouterr().out
