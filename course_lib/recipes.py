"""The course's standard models: one place that says how each shared checkpoint is trained.

Notebooks, the command line's defaults and the web gallery ask for a model by name, e.g.
``recipes.get("vae_mnist5k")``. The first caller trains it (a fixed number of epochs, seeded, so
the result is the same on every run) and saves it in the shared checkpoint folder; everyone
after that loads it. Because the recipe lives here and nowhere else, notebook 02 and notebook 05
can never disagree about what "the course VAE" is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .data import load_dataset
from .models import (
    AutoencoderModel,
    ConvGenerator,
    Discriminator,
    Generator,
    VariationalAutoencoder,
    critic_for,
)
from .notebook import train_or_load
from .training import (
    History,
    set_seed,
    train_autoencoder,
    train_conv_gan,
    train_gan,
    train_vae,
)

__all__ = ["Recipe", "RECIPES", "get", "train_fresh"]


@dataclass(frozen=True)
class Recipe:
    """How to build and train one shared model."""

    kind: str  # "ae", "vae", "gan" (the lesson's MLP GAN) or "conv_gan"
    dataset: str
    config: dict[str, int]
    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # other train_* keyword arguments


#: Epochs of the course's conv GANs: what fits in notebook 03b's minute on a laptop CPU.
EPOCHS_DCGAN = 5
EPOCHS_CGAN = 10

RECIPES: dict[str, Recipe] = {
    "ae_mnist5k": Recipe(
        "ae", "mnist5k", {"hidden_dim": 256, "latent_dim": 32}, epochs=20, lr=3e-3
    ),
    "vae_mnist5k": Recipe("vae", "mnist5k", {"hidden_dim": 400, "latent_dim": 32}, epochs=40),
    "vae2d_mnist5k": Recipe(
        "vae", "mnist5k", {"hidden_dim": 256, "latent_dim": 2}, epochs=40, lr=3e-3
    ),
    "gan_mnist5k": Recipe(
        "gan", "mnist5k", {"noise_dim": 64, "hidden_dim": 256}, epochs=60, lr=1e-3
    ),
    # The upgrade of notebook 03b and the gallery's GAN: a small DCGAN with hinge loss,
    # spectral normalisation, shift augmentation and a weight average (train_conv_gan).
    "dcgan_mnist5k": Recipe(
        "conv_gan", "mnist5k", {"noise_dim": 32, "width": 32}, epochs=EPOCHS_DCGAN, lr=3e-3
    ),
    # The same, told which digit to draw (class-conditional; critic_for gives it a deeper
    # critic). The command line's default GAN: `train gan`.
    "cgan_mnist5k": Recipe(
        "conv_gan",
        "mnist5k",
        {"noise_dim": 32, "width": 32, "n_classes": 10},
        epochs=EPOCHS_CGAN,
        lr=3e-3,
    ),
    "vae_patterns": Recipe(
        "vae", "patterns", {"hidden_dim": 512, "latent_dim": 16}, epochs=100, lr=3e-3
    ),
    # The same model trained with 2 free nats per latent dimension, against the posterior
    # collapse notebook 06 measures in the one above (train_vae's free_bits).
    "vae_patterns_freebits": Recipe(
        "vae",
        "patterns",
        {"hidden_dim": 512, "latent_dim": 16},
        epochs=100,
        lr=3e-3,
        extra={"free_bits": 2.0},
    ),
}


def _steps(
    recipe: Recipe,
    data: Any,
    epochs: int,
    progress: bool,
    callback: Callable[[dict[str, Any]], None] | None,
) -> tuple[Callable[[], nn.Module], Callable[[nn.Module], History]]:
    """How to build the recipe's model (seeded) and how to train it on ``data``."""
    input_dim = int(data.images[0].numel())
    train_kwargs = dict(
        epochs=epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        progress=progress,
        callback=callback,
        **recipe.extra,
    )

    if recipe.kind == "conv_gan":

        def build() -> nn.Module:
            set_seed(recipe.seed)
            return ConvGenerator(**recipe.config)

        def train(generator: nn.Module) -> History:
            _watch(callback, generator)
            return train_conv_gan(generator, critic_for(generator), data, **train_kwargs)

    elif recipe.kind == "gan":

        def build() -> nn.Module:
            set_seed(recipe.seed)
            return Generator(output_dim=input_dim, **recipe.config)

        def train(generator: nn.Module) -> History:
            _watch(callback, generator)
            critic = Discriminator(input_dim=input_dim, hidden_dim=recipe.config["hidden_dim"])
            return train_gan(generator, critic, data, **train_kwargs)

    else:
        cls = AutoencoderModel if recipe.kind == "ae" else VariationalAutoencoder
        loop = train_autoencoder if recipe.kind == "ae" else train_vae

        def build() -> nn.Module:
            set_seed(recipe.seed)
            return cls(input_dim=input_dim, **recipe.config)

        def train(model: nn.Module) -> History:
            _watch(callback, model)
            return loop(model, data, **train_kwargs)

    return build, train


def _recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def get(
    name: str,
    *,
    progress: bool = True,
    callback: Callable[[dict[str, Any]], None] | None = None,
    retrain: bool = False,
) -> tuple[nn.Module, History]:
    """The trained model called ``name`` and its history: loaded if saved before, else trained.

    For GANs the model returned is the generator (the part that makes images).
    """
    recipe = _recipe(name)
    data = load_dataset(recipe.dataset, "train")
    build, train = _steps(recipe, data, recipe.epochs, progress, callback)
    return train_or_load(
        name,
        build,
        train,
        retrain=retrain,
        kind=recipe.kind,
        dataset=recipe.dataset,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
        extra=recipe.extra,
        data=fingerprint(data.images, data.labels),
    )


def train_fresh(
    name: str, data: Any = None, *, epochs: int | None = None, progress: bool = False
) -> tuple[nn.Module, History]:
    """Build and train recipe ``name`` without the checkpoint cache: on ``data`` (default: the
    recipe's own training split) for ``epochs`` (default: the recipe's). The bench times
    training with it; nothing is saved."""
    recipe = _recipe(name)
    data = load_dataset(recipe.dataset, "train") if data is None else data
    build, train = _steps(recipe, data, epochs or recipe.epochs, progress, None)
    model = build()
    history = train(model)
    return model.eval(), history


def _watch(callback: Callable[[dict[str, Any]], None] | None, model: nn.Module) -> None:
    """Hand the model about to be trained to a callback that wants it (a TrainingMonitor)."""
    watch = getattr(callback, "watch", None)
    if callable(watch):
        watch(model)


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short hash of the training data, so a checkpoint trained on other data is not reused."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]
