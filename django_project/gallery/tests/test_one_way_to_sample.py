"""The gallery draws codes through each model's own prior, and the command line's default
output never replaces a checkpoint that the gallery (or a notebook) uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from course_lib import checkpoints, recipes
from course_lib.__main__ import main
from course_lib.models import ConvGenerator, MixturePriorVAE
from course_lib.paths import checkpoint_dir, checkpoint_path
from gallery import generation


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def test_the_cli_defaults_leave_every_recipe_checkpoint_alone(data_dir, monkeypatch, capsys):
    # Every shared checkpoint in place, as after `make gallery` (untrained: only files matter).
    for name, recipe in recipes.RECIPES.items():
        autoencoder = None
        if recipe.kind == "flow":
            autoencoder = recipes.build_model(recipes.RECIPES[recipes.autoencoder_recipe(recipe)])
        model = recipes.build_model(recipe, autoencoder=autoencoder)
        checkpoints.save(model, checkpoint_path(name))
    before = {p.name: checkpoints.fingerprint(p) for p in checkpoint_dir().glob("*.pt")}
    assert set(before) == {f"{name}.pt" for name in recipes.RECIPES}
    # The digit judge trains for 15 s; its numbers do not matter here.
    monkeypatch.setattr("course_lib.metrics.sample_quality", lambda samples: {"fd_ratio": 1.0})

    tiny = ["--dataset", "mnist5k", "--time-budget", "0.2", "--hidden-dim", "8"]
    for kind in ("ae", "vae", "gan", "flow"):
        assert main(["train", kind, *tiny, "--latent-dim", "4"]) == 0
    out = capsys.readouterr().out

    after = {p.name: checkpoints.fingerprint(p) for p in checkpoint_dir().glob("*.pt")}
    assert after == before  # not one shared file written
    written = sorted(p.name for p in (checkpoint_dir() / "cli").iterdir())
    assert written == [
        "ae_mlp_mnist5k.pt",
        "flow_mlp_mnist5k.pt",
        "gan_conditional_mnist5k.pt",
        "vae_mixture_mnist5k.pt",
    ]
    assert str(checkpoint_dir() / "cli" / "gan_conditional_mnist5k.pt") in out
    assert isinstance(checkpoints.load(checkpoint_dir() / "cli" / written[2]), ConvGenerator)
    # ... and the gallery still serves its models from the shared files.
    assert isinstance(generation.get_model("GAN"), ConvGenerator)
    for method in generation.CHECKPOINTS:
        assert generation.generate(method, 1.0, seed=0).png_bytes.startswith(b"\x89PNG")


def test_the_gallery_draws_codes_from_a_learned_prior(data_dir):
    torch.manual_seed(0)
    vae = MixturePriorVAE(hidden_dim=16, latent_dim=2, n_components=2)
    with torch.no_grad():  # two tight blobs far from the origin, where N(0, I) never goes
        vae.prior_means.copy_(torch.tensor([[8.0, 0.0], [0.0, -8.0]]))
        vae.prior_logvars.fill_(-6.0)
    checkpoints.save(vae, checkpoint_path(generation.CHECKPOINTS["VAE"]))
    image = generation.generate("VAE", 0.5, seed=3)
    expected = vae.codes(1, seed=3, temperature=0.5)[0]
    assert image.latent_vector == pytest.approx(expected.tolist())
    assert min(torch.tensor(image.latent_vector).sub(vae.prior_means).norm(dim=1)) < 0.5
