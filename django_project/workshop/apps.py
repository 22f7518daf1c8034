"""App configuration for the model workshop: trained-model records and training from the web."""

from django.apps import AppConfig


class WorkshopConfig(AppConfig):
    """The lesson's ``AutoencoderRecord`` and ``train_gan``, for every model family."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "workshop"
    verbose_name = "Model workshop"
