"""Tests for latent flow matching (course_lib.flow): the loss, the sampler, the shared way to draw
codes, guidance and labels, training, checkpoints, encode/decode and the command line."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import checkpoints
from course_lib.__main__ import main
from course_lib.data import ImageDataset, load_dataset
from course_lib.flow import LatentFlowModel, flow_matching_loss, integrate
from course_lib.models import AutoencoderModel, balanced_labels
from course_lib.training import train_autoencoder, train_flow

TINY_AE = {"input_dim": 784, "hidden_dim": 16, "latent_dim": 4}


def _flow(n_classes: int = 10, **kwargs) -> LatentFlowModel:
    torch.manual_seed(0)
    return LatentFlowModel(
        TINY_AE, n_classes=n_classes, width=16, depth=1, class_dim=3, time_dim=8, **kwargs
    ).eval()


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_dataset("digits", "train")


@pytest.fixture(scope="module")
def trained(digits) -> tuple[LatentFlowModel, list[dict]]:
    """An autoencoder and a flow on its codes, each trained for a few seconds on 8x8 digits."""
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(784, 32, 6)
    train_autoencoder(autoencoder, digits, epochs=5, lr=3e-3, progress=False)
    torch.manual_seed(0)
    model = LatentFlowModel(autoencoder, width=48, depth=2, class_dim=4, time_dim=16)
    history = train_flow(model, digits, epochs=12, batch_size=128, ema_decay=0.9, progress=False)
    return model, history


# --- the loss ---------------------------------------------------------------------------------


def test_the_loss_is_the_squared_error_of_the_velocity_on_the_straight_path():
    model = _flow()
    codes, labels = torch.randn(32, 4), torch.arange(32) % 11  # 10 = "no class"
    torch.manual_seed(3)
    loss = flow_matching_loss(model, codes, labels)

    torch.manual_seed(3)  # the long way, with the same draws in the same order
    noise = torch.randn(32, 4)
    t = torch.rand(32, 1)
    point = noise + t * (codes - noise)
    predicted = model.velocity(point, t, model.class_embedding(labels))
    by_hand = ((predicted - (codes - noise)) ** 2).sum() / codes.numel()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    # it really depends on the target: a wrong target gives another number
    torch.manual_seed(3)
    assert F.mse_loss(predicted, codes + noise).item() != pytest.approx(loss.item())


# --- the shared way to sample -----------------------------------------------------------------


def test_sample_is_decode_of_codes_and_decode_is_deterministic():
    model = _flow()
    z = model.codes(6, seed=4)
    assert z.shape == (6, model.latent_dim) and model.latent_dim == 4 + 3
    images = model.sample(6, seed=4)
    assert images.shape == (6, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, model.decode(z))
    assert torch.equal(model.decode(z), model.decode(z.clone()))
    assert not torch.equal(images, model.sample(6, seed=5))
    # temperature scales the noise part only; the class part is the class embedding
    cold = model.codes(6, seed=4, temperature=0.5)
    assert torch.allclose(cold[:, :4], 0.5 * z[:, :4]) and torch.equal(cold[:, 4:], z[:, 4:])


def test_the_code_carries_the_class_every_class_in_turn_by_default():
    model = _flow()
    z = model.codes(12, seed=0)
    expected = model.class_embedding(balanced_labels(12))
    assert torch.equal(z[:, 4:], expected)
    sevens = model.codes(3, seed=0, labels=7)
    assert torch.equal(sevens[:, 4:], model.class_embedding(torch.full((3,), 7)))
    assert torch.equal(sevens[:, :4], model.codes(3, seed=0)[:, :4])  # same seed, same noise


def test_guidance_zero_ignores_the_class_and_guidance_follows_it():
    model = _flow()
    zeros, fives = model.codes(4, seed=1, labels=0), model.codes(4, seed=1, labels=5)
    # guidance 0: the unconditional flow, the class part plays no role
    assert torch.equal(model.decode(zeros, guidance=0), model.decode(fives, guidance=0))
    # with guidance the label changes the image, and more guidance changes it more
    assert not torch.allclose(model.decode(zeros, guidance=2), model.decode(fives, guidance=2))
    assert not torch.allclose(model.decode(fives, guidance=0), model.decode(fives, guidance=2))
    # the defaults come from the model's settings and can be overridden per call
    assert torch.equal(model.decode(fives), model.decode(fives, steps=20, guidance=1.5))
    model.guidance, model.steps = 0.0, 3
    assert torch.equal(model.decode(fives), model.decode(zeros, steps=3, guidance=0))


def test_an_unconditional_flow_draws_with_the_no_class_embedding():
    model = _flow(n_classes=0)
    z = model.codes(3, seed=0)
    assert torch.equal(z[:, 4:], model.class_embedding(torch.zeros(3, dtype=torch.long)))
    with pytest.raises(ValueError, match="unconditional"):
        model.codes(3, labels=1)


def test_midpoint_differs_from_euler_and_path_ends_at_the_sample():
    model = _flow()
    z = model.codes(2, seed=0)
    assert not torch.allclose(model.decode(z, solver="euler"), model.decode(z, solver="midpoint"))
    film = model.path(z, steps=5)
    assert film.shape == (6, 2, 1, 28, 28)
    assert torch.allclose(film[-1], model.decode(z, steps=5))


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "10"])
def test_bad_steps_are_refused(steps):
    model = _flow()
    with pytest.raises(ValueError, match="steps must be a whole number >= 1"):
        model.sample(2, seed=0, steps=steps)


@pytest.mark.parametrize("guidance", [math.nan, math.inf, -math.inf, "2", None, True])
def test_bad_guidance_is_refused(guidance):
    model = _flow()
    z = model.codes(2, seed=0)
    if guidance is None:  # None means "the model's default", which is fine
        model.decode(z, guidance=guidance)
        with pytest.raises(ValueError, match="guidance must be a finite number"):
            LatentFlowModel(TINY_AE, guidance=guidance)
        return
    with pytest.raises(ValueError, match="guidance must be a finite number"):
        model.decode(z, guidance=guidance)


@pytest.mark.parametrize(
    ("labels", "message"),
    [(10, r"0\.\.9"), (-1, r"0\.\.9"), ([1, 2], "2 labels for 3 images"), (1.5, "whole")],
)
def test_labels_outside_the_classes_are_refused(labels, message):
    with pytest.raises(ValueError, match=message):
        _flow().sample(3, seed=0, labels=labels)


def test_bad_settings_and_codes_are_refused():
    model = _flow()
    with pytest.raises(ValueError, match="solver"):
        model.sample(2, solver="rk45")
    with pytest.raises(ValueError, match="solver"):
        LatentFlowModel(TINY_AE, solver="heun")
    with pytest.raises(ValueError, match=r"latent codes shaped \(n, 7\)"):
        model.decode(torch.randn(2, 4))
    with pytest.raises(ValueError, match="n_classes"):
        LatentFlowModel(TINY_AE, n_classes=-1)
    with pytest.raises(ValueError, match="AutoencoderModel"):
        LatentFlowModel("ae.pt")
    with pytest.raises(ValueError, match="train_flow needs a LatentFlowModel"):
        train_flow(AutoencoderModel(), torch.rand(4, 1, 28, 28), epochs=1)


def test_a_conditional_flow_needs_labelled_data():
    with pytest.raises(ValueError, match="labelled"):
        train_flow(_flow(), torch.rand(8, 1, 28, 28), epochs=1, progress=False)


# --- training ---------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_keeps_the_autoencoder(trained, digits):
    model, history = trained
    losses = [record["loss"] for record in history]
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0]
    # the codes were standardised: the training codes have mean 0 and spread 1 per number
    with torch.no_grad():
        codes = model.standardise(model.autoencoder.encode(digits.images))
    assert codes.mean(0).abs().max() < 1e-3 and (codes.std(0) - 1).abs().max() < 1e-3


def test_a_trained_flow_draws_codes_like_the_training_codes(trained, digits):
    """The flow carries noise to where the autoencoder's codes live (and noise alone does not)."""
    model, _ = trained
    with torch.no_grad():
        real = model.standardise(model.autoencoder.encode(digits.images))
        z = model.codes(2000, seed=0)
        noise = z[:, : model.noise_dim]
        drawn = integrate(model, noise, z[:, model.noise_dim :], 0.0, 1.0, 20, 1.0, "euler")

    def nearest(points: torch.Tensor) -> float:  # median distance to the nearest real code
        return torch.cdist(points, real).min(1).values.median().item()

    assert nearest(drawn) < 0.7 * nearest(noise)


def test_encode_then_decode_gives_the_image_back(trained, digits):
    model, _ = trained
    images = digits.images[:16]
    z = model.encode(images, steps=40)
    assert z.shape == (16, model.latent_dim)
    back = model.decode(z, steps=40)
    reconstruction = model.autoencoder(images)[0]
    error = (back - reconstruction).abs().mean().item()
    other = (back - reconstruction.roll(1, 0)).abs().mean().item()  # a different digit
    assert error < 0.2 * other


# --- checkpoints ------------------------------------------------------------------------------


def test_one_checkpoint_holds_the_flow_and_its_autoencoder(tmp_path):
    model = _flow(steps=7, guidance=1.5)
    model.fit_code_stats(torch.randn(50, 4) * 3 + 1)
    path = checkpoints.save(model, tmp_path / "flow.pt", dataset="digits")
    loaded = checkpoints.load(path)
    assert isinstance(loaded, LatentFlowModel)
    assert loaded.config == model.config and loaded.config["autoencoder"] == TINY_AE
    assert (loaded.steps, loaded.guidance) == (7, 1.5)
    assert torch.equal(loaded.code_mean, model.code_mean)
    assert torch.equal(loaded.sample(4, seed=2), model.sample(4, seed=2))


def test_a_checkpoint_that_does_not_fit_the_flow_is_refused(tmp_path):
    model = _flow()
    path = checkpoints.save(model, tmp_path / "flow.pt")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["code_std"]  # an older layout without the code statistics
    torch.save(payload, path)
    with pytest.raises(ValueError, match="missing code_std"):
        checkpoints.load(path)
    payload["state_dict"]["code_std"] = torch.ones(4)
    payload["config"]["autoencoder"] = {"latent_dim": "many"}
    torch.save(payload, path)
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        checkpoints.load(path)


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def judged(monkeypatch) -> list[torch.Tensor]:
    """Record the CLI's calls to the digit judge instead of training one (tested elsewhere)."""
    calls: list[torch.Tensor] = []
    monkeypatch.setattr(
        "course_lib.metrics.sample_quality",
        lambda samples: calls.append(samples) or {"score_ratio": 0.9, "fd_ratio": 3.0},
    )
    return calls


@pytest.fixture
def data_dir(tmp_path, monkeypatch, judged):
    folder = tmp_path / "course-data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(folder))
    return folder


def test_cli_train_flow_writes_one_checkpoint_outside_the_recipes(data_dir, judged, capsys):
    recipe_file = data_dir / "checkpoints" / "ae_digits.pt"
    recipe_file.parent.mkdir(parents=True)
    recipe_file.write_bytes(b"a recipe's checkpoint")
    args = ["train", "flow", "--dataset", "digits", "--time-budget", "2", "--hidden-dim", "16"]
    assert main(args) == 0
    out = data_dir / "checkpoints" / "cli" / "flow_mlp_digits.pt"
    assert f"Wrote {out}" in capsys.readouterr().out
    assert recipe_file.read_bytes() == b"a recipe's checkpoint"
    assert sorted(p.name for p in (data_dir / "checkpoints").rglob("*.pt")) == [
        "ae_digits.pt",
        "flow_mlp_digits.pt",
    ]
    model = checkpoints.load(out)
    assert isinstance(model, LatentFlowModel) and model.n_classes == 10
    meta = model.metadata
    assert meta["kind"] == "flow" and meta["history"][-1]["elapsed"] > 0
    # the budget covered the autoencoder (a quarter of it) too: the flow had the rest
    assert meta["history"][-1]["elapsed"] < 1.8
    # conditional (with the default guidance) and unconditional samples were judged
    assert [tuple(s.shape) for s in judged] == [(1000, 1, 28, 28)] * 2
    assert not torch.equal(judged[0], judged[1])
    assert meta["metrics"]["uncond_classifier_fd_ratio"] == 3.0


def test_cli_train_flow_reuses_a_given_autoencoder(data_dir, tmp_path):
    torch.manual_seed(0)
    autoencoder = AutoencoderModel(**TINY_AE)
    path = checkpoints.save(autoencoder, tmp_path / "ae.pt")
    out = tmp_path / "f.pt"
    args = ["train", "flow", "--dataset", "digits", "--epochs", "1", "--hidden-dim", "8"]
    assert main([*args, "--autoencoder", str(path), "--out", str(out)]) == 0
    model = checkpoints.load(out)
    for key, value in autoencoder.state_dict().items():  # used as it was, not retrained
        assert torch.equal(model.autoencoder.state_dict()[key], value)


def test_cli_refuses_an_autoencoder_that_is_not_one(data_dir, tmp_path, capsys):
    path = checkpoints.save(LatentFlowModel(TINY_AE), tmp_path / "flow.pt")
    args = ["train", "flow", "--dataset", "digits", "--epochs", "1", "--autoencoder", str(path)]
    assert main(args) == 2
    assert "not an AutoencoderModel" in capsys.readouterr().err
    assert main(["train", "vae", "--epochs", "1", "--autoencoder", str(path)]) == 2
    assert "only for `train flow`" in capsys.readouterr().err


# --- the recipe -------------------------------------------------------------------------------


@pytest.fixture
def tiny_flow_recipes(monkeypatch, tmp_path):
    from course_lib import recipes

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    ae = recipes.Recipe("ae", "digits", {"hidden_dim": 16, "latent_dim": 4}, epochs=1)
    flow = recipes.Recipe("flow", "digits", {"width": 16, "depth": 1}, epochs=2, batch_size=128)
    monkeypatch.setitem(recipes.RECIPES, "ae_digits", ae)
    monkeypatch.setitem(recipes.RECIPES, "flow_digits", flow)
    return recipes


def test_the_flow_recipe_builds_on_the_autoencoder_recipe(tiny_flow_recipes, capsys):
    recipes = tiny_flow_recipes
    model, history = recipes.get("flow_digits", progress=False)
    assert isinstance(model, LatentFlowModel) and len(history) == 2
    autoencoder, _ = recipes.get("ae_digits", progress=False)
    for key, value in autoencoder.state_dict().items():
        assert torch.equal(model.autoencoder.state_dict()[key], value)
    capsys.readouterr()
    again, _ = recipes.get("flow_digits", progress=False)
    assert "Loaded flow_digits.pt" in capsys.readouterr().out
    assert torch.equal(again.sample(3, seed=0), model.sample(3, seed=0))
    # a retrained autoencoder (other weights, same shapes) retrains the flow on its codes
    recipes.RECIPES["ae_digits"] = recipes.Recipe(
        "ae", "digits", {"hidden_dim": 16, "latent_dim": 4}, epochs=2
    )
    retrained, _ = recipes.get("flow_digits", progress=False)
    assert "Trained and saved flow_digits.pt" in capsys.readouterr().out
    assert not torch.equal(
        retrained.autoencoder.decoder[0].weight, model.autoencoder.decoder[0].weight
    )
