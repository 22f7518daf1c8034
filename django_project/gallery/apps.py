"""App configuration for the AI art gallery."""

from django.apps import AppConfig


class GalleryConfig(AppConfig):
    """The lesson's "AI Art Gallery" project as a Django app."""

    name = "gallery"
    verbose_name = "AI art gallery"
    default_auto_field = "django.db.models.BigAutoField"
