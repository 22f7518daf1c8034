"""GeneratedImage: UUID key, newest-first ordering, readable name, field validators."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from patterns.models import PATTERN_CHOICES, GeneratedImage

pytestmark = pytest.mark.django_db


def make(**overrides: object) -> GeneratedImage:
    """An unsaved row with valid values (and a file name, so full_clean passes)."""
    values = {"pattern_type": "spiral", "image_file": "generated/x.png", **overrides}
    return GeneratedImage(**values)


def test_choices_follow_course_lib_with_lesson_names() -> None:
    assert PATTERN_CHOICES == [
        ("mandala", "Mandala Pattern"),
        ("geometric", "Geometric Shapes"),
        ("gradient", "Colour Gradient"),
        ("noise", "Random Noise"),
        ("spiral", "Spiral Pattern"),
    ]


def test_primary_key_is_a_fresh_uuid_and_not_editable() -> None:
    first, second = make(), make()
    assert isinstance(first.pk, uuid.UUID)
    assert first.pk != second.pk
    assert GeneratedImage._meta.pk.name == "id"
    assert GeneratedImage._meta.get_field("id").editable is False


def test_defaults_match_the_lesson() -> None:
    image = make()
    assert (image.width, image.height) == (400, 400)
    assert (image.primary_color, image.secondary_color) == ("#FF0000", "#0000FF")
    image.full_clean()


def test_ordering_is_newest_first() -> None:
    now = timezone.now()
    old = make(created_at=now - timedelta(days=1))
    new = make(created_at=now)
    middle = make(created_at=now - timedelta(hours=1))
    for image in (old, new, middle):
        image.save()
    assert list(GeneratedImage.objects.all()) == [new, middle, old]


def test_str_names_the_type_and_time() -> None:
    image = make(created_at=timezone.now().replace(year=2025, month=3, day=4, hour=5, minute=6))
    assert str(image) == "Spiral Pattern - 2025-03-04 05:06"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("width", 99),
        ("width", 801),
        ("height", 0),
        ("height", 5000),
        ("primary_color", "red"),
        ("primary_color", "#12345"),
        ("secondary_color", "#GGGGGG"),
        ("secondary_color", "0000FF"),
        ("pattern_type", "plasma"),
    ],
)
def test_validators_reject_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**{field: value}).full_clean()
    assert field in caught.value.message_dict


def test_deleting_a_row_removes_its_file(media_root, django_capture_on_commit_callbacks) -> None:
    from django.core.files.base import ContentFile

    image = make()
    image.image_file.save("gone.png", ContentFile(b"png"), save=True)
    path = media_root / image.image_file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not path.exists()
