"""Which trained model the gallery draws with: the workshop's model records.

Every finished ``workshop.ModelRecord`` of a family can make artworks (``/create/?model=<id>``);
without a choice the gallery serves the record the instructor made the default in the admin
(the course's best checkpoint unless changed). Each artwork points at the record of the model
that made it, so a morph decodes with that very model. The service module
(``generation``) knows nothing of the database; this module turns records into the models it
draws with.
"""

from __future__ import annotations

from django.db import IntegrityError
from django.db.models import QuerySet

from course_lib.paths import checkpoint_path
from workshop import services
from workshop.models import GALLERY_METHODS, ModelRecord

from . import generation

#: The workshop's kind of each generation method.
KIND_OF_METHOD = {method: str(kind) for kind, method in GALLERY_METHODS.items()}


def finished_records() -> QuerySet[ModelRecord]:
    """Every record the gallery can draw with: trained, of a method the gallery has."""
    return ModelRecord.objects.finished().filter(kind__in=KIND_OF_METHOD.values())


def source_for(
    method: str, record: ModelRecord | None = None
) -> tuple[generation.Served, ModelRecord | None]:
    """The model to draw ``method`` with, and its record: ``record`` if given, else the
    admin's default for the method's kind, else (nothing registered yet) the method's shared
    checkpoint, whose record :func:`record_of` makes when an artwork is kept."""
    if record is None:
        record = services.default_record(KIND_OF_METHOD[method])
    if record is None:
        return generation.served(method), None
    if record.gallery_method != method:
        raise ValueError(f"model #{record.pk} is a {record.get_kind_display()}, not a {method}")
    try:
        model = services.load_model(record)
    except services.RecordUnavailable as error:
        raise generation.ModelUnavailable(
            method, f"The model “{record.name}” (#{record.pk}) cannot be used: {error}"
        ) from None
    name = record.checkpoint.removesuffix(".pt")
    return generation.served_from(method, model, name, record.fingerprint, record.pk), record


def record_of(source: generation.Served) -> ModelRecord | None:
    """The record of the model ``source`` drew with; a shared checkpoint without one is
    registered now (one record per checkpoint, never a copy of the weights)."""
    if source.record_id is not None:
        return ModelRecord.objects.filter(pk=source.record_id).first()
    try:
        (registration,) = services.register_checkpoints([checkpoint_path(source.checkpoint_name)])
        record = registration.record
    except IntegrityError:  # another request registered the same file a moment before
        record = ModelRecord.objects.filter(checkpoint=f"{source.checkpoint_name}.pt").first()
    if record is None or record.fingerprint != source.checkpoint_fingerprint:
        return None  # the file changed under us: keep the artwork, without a link
    return record
