"""Shared checkpoints: trained once, loaded afterwards, retrained when the recipe changes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from course_lib import recipes
from course_lib.models import Generator, VariationalAutoencoder, critic_for
from course_lib.notebook import plot_history
from course_lib.recipes import train_or_load

TINY_VAE = recipes.Recipe("vae", "digits", {"hidden_dim": 16, "latent_dim": 3}, epochs=2)
TINY_GAN = recipes.Recipe("gan", "digits", {"noise_dim": 4, "hidden_dim": 16}, epochs=1, lr=2e-4)


@pytest.fixture
def tiny_recipes(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(recipes.RECIPES, "tiny_vae", TINY_VAE)
    monkeypatch.setitem(recipes.RECIPES, "tiny_gan", TINY_GAN)
    return tmp_path


def test_get_trains_once_then_loads_the_same_weights(tiny_recipes, capsys):
    model, history = recipes.get("tiny_vae", progress=False)
    assert "Trained and saved" in capsys.readouterr().out
    assert isinstance(model, VariationalAutoencoder) and model.latent_dim == 3
    assert (tiny_recipes / "checkpoints" / "tiny_vae.pt").is_file()

    again, history_again = recipes.get("tiny_vae", progress=False)
    assert "Loaded" in capsys.readouterr().out
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    # The history comes back too, so plots look the same whether trained or loaded.
    assert [round(r["loss"], 4) for r in history] == [round(r["loss"], 4) for r in history_again]


def test_training_is_deterministic_so_a_retrain_matches_the_saved_model(tiny_recipes):
    first, _ = recipes.get("tiny_vae", progress=False)
    second, _ = recipes.get("tiny_vae", progress=False, retrain=True)
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key])


def test_a_changed_recipe_retrains_instead_of_loading_a_stale_model(
    tiny_recipes, monkeypatch, capsys
):
    recipes.get("tiny_vae", progress=False)
    capsys.readouterr()
    monkeypatch.setitem(
        recipes.RECIPES,
        "tiny_vae",
        recipes.Recipe("vae", "digits", {"hidden_dim": 16, "latent_dim": 3}, epochs=3),
    )
    _, history = recipes.get("tiny_vae", progress=False)
    assert "Trained and saved" in capsys.readouterr().out
    assert len(history) == 3


def test_gan_recipe_returns_the_generator_and_calls_the_callback(tiny_recipes):
    seen = []
    generator, history = recipes.get("tiny_gan", progress=False, callback=seen.append)
    assert isinstance(generator, Generator)
    assert seen == history and {"d_loss", "g_loss"} <= set(history[0])
    assert generator.sample(2, seed=0).shape == (2, 1, 28, 28)


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(ValueError, match="vae_mnist5k"):
        recipes.get("nope")


def test_a_corrupt_checkpoint_is_retrained_not_fatal(tiny_recipes, capsys):
    path = tiny_recipes / "checkpoints" / "tiny_vae.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    model, _ = recipes.get("tiny_vae", progress=False)
    assert "Trained and saved" in capsys.readouterr().out
    assert isinstance(model, VariationalAutoencoder)


def test_train_or_load_refuses_a_checkpoint_of_another_class(tiny_recipes, capsys):
    recipes.get("tiny_vae", progress=False)
    capsys.readouterr()
    trained = []

    def train(model):
        trained.append(model)
        return [{"epoch": 1, "loss": 0.0}]

    model, _ = train_or_load("tiny_vae", lambda: Generator(noise_dim=3, hidden_dim=8), train)
    assert trained and isinstance(model, Generator)


def test_plot_history_checks_its_keys():
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]
    fig = plot_history(history, ["loss"])
    assert [line.get_ydata().tolist() for line in fig.axes[0].lines] == [[2.0, 1.0]]
    with pytest.raises(ValueError, match="kl"):
        plot_history(history, ["kl"])
    with pytest.raises(ValueError, match="empty"):
        plot_history([], ["loss"])


def test_a_checkpoint_trained_on_other_data_is_not_reused(tiny_recipes, monkeypatch, capsys):
    recipes.get("tiny_vae", progress=False)
    capsys.readouterr()
    real_load = recipes.load_dataset

    def shuffled(name, split):
        data = real_load(name, split)
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
        return type(data)(data.images[order], data.labels[order], data.classes, data.name)

    monkeypatch.setattr(recipes, "load_dataset", shuffled)
    recipes.get("tiny_vae", progress=False)
    assert "Trained and saved" in capsys.readouterr().out


def test_callbacks_with_watch_see_the_model_before_training(tiny_recipes):
    events = []

    class Watcher:
        def watch(self, model):
            events.append(("watch", type(model).__name__))

        def __call__(self, record):
            events.append(("epoch", record["epoch"]))

    recipes.get("tiny_gan", progress=False, callback=Watcher())
    assert events[0] == ("watch", "Generator") and events[1] == ("epoch", 1)


def test_train_fresh_trains_like_get_but_saves_nothing(tiny_recipes):
    model, history = recipes.train_fresh("tiny_vae", epochs=1)
    assert len(history) == 1 and isinstance(model, VariationalAutoencoder)
    assert not (tiny_recipes / "checkpoints").exists()
    saved, _ = recipes.get("tiny_vae", progress=False)  # 2 epochs, the recipe's own
    full, _ = recipes.train_fresh("tiny_vae")
    for key, value in saved.state_dict().items():
        assert torch.equal(value, full.state_dict()[key])
    generator, _ = recipes.train_fresh("tiny_gan")
    assert isinstance(generator, Generator) and not generator.training
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.train_fresh("nope")


def test_a_conditional_recipe_trains_a_generator_that_takes_labels(tiny_recipes, monkeypatch):
    tiny = recipes.Recipe(
        "conv_gan", "digits", {"noise_dim": 4, "width": 4, "n_classes": 10}, epochs=1
    )
    monkeypatch.setitem(recipes.RECIPES, "tiny_cgan", tiny)
    seen = []
    monkeypatch.setattr(recipes, "critic_for", lambda g: seen.append(g) or critic_for(g))
    generator, history = recipes.get("tiny_cgan", progress=False)
    assert generator.n_classes == 10 and len(seen) == 1
    assert {"d_loss", "g_loss"} <= set(history[0])
    sevens = generator.sample(3, seed=0, labels=7)
    assert not torch.equal(sevens, generator.sample(3, seed=0, labels=1))
    assert recipes.RECIPES["cgan_mnist5k"].config["n_classes"] == 10


@pytest.mark.parametrize(
    "change",
    [{"lr": 2e-3}, {"batch_size": 32}, {"seed": 1}, {"extra": {"lr_schedule": "constant"}}],
    ids=["lr", "batch_size", "seed", "extra"],
)
def test_a_recipe_with_other_training_settings_retrains(tiny_recipes, monkeypatch, capsys, change):
    first, _ = recipes.get("tiny_vae", progress=False)
    capsys.readouterr()
    monkeypatch.setitem(recipes.RECIPES, "tiny_vae", dataclasses.replace(TINY_VAE, **change))
    second, _ = recipes.get("tiny_vae", progress=False)
    assert "Trained and saved" in capsys.readouterr().out
    assert any(not torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())
    recipes.get("tiny_vae", progress=False)  # and the new one is then reused
    assert "Loaded" in capsys.readouterr().out
