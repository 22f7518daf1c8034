"""Forms for the style studio: the sample upload, the shipped samples, a variation to save."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from course_lib import styles as course_styles

from . import services

MIN_IMAGES, MAX_IMAGES = course_styles.MIN_IMAGES, course_styles.MAX_IMAGES
MAX_MB = course_styles.MAX_UPLOAD_BYTES // 2**20
ACCEPT = "image/png,image/jpeg,image/webp,image/gif"


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that lets the browser pick several files at once."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field whose cleaned value is the list of uploaded files (Django docs pattern)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        """Clean each file with FileField's checks; nothing selected is an empty list."""
        single_file_clean = super().clean
        if isinstance(data, (list, tuple)):
            return [single_file_clean(item, initial) for item in data if item]
        return [single_file_clean(data, initial)] if data else []


class StyleUploadForm(forms.Form):
    """A name and 5-10 sample images; each image is checked by its content, not its name."""

    name = forms.CharField(
        max_length=100,
        strip=True,
        label="Style name",
        widget=forms.TextInput(
            attrs={"class": "form-control", "placeholder": "e.g. My watercolour doodles"}
        ),
        error_messages={"required": "Give your style a name."},
    )
    images = MultipleFileField(
        required=False,  # counted in clean_images, so "none" gets the same message as "four"
        label="Sample images",
        widget=MultipleFileInput(attrs={"class": "form-control", "accept": ACCEPT}),
        help_text=f"{MIN_IMAGES} to {MAX_IMAGES} images that share a style: PNG, JPEG, WebP or "
        f"GIF, up to {MAX_MB} MB and {course_styles.MAX_UPLOAD_SIDE} pixels a side each. They "
        "are cropped to squares and learned at 32x32 pixels.",
    )

    def clean_images(self) -> list[services.CheckedImage]:
        """Refuse the wrong number of files or any file that is not a usable image."""
        uploads = self.cleaned_data.get("images") or []
        if not MIN_IMAGES <= len(uploads) <= MAX_IMAGES:
            raise forms.ValidationError(
                f"Upload {MIN_IMAGES} to {MAX_IMAGES} images of one style; you sent "
                f"{len(uploads)}.",
                code="count",
            )
        checked, errors = [], []
        for upload in uploads:
            label = upload.name or "a file"
            # Checked before reading, so a huge upload is never read into memory.
            if upload.size is not None and upload.size > course_styles.MAX_UPLOAD_BYTES:
                errors.append(
                    f"{label}: the file is {upload.size / 2**20:.1f} MB; the limit is {MAX_MB} MB."
                )
                continue
            try:
                checked.append(services.check_image(upload.read(), label))
            except ValueError as error:
                errors.append(f"{label}: {error}.")
        if errors:
            raise forms.ValidationError(errors, code="invalid_image")
        return checked


class SampleStyleForm(forms.Form):
    """One of the shipped sample styles in data/style_samples/, chosen by its folder name."""

    sample = forms.ChoiceField(
        choices=(),
        error_messages={
            "required": "Choose a sample style.",
            "invalid_choice": "There is no sample style called %(value)s.",
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sample"].choices = [
            (name, services.sample_label(name)) for name in services.sample_style_names()
        ]


class VariationForm(forms.Form):
    """Which of the detail page's variations to save to the gallery."""

    index = forms.IntegerField(
        min_value=0,
        max_value=services.N_VARIATIONS - 1,
        error_messages={
            "min_value": f"Variation numbers run from 1 to {services.N_VARIATIONS}.",
            "max_value": f"Variation numbers run from 1 to {services.N_VARIATIONS}.",
        },
    )
