"""Notebook 10 (flow matching): what the learner sees is what the library does.

The hand-written loss of the notebook is executed from the saved notebook and compared with
``course_lib.flow.flow_matching_loss``; the film widget is checked against ``decode``; the saved
notebook is read for revealable solutions, finished bars and prose that quotes its own output.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
from notebook_cells import cells, source, tagged, texts

from course_lib.flow import LatentFlowModel, flow_matching_loss
from course_lib.models import AutoencoderModel, VariationalAutoencoder
from course_lib.widgets import FlowFilm, flow_film

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_flow_matching.ipynb"


def _cells() -> list[dict]:
    return cells(NOTEBOOK.name)


def _tagged(tag: str) -> list[tuple[int, dict]]:
    return tagged(NOTEBOOK.name, tag)


_source, _texts = source, texts


@pytest.fixture
def tiny_flow() -> LatentFlowModel:
    torch.manual_seed(0)
    model = LatentFlowModel(AutoencoderModel(hidden_dim=16, latent_dim=4), width=16, depth=1)
    return model.eval()


# --- the loss on the page is the library's loss ---------------------------------------------


def _notebook_loss():
    (_, cell), *others = _tagged("core-step")
    assert not others, "exactly one cell of notebook 10 holds the hand-written loss"
    namespace = {"torch": torch}
    exec(_source(cell), namespace)
    return namespace["flow_loss"]


def test_the_hand_written_loss_matches_flow_matching_loss(tiny_flow):
    flow_loss = _notebook_loss()
    codes, labels = torch.randn(32, 4), torch.arange(32) % 11  # 10 = "no class"
    ours, theirs = copy.deepcopy(tiny_flow).train(), copy.deepcopy(tiny_flow).train()
    torch.manual_seed(3)
    mine = flow_loss(ours, codes, labels)
    torch.manual_seed(3)
    library = flow_matching_loss(theirs, codes, labels)
    assert mine.item() == pytest.approx(library.item(), rel=1e-6)
    mine.backward()
    library.backward()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-6)
    assert ours.input.weight.grad.abs().sum() > 0  # the gradient reaches the network


def test_the_hand_written_loss_depends_on_the_noise_and_the_times(tiny_flow):
    """The agreement above is not trivial: another seed draws other noise and times."""
    flow_loss = _notebook_loss()
    codes, labels = torch.randn(32, 4), torch.arange(32) % 10
    values = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        values.append(flow_loss(tiny_flow, codes, labels).item())
    assert values[0] != pytest.approx(values[1], rel=1e-4)


def test_destandardise_undoes_standardise(tiny_flow):
    codes = torch.randn(50, 4) * 3 + 2
    tiny_flow.fit_code_stats(codes)
    x = tiny_flow.standardise(codes)
    assert x.mean(0).abs().max() < 1e-5 and (x.std(0) - 1).abs().max() < 1e-4
    assert torch.allclose(tiny_flow.destandardise(x), codes, atol=1e-5)


# --- the film: a slider over the sampler's steps --------------------------------------------


def test_the_film_shows_the_decoded_noise_first_and_the_sample_last(tiny_flow):
    tiny_flow.fit_code_stats(torch.randn(50, 4) * 2 + 1)
    z = tiny_flow.codes(3, seed=0)
    film = flow_film(tiny_flow, z, steps=5)
    assert repr(film) == "FlowFilm(LatentFlowModel, 3 samples, 5 steps)"
    assert film.frames.shape == (6, 3, 1, 28, 28)
    assert torch.allclose(film.images(5), tiny_flow.decode(z, steps=5), atol=1e-6)
    noise = tiny_flow.autoencoder.decode(tiny_flow.destandardise(z[:, : tiny_flow.noise_dim]))
    assert torch.allclose(film.images(0), noise)
    assert not torch.allclose(film.images(0), film.images(5))
    assert film.slider.max == 5 and film.slider.value == 5
    film.slider.value = 0  # moving the slider redraws the picture
    assert bytes(film.image.value) != b"" and film.render(0).size == film.render(5).size


def test_the_film_strip_has_one_row_per_sample_and_one_column_per_step(tiny_flow):
    z = tiny_flow.codes(2, seed=1)
    film = FlowFilm(tiny_flow, z, steps=4)
    strip = film.strip([0, 2, 4])
    assert strip.shape == (6, 1, 28, 28)
    assert torch.equal(strip[1], film.images(2)[0]) and torch.equal(strip[3], film.images(0)[1])
    with pytest.raises(ValueError, match="at least one"):
        film.strip([])


@pytest.mark.parametrize("step", [-1, 5, 1.5, True])
def test_the_film_refuses_a_step_it_does_not_have(tiny_flow, step):
    film = FlowFilm(tiny_flow, tiny_flow.codes(1, seed=0), steps=4)
    with pytest.raises(ValueError, match="step"):
        film.images(step)


def test_a_film_needs_a_flow_and_sensible_settings(tiny_flow):
    vae = VariationalAutoencoder(hidden_dim=8, latent_dim=2)
    with pytest.raises(ValueError, match="flow model"):
        FlowFilm(vae, torch.zeros(1, 2))
    with pytest.raises(ValueError, match="steps"):
        FlowFilm(tiny_flow, tiny_flow.codes(1, seed=0), steps=0)
    with pytest.raises(ValueError, match="latent codes"):
        FlowFilm(tiny_flow, torch.zeros(1, 3))


# --- the saved notebook ---------------------------------------------------------------------


def test_every_exercise_has_a_hidden_solution_that_passes_its_check():
    cells = _cells()
    exercises = _tagged("exercise")
    assert len(exercises) >= 2
    for index, _ in exercises:
        following = [c for c in cells[index + 1 : index + 3] if c["cell_type"] == "code"]
        assert following, f"the exercise in cell {index} has no solution after it"
        solution = following[0]
        assert "solution" in solution["metadata"].get("tags", [])
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert any(t.startswith("Correct") for text in _texts(solution) for t in text.splitlines())


def test_no_bare_true_or_false_and_every_saved_bar_is_finished():
    for index, cell in enumerate(_cells()):
        for text in _texts(cell):
            assert text.strip() not in ("True", "False"), f"cell {index}: bare {text}"
            for line in text.splitlines():
                if "%|" in line:
                    assert "100%|" in line, f"cell {index}: unfinished bar {line!r}"


def test_the_closing_check_reads_the_closing_table():
    """The closing table is computed; the check under it must quote the table's own row."""
    texts = [t for c in _cells() if c["cell_type"] == "code" for t in _texts(c)]
    printed = next(t for t in texts if "latent flow (this notebook)" in t and "recipe" in t)
    (score,) = re.findall(
        r"^latent flow \(this notebook\) +flow_mnist5k +\d+ +([\d.]+)", printed, re.M
    )
    checked = next(t for t in texts if "flow's score ratio" in t)
    assert f"flow's score ratio: {score} " in checked


def _why_latent() -> tuple[dict, str, str]:
    """Section 2's training cell, its judged output and the prose that reads it."""
    cells = _cells()
    index = next(i for i, c in enumerate(cells) if "train_pixel_flow" in _source(c))
    judged = "".join(_texts(cells[index + 1]))
    prose = _source(cells[index + 2])
    return cells[index], judged, prose


def test_why_latent_trains_all_three_alike_and_the_prose_reads_what_they_printed():
    race, judged, prose = _why_latent()
    source = _source(race)
    assert source.startswith("# NBVAL_IGNORE_OUTPUT\n")  # nbval reads the marker alone on its line
    steps = dict(re.findall(r'"(latent flow|pixel MLP|pixel U-Net)": \(.*, (\d+)\),', source))
    assert set(steps) == {"latent flow", "pixel MLP", "pixel U-Net"}
    assert source.count("train_one(model, train, steps=steps,") == 1  # one call, same settings
    quoted = f"latent flow took {steps['latent flow']} steps, the pixel MLP {steps['pixel MLP']} "
    assert quoted + f"and the U-Net {steps['pixel U-Net']}" in " ".join(prose.split())
    reads = dict(
        re.findall(r"^(latent flow|pixel MLP|pixel U-Net) .* in +(\d+%) of 30", judged, re.M)
    )
    assert len(reads) == 3
    flat = " ".join(prose.split())
    assert f"in {reads['latent flow']} of its 30 samples" in flat
    assert f"({reads['pixel MLP']} and {reads['pixel U-Net']})" in flat
    assert "[FAIL]" not in judged and judged.count("[pass]") == 2


def test_the_notebook_is_in_the_readme_table():
    readme = (NOTEBOOK.parents[1] / "README.md").read_text()
    assert re.search(r"^\| `10_flow_matching` \|", readme, re.M)
