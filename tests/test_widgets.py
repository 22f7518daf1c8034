"""Tests for course_lib.widgets: each widget's update, driven from Python as a slider would."""

import io
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import widgets
from course_lib.imaging import to_pil
from course_lib.models import (
    AutoencoderModel,
    Discriminator,
    Generator,
    VariationalAutoencoder,
)
from course_lib.runtime import use_threads
from course_lib.training import train_vae


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; extra threads mostly wait on a busy CPU."""
    threads = use_threads(1)
    yield
    use_threads(threads)


@pytest.fixture()
def vae() -> VariationalAutoencoder:
    """A tiny untrained VAE: random weights still decode different codes to different images."""
    torch.manual_seed(0)
    return VariationalAutoencoder(hidden_dim=16, latent_dim=4)


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


# --- latent sliders -------------------------------------------------------------------------


def test_moving_a_slider_changes_the_code_and_the_image(vae):
    sliders = widgets.latent_sliders(vae)
    before = sliders.image.value
    sliders.sliders[1].value = 2.5
    assert sliders.z.tolist() == [0.0, 2.5, 0.0, 0.0]
    assert sliders.image.value != before
    assert sliders.image.value == sliders.render(sliders.z)


def test_reset_restores_the_starting_code_and_image(vae):
    start = torch.tensor([0.5, -1.0, 0.25, 2.0])
    sliders = widgets.latent_sliders(vae, z=start)
    before = sliders.image.value
    sliders.sliders[0].value = -3.0
    sliders.sliders[3].value = 0.0
    sliders.reset_button.click()
    assert torch.equal(sliders.z, start)
    assert sliders.image.value == before


def test_only_the_first_dims_get_sliders_and_the_rest_keep_the_base_code():
    torch.manual_seed(0)
    model = AutoencoderModel(hidden_dim=16, latent_dim=12)
    base = np.arange(12, dtype=np.float32) / 10
    sliders = widgets.latent_sliders(model, z=base, dims=5, value_range=2.0)
    assert len(sliders.sliders) == 5
    sliders.sliders[4].value = -2.0
    assert sliders.z[4] == -2.0 and torch.allclose(sliders.z[5:], torch.as_tensor(base[5:]))
    assert repr(sliders) == "LatentSliders(AutoencoderModel, 5 of 12 dimensions)"


def test_render_honours_the_scale(vae):
    assert png_size(widgets.latent_sliders(vae).render(torch.zeros(4))) == (224, 224)
    small = widgets.latent_sliders(vae, scale=3)
    assert png_size(small.image.value) == (84, 84)
    assert small.frame().size == (84, 84) and small.frame().mode == "L"


def test_latent_sliders_work_for_a_generator():
    generator = Generator(noise_dim=10, hidden_dim=16)
    sliders = widgets.latent_sliders(generator)
    assert repr(sliders) == "LatentSliders(Generator, 8 of 10 dimensions)"
    before = sliders.image.value
    sliders.sliders[7].value = 3.0
    assert sliders.image.value != before


def test_rendering_leaves_the_model_in_its_training_mode(vae):
    vae.train()
    widgets.latent_sliders(vae)
    assert vae.training


# --- interpolation --------------------------------------------------------------------------


@pytest.fixture()
def ends() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return 3 * torch.randn(4, generator=generator), 3 * torch.randn(4, generator=generator)


def test_interpolation_ends_are_the_decoded_endpoints(vae, ends):
    start, end = ends
    slider = widgets.interpolation_slider(vae, start, end, steps=9, scale=8)
    with torch.no_grad():
        expected_start = to_pil(vae.decode(start[None]), scale=8)
        expected_end = to_pil(vae.decode(end[None]), scale=8)
    for method in ("linear", "slerp"):
        first, last = slider.frame(0.0, method), slider.frame(1.0, method)
        assert first.size == (224, 224)
        # a batch and a single code may differ in the last float bit: allow one grey level
        assert np.abs(pixels(first) - pixels(expected_start)).max() <= 1
        assert np.abs(pixels(last) - pixels(expected_end)).max() <= 1


def test_slerp_and_linear_differ_in_the_middle(vae, ends):
    slider = widgets.interpolation_slider(vae, *ends, steps=9)
    assert not np.array_equal(
        pixels(slider.frame(0.5, "linear")), pixels(slider.frame(0.5, "slerp"))
    )


def test_moving_t_and_switching_method_update_the_images(vae, ends):
    slider = widgets.interpolation_slider(vae, *ends, steps=9, method="linear")
    image, strip = slider.image.value, slider.strip.value
    slider.slider.value = 0.5
    assert slider.image.value != image
    slider.method_buttons.value = "slerp"
    assert slider.strip.value != strip
    assert Image.open(io.BytesIO(slider.image.value)).tobytes() == slider.frame(0.5).tobytes()


def test_each_path_is_decoded_once_per_method(vae, ends):
    with mock.patch.object(vae, "decode", wraps=vae.decode) as decode:
        slider = widgets.interpolation_slider(vae, *ends, steps=16)
        for t in np.linspace(0, 1, 10):
            slider.slider.value = float(t)
        slider.method_buttons.value = "linear"
        for t in np.linspace(1, 0, 10):
            slider.slider.value = float(t)
        slider.method_buttons.value = "slerp"
        slider.slider.value = 0.25
    assert decode.call_count == 2


# --- temperature ----------------------------------------------------------------------------


def test_temperature_zero_gives_the_same_image_n_times(vae):
    slider = widgets.temperature_slider(vae, n=16, seed=0, scale=3)
    frozen = slider.samples(0.0)
    assert frozen.shape == (16, 1, 28, 28)
    assert torch.equal(frozen, frozen[:1].expand_as(frozen))
    assert not torch.equal(slider.samples(1.0), slider.samples(1.0)[:1].expand(16, -1, -1, -1))
    # 8 tiles of 28 px plus 2 px padding per row, two rows, all at 3x
    assert slider.render(0.0).size == ((8 * 30 + 2) * 3, (2 * 30 + 2) * 3)


def test_temperature_slider_keeps_the_noise_and_updates_the_image(vae):
    slider = widgets.temperature_slider(vae, n=4, seed=3)
    assert torch.equal(slider.samples(1.0), vae.sample(4, seed=3))
    before = slider.image.value
    slider.slider.value = 2.0
    assert slider.image.value != before
    assert repr(slider) == "TemperatureSlider(VariationalAutoencoder, 4 samples, seed 3)"


# --- pattern designer -----------------------------------------------------------------------


def test_pattern_size_follows_the_sliders_and_uses_the_colour():
    designer = widgets.pattern_designer(size=128)
    assert designer.render().size == (128, 128)
    designer.pattern.value = "gradient"
    designer.width.value, designer.height.value = 96, 64
    designer.primary.value = "#00FF00"
    assert png_size(designer.image.value) == (96, 64)
    top_left = Image.open(io.BytesIO(designer.image.value)).convert("RGB").getpixel((0, 0))
    assert top_left == (0, 255, 0)
    designer.secondary.value = "navy"  # a CSS name the picker allows works too
    assert designer.message.value == ""


def test_a_bad_colour_shows_a_message_instead_of_raising():
    designer = widgets.pattern_designer()
    image = designer.image.value
    designer.primary.value = "transparent"  # the picker accepts it, but it has no RGB value
    assert "transparent" in designer.message.value
    assert designer.image.value == image
    with pytest.raises(ValueError, match="colour"):
        designer.render()
    designer.primary.value = "#123456"
    assert designer.message.value == ""


# --- training monitor -----------------------------------------------------------------------


def test_monitor_keeps_records_and_redraws_every_n_epochs():
    monitor = widgets.TrainingMonitor(keys=("loss", "kl"), every=2)
    for epoch in range(1, 6):
        monitor({"epoch": epoch, "loss": 100.0 / epoch, "kl": 5.0})
    assert [r["epoch"] for r in monitor.records] == [1, 2, 3, 4, 5]
    assert monitor.redraws == 2
    assert bytes(monitor.plot.value).startswith(b"\x89PNG")
    assert "epoch 4" in monitor.status.value
    with pytest.raises(ValueError, match="no \\['loss'\\]"):
        widgets.TrainingMonitor()({"epoch": 1, "d_loss": 0.7})


def test_monitor_as_the_callback_of_a_real_training_run():
    torch.manual_seed(0)
    model = VariationalAutoencoder(hidden_dim=16, latent_dim=4)
    data = torch.rand(128, 1, 28, 28)  # any pixels in [0, 1] will do to test the callback
    monitor = widgets.TrainingMonitor(
        sample_fn=lambda: model.sample(16, seed=0), keys=("recon", "kl"), n_samples=8
    )
    history = train_vae(model, data, epochs=2, batch_size=64, progress=False, callback=monitor)
    assert monitor.records == history
    assert monitor.redraws == 2
    assert png_size(monitor.samples.value) == ((8 * 30 + 2) * 3, (30 + 2) * 3)
    assert repr(monitor) == "TrainingMonitor(keys=['recon', 'kl'], every=1, with samples)"


# --- display, errors and latency ------------------------------------------------------------


def test_display_text_is_the_deterministic_repr(vae, ends):
    objects = [
        widgets.latent_sliders(vae),
        widgets.interpolation_slider(vae, *ends),
        widgets.temperature_slider(vae),
        widgets.pattern_designer(),
        widgets.TrainingMonitor(),
    ]
    for obj in objects:
        bundle = obj._repr_mimebundle_()
        assert bundle["text/plain"] == repr(obj)
        assert "application/vnd.jupyter.widget-view+json" in bundle
        # displaying .widget directly shows ipywidgets' text: it must not reach the PNG bytes
        assert "PNG" not in obj.widget._repr_mimebundle_()["text/plain"]


def test_bad_inputs_raise_clear_errors(vae, ends):
    with pytest.raises(ValueError, match="length 4"):
        widgets.latent_sliders(vae, z=torch.zeros(5))
    with pytest.raises(ValueError, match="latent_dim and a decode"):
        widgets.latent_sliders(Discriminator(hidden_dim=8))
    with pytest.raises(ValueError, match="latent_dim and a decode"):
        widgets.interpolation_slider(object(), [0.0], [1.0])
    with pytest.raises(ValueError, match="steps"):
        widgets.interpolation_slider(vae, *ends, steps=1)
    with pytest.raises(ValueError, match="unknown interpolation method"):
        widgets.interpolation_slider(vae, *ends, method="cubic")
    with pytest.raises(ValueError, match="z_end"):
        widgets.interpolation_slider(vae, ends[0], torch.zeros(3))
    with pytest.raises(ValueError, match="n must be"):
        widgets.temperature_slider(vae, n=0)
    with pytest.raises(ValueError, match="size"):
        widgets.pattern_designer(size=32)
    with pytest.raises(ValueError, match="every"):
        widgets.TrainingMonitor(every=0)
    with pytest.raises(ValueError, match="measure_latency"):
        widgets.measure_latency(object())


def test_slider_updates_are_fast(vae, ends):
    for obj in (widgets.latent_sliders(vae), widgets.interpolation_slider(vae, *ends)):
        image = obj.image.value
        latency = widgets.measure_latency(obj, repeats=20)
        assert latency["repeats"] == 20 and latency["p50_ms"] <= latency["p95_ms"]
        assert latency["p50_ms"] < 200  # typically ~1 ms; generous for a busy CI machine
        assert obj.image.value == image  # the slider is put back where it was


def test_training_monitor_samples_the_watched_model_every_redraw():
    monitor = widgets.TrainingMonitor(keys=("loss",), sample_model=True, n_samples=4)
    assert "with samples" in repr(monitor)
    model = VariationalAutoencoder(hidden_dim=16, latent_dim=4)
    monitor({"epoch": 1, "loss": 1.0})  # nothing watched yet: the plot still draws
    assert monitor.samples.value == b""
    monitor.watch(model)
    monitor({"epoch": 2, "loss": 0.5})
    assert bytes(monitor.samples.value).startswith(b"\x89PNG")
