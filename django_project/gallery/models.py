"""The gallery's one table: an image made by a course model, with the latent code it came from
and the checkpoint (name and fingerprint) that decoded it."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone


class GenerationMethod(models.TextChoices):
    """Which family of course model made an artwork (the lesson's three generation methods,
    and the latent flow)."""

    VAE = "VAE", "Variational Autoencoder"
    GAN = "GAN", "Generative Adversarial Network"
    AUTOENCODER = "AUTOENCODER", "Standard Autoencoder"
    FLOW = "FLOW", "Latent flow (diffusion)"
    #: A variation saved from the style studio: drawn by its style's own small VAE (a 16-number
    #: code), never by the gallery's digit models.
    STYLE = "STYLE", "Style-studio variation"


#: The methods whose artworks the gallery's own digit models made (and can decode again).
DIGIT_METHODS = (
    GenerationMethod.VAE,
    GenerationMethod.GAN,
    GenerationMethod.AUTOENCODER,
    GenerationMethod.FLOW,
)

#: The lesson's name for the choices.
GENERATION_METHODS = GenerationMethod.choices


class GeneratedArtworkManager(models.Manager["GeneratedArtwork"]):
    """Adds the one safe way to store a new artwork: its image file and its row together."""

    def create_with_image(
        self,
        *,
        title: str,
        generation_method: str,
        png_bytes: bytes,
        latent_vector: list[float],
        checkpoint_name: str = "",
        checkpoint_fingerprint: str = "",
        model_record: Any = None,
        style: Any = None,
        variation_index: int | None = None,
    ) -> GeneratedArtwork:
        """Write the PNG and the row; if the row cannot be written, delete the file again."""
        artwork = self.model(
            title=title,
            generation_method=generation_method,
            latent_vector=latent_vector,
            checkpoint_name=checkpoint_name,
            checkpoint_fingerprint=checkpoint_fingerprint,
            model_record=model_record,
            style=style,
            variation_index=variation_index,
        )
        # A random name, so the file can be written before the row exists (no id yet).
        name = f"{generation_method.lower()}-{uuid.uuid4().hex[:12]}.png"
        artwork.image_file.save(name, ContentFile(png_bytes), save=False)
        try:
            with transaction.atomic():
                artwork.save(force_insert=True)
        except BaseException:
            artwork.image_file.storage.delete(artwork.image_file.name)
            raise
        return artwork


class GeneratedArtwork(models.Model):
    """One generated image, the method that made it and the latent vector that was decoded."""

    title = models.CharField(max_length=200)
    generation_method = models.CharField(max_length=20, choices=GenerationMethod.choices)
    image_file = models.ImageField(upload_to="generated_art/")
    # The exact code the model decoded (a list of floats), so the image can be remade or morphed.
    latent_vector = models.JSONField()
    creation_timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    likes = models.PositiveIntegerField(default=0)
    # Which weights decoded the code: a checkpoint name (a course recipe, or a style's file) and
    # course_lib.checkpoints.fingerprint of the file. Blank for rows made before it was recorded.
    checkpoint_name = models.CharField(max_length=200, blank=True, default="")
    checkpoint_fingerprint = models.CharField(max_length=16, blank=True, default="")
    # The workshop's record of the model that made it (its card on /models/); interpolation
    # decodes with that model. Empty for style variations and rows made before records.
    model_record = models.ForeignKey(
        "workshop.ModelRecord",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artworks",
    )
    # A STYLE artwork's style and which of its page's variations it is (saved once each).
    style = models.ForeignKey(
        "styles.Style",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="artworks",
    )
    variation_index = models.PositiveSmallIntegerField(null=True, blank=True)

    objects = GeneratedArtworkManager()

    class Meta:
        ordering = ["-creation_timestamp", "-id"]  # newest first; id breaks same-instant ties
        constraints = [
            models.UniqueConstraint(
                fields=["style", "variation_index"],
                condition=models.Q(style__isnull=False),
                name="one_artwork_per_style_variation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.generation_method})"

    @staticmethod
    def default_title() -> str:
        """The lesson's title for an untitled creation: "AI Creation" and the time."""
        return f"AI Creation {timezone.now():%Y-%m-%d %H:%M:%S}"


@receiver(post_delete, sender=GeneratedArtwork)
def _delete_image_file(
    sender: type[GeneratedArtwork], instance: GeneratedArtwork, **_: object
) -> None:
    """Remove the PNG once a deleted artwork's row is really gone (after the commit)."""
    if instance.image_file:
        name, storage = instance.image_file.name, instance.image_file.storage
        transaction.on_commit(lambda: storage.delete(name))
