"""Admin for stored patterns, with a thumbnail of each image."""

from django.contrib import admin
from django.utils.html import format_html

from .models import GeneratedImage


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    """List, filter and inspect generated patterns."""

    list_display = ("thumbnail", "pattern_type", "width", "height", "colours", "created_at")
    list_display_links = ("thumbnail", "pattern_type")
    list_filter = ("pattern_type", "created_at")
    readonly_fields = ("id", "thumbnail")
    date_hierarchy = "created_at"

    @admin.display(description="Image")
    def thumbnail(self, obj: GeneratedImage) -> str:
        """A small preview of the stored image."""
        if not obj.image_file:
            return "-"
        return format_html(
            '<img src="{}" alt="" width="48" height="48" style="object-fit: cover">',
            obj.image_file.url,
        )

    @admin.display(description="Colours")
    def colours(self, obj: GeneratedImage) -> str:
        """Both colours as hex codes."""
        return f"{obj.primary_color} / {obj.secondary_color}"
