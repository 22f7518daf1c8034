"""The training form: which family, how long, in what batches, on which digits.

The HTML form and the JSON API (``POST /models/train/``) are checked by this one form, so the
limits that keep a shared server alive are written once.
"""

from __future__ import annotations

from django import forms

from . import services
from .models import ModelKind

BATCH_CHOICES = [(str(size), str(size)) for size in services.BATCH_SIZES]
KIND_CHOICES = [(kind, ModelKind(kind).label) for kind in services.WEB_RECIPES]
#: Names the JSON API accepts; anything else is refused rather than silently ignored.
FIELDS = ("kind", "epochs", "batch_size", "dataset", "name")


class TrainModelForm(forms.Form):
    """A training request; epochs, batch size and dataset come from bounded lists."""

    kind = forms.ChoiceField(
        choices=KIND_CHOICES,
        label="Model family",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": f"Choose a kind of model: {', '.join(services.WEB_RECIPES)}.",
            "invalid_choice": "%(value)s is not a kind of model the workshop trains; choose "
            f"one of {', '.join(services.WEB_RECIPES)}.",
        },
    )
    epochs = forms.IntegerField(
        min_value=services.EPOCHS_MIN,
        max_value=services.EPOCHS_MAX,
        initial=services.EPOCHS_DEFAULT,
        label="Epochs",
        help_text=f"Full passes over the training digits, {services.EPOCHS_MIN} to "
        f"{services.EPOCHS_MAX}.",
        widget=forms.NumberInput(attrs={"class": "form-control"}),
        error_messages={
            "required": "Say how many epochs to train for.",
            "invalid": "Epochs must be a whole number.",
            "min_value": f"Train for at least {services.EPOCHS_MIN} epoch.",
            "max_value": f"This server trains for at most {services.EPOCHS_MAX} epochs.",
        },
    )
    batch_size = forms.TypedChoiceField(
        choices=BATCH_CHOICES,
        coerce=int,
        initial=str(services.BATCH_SIZE_DEFAULT),
        label="Batch size",
        help_text="Images per optimisation step.",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "required": "Choose a batch size.",
            "invalid_choice": "%(value)s is not an offered batch size; choose one of "
            f"{', '.join(str(s) for s in services.BATCH_SIZES)}.",
        },
    )
    dataset = forms.ChoiceField(
        choices=list(services.DATASETS.items()),
        required=False,
        initial="mnist5k",
        label="Training digits",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={
            "invalid_choice": "%(value)s is not an offered dataset; choose one of "
            f"{', '.join(services.DATASETS)}.",
        },
    )
    name = forms.CharField(
        max_length=100,
        required=False,
        strip=True,
        label="Name (optional)",
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "e.g. My first GAN"}),
    )

    def clean_dataset(self) -> str:
        """No dataset means the course's default, mnist5k."""
        return self.cleaned_data.get("dataset") or "mnist5k"

    def clean_name(self) -> str:
        """Names are shown on cards: no control characters."""
        name = self.cleaned_data.get("name", "")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise forms.ValidationError("The name may not contain control characters.")
        return name
