"""Notebooks 03 and 03b: the loops written out on the page agree with course_lib, the
exercise solutions are right, and the helpers these notebooks added do what they say."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from notebook_cells import cells, source, tagged, texts
from PIL import Image

from course_lib import imaging, progress, training
from course_lib.data import load_dataset
from course_lib.models import Discriminator, Generator
from course_lib.training import progress_bar, set_seed, train_gan
from course_lib.widgets import TrainingMonitor

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
GAN_NOTEBOOKS = ("03_gans.ipynb", "03b_better_gans.ipynb")


_cells, _source = cells, source


def _tagged(name: str, tag: str) -> list[dict]:
    return [cell for _, cell in tagged(name, tag)]


def _saved_text(cell: dict) -> str:
    return "".join(texts(cell))


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_dataset("mnist5k", "train").images[:256]


def _hand_written_loop():
    """The notebook's own train_gan_by_hand, run from the cell's source."""
    (cell,) = _tagged("03_gans.ipynb", "core-step")
    namespace: dict = {"torch": torch}
    exec(compile(_source(cell), "03_gans.ipynb core-step", "exec"), namespace)
    return namespace["train_gan_by_hand"]


def test_the_notebooks_gan_loop_gives_train_gans_weights_and_losses(digits):
    by_hand = _hand_written_loop()
    set_seed(0)
    library_g, library_d = Generator(noise_dim=8, hidden_dim=32), Discriminator(hidden_dim=32)
    history = train_gan(library_g, library_d, digits, epochs=2, batch_size=64, progress=False)
    set_seed(0)
    own_g, own_d = Generator(noise_dim=8, hidden_dim=32), Discriminator(hidden_dim=32)
    losses = by_hand(own_g, own_d, digits, steps=8, batch_size=64)  # 2 epochs of 4 batches

    for mine, theirs in zip(
        [*own_g.parameters(), *own_d.parameters()],
        [*library_g.parameters(), *library_d.parameters()],
        strict=True,
    ):
        assert torch.allclose(mine, theirs, atol=1e-6)
    per_epoch = torch.tensor(losses).reshape(2, 4, 2).mean(1)
    expected = torch.tensor([[r["d_loss"], r["g_loss"]] for r in history])
    assert torch.allclose(per_epoch, expected, atol=1e-5)


def test_a_changed_loss_in_the_notebooks_loop_would_be_caught(digits):
    """The comparison above is sharp: label smoothing 1.0 instead of 0.9 moves the weights."""
    (cell,) = _tagged("03_gans.ipynb", "core-step")
    source = _source(cell)
    smoothing = "torch.full_like(real_logits, 0.9)"
    assert smoothing in source
    namespace: dict = {"torch": torch}
    exec(source.replace(smoothing, "torch.ones_like(real_logits)"), namespace)
    set_seed(0)
    library_g = Generator(noise_dim=8, hidden_dim=32)
    train_gan(library_g, Discriminator(hidden_dim=32), digits, epochs=1, progress=False)
    set_seed(0)
    own_g = Generator(noise_dim=8, hidden_dim=32)
    namespace["train_gan_by_hand"](own_g, Discriminator(hidden_dim=32), digits, steps=4)
    gap = max(
        (a - b).abs().max().item()
        for a, b in zip(own_g.parameters(), library_g.parameters(), strict=True)
    )
    assert gap > 1e-4


def test_the_notebook_prints_the_agreement_as_a_passed_check():
    text = "".join(_saved_text(c) for c in _cells("03_gans.ipynb"))
    assert "[pass] largest weight difference, hand-written loop vs train_gan" in text


@pytest.mark.parametrize("name", GAN_NOTEBOOKS)
def test_every_exercise_has_a_hidden_solution_that_is_right(name):
    cells = _cells(name)
    exercises = [
        c
        for c in cells
        if c["cell_type"] == "code"
        and "answer = None" in _source(c)
        and "project" not in c["metadata"].get("tags", [])  # 03b's projects: test_gan_projects
    ]
    solutions = _tagged(name, "solution")
    assert exercises and len(solutions) >= len(exercises)
    for cell in solutions:
        assert cell["metadata"]["jupyter"]["source_hidden"] is True
        assert cell["metadata"]["jupyter"]["outputs_hidden"] is True
        saved = _saved_text(cell)
        assert "Correct:" in saved and "Not quite" not in saved, _source(cell)
    for cell in exercises:  # a bare True/False under an exercise says nothing
        assert not any(
            "".join(o.get("data", {}).get("text/plain", "")) in ("True", "False")
            for o in cell.get("outputs", [])
        )


def test_the_gan_progress_bars_say_which_run_they_are(capsys, digits):
    train_gan(
        Generator(noise_dim=8, hidden_dim=16),
        Discriminator(hidden_dim=16),
        digits[:64],
        epochs=1,
        desc="GAN, weak detective",
    )
    assert "GAN, weak detective" in capsys.readouterr().err
    source = "".join(_source(c) for c in _cells("03_gans.ipynb"))
    assert 'desc="GAN, weak detective"' in source and 'desc="GAN, too little noise"' in source


def test_progress_bar_outside_a_notebook_is_a_plain_tqdm_bar():
    bar = progress_bar(total=2, desc="GAN, weak detective", file=io.StringIO())
    assert isinstance(bar, progress.tqdm)
    bar.update(2)
    bar.close()
    assert bar.n == 2


# --- the training monitor replays a loaded run --------------------------------------------


def _history(epochs: int = 4) -> list[dict]:
    return [
        {"epoch": e, "d_loss": 1.0 + 0.1 * e, "g_loss": 2.0 - 0.1 * e} for e in range(1, epochs + 1)
    ]


def test_monitor_replays_a_loaded_history_and_says_so():
    monitor = TrainingMonitor(keys=("d_loss", "g_loss"), sample_model=True, every=5)
    generator = Generator(noise_dim=8, hidden_dim=16)
    monitor.finish(_history(), generator)
    assert [r["epoch"] for r in monitor.records] == [1, 2, 3, 4]
    assert monitor.loaded and "loaded from a checkpoint" in monitor.status.value
    assert "4 stored epochs" in monitor.status.value
    assert monitor.plot.value and monitor.samples.value  # the plot and the samples are drawn
    snapshot = monitor.snapshot()
    plot = Image.open(io.BytesIO(monitor.plot.value))
    assert snapshot.height > plot.height  # plot, samples and the caption


def test_monitor_finish_refuses_an_empty_or_mismatched_history():
    monitor = TrainingMonitor(keys=("d_loss",))
    with pytest.raises(ValueError, match="empty"):
        monitor.finish([])
    with pytest.raises(ValueError, match="d_loss"):
        monitor.finish([{"epoch": 1, "loss": 0.5}])
    with pytest.raises(ValueError, match="nothing to show"):
        monitor.snapshot()


# --- captions drawn on pictures -------------------------------------------------------------


def test_caption_adds_a_band_with_dark_text_above_the_picture():
    picture = imaging.make_grid(torch.zeros(4, 1, 28, 28), nrow=4, scale=2)
    titled = imaging.caption(picture, "four black squares")
    band = titled.height - picture.height
    assert band > 10 and titled.width >= picture.width
    top = titled.crop((0, 0, titled.width, band)).convert("L")
    assert top.convert("L").getextrema()[0] < 100  # some ink in the band
    bottom = titled.crop((0, band, picture.width, titled.height)).convert("L")
    assert bottom.tobytes() == picture.convert("L").tobytes()


def test_caption_widens_for_long_text_and_refuses_empty_text():
    small = imaging.to_pil(torch.zeros(1, 28, 28))
    assert imaging.caption(small, "a caption much wider than one digit").width > 28
    with pytest.raises(ValueError, match="non-empty"):
        imaging.caption(small, "  ")


def test_every_line_03b_shows_for_a_stabiliser_is_really_in_course_lib():
    """The diffs on the page (- the lesson's loop, + the upgrade) are the library's own lines."""
    import re

    library = "".join(
        (Path(training.__file__).parent / name).read_text() for name in ("training.py", "models.py")
    )
    squeezed = "".join(library.split())
    blocks = [
        block
        for cell in _cells("03b_better_gans.ipynb")
        if cell["cell_type"] == "markdown"
        for block in re.findall(r"```diff\n(.*?)```", _source(cell), flags=re.S)
    ]
    lines = [
        line[2:] for block in blocks for line in block.splitlines() if line[:2] in ("+ ", "- ")
    ]
    assert len(blocks) >= 5 and len(lines) >= 15
    missing = [line for line in lines if "".join(line.split()) not in squeezed]
    assert not missing, f"lines shown in 03b that course_lib does not contain: {missing}"
