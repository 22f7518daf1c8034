"""App configuration for the style studio."""

from django.apps import AppConfig


class StylesConfig(AppConfig):
    """The personal style studio (the lesson's "Personal Style Transfer" assignment)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "styles"
    verbose_name = "Style studio"
