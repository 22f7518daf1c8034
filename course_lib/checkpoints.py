"""Save and load trained models safely: weights plus JSON metadata, never arbitrary pickles.

A checkpoint is a ``torch.save`` file holding only tensors, strings, numbers, lists and dicts:

    {"format": "course_lib.checkpoint", "format_version": 1, "class": "VariationalAutoencoder",
     "config": {...constructor arguments...}, "state_dict": {...}, "metadata": {...}}

``load`` reads it with ``torch.load(weights_only=True)``, which refuses to run code hidden in a
pickle, and rebuilds the model only from the classes in :data:`MODEL_CLASSES`
(the course's own models, never a torch class such as ``Linear`` or ``Sequential``). A model
may carry extra tensors beside its weights (a style keeps its original images), under
``"tensors"``. ``save`` and ``load`` take a path or an open binary file (``io.BytesIO``, a
Django ``File``), so a web app can keep checkpoints in its storage without temporary files.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import torch
from torch import nn

from . import __version__
from .flow import LatentFlowModel
from .models import MODEL_CLASSES as _LESSON_CLASSES

#: Every class a checkpoint may name: the lesson's models plus the latent flow model, which lives
#: in its own module because it builds on the autoencoder (models.py cannot import it).
MODEL_CLASSES = {**_LESSON_CLASSES, LatentFlowModel.__name__: LatentFlowModel}

__all__ = ["save", "load", "read_metadata", "fingerprint", "FORMAT", "FORMAT_VERSION"]

FORMAT = "course_lib.checkpoint"
FORMAT_VERSION = 1

#: Where a checkpoint is read from or written to: a path, or an open binary file.
Source = str | Path | IO[bytes]


def _is_path(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike))


def source_name(source: Any) -> str:
    """How messages name a checkpoint: its path, or the file object's name if it has one."""
    if _is_path(source):
        return str(source)
    return str(getattr(source, "name", None) or "the checkpoint file")


def fingerprint(path: str | Path) -> str:
    """A short name for exactly these weights: the first 16 hex digits of the file's SHA-256.

    Whatever records which checkpoint made something (an artwork, a model record) stores this
    beside the file name, so a retrained model under the same name is noticed.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise ValueError(f"cannot fingerprint checkpoint {path}: {err.strerror or err}") from None
    return digest.hexdigest()[:16]


def _course_class(name: Any, what: str) -> type[nn.Module]:
    """The course model class called ``name``; anything else is a ValueError starting ``what``.

    The allow-list is checked twice over: the name must be in ``MODEL_CLASSES`` and the class
    must be defined in ``course_lib.models`` or ``course_lib.flow``, so even a widened list
    never admits a torch class
    (``Linear``, ``Sequential``, ``Module``) whose constructor a hostile file could drive.
    """
    cls = MODEL_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{what} an unknown model class {name!r}; known: {', '.join(MODEL_CLASSES)}"
        )
    course_modules = (f"{__package__}.models", f"{__package__}.flow")
    if cls.__module__ not in course_modules or cls.__name__ != name:
        raise ValueError(f"{what} a {name!r}, which is not one of the course's own models")
    return cls


def save(
    model: nn.Module,
    path: Source,
    *,
    tensors: dict[str, torch.Tensor] | None = None,
    **metadata: Any,
) -> Source:
    """Write ``model``'s weights and constructor arguments plus ``metadata`` to ``path``.

    Metadata must be JSON-serialisable (dataset name, metrics, history, ...); ``tensors`` are
    extra named tensors kept beside the weights (``load`` gives them back as ``.tensors``). A
    path is written to a temporary name first and moved into place, so a crash never leaves
    half a checkpoint behind; an open binary file is written as it is.
    """
    name = type(model).__name__
    if name not in MODEL_CLASSES or not isinstance(model, MODEL_CLASSES[name]):
        raise ValueError(
            f"cannot save a {name}: checkpoints hold one of {', '.join(MODEL_CLASSES)}"
        )
    _course_class(name, "cannot save")
    try:
        # The JSON round trip also turns str/float subclasses (torch.__version__ is one) into
        # plain types, which is what lets load() use weights_only=True.
        metadata = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint metadata must be JSON-serialisable: {err}") from None
    tensors = dict(tensors or {})
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
        raise ValueError("tensors must map names to torch tensors")

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": name,
        "config": json.loads(json.dumps(model.config)),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "tensors": {k: v.detach().cpu() for k, v in tensors.items()},
        "metadata": {
            **metadata,
            "versions": {
                "course_lib": __version__,
                "torch": str(torch.__version__),
                "python": platform.python_version(),
            },
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    }
    return write_atomic(payload, path)


def jsonable(value: Any) -> Any:
    """``value`` with floats rounded to 6 digits, so metadata (a recipe, training settings)
    compares equal after a save/load round trip."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_atomic(payload: dict[str, Any], path: Source) -> Source:
    """``torch.save`` to a temporary file, then move it into place: never half a file.

    An open binary file is written directly (its owner decides where the bytes go)."""
    if not _is_path(path):
        torch.save(payload, path)
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a checkpoint is not
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)  # atomic: readers see the old file or the new one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_payload(source: Source, *, kind: str = "checkpoint", missing_hint: str = "") -> Any:
    """Load a ``torch.save`` file (a path or an open binary file) holding only tensors and
    plain data.

    Every failure is a ``FileNotFoundError`` or a ``ValueError`` naming the file; "refusing" is
    said only when the file really holds something that could run code.
    """
    name = source_name(source)
    if _is_path(source) and not Path(source).is_file():
        raise FileNotFoundError(f"no {kind} at {name}{missing_hint}")
    try:
        return torch.load(
            Path(source) if _is_path(source) else source, map_location="cpu", weights_only=True
        )
    except pickle.UnpicklingError as err:
        # The weights-only unpickler names the callable it blocked ("unsupported GLOBAL ...").
        lines = [ln.strip() for ln in str(err).splitlines()]
        blocked = [ln for ln in lines if "global" in ln.lower()]
        if blocked:
            raise ValueError(
                f"refusing to load {name}: it contains objects other than tensors and plain "
                f"data, which could run arbitrary code ({blocked[-1]})"
            ) from None
        raise ValueError(f"{name} is not a readable {kind} (corrupt or truncated?)") from None
    except Exception as err:  # torch raises many kinds of error on garbage; all mean the same
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{name} is not a readable {kind} (corrupt or truncated?): {first}"
        ) from None


def check_header(payload: Any, source: Source, kind: str = "checkpoint") -> dict[str, Any]:
    """``payload`` if it carries this course_lib's checkpoint header, else a ValueError."""
    name = source_name(source)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{name} is not a course_lib {kind} (no '{FORMAT}' header)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{name} has {kind} format version {payload.get('format_version')!r}; "
            f"this course_lib reads version {FORMAT_VERSION}"
        )
    return payload


def _read(path: Source) -> dict[str, Any]:
    payload = read_payload(
        path,
        missing_hint=": train one first, e.g. `python -m course_lib train vae --dataset mnist5k`",
    )
    return check_header(payload, path)


def read_metadata(path: Source) -> dict[str, Any]:
    """The metadata stored with a checkpoint plus its class and constructor arguments."""
    payload = _read(path)
    return {**payload["metadata"], "class": payload["class"], "config": payload["config"]}


def check_weights_fit(path: Source, name: str, config: dict, state_dict: Any) -> None:
    """Refuse a config whose model would not match the stored tensors, before building it.

    The model is first built on PyTorch's "meta" device, which records shapes but allocates
    nothing: a damaged or hostile config such as ``hidden_dim=10**9`` would otherwise try to
    allocate terabytes (a RuntimeError, or the process killed for memory). Once the shapes
    match the stored tensors, the real model is no bigger than the file itself.
    """
    try:
        with torch.device("meta"):
            skeleton = MODEL_CLASSES[name](**config)
    except TypeError as err:
        raise ValueError(
            f"{source_name(path)} has constructor arguments that {name} does not take: {err}"
        ) from None
    except (ValueError, RuntimeError, OverflowError) as err:
        raise ValueError(
            f"{source_name(path)} has unusable constructor arguments for {name}: {err}"
        ) from None
    if not isinstance(state_dict, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor)
        for key, value in state_dict.items()
    ):
        raise ValueError(f"{source_name(path)}: the stored weights are not a dict of named tensors")
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    stored = {key: tuple(value.shape) for key, value in state_dict.items()}
    if expected != stored:
        missing = sorted(expected.keys() - stored.keys())
        unexpected = sorted(stored.keys() - expected.keys())
        resized = [
            f"{key} is {stored[key]}, needs {expected[key]}"
            for key in expected.keys() & stored.keys()
            if stored[key] != expected[key]
        ]
        details = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(unexpected)}" if unexpected else "",
                ", ".join(sorted(resized)),
            )
            if part
        )
        raise ValueError(
            f"{source_name(path)}: the stored weights do not fit {name}({config}): {details}"
        )


def load(path: Source, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model stored at ``path`` (or in an open binary file), in eval mode, with
    ``.metadata`` and any extra ``.tensors`` attached."""
    return build(_read(path), path, device)


def build(payload: dict[str, Any], path: Source, device: str | torch.device = "cpu") -> nn.Module:
    """The model a checked checkpoint ``payload`` describes, refusing anything that is not one
    of the course's own classes (a real torch class such as ``Linear`` included)."""
    name = payload.get("class")
    cls = _course_class(name, f"{source_name(path)} holds")
    config = payload.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{source_name(path)} has no constructor arguments ('config')")
    check_weights_fit(path, name, config, payload.get("state_dict"))
    try:
        model = cls(**config)
    except (RuntimeError, MemoryError) as err:  # checked above; only a truly full memory is left
        raise ValueError(f"{source_name(path)}: cannot build {name}({config}): {err}") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(
            f"{source_name(path)}: the stored weights do not fit {name}({config}): {first}"
        ) from None
    tensors = payload.get("tensors", {})
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise ValueError(f"{source_name(path)}: the extra tensors are not a dict of named tensors")
    model.metadata = {**payload.get("metadata", {}), "class": name, "config": config}
    model.tensors = dict(tensors)
    return model.to(device).eval()
