"""Tests for course_lib.styles: the style VAE, augmentation, uploads, training, report, files."""

import io
import json
import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import styles
from course_lib.styles import (
    StyleResult,
    StyleVAE,
    augment,
    brief_report,
    latent_traversal,
    load_style,
    load_style_images,
    make_sample_styles,
    save_style,
    train_style,
    validate_image_bytes,
    variations,
)

REPORT_KEYS = {
    "n_originals",
    "n_samples",
    "reconstruction_rms",
    "reconstruction_psnr_db",
    "variety_samples",
    "variety_originals",
    "variety_ratio",
    "nearest_min",
    "nearest_median",
    "copy_distance",
    "copy_fraction",
    "colour_difference",
    "sharpness_ratio",
    "method",
    "training_seconds",
    "epochs",
    "training_images",
    "final_loss",
}


def _images(n: int = 6, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Random blocky colour images: different from each other, with some structure."""
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.rand(n, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(blocks, size=(size, size), mode="nearest")


def _png_bytes(size: tuple[int, int] = (8, 8), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 60) if mode == "RGB" else 1).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def trained() -> StyleResult:
    """One short training run shared by the tests that only read its result."""
    return train_style(
        _images(6), method="vae", max_epochs=2, time_budget=None, n_variants=64, progress=False
    )


# ---- the model ----------------------------------------------------------------------------------


def test_style_vae_shapes_ranges_and_seeded_samples():
    torch.manual_seed(0)
    model = StyleVAE(latent_dim=5, width=8).eval()
    x = _images(3)
    reconstructed, mu, logvar = model(x)
    assert reconstructed.shape == (3, 3, 32, 32)
    assert mu.shape == logvar.shape == (3, 5)
    assert model.decode(torch.zeros(2, 5)).shape == (2, 3, 32, 32)
    images = model.sample(4, seed=7)
    assert images.shape == (4, 3, 32, 32)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, model.sample(4, seed=7))
    assert not torch.equal(images, model.sample(4, seed=8))
    assert json.loads(json.dumps(model.config)) == {"latent_dim": 5, "width": 8}


def test_style_vae_refuses_wrong_shapes():
    model = StyleVAE(latent_dim=4, width=8)
    with pytest.raises(ValueError, match=r"\(n, 3, 32, 32\)"):
        model.encode(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        model.decode(torch.rand(2, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        StyleVAE(latent_dim=0)


# ---- augmentation -------------------------------------------------------------------------------


def test_augment_is_deterministic_per_seed():
    images = _images(5, size=48)
    first = augment(images, 20, seed=3)
    assert first.shape == (20, 3, 32, 32)
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, augment(images, 20, seed=3))
    assert not torch.equal(first, augment(images, 20, seed=4))


def test_augment_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    augment(_images(5), 10, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_augmented_variants_differ_from_each_other_and_from_the_inputs():
    images = _images(5)
    variants = augment(images, 40, seed=0)
    flat = variants.reshape(40, -1)
    pairwise = torch.cdist(flat, flat) + torch.eye(40) * 1e9
    assert pairwise.min() > 0  # no two variants are identical
    # each variant i comes from input i % 5, and none is an unchanged copy of it
    sources = images[torch.arange(40) % 5]
    assert (variants - sources).abs().amax((1, 2, 3)).min() > 0.01


# ---- loading images and checking uploads --------------------------------------------------------


def _write_pngs(folder, n: int, size: tuple[int, int] = (40, 20)) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.new("RGB", size, (20 * i, 100, 200)).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("n", [4, 11])
def test_load_style_images_needs_5_to_10_images(tmp_path, n):
    _write_pngs(tmp_path, n)
    with pytest.raises(ValueError, match=f"5 to 10 sample images, got {n}"):
        load_style_images(tmp_path)


def test_load_style_images_crops_to_square_and_resizes(tmp_path):
    paths = _write_pngs(tmp_path / "style", 5, size=(40, 20))
    from_folder = load_style_images(tmp_path / "style", size=16)
    assert from_folder.shape == (5, 3, 16, 16)
    assert from_folder.min() >= 0 and from_folder.max() <= 1
    assert torch.allclose(from_folder[:, 2], torch.full((5, 16, 16), 200 / 255))
    assert torch.equal(load_style_images(paths, size=16), from_folder)
    pil_images = [Image.open(p) for p in paths]
    assert torch.equal(load_style_images(pil_images, size=16), from_folder)


def test_load_style_images_names_an_unreadable_file(tmp_path):
    paths = _write_pngs(tmp_path, 4)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        load_style_images([*paths, bad])


def test_validate_image_bytes_accepts_the_four_web_formats():
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        image = validate_image_bytes(_png_bytes(fmt=fmt))
        assert image.format == fmt
        assert image.size == (8, 8)


def test_validate_image_bytes_reads_the_content_not_the_name():
    with pytest.raises(ValueError, match="not an image"):
        validate_image_bytes(b"hello, I am a text file called picture.png")
    with pytest.raises(ValueError, match="BMP images are not accepted"):
        validate_image_bytes(_png_bytes(fmt="BMP"))


def test_validate_image_bytes_refuses_big_files_and_long_sides():
    with pytest.raises(ValueError, match="5.0 MB; the limit is 5 MB"):
        validate_image_bytes(b"\x89PNG" + bytes(5 * 1024 * 1024))
    with pytest.raises(ValueError, match="5000x10 pixels"):
        validate_image_bytes(_png_bytes(size=(5000, 10)))


def test_validate_image_bytes_refuses_a_truncated_file():
    data = _png_bytes(size=(64, 64), fmt="JPEG")
    with pytest.raises(ValueError, match="damaged or truncated"):
        validate_image_bytes(data[: len(data) // 2])


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("limit", [1000, 2000])  # Pillow: error above 2x the limit, warning above
def test_validate_image_bytes_refuses_decompression_bombs(monkeypatch, limit):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ValueError, match="decompression bomb"):
        validate_image_bytes(_png_bytes(size=(50, 50)))  # 2,500 pixels


# ---- training and the report --------------------------------------------------------------------


def test_train_style_returns_a_model_history_and_a_json_report(trained):
    assert isinstance(trained.model, StyleVAE)
    assert not trained.model.training
    assert trained.originals.shape == (6, 3, 32, 32)
    assert len(trained.history) == 2
    assert set(trained.report) == REPORT_KEYS
    assert json.loads(json.dumps(trained.report, allow_nan=False)) == trained.report
    assert trained.report["method"] == "vae"
    for key, value in trained.report.items():
        if key != "method":
            assert isinstance(value, (int, float)) and math.isfinite(value), key
    assert trained.report["epochs"] == 2
    assert 0 <= trained.report["copy_fraction"] <= 1
    assert trained.model.dimension_kl.shape == (16,)
    assert trained.model.dimension_kl.sum() > 0


def test_train_style_reports_progress_and_restores_the_thread_count():
    records = []
    threads = torch.get_num_threads()
    result = train_style(
        _images(5, size=40),
        method="vae",
        max_epochs=3,
        time_budget=None,
        n_variants=32,
        progress=False,
        callback=records.append,
    )
    assert torch.get_num_threads() == threads
    assert [r["epoch"] for r in records] == [1, 2, 3]
    progress = [r["progress"] for r in records]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert {"loss", "recon", "kl"} <= set(records[0])
    assert result.originals.shape == (5, 3, 32, 32)  # inputs of any size are resized


def test_train_style_respects_its_time_budget():
    start = time.perf_counter()
    result = train_style(_images(5), time_budget=1.0, progress=False)
    assert time.perf_counter() - start < 10
    assert result.report["training_seconds"] < 3


def test_train_style_is_reproducible():
    kwargs = {"max_epochs": 1, "time_budget": None, "n_variants": 32, "progress": False}
    a, b = train_style(_images(5), **kwargs), train_style(_images(5), **kwargs)
    assert torch.equal(a.model.sample(2, seed=0), b.model.sample(2, seed=0))


def test_train_style_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\(n, 3, H, W\)"):
        train_style(torch.rand(5, 32, 32), max_epochs=1)
    with pytest.raises(ValueError, match="at least 2"):
        train_style(torch.rand(1, 3, 32, 32), max_epochs=1)
    with pytest.raises(ValueError, match="time_budget, max_epochs"):
        train_style(_images(5), time_budget=None)


def test_brief_report_states_the_numbers(trained):
    text = brief_report(trained.report)
    report = trained.report
    assert f"PSNR {report['reconstruction_psnr_db']:.1f} dB" in text
    assert f"ratio {report['variety_ratio']:.2f}" in text
    assert f"median {report['nearest_median']:.2f}" in text
    assert "6 samples" in text


def test_brief_report_wording_follows_the_numbers(trained):
    good = {**trained.report, "reconstruction_psnr_db": 25.0, "variety_ratio": 0.9}
    good["copy_fraction"] = 0.0
    assert "close" in brief_report(good) and "about as varied" in brief_report(good)
    assert "none is a copy" in brief_report(good)
    bad = {**good, "reconstruction_psnr_db": 9.0, "variety_ratio": 0.1, "copy_fraction": 0.8}
    assert "far off" in brief_report(bad) and "nearly all alike" in brief_report(bad)
    assert "memorised" in brief_report(bad)


# ---- variations and traversals ------------------------------------------------------------------


def test_variations_are_seeded_and_temperature_zero_is_one_image(trained):
    a = variations(trained.model, 4, seed=1)
    assert a.shape == (4, 3, 32, 32)
    assert torch.equal(a, variations(trained.model, 4, seed=1))
    still = variations(trained.model, 3, seed=1, temperature=0.0)
    assert torch.equal(still[0], still[2])


def test_latent_traversal_walks_the_most_used_dimension(trained):
    model = trained.model
    walk = latent_traversal(model, steps=5, seed=2)
    assert walk.shape == (5, 3, 32, 32)
    assert not torch.equal(walk[0], walk[-1])
    most_used = int(model.dimension_kl.argmax())
    assert torch.equal(walk, latent_traversal(model, dim=most_used, steps=5, seed=2))
    with pytest.raises(ValueError, match="dim must be"):
        latent_traversal(model, dim=16)


def test_latent_traversal_of_an_untrained_model_uses_a_random_direction():
    torch.manual_seed(0)
    model = StyleVAE(latent_dim=4, width=8)
    walk = latent_traversal(model, steps=3, seed=0)
    assert walk.shape == (3, 3, 32, 32)
    assert torch.equal(walk, latent_traversal(model, steps=3, seed=0))


# ---- saving and loading -------------------------------------------------------------------------


def test_a_style_file_with_a_hostile_width_is_refused_before_building(
    trained, tmp_path, monkeypatch
):
    from course_lib.models import MODEL_CLASSES

    path = save_style(trained, tmp_path / "big.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["width"] = 10**6  # would need terabytes if the model were built
    torch.save(payload, path)
    built = []
    real = MODEL_CLASSES["StyleVAE"]

    class Spy(real):
        def __init__(self, *args, **kwargs):
            if torch.empty(0).device.type != "meta":
                built.append(kwargs)
            super().__init__(*args, **kwargs)

    Spy.__module__, Spy.__name__ = real.__module__, real.__name__  # a course model still
    monkeypatch.setitem(MODEL_CLASSES, "StyleVAE", Spy)
    with pytest.raises(ValueError, match="do not fit|needs"):
        load_style(path)
    assert built == []  # refused from the shapes alone, nothing allocated


def test_save_and_load_round_trip(trained, tmp_path):
    path = save_style(trained, tmp_path / "styles" / "mine.pt")
    assert [p.name for p in path.parent.iterdir()] == ["mine.pt"]  # no temporary file left
    loaded = load_style(path)
    assert not loaded.model.training
    assert loaded.report == trained.report
    assert loaded.history == json.loads(json.dumps(trained.history))
    assert torch.allclose(loaded.originals, trained.originals, atol=1 / 255)
    assert torch.equal(loaded.model.sample(3, seed=0), trained.model.sample(3, seed=0))
    assert torch.equal(loaded.model.dimension_kl, trained.model.dimension_kl)


class _WritesAMarker:
    """Unpickling this object opens (and so creates) a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": styles.FORMAT, "format_version": 1, "x": _WritesAMarker(marker)}, path)
    torch.load(path, weights_only=False)["x"].close()  # an unsafe load really runs the code
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match="refusing"):
        load_style(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload", [{"format": "something else"}, {"format": styles.FORMAT, "format_version": 2}]
)
def test_files_that_are_not_styles_are_refused(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="other.pt"):
        load_style(path)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="other.pt"):
        load_style(path)
    with pytest.raises(FileNotFoundError):
        load_style(tmp_path / "missing.pt")


# ---- the shipped sample styles ------------------------------------------------------------------


def test_make_sample_styles_is_deterministic(tmp_path):
    first = make_sample_styles(tmp_path / "a", seed=0)
    second = make_sample_styles(tmp_path / "b", seed=0)
    assert len(first) == 8 * len(styles._SAMPLE_STYLES)
    for a, b in zip(first, second, strict=True):
        assert a.relative_to(tmp_path / "a") == b.relative_to(tmp_path / "b")
        assert a.read_bytes() == b.read_bytes()
    with Image.open(first[0]) as image:
        assert image.size == (96, 96)
    assert sum(p.stat().st_size for p in first) < 300_000


def test_the_shipped_samples_are_what_make_sample_styles_draws(tmp_path):
    fresh = make_sample_styles(tmp_path, seed=0)
    for path in fresh:
        shipped = styles.SAMPLE_STYLES_DIR / path.relative_to(tmp_path)
        with Image.open(path) as a, Image.open(shipped) as b:
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    for style in styles._SAMPLE_STYLES:
        assert load_style_images(styles.SAMPLE_STYLES_DIR / style).shape == (8, 3, 32, 32)


def test_transparent_pixels_become_white_not_black():
    from PIL import Image

    from course_lib.styles import _to_square_tensor

    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert torch.allclose(_to_square_tensor(clear, 8), torch.ones(3, 8, 8))


def test_a_png_with_a_garbled_chunk_is_a_clear_value_error():
    from course_lib.styles import validate_image_bytes

    # A 1x1 PNG whose IDAT chunk is 4 bytes too short: Pillow raises SyntaxError on decoding.
    broken = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
        b"\x00\x00\x00\x90wS\xde\x00\x00\x00\x04IDATx\x9cc\x88o:\x04\x00\x02\xe7\x01"
        b"\xa4\x0c\xe7=\xb1\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    with pytest.raises(ValueError, match="damaged"):
        validate_image_bytes(broken)


def test_a_style_round_trips_through_an_open_file_and_old_files_still_load(trained, tmp_path):
    import io

    buffer = io.BytesIO()
    save_style(trained, buffer)  # what the web app stores, with no temporary file
    buffer.seek(0)
    loaded = load_style(buffer)
    assert torch.equal(loaded.model.sample(2, seed=0), trained.model.sample(2, seed=0))
    assert loaded.report == trained.report
    # A file of the first style format (before styles became checkpoints) still loads.
    legacy = tmp_path / "legacy.pt"
    torch.save(
        {
            "format": styles.LEGACY_FORMAT,
            "format_version": 1,
            "config": dict(trained.model.config),
            "state_dict": trained.model.state_dict(),
            "originals": (trained.originals * 255).round().to(torch.uint8),
            "report": trained.report,
            "history": [],
        },
        legacy,
    )
    old = load_style(legacy)
    assert torch.equal(old.model.sample(2, seed=0), trained.model.sample(2, seed=0))
    assert torch.allclose(old.originals, trained.originals, atol=1 / 255)
    # A checkpoint of another model is not a style.
    from course_lib import checkpoints
    from course_lib.models import Generator

    checkpoints.save(Generator(noise_dim=2, hidden_dim=4), tmp_path / "gan.pt")
    with pytest.raises(ValueError, match="not a style"):
        load_style(tmp_path / "gan.pt")


# ---- the other method: an autoencoder plus a latent flow on its codes ----------------------------


@pytest.fixture(scope="module")
def trained_flow() -> StyleResult:
    """One short run of the flow method, shared by the tests that only read it."""
    return train_style(
        _images(6), method="flow", max_epochs=2, time_budget=None, n_variants=64, progress=False
    )


def test_the_default_style_is_the_vae_and_flow_is_a_latent_flow_on_a_style_autoencoder(
    trained_flow,
):
    from course_lib.flow import LatentFlowModel
    from course_lib.models import StyleAutoencoder

    # The VAE stays the default: the flow copied on one sample style (make bench, section 8).
    assert styles.DEFAULT_METHOD == "vae"
    default = train_style(_images(5), max_epochs=1, time_budget=None, n_variants=32, progress=False)
    assert isinstance(default.model, StyleVAE) and default.report["method"] == "vae"
    model = trained_flow.model
    assert isinstance(model, LatentFlowModel) and isinstance(model.autoencoder, StyleAutoencoder)
    assert trained_flow.report["method"] == "flow"
    assert set(trained_flow.report) == REPORT_KEYS
    stages = [record["stage"] for record in trained_flow.history]
    assert stages == ["autoencoder"] * 2 + ["flow"] * 6  # the flow gets 3x the epochs
    assert variations(model, 3, seed=0).shape == (3, 3, 32, 32)


def test_the_flow_trainer_stops_at_a_tiny_budget_with_both_stages():
    start = time.perf_counter()
    result = train_style(_images(5), method="flow", time_budget=0.5, progress=False)
    assert time.perf_counter() - start < 8
    assert result.report["training_seconds"] < 2.5
    assert {record["stage"] for record in result.history} == {"autoencoder", "flow"}


def test_flow_variations_are_deterministic_with_a_seed(trained_flow):
    model = trained_flow.model
    assert torch.equal(variations(model, 4, seed=3), variations(model, 4, seed=3))
    assert not torch.equal(variations(model, 4, seed=3), variations(model, 4, seed=4))


def test_a_flow_style_saves_and_loads_through_checkpoints(trained_flow, tmp_path):
    path = save_style(trained_flow, tmp_path / "flow_style.pt")
    loaded = load_style(path)
    assert torch.equal(
        variations(loaded.model, 4, seed=1), variations(trained_flow.model, 4, seed=1)
    )
    walk = latent_traversal(loaded.model, steps=3, seed=0)
    assert walk.shape == (3, 3, 32, 32)
    assert torch.equal(walk, latent_traversal(trained_flow.model, steps=3, seed=0))


def test_load_style_refuses_a_digit_flow_with_a_message(tmp_path):
    from course_lib import checkpoints
    from course_lib.flow import LatentFlowModel

    path = checkpoints.save(LatentFlowModel(n_classes=0), tmp_path / "digits_flow.pt")
    with pytest.raises(ValueError, match="not a style"):
        load_style(path)


def test_sharpness_ranks_a_blurred_image_below_the_original():
    originals = load_style_images(styles.SAMPLE_STYLES_DIR / "warm_mandalas")
    blurred = torch.nn.functional.avg_pool2d(originals, 3, stride=1, padding=1)
    assert styles.sharpness_ratio(originals, originals) == pytest.approx(1.0)
    assert styles.sharpness_ratio(blurred, originals) < 0.8
    flat = originals.mean((2, 3), keepdim=True).expand_as(originals)  # a blob of the palette
    assert styles.sharpness_ratio(flat, originals) == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        styles.sharpness(torch.rand(3, 32, 32))


def test_memorisation_flags_copies_of_originals_and_of_augmentations():
    originals = load_style_images(styles.SAMPLE_STYLES_DIR / "warm_mandalas")
    augmented = augment(originals, 64, seed=0)
    copies = torch.cat([originals[:2], augmented[:2]])
    flagged = styles.memorisation(copies, originals, augmented)
    assert flagged["near_copy_fraction"] == 1.0
    assert flagged["nearest_training_min"] == 0.0
    fresh = styles.memorisation(torch.rand(4, 3, 32, 32), originals, augmented)
    assert fresh["near_copy_fraction"] == 0.0
    assert fresh["nearest_original_ratio"] > 0.5
    half = styles.memorisation(
        torch.cat([originals[:2], torch.rand(2, 3, 32, 32)]), originals, augmented
    )
    assert half["near_copy_fraction"] == 0.5


def test_measure_style_reports_both_figures_and_times(trained_flow):
    figures = styles.measure_style(trained_flow, n=8)
    assert figures["method"] == "flow"
    assert 0 <= figures["near_copy_fraction"] <= 1
    assert figures["sharpness_ratio"] > 0 and figures["ms_per_variation"] > 0
    assert figures["training_seconds"] == trained_flow.report["training_seconds"]
