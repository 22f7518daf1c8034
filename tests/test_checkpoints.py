"""Tests for course_lib.checkpoints: round trips, metadata, atomic writes and refusing bad files."""

import math
import os
import platform
import stat

import numpy as np
import pytest
import torch
from torch import nn

import course_lib
from course_lib import checkpoints
from course_lib.models import (
    MODEL_CLASSES,
    AutoencoderModel,
    Discriminator,
    Generator,
    VariationalAutoencoder,
)

NON_DEFAULT = [
    (AutoencoderModel, {"input_dim": 784, "hidden_dim": 24, "latent_dim": 5}),
    (VariationalAutoencoder, {"input_dim": 3 * 16 * 16, "hidden_dim": 12, "latent_dim": 3}),
    (Generator, {"noise_dim": 7, "hidden_dim": 20, "output_dim": 784}),
    (Discriminator, {"input_dim": 784, "hidden_dim": 9}),
]


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _outputs(model: nn.Module) -> torch.Tensor:
    """Something deterministic that depends on every weight of the model."""
    model.eval()
    with torch.no_grad():
        if isinstance(model, (Generator, AutoencoderModel, VariationalAutoencoder)):
            images = model.sample(3, seed=1)
            if isinstance(model, Generator):
                return images
            return torch.cat([images.flatten(), model(images)[0].flatten()])
        return model(torch.rand(3, model.input_dim, generator=torch.Generator().manual_seed(1)))


def _payload(**overrides):
    model = VariationalAutoencoder(784, 8, 2)
    payload = {
        "format": checkpoints.FORMAT,
        "format_version": checkpoints.FORMAT_VERSION,
        "class": "VariationalAutoencoder",
        "config": dict(model.config),
        "state_dict": model.state_dict(),
        "metadata": {},
    }
    payload.update(overrides)
    return payload


# ---- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "config"), NON_DEFAULT)
def test_round_trip_restores_weights_outputs_and_metadata(tmp_path, cls, config):
    torch.manual_seed(0)
    model = cls(**config)
    if isinstance(model, AutoencoderModel):  # the fitted prior is part of the model
        model.fit_latent_prior(torch.randn(50, config["latent_dim"]) * 3 + 1)
    path = checkpoints.save(model, tmp_path / "sub" / "m.pt", dataset="digits", metrics={"x": 1.5})
    assert path == tmp_path / "sub" / "m.pt" and path.is_file()

    torch.manual_seed(99)  # a fresh model would get different weights
    loaded = checkpoints.load(path)
    assert type(loaded) is cls
    assert loaded.config == config
    assert not loaded.training
    assert _same_weights(loaded, model)
    assert torch.equal(_outputs(loaded), _outputs(model))

    meta = loaded.metadata
    assert meta["class"] == cls.__name__
    assert meta["config"] == config
    assert meta["dataset"] == "digits"
    assert meta["metrics"] == {"x": 1.5}
    assert meta["versions"] == {
        "course_lib": course_lib.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }
    assert "saved_at" in meta


def test_read_metadata_matches_what_load_attaches(tmp_path):
    model = Generator(noise_dim=6, hidden_dim=10)
    path = checkpoints.save(model, tmp_path / "g.pt", history=[{"epoch": 1, "g_loss": 0.5}])
    meta = checkpoints.read_metadata(path)
    assert meta == checkpoints.load(path).metadata
    assert meta["class"] == "Generator"
    assert meta["config"] == {"noise_dim": 6, "hidden_dim": 10, "output_dim": 784}
    assert meta["history"] == [{"epoch": 1, "g_loss": 0.5}]


def test_save_plain_types_from_subclasses_of_str_and_float(tmp_path):
    """torch.__version__ is a str subclass; it must not stop weights_only loading."""
    model = Discriminator(784, 4)
    path = checkpoints.save(model, tmp_path / "d.pt", torch_version=torch.__version__)
    assert checkpoints.read_metadata(path)["torch_version"] == str(torch.__version__)


def test_load_moves_the_model_to_the_device(tmp_path):
    path = checkpoints.save(Discriminator(784, 4), tmp_path / "d.pt")
    model = checkpoints.load(path, device="cpu")
    assert all(p.device.type == "cpu" for p in model.parameters())


# ---- writing ------------------------------------------------------------------------------------


def test_save_leaves_no_temporary_files(tmp_path):
    model = VariationalAutoencoder(784, 8, 2)
    checkpoints.save(model, tmp_path / "v.pt")
    checkpoints.save(model, tmp_path / "v.pt", note="overwritten")
    assert [p.name for p in tmp_path.iterdir()] == ["v.pt"]
    assert checkpoints.read_metadata(tmp_path / "v.pt")["note"] == "overwritten"


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = checkpoints.save(VariationalAutoencoder(784, 8, 2), tmp_path / "v.pt", note="old")

    def crash(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoints.save(VariationalAutoencoder(784, 8, 2), path, note="new")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["v.pt"]
    assert checkpoints.read_metadata(path)["note"] == "old"


@pytest.mark.parametrize("bad", [{1, 2}, object(), float("nan"), float("inf"), b"bytes"])
def test_non_json_metadata_is_refused_before_writing(tmp_path, bad):
    with pytest.raises(ValueError, match="JSON"):
        checkpoints.save(AutoencoderModel(784, 8, 2), tmp_path / "a.pt", extra={"value": bad})
    assert list(tmp_path.iterdir()) == []


class _Renamed(VariationalAutoencoder):
    pass


@pytest.mark.parametrize("model", [nn.Linear(3, 2), _Renamed(784, 8, 2)])
def test_unsupported_modules_are_refused(tmp_path, model):
    with pytest.raises(ValueError, match="cannot save") as info:
        checkpoints.save(model, tmp_path / "x.pt")
    assert "VariationalAutoencoder" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# ---- reading bad files --------------------------------------------------------------------------


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train one first"):
        checkpoints.load(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        checkpoints.read_metadata(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError):
        checkpoints.load(tmp_path)  # a folder is not a checkpoint file


def test_truncated_checkpoint_is_a_value_error(tmp_path):
    path = checkpoints.save(VariationalAutoencoder(784, 8, 2), tmp_path / "v.pt")
    data = path.read_bytes()
    for cut in (len(data) // 2, 100, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="v.pt"):
            checkpoints.load(path)


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04 this is not really a zip archive",
        np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes(),
        b"hello world",
        np.random.default_rng(17).integers(0, 256, 1000, dtype=np.uint8).tobytes(),
        np.random.default_rng(54).integers(0, 256, 1000, dtype=np.uint8).tobytes(),
    ],
)
def test_garbage_files_are_value_errors(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.pt"):
        checkpoints.load(path)


class _WritesAMarker:
    """Unpickling this object opens (and so creates) a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(_payload(metadata={"x": _WritesAMarker(marker)}), path)

    # The file really is dangerous: an unsafe load would run the code.
    unsafe = torch.load(path, weights_only=False)
    unsafe["metadata"]["x"].close()  # the file object the payload opened
    assert marker.exists()
    marker.unlink()

    for reader in (checkpoints.load, checkpoints.read_metadata):
        with pytest.raises(ValueError, match="refusing"):
            reader(path)
        assert not marker.exists()


def test_unknown_class_is_refused_with_the_known_ones(tmp_path):
    path = tmp_path / "c.pt"
    torch.save(_payload(**{"class": "EvilNet", "config": {}, "state_dict": {}}), path)
    with pytest.raises(ValueError, match="EvilNet") as info:
        checkpoints.load(path)
    for name in MODEL_CLASSES:
        assert name in str(info.value)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_other_format_versions_are_refused(tmp_path, version):
    path = tmp_path / "c.pt"
    torch.save(_payload(format_version=version), path)
    with pytest.raises(ValueError, match="format version"):
        checkpoints.load(path)


@pytest.mark.parametrize("payload", [[1, 2, 3], {"format": "something else"}, {"a": 1}])
def test_files_without_the_header_are_refused(tmp_path, payload):
    path = tmp_path / "c.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match="not a course_lib checkpoint"):
        checkpoints.load(path)


def test_a_valid_handmade_payload_loads(tmp_path):
    """The guard tests above change one field of this payload; unchanged, it is accepted."""
    path = tmp_path / "c.pt"
    payload = _payload()
    torch.save(payload, path)
    loaded = checkpoints.load(path)
    assert isinstance(loaded, VariationalAutoencoder)
    assert torch.equal(loaded.decoder[0].weight, payload["state_dict"]["decoder.0.weight"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"config": {"input_dim": 784, "hidden_dim": 16, "latent_dim": 2}}, "do not fit"),
        ({"state_dict": {}}, "do not fit"),
        ({"config": {"input_dim": 784, "hidden_dim": 8, "latent_dim": 2, "depth": 3}}, "depth"),
        ({"config": {"input_dim": 784, "hidden_dim": 0, "latent_dim": 2}}, "hidden_dim"),
        ({"config": None}, "config"),
    ],
)
def test_weights_or_config_that_do_not_fit_are_refused(tmp_path, overrides, message):
    path = tmp_path / "c.pt"
    torch.save(_payload(**overrides), path)
    with pytest.raises(ValueError, match=message):
        checkpoints.load(path)


def test_round_trip_keeps_float_metadata_exact(tmp_path):
    path = checkpoints.save(Discriminator(784, 4), tmp_path / "d.pt", value=math.pi)
    assert checkpoints.read_metadata(path)["value"] == math.pi


def test_user_metadata_cannot_disguise_the_class(tmp_path):
    path = checkpoints.save(Discriminator(784, 4), tmp_path / "d.pt", **{"class": "Generator"})
    assert checkpoints.read_metadata(path)["class"] == "Discriminator"
    assert checkpoints.load(path).metadata["class"] == "Discriminator"


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_checkpoints_get_ordinary_file_permissions(tmp_path):
    ordinary = tmp_path / "ordinary"
    ordinary.write_bytes(b"")
    path = checkpoints.save(Discriminator(784, 4), tmp_path / "d.pt")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(ordinary.stat().st_mode)


def test_fingerprint_names_the_exact_weights(tmp_path):
    from course_lib.checkpoints import fingerprint, save
    from course_lib.models import AutoencoderModel

    torch.manual_seed(0)
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    save(AutoencoderModel(), a)
    torch.manual_seed(1)
    save(AutoencoderModel(), b)
    assert len(fingerprint(a)) == 16
    assert fingerprint(a) == fingerprint(a)
    assert fingerprint(a) != fingerprint(b)
    with pytest.raises(ValueError, match="cannot fingerprint"):
        fingerprint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("name", "module", "config"),
    [
        ("Linear", nn.Linear(3, 2), {"in_features": 3, "out_features": 2}),
        ("Sequential", nn.Sequential(), {}),
        ("Conv2d", nn.Conv2d(1, 2, 3), {"in_channels": 1, "out_channels": 2, "kernel_size": 3}),
        ("Module", nn.Module(), {}),
    ],
)
def test_a_real_torch_class_is_refused_even_if_the_allow_list_were_widened(
    tmp_path, monkeypatch, name, module, config
):
    path = tmp_path / f"{name}.pt"
    torch.save(
        {
            "format": checkpoints.FORMAT,
            "format_version": checkpoints.FORMAT_VERSION,
            "class": name,
            "config": config,
            "state_dict": module.state_dict(),
            "metadata": {},
        },
        path,
    )
    with pytest.raises(ValueError, match="unknown model class"):
        checkpoints.load(path)
    monkeypatch.setitem(checkpoints.MODEL_CLASSES, name, type(module))  # the list widened ...
    with pytest.raises(ValueError, match="not one of the course's own models"):
        checkpoints.load(path)  # ... and the torch class is still refused
    module.config = config
    with pytest.raises(ValueError, match="not one of the course's own models"):
        checkpoints.save(module, tmp_path / "saved.pt")
    assert not (tmp_path / "saved.pt").exists()


def test_a_checkpoint_in_an_open_binary_file_round_trips():
    import io

    torch.manual_seed(0)
    model = VariationalAutoencoder(hidden_dim=8, latent_dim=2)
    buffer = io.BytesIO()
    checkpoints.save(model, buffer, tensors={"extra": torch.arange(3)}, note="in memory")
    buffer.seek(0)
    loaded = checkpoints.load(buffer)
    assert loaded.metadata["note"] == "in memory"
    assert torch.equal(loaded.tensors["extra"], torch.arange(3))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        checkpoints.load(io.BytesIO(b"garbage"))
