"""Admin for generated artworks: browse, filter by method, see the image."""

from django.contrib import admin
from django.utils.html import format_html

from .models import GeneratedArtwork


@admin.register(GeneratedArtwork)
class GeneratedArtworkAdmin(admin.ModelAdmin):
    """List, filter and search artworks; the image and latent code are shown read-only."""

    list_display = ("title", "generation_method", "likes", "creation_timestamp", "thumbnail")
    list_filter = ("generation_method", "creation_timestamp")
    search_fields = ("title",)
    date_hierarchy = "creation_timestamp"
    readonly_fields = (
        "creation_timestamp",
        "preview",
        "latent_vector",
        "checkpoint_name",
        "checkpoint_fingerprint",
        "model_record",
        "style",
        "variation_index",
    )
    fields = (
        "title",
        "generation_method",
        "likes",
        "image_file",
        "preview",
        "latent_vector",
        "checkpoint_name",
        "checkpoint_fingerprint",
        "model_record",
        "style",
        "variation_index",
        "creation_timestamp",
    )

    @admin.display(description="image")
    def thumbnail(self, artwork: GeneratedArtwork) -> str:
        """A small crisp copy of the image for the list."""
        return self._img(artwork, 56)

    @admin.display(description="preview")
    def preview(self, artwork: GeneratedArtwork) -> str:
        """The image at display size on the change page."""
        return self._img(artwork, 224)

    @staticmethod
    def _img(artwork: GeneratedArtwork, size: int) -> str:
        if not artwork.image_file:
            return "-"
        return format_html(
            '<img src="{}" width="{}" height="{}" alt="" style="image-rendering: pixelated">',
            artwork.image_file.url,
            size,
            size,
        )
