"""Admin for styles and their samples: status, report and the sample images, read-only."""

from django.contrib import admin
from django.utils.html import format_html

from .models import Style, StyleSample


def _thumbnail(sample: StyleSample, size: int) -> str:
    if not sample.image:
        return "-"
    return format_html(
        '<img src="{}" width="{}" height="{}" alt="" style="object-fit: cover">',
        sample.image.url,
        size,
        size,
    )


class StyleSampleInline(admin.TabularInline):
    """The samples of a style; they come from the upload form, so they are not edited here."""

    model = StyleSample
    extra = 0
    can_delete = False
    fields = ("position", "image", "preview")
    readonly_fields = ("position", "image", "preview")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="preview")
    def preview(self, sample: StyleSample) -> str:
        """The sample image, small."""
        return _thumbnail(sample, 64)


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    """List and filter styles by status; training results are shown read-only."""

    list_display = ("name", "status", "progress", "created", "updated", "seconds")
    list_filter = ("status", "created")
    search_fields = ("name",)
    date_hierarchy = "created"
    readonly_fields = (
        "status",
        "progress",
        "error",
        "task_result_id",
        "style_file",
        "report",
        "seconds",
        "created",
        "updated",
    )
    inlines = [StyleSampleInline]


@admin.register(StyleSample)
class StyleSampleAdmin(admin.ModelAdmin):
    """Every stored sample image with the style it belongs to."""

    list_display = ("__str__", "style", "position", "thumbnail")
    list_select_related = ("style",)
    search_fields = ("style__name",)
    readonly_fields = ("style", "image", "position", "thumbnail")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="image")
    def thumbnail(self, sample: StyleSample) -> str:
        """A small copy of the sample."""
        return _thumbnail(sample, 56)
