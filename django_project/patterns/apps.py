"""App configuration for the pattern studio."""

from django.apps import AppConfig


class PatternsConfig(AppConfig):
    """The lesson's "Simple Image Generator" project as a Django app."""

    name = "patterns"
    verbose_name = "Pattern studio"
