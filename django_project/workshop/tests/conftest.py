"""Fixtures for the model workshop: a private checkpoint folder, immediate tasks, a quick judge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from course_lib import checkpoints
from course_lib.models import AutoencoderModel, DigitClassifier, Generator, VariationalAutoencoder
from workshop import services
from workshop.models import ModelKind, ModelRecord, ModelSource, ModelStatus

#: Tiny untrained models under the gallery's shared checkpoint names.
SHARED = {
    "vae_mnist5k": lambda: VariationalAutoencoder(hidden_dim=16, latent_dim=4),
    "gan_mnist5k": lambda: Generator(noise_dim=8, hidden_dim=16),
    "ae_mnist5k": lambda: AutoencoderModel(hidden_dim=16, latent_dim=4),
}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own COURSE_DATA_DIR: no shared checkpoint is read or written."""
    root = tmp_path / "course_data"
    (root / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    return root


@pytest.fixture
def checkpoint_files(data_dir: Path) -> Callable[[], list[str]]:
    """A function listing every file under the checkpoint folder, relative to it."""
    folder = data_dir / "checkpoints"
    return lambda: sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def quick_tasks(settings) -> None:
    """Tasks run at once in the caller (no worker)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def quick_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """An untrained (seeded) digit judge: the figures are computed for real, in a second."""
    torch.manual_seed(0)
    classifier = DigitClassifier().eval()
    monkeypatch.setattr(services, "judge", lambda: classifier)


@pytest.fixture(autouse=True)
def fresh_service() -> Iterator[None]:
    """No cached models between tests; torch's thread count restored for other suites."""
    threads = torch.get_num_threads()
    services.clear_cache()
    yield
    services.clear_cache()
    torch.set_num_threads(threads)


@pytest.fixture
def shared_models(data_dir: Path) -> Path:
    """The shared folder with tiny course models, the digit judge and one damaged file."""
    folder = data_dir / "checkpoints"
    torch.manual_seed(0)
    for name, build in SHARED.items():
        checkpoints.save(build(), folder / f"{name}.pt", recipe={"dataset": "mnist5k", "seed": 0})
    checkpoints.save(DigitClassifier(), folder / "digit_classifier.pt")
    (folder / "broken.pt").write_bytes(b"not a checkpoint")
    return folder


@pytest.fixture
def done_record(db, data_dir: Path) -> ModelRecord:
    """A finished web-trained record with a tiny checkpoint under web/, as the worker leaves it."""
    torch.manual_seed(1)
    relative = "web/record-test.pt"
    path = data_dir / "checkpoints" / relative
    checkpoints.save(VariationalAutoencoder(hidden_dim=16, latent_dim=4), path)
    history = [{"epoch": 1, "loss": 300.0}, {"epoch": 2, "loss": 250.5}]
    return ModelRecord.objects.create(
        name="Tiny VAE",
        kind=ModelKind.VAE,
        architecture="VariationalAutoencoder",
        source=ModelSource.WEB,
        checkpoint=relative,
        fingerprint=checkpoints.fingerprint(path),
        input_dim=784,
        latent_dim=4,
        parameters=1000,
        final_loss=250.5,
        metrics={"neg_elbo_nats": 250.0, "score_ratio": 0.5, "fd_ratio": 12.0, "copies": 0.0},
        training_history=history,
        epochs=2,
        batch_size=64,
        status=ModelStatus.DONE,
        progress=1.0,
    )


@pytest.fixture
def fake_metrics(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Skip the held-out figures (8 s of judging) in tests about something else."""
    figures = {"score_ratio": 0.5}
    monkeypatch.setattr(services, "evaluate", lambda model, kind, dataset: dict(figures))
    return figures
