"""Notebooks 00-02: what the learner sees is what the library does.

The hand-written VAE step of notebook 02 is executed from the notebook itself and compared with
``course_lib.training.vae_step``; the saved notebooks are read for finished progress bars,
revealable solutions and a complete roadmap; the widget and figure helpers they rely on are
exercised directly.
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from notebook_cells import cells, source, tagged, texts
from PIL import Image

from course_lib import training, widgets
from course_lib.imaging import make_grid, titled
from course_lib.models import VariationalAutoencoder

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_cells, _source, _texts, _tagged = cells, source, texts, tagged
MINE = ["00_welcome", "01_autoencoders", "02_variational_autoencoders"]


# --- notebook 02: the training step on the page is the library's step ----------------------


def _notebook_train_step():
    (_, cell), *others = _tagged("02_variational_autoencoders", "core-step")
    assert not others, "exactly one cell of notebook 02 holds the hand-written step"
    namespace = {"torch": torch}
    exec(_source(cell), namespace)
    return namespace["train_step"]


def test_the_hand_written_vae_step_matches_the_library_step():
    train_step = _notebook_train_step()
    torch.manual_seed(0)
    start = VariationalAutoencoder(hidden_dim=32, latent_dim=4).train()
    batch = torch.rand(16, 1, 28, 28)
    ours, theirs = copy.deepcopy(start), copy.deepcopy(start)
    torch.manual_seed(7)
    mine = train_step(ours, torch.optim.Adam(ours.parameters(), lr=1e-2), batch)
    torch.manual_seed(7)
    library = training.vae_step(theirs, torch.optim.Adam(theirs.parameters(), lr=1e-2), batch)
    assert mine.keys() == library.keys() == {"loss", "recon", "kl"}
    for key in mine:
        assert mine[key] == pytest.approx(library[key], rel=1e-5)
    assert mine["loss"] == pytest.approx(mine["recon"] + mine["kl"], rel=1e-5)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    moved = max(
        (p - q).abs().max() for p, q in zip(ours.parameters(), start.parameters(), strict=True)
    )
    assert moved > 1e-4  # the step really updated the weights


def test_a_different_seed_gives_a_different_step():
    """The agreement above is not trivial: the noise in z changes the reconstruction term."""
    train_step = _notebook_train_step()
    torch.manual_seed(0)
    model = VariationalAutoencoder(hidden_dim=32, latent_dim=4).train()
    batch = torch.rand(16, 1, 28, 28)
    recons = []
    for seed in (1, 2):
        copy_ = copy.deepcopy(model)
        torch.manual_seed(seed)
        recons.append(train_step(copy_, torch.optim.SGD(copy_.parameters(), lr=0.0), batch))
    assert recons[0]["recon"] != recons[1]["recon"]


def test_train_vae_runs_vae_step_on_every_batch(monkeypatch):
    calls = []
    real = training.vae_step

    def spy(model, optimizer, x, *rest):
        calls.append(x.shape[0])
        return real(model, optimizer, x, *rest)

    monkeypatch.setattr(training, "vae_step", spy)
    model = VariationalAutoencoder(hidden_dim=16, latent_dim=2)
    history = training.train_vae(model, torch.rand(40, 1, 28, 28), epochs=1, batch_size=16)
    assert calls == [16, 16, 8]
    assert set(history[0]) >= {"loss", "recon", "kl"}


# --- the training monitor: replay a loaded model, KL on its own axis ------------------------


def _history(epochs: int = 6) -> list[dict]:
    return [
        {"epoch": e, "recon": 200.0 - 20 * e, "kl": 5.0 + 3 * e, "loss": 205.0 - 17 * e}
        for e in range(1, epochs + 1)
    ]


def test_the_monitor_replays_a_loaded_models_history_and_says_so():
    model = VariationalAutoencoder(hidden_dim=16, latent_dim=2).eval()
    monitor = widgets.TrainingMonitor(keys=("recon", "kl"), secondary=("kl",), sample_model=True)
    assert bytes(monitor.samples.value) == b"" and "waiting" in monitor.status.value
    picture = monitor.finish(_history(), model)
    assert monitor.loaded
    assert [r["epoch"] for r in monitor.records] == [1, 2, 3, 4, 5, 6]
    assert "loaded" in monitor.status.value and "retrain=True" in monitor.status.value
    assert bytes(monitor.samples.value).startswith(b"\x89PNG")
    assert bytes(monitor.plot.value).startswith(b"\x89PNG")
    recon_line = monitor._lines["recon"]
    assert list(recon_line.get_ydata()) == [r["recon"] for r in _history()]
    plot = Image.open(io.BytesIO(bytes(monitor.plot.value)))
    assert picture.height > plot.height  # the plot, the samples and a caption in one picture


def test_the_monitor_keeps_live_epochs_when_it_finishes():
    monitor = widgets.TrainingMonitor(keys=("recon", "kl"), secondary="kl")
    for record in _history(3):
        monitor(record)
    monitor.finish(_history(6))
    assert len(monitor.records) == 3 and not monitor.loaded
    assert "epoch 3" in monitor.status.value


def test_the_kl_curve_gets_its_own_axis():
    monitor = widgets.TrainingMonitor(keys=("recon", "kl"), secondary=("kl",))
    left, right = monitor._figure.axes
    assert monitor._lines["recon"].axes is left and monitor._lines["kl"].axes is right
    for record in _history():
        monitor(record)
    low, high = right.get_ylim()
    assert low <= 8 and high >= 23 and high < 50  # scaled to the KL, not to the reconstruction
    assert len(widgets.TrainingMonitor(keys=("recon", "kl"))._figure.axes) == 1


@pytest.mark.parametrize("secondary", [("loss",), ("recon", "kl")])
def test_the_secondary_axis_must_name_some_of_the_keys(secondary):
    with pytest.raises(ValueError, match="secondary"):
        widgets.TrainingMonitor(keys=("recon", "kl"), secondary=secondary)


def test_finish_refuses_an_empty_history():
    with pytest.raises(ValueError, match="empty"):
        widgets.TrainingMonitor(keys=("recon",)).finish([])
    with pytest.raises(ValueError, match="no \\['kl'\\]"):
        widgets.TrainingMonitor(keys=("recon", "kl")).finish([{"epoch": 1, "recon": 1.0}])


# --- the creativity slider's range ----------------------------------------------------------


def test_the_temperature_slider_range_can_end_where_the_pictures_stop_changing():
    torch.manual_seed(0)
    vae = VariationalAutoencoder(hidden_dim=16, latent_dim=4).eval()
    slider = widgets.temperature_slider(vae, n=4, max_temperature=1.5)
    assert slider.slider.max == 1.5 and slider.slider.step == 0.05
    with pytest.raises(ValueError, match="between 0 and 1.5"):
        slider.samples(1.8)
    assert slider.change(0.5, 0.5) == 0.0
    assert slider.change(0.0, 1.0) > 0.0
    assert widgets.temperature_slider(vae).slider.max == 2.0  # the default is unchanged
    for bad in (0, 2.5, "1", True):
        with pytest.raises(ValueError, match="max_temperature"):
            widgets.temperature_slider(vae, max_temperature=bad)


# --- figures carry their titles -------------------------------------------------------------


def test_titled_draws_the_title_and_row_labels_onto_the_picture():
    grid = make_grid(torch.zeros(6, 1, 28, 28), nrow=3, scale=2)
    plain = titled(grid)
    assert plain.size == grid.size
    with_title = titled(grid, "samples")
    assert with_title.height > grid.height
    band = np.asarray(with_title.convert("L"))[: with_title.height - grid.height]
    assert band.min() < 128  # dark text on the white band
    labelled = titled(grid, "samples", ["row one", "row two"])
    assert labelled.width > grid.width
    with pytest.raises(ValueError, match="text"):
        titled(grid, 3)


# --- the saved notebooks --------------------------------------------------------------------


def test_the_roadmap_lists_every_notebook_and_the_flow_chapter():
    roadmap = _source(_cells("00_welcome")[0])
    numbers = {re.match(r"(\d+b?)_", p.name).group(1) for p in NOTEBOOKS.glob("*.ipynb")}
    numbers = (numbers - {"00"}) | {"10"}  # 00 is the page itself; 10_flow_matching follows 09
    missing = [n for n in sorted(numbers) if not re.search(rf"^\| {n} ", roadmap, re.M)]
    assert not missing, f"notebook 00's roadmap leaves out {missing}"
    assert "flow matching" in roadmap


@pytest.mark.parametrize("name", MINE)
def test_every_exercise_has_a_hidden_solution_that_passes_its_check(name):
    cells = _cells(name)
    exercises = _tagged(name, "exercise")
    assert exercises, f"{name} has no tagged exercise cells"
    for index, _ in exercises:
        following = [c for c in cells[index + 1 : index + 3] if c["cell_type"] == "code"]
        assert following, f"{name}: the exercise in cell {index} has no solution after it"
        solution = following[0]
        assert "solution" in solution["metadata"].get("tags", [])
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert any(t.startswith("Correct") for text in _texts(solution) for t in text.splitlines())


@pytest.mark.parametrize("name", MINE)
def test_no_bare_true_or_false_and_every_saved_bar_is_finished(name):
    for index, cell in enumerate(_cells(name)):
        if cell["cell_type"] != "code":
            continue
        for text in _texts(cell):
            assert text.strip() not in ("True", "False"), f"{name} cell {index}: bare {text}"
            for line in text.splitlines():
                if "%|" in line:
                    assert "100%|" in line, f"{name} cell {index}: unfinished bar {line!r}"


def test_notebook_01_picks_one_test_digit_of_each_class_by_its_label():
    from course_lib.data import load_dataset

    (cell,) = [c for c in _cells("01_autoencoders") if "picks = " in _source(c)]
    line = next(x for x in _source(cell).splitlines() if x.startswith("picks = "))
    namespace = {"test": load_dataset("mnist5k", "test")}
    exec(line, namespace)
    assert namespace["test"].labels[namespace["picks"]].tolist() == list(range(10))
