"""The artwork model: ordering, text, and storing file + row together or not at all."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.utils import timezone
from PIL import Image

from gallery.models import GeneratedArtwork

pytestmark = pytest.mark.django_db


def _files(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()]


def test_newest_first(make_artwork):
    old, middle, new = (make_artwork(title=name) for name in ("old", "middle", "new"))
    now = timezone.now()
    GeneratedArtwork.objects.filter(pk=old.pk).update(creation_timestamp=now - timedelta(days=2))
    GeneratedArtwork.objects.filter(pk=new.pk).update(creation_timestamp=now + timedelta(days=1))
    GeneratedArtwork.objects.filter(pk=middle.pk).update(creation_timestamp=now)
    assert [a.title for a in GeneratedArtwork.objects.all()] == ["new", "middle", "old"]


def test_same_instant_ties_are_broken_by_id(make_artwork):
    first, second = make_artwork(title="a"), make_artwork(title="b")
    GeneratedArtwork.objects.update(creation_timestamp=timezone.now())
    assert list(GeneratedArtwork.objects.values_list("pk", flat=True)) == [second.pk, first.pk]


def test_str_names_title_and_method(make_artwork):
    assert str(make_artwork("GAN", title="Dream")) == "Dream (GAN)"


def test_default_title_is_the_lessons():
    assert GeneratedArtwork.default_title().startswith("AI Creation 20")


def test_create_with_image_stores_png_and_row(make_artwork, media_root):
    artwork = make_artwork("AUTOENCODER")
    assert artwork.image_file.name.startswith("generated_art/autoencoder-")
    path = Path(artwork.image_file.path)
    assert path.parent == media_root / "generated_art"
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        assert image.format == "PNG" and image.size == (224, 224)
    stored = GeneratedArtwork.objects.get()
    assert stored.likes == 0 and len(stored.latent_vector) == 4


def test_failed_row_write_leaves_no_file(make_artwork, media_root, monkeypatch):
    make_artwork()  # one good artwork, which must survive
    before = _files(media_root)

    def broken_save(*args, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(GeneratedArtwork, "save_base", broken_save)
    with pytest.raises(DatabaseError):
        make_artwork()
    assert GeneratedArtwork.objects.count() == 1
    assert _files(media_root) == before


def test_deleting_an_artwork_removes_its_file(make_artwork, django_capture_on_commit_callbacks):
    artwork = make_artwork()
    path = Path(artwork.image_file.path)
    assert path.is_file()
    with django_capture_on_commit_callbacks(execute=True):
        artwork.delete()
    assert not path.exists()
