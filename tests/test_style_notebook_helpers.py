"""Tests for notebook 09's helpers: cached styles, checks and uploads (course_lib.styles), the
uploader widget (course_lib.widgets) and the nearest-originals plot (course_lib.notebook)."""

import datetime
import io

import pytest
import torch
from PIL import Image

from course_lib import notebook, styles, widgets
from course_lib.styles import SAMPLE_STYLES_DIR, StyleResult, load_style

TINY = {"max_epochs": 1, "time_budget": None, "n_variants": 16, "batch_size": 8, "progress": False}


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """A private data folder, so no test touches the shared checkpoints."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def _images(n: int = 5, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=generator) * 255).round() / 255


def _png_bytes(colour: tuple[int, int, int], size: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _same_model(a: StyleResult, b: StyleResult) -> bool:
    first, second = a.model.state_dict(), b.model.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_style_checkpoint_path_fingerprints_images_and_every_setting(data_folder):
    images = _images()
    path = styles.style_checkpoint_path("style_x", images, **TINY)
    assert path.parent == data_folder / "checkpoints"
    assert path.name.startswith("style_x-") and path.suffix == ".pt"
    assert styles.style_checkpoint_path("style_x", images.clone(), **TINY) == path
    # display-only arguments do not change the file; training settings and pixels do
    assert styles.style_checkpoint_path("style_x", images, **{**TINY, "progress": True}) == path
    assert styles.style_checkpoint_path("style_x", images, **{**TINY, "max_epochs": 2}) != path
    assert styles.style_checkpoint_path("style_x", images, **{**TINY, "seed": 1}) != path
    assert styles.style_checkpoint_path("style_x", _images(seed=1), **TINY) != path
    # a default left out and the same default given explicitly are the same recipe
    assert (
        styles.style_checkpoint_path("style_x", images, **TINY, latent_dim=16) == path
    )  # the VAE default
    assert styles.style_checkpoint_path("style_x", images, **TINY, method="flow") != path
    with pytest.raises(TypeError):
        styles.style_checkpoint_path("style_x", images, **TINY, epochs=3)


def test_train_style_or_load_trains_once_then_loads_the_same_result(data_folder, capsys):
    images = _images()
    rng_before = torch.random.get_rng_state()
    trained = styles.train_style_or_load("style_x", images, **TINY)
    assert "Trained and saved style_x-" in capsys.readouterr().out
    # training and loading draw on their own random stream: the caller's is untouched
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    loaded = styles.train_style_or_load("style_x", images, **TINY)
    assert "Loaded style_x-" in capsys.readouterr().out
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert isinstance(loaded, StyleResult) and not loaded.model.training
    assert _same_model(trained, loaded)
    assert loaded.report == trained.report and loaded.history == trained.history
    assert torch.equal(loaded.originals, trained.originals)
    assert torch.equal(loaded.originals, images)  # 8-bit pixels survive the file exactly
    files = sorted(p.name for p in (data_folder / "checkpoints").iterdir())
    assert files == [styles.style_checkpoint_path("style_x", images, **TINY).name]


def test_train_style_or_load_retrains_on_a_changed_setting_or_a_damaged_file(data_folder, capsys):
    images = _images()
    styles.train_style_or_load("style_x", images, **TINY)
    capsys.readouterr()
    other = styles.train_style_or_load("style_x", images, **{**TINY, "max_epochs": 2})
    assert "Trained" in capsys.readouterr().out and other.report["epochs"] == 2
    assert len(list((data_folder / "checkpoints").iterdir())) == 2
    path = styles.style_checkpoint_path("style_x", images, **TINY)
    path.write_bytes(b"not a style")
    again = styles.train_style_or_load("style_x", images, **TINY)
    assert "Trained" in capsys.readouterr().out and again.report["epochs"] == 1
    assert load_style(path).report == again.report
    styles.train_style_or_load("style_x", images, retrain=True, **TINY)
    assert "Trained" in capsys.readouterr().out


GOOD_REPORT = {
    "reconstruction_psnr_db": 15.3,
    "variety_ratio": 0.66,
    "copy_fraction": 0.0,
    "colour_difference": 0.04,
}


def test_style_checks_prints_one_line_per_bar(capsys):
    assert styles.style_checks(GOOD_REPORT) is True
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.startswith("[pass] ") for line in lines)
    assert lines[0].endswith("(PSNR): 15 dB (bar: at least 13)")
    assert lines[1].endswith("0.66 (bar: at least 0.50 and at most 1.25)")
    assert lines[2].endswith("near-copies of an original: 0 % (bar: at most 0)")
    assert lines[3].endswith("0.04 (bar: at most 0.10)")


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("reconstruction_psnr_db", 12.0, 0),
        ("variety_ratio", 0.3, 1),
        ("variety_ratio", 1.6, 1),
        ("copy_fraction", 0.125, 2),
        ("colour_difference", 0.2, 3),
    ],
)
def test_style_checks_fails_the_right_bar(capsys, key, value, line):
    assert styles.style_checks({**GOOD_REPORT, key: value}) is False
    lines = capsys.readouterr().out.splitlines()
    assert [i for i, text in enumerate(lines) if text.startswith("[FAIL]")] == [line]


def test_plot_nearest_originals_pairs_each_sample_with_its_nearest_original():
    originals = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    samples = torch.stack([torch.full((3, 32, 32), 0.9), torch.full((3, 32, 32), 0.5)])
    fig = notebook.plot_nearest_originals(samples, originals, bar=0.2)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes[:2]]
    assert titles == ["0.10", "0.50"]
    assert fig.axes[0].title.get_color() == "red" and fig.axes[1].title.get_color() == "black"
    bottom = [ax.get_images()[0].get_array() for ax in fig.axes[2:]]
    assert int(bottom[0].max()) == 255  # 0.9 is nearest to the white original
    with pytest.raises(ValueError, match="no samples"):
        notebook.plot_nearest_originals(samples[:0], originals)


def test_style_images_from_uploads_validates_then_loads():
    files = {f"red_{i}.png": _png_bytes((200 + i, 0, 0)) for i in range(5)}
    images = styles.style_images_from_uploads(files)
    assert images.shape == (5, 3, 32, 32)
    assert float(images[:, 0].min()) > 0.75 and float(images[:, 1:].max()) == 0.0
    with pytest.raises(ValueError, match=r"^notes.png: the file is not an image"):
        styles.style_images_from_uploads({**files, "notes.png": b"just some text"})
    with pytest.raises(ValueError, match="5 to 10 sample images, got 3"):
        styles.style_images_from_uploads(dict(list(files.items())[:3]))


def test_style_uploader_shows_a_stable_text_and_learns_through_the_same_path(data_folder):
    uploader = widgets.StyleUploader(**TINY)
    assert repr(uploader) == "StyleUploader(style_mine, 5-10 images, 1 epochs)"
    bundle = uploader._repr_mimebundle_()
    assert bundle["text/plain"] == repr(uploader)
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert uploader.upload.multiple and uploader.upload.accept == "image/*"
    assert uploader.files() == {}
    folder = SAMPLE_STYLES_DIR / "warm_mandalas"
    files = {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))[:5]}
    result = uploader.learn(files)
    assert uploader.result is result and result.originals.shape == (5, 3, 32, 32)
    assert styles.style_checkpoint_path("style_mine", result.originals, **TINY).is_file()
    assert widgets.StyleUploader().settings == {"max_epochs": 50, "time_budget": None}


def test_style_uploader_button_reports_bad_files_instead_of_raising(data_folder, capsys):
    uploader = widgets.StyleUploader(**TINY)
    uploader._clicked()  # nothing uploaded yet
    assert "Cannot learn a style from these files" in capsys.readouterr().out
    assert uploader.result is None and not uploader.button.disabled


def test_style_uploader_button_learns_from_uploaded_files(data_folder, capsys):
    uploader = widgets.StyleUploader(**TINY)
    paths = sorted((SAMPLE_STYLES_DIR / "cool_geometric").glob("*.png"))[:6]
    uploader.upload.value = tuple(  # the form ipywidgets 8 gives a kernel after an upload
        {
            "name": p.name,
            "type": "image/png",
            "size": p.stat().st_size,
            "content": memoryview(p.read_bytes()),
            "last_modified": datetime.datetime(2024, 1, 1),
        }
        for p in paths
    )
    assert sorted(uploader.files()) == [p.name for p in paths]
    uploader._clicked()
    out = capsys.readouterr().out
    assert "Trained and saved style_mine-" in out
    assert "Reconstructions of your 6 samples" in out
    assert uploader.result.originals.shape == (6, 3, 32, 32) and not uploader.button.disabled
