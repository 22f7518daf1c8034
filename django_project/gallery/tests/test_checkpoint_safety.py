"""Hostile and damaged checkpoints: refused without running code, explained, never cached.

A checkpoint is a file anyone can send a learner. Each malicious one here really runs code
when opened the unsafe way (checked first, so the test cannot pass by a payload that is
harmless anyway); ``course_lib.checkpoints.load`` and the gallery must refuse it before a
marker file is created. Damaged files get a 503 that names the problem and the command that
fixes it, and the next request after the fix works: failures are never cached.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from course_lib import checkpoints, recipes
from course_lib.models import Discriminator, VariationalAutoencoder
from gallery import generation
from gallery.models import GeneratedArtwork
from gallery_site.testing.fuzzing import assert_refused, snapshot

pytestmark = pytest.mark.django_db

CREATE = reverse("gallery:create")
VAE_FILE = f"{generation.CHECKPOINTS['VAE']}.pt"


class Exploit:
    """Unpickling this object calls ``function(*args)``: the classic pickle attack."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


def exploits(marker: Path) -> dict[str, object]:
    """Ways a pickle can run code; each one creates ``marker`` if it ever runs."""
    return {
        "open": Exploit(open, str(marker), "w"),
        "exec": Exploit(exec, f"open({str(marker)!r}, 'w').close()"),
        "os.system": Exploit(os.system, f"touch '{marker}'"),
    }


def _payload(evil: object, where: str) -> object:
    """A real checkpoint's payload with ``evil`` hidden somewhere in it (or as all of it)."""
    payload = torch.load(_good_checkpoint_bytes(), weights_only=True)
    if where == "metadata":
        payload["metadata"]["note"] = evil
    elif where == "state_dict":
        payload["state_dict"]["decoder.0.weight"] = evil
    elif where == "config":
        payload["config"]["hidden_dim"] = evil
    else:
        payload = evil
    return payload


def _good_checkpoint_bytes() -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(
        {
            "format": checkpoints.FORMAT,
            "format_version": checkpoints.FORMAT_VERSION,
            "class": "VariationalAutoencoder",
            "config": {"input_dim": 784, "hidden_dim": 16, "latent_dim": 4},
            "state_dict": VariationalAutoencoder(hidden_dim=16, latent_dim=4).state_dict(),
            "metadata": {},
        },
        buffer,
    )
    buffer.seek(0)
    return buffer


def write_malicious(path: Path, evil: object, where: str, container: str) -> None:
    """Write the payload as torch's zip format, torch's legacy format, or a bare pickle."""
    payload = _payload(evil, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    if container == "zip":
        torch.save(payload, path)
    elif container == "legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))


def assert_really_dangerous(path: Path, marker: Path) -> None:
    """Opening the file the unsafe way runs the code: the refusal below is what saves us."""
    try:
        opened = torch.load(path, weights_only=False)
    except Exception:  # a damaged weight makes the unsafe load fail, after the code ran
        opened = None
    if hasattr(opened, "get") and hasattr(opened.get("metadata", {}).get("note"), "close"):
        opened["metadata"]["note"].close()
    assert marker.exists(), "the payload did not run code, so refusing it proves nothing"
    marker.unlink()


# --- course_lib.checkpoints.load -------------------------------------------------------------


@pytest.mark.parametrize("container", ["zip", "legacy", "pickle"])
@pytest.mark.parametrize("where", ["metadata", "state_dict", "config", "whole"])
@pytest.mark.parametrize("attack", ["open", "exec", "os.system"])
def test_load_refuses_code_in_a_checkpoint_without_running_it(tmp_path, attack, where, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    write_malicious(path, exploits(marker)[attack], where, container)
    assert_really_dangerous(path, marker)
    for reader in (checkpoints.load, checkpoints.read_metadata):
        with pytest.raises(ValueError, match="refusing to load .*could run arbitrary code"):
            reader(path)
        assert not marker.exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"input_dim": 784, "hidden_dim": 10**12, "latent_dim": 4}, "do not fit"),
        ({"input_dim": 10**15, "hidden_dim": 10**15, "latent_dim": 10**15}, "unusable"),
        ({"input_dim": 784, "hidden_dim": 16, "latent_dim": -4}, "latent_dim"),
        ({"input_dim": 784, "hidden_dim": "16", "latent_dim": 4}, "hidden_dim"),
        ({"input_dim": 784, "hidden_dim": 16, "latent_dim": 4, "evil": 1}, "evil"),
    ],
)
def test_hostile_configs_are_refused_before_anything_is_allocated(tmp_path, config, message):
    """hidden_dim=10**12 used to escape as a RuntimeError (a 500 in the gallery); sizes just
    small enough to allocate would have taken gigabytes before the weights were compared."""
    payload = torch.load(_good_checkpoint_bytes(), weights_only=True)
    payload["config"] = config
    path = tmp_path / "big.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=message):
        checkpoints.load(path)


def test_weights_that_are_not_tensors_are_refused(tmp_path):
    payload = torch.load(_good_checkpoint_bytes(), weights_only=True)
    payload["state_dict"]["decoder.0.weight"] = [1.0, 2.0]
    path = tmp_path / "lists.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="not a dict of named tensors"):
        checkpoints.load(path)


# --- the gallery -----------------------------------------------------------------------------


@pytest.fixture
def data_dir(tiny_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny models that a test may damage."""
    root = tmp_path / "course_data"
    shutil.copytree(tiny_data_dir, root)
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 60)
    return root


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


def _create(client: Client):
    return client.post(CREATE, {"method": "VAE", "creativity": "1"})


@pytest.mark.parametrize("container", ["zip", "legacy", "pickle"])
def test_gallery_refuses_a_malicious_checkpoint_and_recovers_once_it_is_replaced(
    client, data_dir, tmp_path, container
):
    marker = tmp_path / "pwned"
    path = data_dir / "checkpoints" / VAE_FILE
    good = path.read_bytes()
    write_malicious(path, exploits(marker)["open"], "metadata", container)
    assert_really_dangerous(path, marker)

    for _ in range(2):  # every request reads the file again: the refusal is not cached
        before = snapshot()
        message = assert_refused(_create(client), before, json=True, status=503)
        assert "refusing to load" in message and "could run arbitrary code" in message
        assert "python manage.py train_models" in message
        page = client.get(reverse("gallery:explore"))
        assert page.status_code == 503 and "refusing to load" in page.content.decode()
        assert not marker.exists()
        assert generation.load_count("VAE") == 0

    path.write_bytes(good)  # fixed: the next request works, no restart needed
    assert _create(client).status_code == 200
    assert not marker.exists() and generation.load_count("VAE") == 1


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "cut after the header": lambda data: data[:64],
    "empty": lambda data: b"",
    "random bytes": lambda data: bytes(range(256)) * 8,
    "text": lambda data: b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n",
    "zip without a checkpoint": lambda data: _zip_with({"hello.txt": b"hi"}),
}


def _zip_with(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_gives_a_503_that_says_what_to_do(client, data_dir, damage):
    path = data_dir / "checkpoints" / VAE_FILE
    good = path.read_bytes()
    path.write_bytes(DAMAGE[damage](good))

    before = snapshot()
    message = assert_refused(_create(client), before, json=True, status=503)
    assert str(path) in message and "corrupt or truncated" in message
    assert "python manage.py train_models" in message and "make gallery" in message
    explore = client.get(reverse("gallery:explore"))
    assert explore.status_code == 503
    html = explore.content.decode()
    assert "corrupt or truncated" in html and "python manage.py train_models" in html
    assert generation.load_count("VAE") == 0  # nothing half-loaded was kept

    path.write_bytes(good)
    assert _create(client).status_code == 200


@pytest.mark.parametrize(
    ("replacement", "says"),
    [
        (lambda: Discriminator(hidden_dim=8), "holds a Discriminator"),
        (lambda: VariationalAutoencoder(hidden_dim=8, latent_dim=3), None),
    ],
)
def test_a_foreign_but_safe_checkpoint_is_503_or_works(client, data_dir, replacement, says):
    """Another class is refused by name; a differently sized VAE simply becomes the model."""
    checkpoints.save(replacement(), data_dir / "checkpoints" / VAE_FILE)
    response = _create(client)
    if says:
        assert response.status_code == 503 and says in response.json()["error"]
    else:
        assert response.status_code == 200
        assert len(GeneratedArtwork.objects.get().latent_vector) == 3


def test_a_hostile_config_in_the_gallery_is_a_503_not_a_500(client, data_dir):
    path = data_dir / "checkpoints" / VAE_FILE
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden_dim"] = 10**12
    torch.save(payload, path)
    before = snapshot()
    message = assert_refused(_create(client), before, json=True, status=503)
    assert "do not fit" in message and "python manage.py train_models" in message


def test_interpolation_with_a_damaged_checkpoint_is_a_503_page(client, data_dir):
    a = GeneratedArtwork.objects.create(
        title="a", generation_method="VAE", image_file="a.png", latent_vector=[0.0] * 4
    )
    b = GeneratedArtwork.objects.create(
        title="b", generation_method="VAE", image_file="b.png", latent_vector=[1.0] * 4
    )
    path = data_dir / "checkpoints" / VAE_FILE
    path.write_bytes(path.read_bytes()[:100])
    response = client.get(reverse("gallery:interpolate", args=[a.pk, b.pk]))
    assert response.status_code == 503
    assert "corrupt or truncated" in response.content.decode()


@pytest.fixture
def fake_training(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """recipes.get writes a tiny fresh checkpoint instead of training for minutes."""
    calls: list[tuple[str, bool]] = []

    def fake_get(name, *, progress=True, retrain=False, **_):
        from course_lib.paths import checkpoint_path

        calls.append((name, retrain))
        if not retrain and checkpoint_path(name).is_file():
            checkpoints.load(checkpoint_path(name))  # what the real recipes.get does
        checkpoints.save(VariationalAutoencoder(hidden_dim=8, latent_dim=4), checkpoint_path(name))
        return None, []

    monkeypatch.setattr(recipes, "get", fake_get)
    return calls


@pytest.mark.parametrize("problem", ["malicious", "truncated"])
def test_the_advised_command_replaces_an_unusable_checkpoint(
    client, data_dir, tmp_path, fake_training, problem
):
    """`train_models` (what the 503 says to run) retrains a bad file, not "already trained"."""
    path = data_dir / "checkpoints" / VAE_FILE
    if problem == "malicious":
        write_malicious(path, exploits(tmp_path / "pwned")["exec"], "metadata", "zip")
    else:
        path.write_bytes(path.read_bytes()[:200])
    assert _create(client).status_code == 503

    out = io.StringIO()
    call_command("train_models", "--method", "VAE", stdout=out)
    assert fake_training == [("mvae_mnist5k", True)]
    assert "the checkpoint cannot be used" in out.getvalue()
    assert not (tmp_path / "pwned").exists()
    assert _create(client).status_code == 200  # the running site picks the new file up


def test_train_models_still_skips_usable_checkpoints(data_dir, fake_training):
    out = io.StringIO()
    call_command("train_models", stdout=out)
    assert fake_training == [] and out.getvalue().count("is already trained") == 6
