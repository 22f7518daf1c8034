"""Tests for the command line, ``python -m course_lib train|info|download``, run in-process."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from course_lib import checkpoints
from course_lib.__main__ import main
from course_lib.data import load_dataset
from course_lib.metrics import negative_elbo, reconstruction_bce
from course_lib.models import (
    AutoencoderModel,
    ConvGenerator,
    Generator,
    MixturePriorVAE,
    VariationalAutoencoder,
)

REPO = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "digits", "--epochs", "1", "--hidden-dim", "16"]


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    """Keep every default path (checkpoints, MNIST) out of the repository's data/ folder."""
    folder = tmp_path / "course-data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def _assert_one_line_error(capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.strip().count("\n") == 0
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# ---- train --------------------------------------------------------------------------------------


def test_train_vae_writes_a_checkpoint_with_held_out_metrics(tmp_path, capsys):
    out = tmp_path / "v.pt"
    args = ["train", "vae", "--arch", "mlp", *TINY, "--latent-dim", "4", "--out", str(out)]
    assert main(args) == 0
    assert f"Wrote {out}" in capsys.readouterr().out

    model = checkpoints.load(out)
    assert isinstance(model, VariationalAutoencoder)
    assert model.latent_dim == 4
    assert model.config == {"input_dim": 784, "hidden_dim": 16, "latent_dim": 4}
    meta = model.metadata
    assert (meta["kind"], meta["dataset"], meta["seed"], meta["epochs"]) == ("vae", "digits", 0, 1)
    assert len(meta["history"]) == 1 and {"loss", "recon", "kl"} <= set(meta["history"][0])
    value = meta["metrics"]["test_neg_elbo_nats"]
    assert isinstance(value, float) and math.isfinite(value)
    # Measured on the held-out split, with the saved weights.
    test = load_dataset("digits", "test")
    assert value == pytest.approx(negative_elbo(model, test), abs=1e-3)
    assert meta["metrics"]["test_recon_bce_nats"] == pytest.approx(
        reconstruction_bce(model, test), abs=1e-3
    )


def test_train_ae_writes_a_checkpoint_with_a_fitted_prior(tmp_path):
    out = tmp_path / "a.pt"
    assert main(["train", "ae", *TINY, "--latent-dim", "4", "--out", str(out)]) == 0
    model = checkpoints.load(out)
    assert isinstance(model, AutoencoderModel)
    assert model.latent_dim == 4
    assert not torch.equal(model.latent_mean, torch.zeros(4))
    metrics = model.metadata["metrics"]
    assert "test_neg_elbo_nats" not in metrics
    assert metrics["test_recon_bce_nats"] == pytest.approx(
        reconstruction_bce(model, load_dataset("digits", "test")), abs=1e-3
    )


@pytest.fixture
def judged(monkeypatch):
    """Record the CLI's call to the digit judge instead of training one (tested elsewhere)."""
    calls = []

    def fake_quality(samples):
        calls.append(samples)
        return {"score_ratio": 0.5, "fd_ratio": 9.0}

    monkeypatch.setattr("course_lib.metrics.sample_quality", fake_quality)
    return calls


def test_train_gan_defaults_to_the_conditional_conv_gan_and_judges_its_samples(
    tmp_path, judged, capsys
):
    out = tmp_path / "g.pt"
    assert main(["train", "gan", *TINY, "--latent-dim", "8", "--out", str(out)]) == 0
    model = checkpoints.load(out)
    assert isinstance(model, ConvGenerator)
    assert model.config == {"noise_dim": 8, "width": 16, "n_classes": 10}  # digits' labels
    assert model.metadata["arch"] == "conditional"
    assert len(judged) == 1 and judged[0].shape == (1000, 1, 28, 28)
    assert model.metadata["metrics"]["classifier_fd_ratio"] == 9.0
    assert "classifier_score_ratio: 0.5" in capsys.readouterr().out
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(model.metadata["history"][0])
    # the critic judged real and fake digits with their labels
    assert {"test_d_real", "test_d_fake"} <= set(model.metadata["metrics"])


def test_arch_conv_trains_the_unconditional_conv_gan(tmp_path, judged):
    out = tmp_path / "g.pt"
    assert main(["train", "gan", *TINY, "--arch", "conv", "--out", str(out)]) == 0
    model = checkpoints.load(out)
    assert model.config == {"noise_dim": 32, "width": 16, "n_classes": 0}
    assert model.metadata["arch"] == "conv"
    assert model.sample(2, seed=0).shape == (2, 1, 28, 28)


def test_the_conditional_gan_covers_labels_up_to_the_largest(tmp_path, judged, monkeypatch):
    """A dataset whose labels skip a class still works: the model covers 0..max label."""
    from course_lib import data as data_module

    digits = load_dataset("digits", "train")
    only_odd = digits.labels % 2 == 1
    subset = data_module.ImageDataset(
        digits.images[only_odd], digits.labels[only_odd], digits.classes, "odd digits"
    )
    monkeypatch.setattr("course_lib.data.load_dataset", lambda name, split: subset)
    out = tmp_path / "odd.pt"
    assert main(["train", "gan", "--epochs", "1", "--hidden-dim", "8", "--out", str(out)]) == 0
    assert checkpoints.load(out).config["n_classes"] == 10  # largest label 9, plus one


def test_conv_arch_is_refused_for_a_vae(capsys):
    assert main(["train", "vae", *TINY, "--arch", "conv"]) == 2
    _assert_one_line_error(capsys, "--arch conv is only for gan")


def test_train_vae_defaults_to_the_mixture_prior(tmp_path):
    out = tmp_path / "v.pt"
    assert main(["train", "vae", *TINY, "--latent-dim", "4", "--out", str(out)]) == 0
    model = checkpoints.load(out)
    assert isinstance(model, MixturePriorVAE)
    assert model.metadata["arch"] == "mixture"
    nats = model.metadata["metrics"]["test_neg_elbo_nats"]
    assert nats == pytest.approx(negative_elbo(model, load_dataset("digits", "test")), abs=1e-3)


def test_train_gan_writes_the_generator(tmp_path, judged):
    out = tmp_path / "g.pt"
    args = ["train", "gan", "--arch", "mlp", *TINY, "--latent-dim", "8", "--out", str(out)]
    assert main(args) == 0
    model = checkpoints.load(out)
    assert isinstance(model, Generator)
    assert model.config == {"noise_dim": 8, "hidden_dim": 16, "output_dim": 784}
    metrics = model.metadata["metrics"]
    assert 0 < metrics["test_d_real"] < 1 and 0 < metrics["test_d_fake"] < 1
    assert {"d_loss", "g_loss"} <= set(model.metadata["history"][0])


def test_default_out_is_in_the_command_lines_own_folder(data_dir, capsys):
    assert main(["train", "vae", *TINY, "--latent-dim", "2"]) == 0
    expected = data_dir / "checkpoints" / "cli" / "vae_mixture_digits.pt"
    assert expected.is_file()
    assert str(expected) in capsys.readouterr().out
    assert checkpoints.read_metadata(expected)["config"]["latent_dim"] == 2


def test_time_budget_and_seed_are_honoured(tmp_path):
    out = tmp_path / "a.pt"
    args = ["train", "ae", "--dataset", "digits", "--hidden-dim", "16", "--latent-dim", "2"]
    assert main([*args, "--time-budget", "1", "--seed", "5", "--out", str(out)]) == 0
    meta = checkpoints.read_metadata(out)
    assert meta["seed"] == 5
    assert meta["epochs"] == len(meta["history"]) >= 1
    assert meta["history"][-1]["elapsed"] >= 1  # trained until the budget ran out
    assert meta["seconds"] < 30


def test_threads_option_sets_torch_threads_and_one_is_the_default(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("course_lib.runtime.use_threads", calls.append)
    out = str(tmp_path / "g.pt")
    assert main(["train", "gan", "--arch", "mlp", *TINY, "--threads", "2", "--out", out]) == 0
    assert main(["train", "gan", "--arch", "mlp", *TINY, "--out", out]) == 0
    # One thread unless asked, as the notebooks and the web app train: a 180 s budget on a
    # busy 2-core machine then still trains, where PyTorch's own choice of 2 threads crawled.
    assert calls == [2, 1]


def test_train_on_a_folder_names_the_checkpoint_after_it(tmp_path, data_dir):
    folder = tmp_path / "shapes"
    folder.mkdir()
    for i in range(10):
        Image.new("L", (28, 28), 25 * i).save(folder / f"{i}.png")
    assert (
        main(
            [
                "train",
                "ae",
                "--dataset",
                str(folder),
                "--epochs",
                "1",
                "--hidden-dim",
                "8",
                "--latent-dim",
                "2",
            ]
        )
        == 0
    )
    meta = checkpoints.read_metadata(data_dir / "checkpoints" / "cli" / "ae_mlp_shapes.pt")
    assert meta["dataset"] == str(folder)


# ---- info and download --------------------------------------------------------------------------


def test_info_prints_the_metadata_as_json(tmp_path, capsys):
    path = checkpoints.save(
        VariationalAutoencoder(784, 8, 2), tmp_path / "v.pt", metrics={"x": 1.0}, history=[{}]
    )
    assert main(["info", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["class"] == "VariationalAutoencoder"
    assert shown["config"] == {"input_dim": 784, "hidden_dim": 8, "latent_dim": 2}
    assert shown["metrics"] == {"x": 1.0}
    assert "history" not in shown  # too long to print


def test_download_calls_the_downloader(tmp_path, capsys, monkeypatch):
    import course_lib.data

    calls = []

    def fake_download(root=None):
        calls.append(root)
        return Path(root) / "MNIST"

    monkeypatch.setattr(course_lib.data, "download_mnist", fake_download)
    assert main(["download", "mnist", "--root", str(tmp_path)]) == 0
    assert calls == [tmp_path]
    assert str(tmp_path / "MNIST") in capsys.readouterr().out


# ---- bad input ----------------------------------------------------------------------------------


def test_unknown_dataset_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "x.pt"
    assert main(["train", "vae", "--dataset", "no-such-data", "--out", str(out)]) == 2
    _assert_one_line_error(capsys, "no-such-data", "mnist5k")
    assert not out.exists()


def test_missing_mnist_is_a_one_line_error(capsys):
    assert main(["train", "vae", "--dataset", "mnist", "--epochs", "1"]) == 2
    _assert_one_line_error(capsys, "download mnist")


def test_info_on_a_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.pt")]) == 2
    _assert_one_line_error(capsys, "missing.pt")


def test_info_on_a_malicious_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "course_lib.checkpoint", "hook": os.system}, path)
    assert main(["info", str(path)]) == 2
    _assert_one_line_error(capsys, "refusing")


def test_info_on_a_garbage_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"hello world")
    assert main(["info", str(path)]) == 2
    _assert_one_line_error(capsys, "junk.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_missing_gpu_is_a_one_line_error(capsys):
    assert main(["train", "vae", "--device", "cuda", "--epochs", "1"]) == 2
    _assert_one_line_error(capsys, "cuda")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["train"],
        ["train", "diffusion"],
        ["train", "vae", "--epochs", "0"],
        ["train", "vae", "--epochs", "two"],
        ["train", "vae", "--time-budget", "nan"],
        ["train", "vae", "--time-budget", "-5"],
        ["train", "vae", "--hidden-dim", "0"],
        ["train", "vae", "--lr", "inf"],
        ["download", "cifar"],
        ["info"],
    ],
)
def test_argument_errors_exit_with_status_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_help_runs_as_a_module():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "course_lib", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0
    assert "train" in result.stdout and "download" in result.stdout and "info" in result.stdout
