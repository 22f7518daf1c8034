"""register_models: one record per shared checkpoint, idempotent, refreshed when retrained."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from django.core.management import call_command

from course_lib import checkpoints, recipes
from course_lib.models import VariationalAutoencoder
from gallery.generation import CHECKPOINTS
from gallery_site.testing.checkpoints import write_tiny_checkpoints
from workshop import services
from workshop.models import ModelRecord

pytestmark = pytest.mark.django_db


def register() -> str:
    out = io.StringIO()
    call_command("register_models", stdout=out)
    return out.getvalue()


def test_each_generative_checkpoint_gets_a_record(shared_models: Path) -> None:
    output = register()
    records = {r.checkpoint: r for r in ModelRecord.objects.all()}
    assert sorted(records) == ["ae_mnist5k.pt", "gan_mnist5k.pt", "vae_mnist5k.pt"]
    assert "digit_classifier.pt: skipped (DigitClassifier does not generate images)" in output
    assert (
        "broken.pt: skipped" in output and "3 created, 0 updated, 0 unchanged, 2 skipped" in output
    )
    vae = records["vae_mnist5k.pt"]
    assert (vae.kind, vae.architecture, vae.source, vae.status) == (
        "vae",
        "VariationalAutoencoder",
        "shared",
        "done",
    )
    assert vae.fingerprint == checkpoints.fingerprint(shared_models / "vae_mnist5k.pt")
    assert (vae.input_dim, vae.latent_dim, vae.dataset) == (784, 4, "mnist5k")
    assert records["gan_mnist5k.pt"].kind == "gan" and records["ae_mnist5k.pt"].kind == "ae"
    # Each kind's default is the checkpoint the gallery serves (gallery.generation.CHECKPOINTS):
    # here only the autoencoder's; vae_mnist5k and gan_mnist5k are the lesson's models, which
    # the gallery keeps beside its best ones (the mixture VAE, the conditional GAN).
    served = {f"{name}.pt" for name in CHECKPOINTS.values()}
    assert (
        {r.checkpoint for r in ModelRecord.objects.filter(is_default=True)}
        == {"ae_mnist5k.pt"}
        == served & set(records)
    )
    # The record points at the file; no copy of the weights is made anywhere.
    assert sorted(p.name for p in shared_models.rglob("*.pt")) == [
        "ae_mnist5k.pt",
        "broken.pt",
        "digit_classifier.pt",
        "gan_mnist5k.pt",
        "vae_mnist5k.pt",
    ]


def test_registering_again_changes_nothing(shared_models: Path) -> None:
    register()
    before = list(ModelRecord.objects.values())
    output = register()
    assert "0 created, 0 updated, 3 unchanged" in output
    assert list(ModelRecord.objects.values()) == before


def test_a_retrained_checkpoint_updates_its_record(shared_models: Path) -> None:
    register()
    defaults = set(ModelRecord.objects.filter(is_default=True).values_list("pk", flat=True))
    vae = ModelRecord.objects.get(checkpoint="vae_mnist5k.pt")
    old_grid = services.sample_grid(vae)
    torch.manual_seed(99)
    history = [{"epoch": 1, "loss": 200.0}, {"epoch": 2, "loss": 150.0}]
    checkpoints.save(
        VariationalAutoencoder(hidden_dim=16, latent_dim=6),
        shared_models / "vae_mnist5k.pt",
        history=history,
    )
    # Until it is registered again, the changed file is refused rather than served.
    services.clear_cache()
    with pytest.raises(services.RecordUnavailable, match="has changed since it was recorded"):
        services.load_model(vae)
    assert "vae_mnist5k.pt: updated" in register()
    vae.refresh_from_db()
    assert vae.fingerprint == checkpoints.fingerprint(shared_models / "vae_mnist5k.pt")
    assert vae.latent_dim == 6 and vae.training_history == history and vae.final_loss == 150.0
    assert ModelRecord.objects.count() == 3
    assert set(ModelRecord.objects.filter(is_default=True).values_list("pk", flat=True)) == defaults
    assert services.sample_grid(vae) != old_grid


def test_the_instructors_default_is_kept(shared_models: Path, done_record) -> None:
    done_record.is_default = True
    done_record.save()
    register()
    assert list(ModelRecord.objects.filter(kind="vae", is_default=True)) == [done_record]
    assert services.default_record("vae") == done_record
    assert services.default_record("gan").checkpoint == "gan_mnist5k.pt"


def test_train_models_registers_what_it_trained(
    shared_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tiny_checkpoints(shared_models.parent)  # every model the gallery serves, tiny
    monkeypatch.setattr(recipes, "get", lambda *a, **k: pytest.fail("nothing needs training"))
    out = io.StringIO()
    call_command("train_models", stdout=out)  # the tiny models count as trained: none retrained
    assert "6 created" in out.getvalue()
    assert ModelRecord.objects.count() == 6
    assert ModelRecord.objects.filter(is_default=True).count() == 4  # one per gallery method


def test_deleting_a_shared_record_keeps_its_checkpoint(shared_models: Path, done_record) -> None:
    register()
    ModelRecord.objects.get(checkpoint="gan_mnist5k.pt").delete()
    assert (shared_models / "gan_mnist5k.pt").is_file()
