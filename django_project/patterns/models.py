"""The stored patterns: one row per generated image, with the recipe that produced it."""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from course_lib.patterns import PATTERN_TYPES

MIN_SIZE = 100
MAX_SIZE = 800
DEFAULT_SIZE = 400

# Display names from the lesson (spelt "colour" like the rest of the site), in the order
# course_lib.patterns lists the pattern types.
PATTERN_LABELS = {
    "mandala": "Mandala Pattern",
    "geometric": "Geometric Shapes",
    "gradient": "Colour Gradient",
    "noise": "Random Noise",
    "spiral": "Spiral Pattern",
}
PATTERN_CHOICES = [(name, PATTERN_LABELS[name]) for name in PATTERN_TYPES]

hex_colour_validator = RegexValidator(
    regex=r"^#[0-9A-Fa-f]{6}$",
    message="Enter a colour as #RRGGBB (6 hex digits), like #FF0000.",
    code="invalid_colour",
)
size_validators = [MinValueValidator(MIN_SIZE), MaxValueValidator(MAX_SIZE)]


class GeneratedImage(models.Model):
    """A pattern image made in the studio, with its type, size and colours."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pattern_type = models.CharField(max_length=20, choices=PATTERN_CHOICES)
    width = models.PositiveIntegerField(default=DEFAULT_SIZE, validators=size_validators)
    height = models.PositiveIntegerField(default=DEFAULT_SIZE, validators=size_validators)
    primary_color = models.CharField(
        "primary colour", max_length=7, default="#FF0000", validators=[hex_colour_validator]
    )
    secondary_color = models.CharField(
        "secondary colour", max_length=7, default="#0000FF", validators=[hex_colour_validator]
    )
    image_file = models.ImageField(upload_to="generated/")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "generated image"

    def __str__(self) -> str:
        return f"{self.get_pattern_type_display()} - {self.created_at:%Y-%m-%d %H:%M}"


@receiver(post_delete, sender=GeneratedImage)
def delete_image_file(sender: type[GeneratedImage], instance: GeneratedImage, **kwargs) -> None:
    """Remove a deleted row's image once the delete commits, so no orphan file stays behind."""
    if instance.image_file:
        storage, name = instance.image_file.storage, instance.image_file.name
        transaction.on_commit(lambda: storage.delete(name))
