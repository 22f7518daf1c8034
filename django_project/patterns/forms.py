"""Forms that validate every studio input: the full pattern recipe and the quick preview."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import (
    DEFAULT_SIZE,
    MAX_SIZE,
    MIN_SIZE,
    PATTERN_CHOICES,
    GeneratedImage,
    hex_colour_validator,
)

SEED_MAX = 2**32 - 1


class ColourInput(forms.TextInput):
    """The browser's native colour picker (``<input type="color">``)."""

    input_type = "color"


class HexColourField(forms.CharField):
    """A ``#RRGGBB`` colour, normalised to upper case so equal colours compare equal."""

    default_validators = [hex_colour_validator]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 7)
        kwargs.setdefault("widget", ColourInput(attrs={"class": "form-control form-control-color"}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        """Strip and upper-case the text; the validator then checks its shape."""
        return super().to_python(value).upper()


class BootstrapErrorsMixin(forms.BaseForm):
    """Mark fields that failed validation with Bootstrap's ``is-invalid`` class."""

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:  # NON_FIELD_ERRORS has no widget
                attrs = self.fields[name].widget.attrs
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()


def size_field(label: str) -> forms.IntegerField:
    """A whole number of pixels within the studio's limits, typed into a number box."""
    return forms.IntegerField(
        label=label,
        initial=DEFAULT_SIZE,
        min_value=MIN_SIZE,  # also becomes the input's min/max attributes
        max_value=MAX_SIZE,
        help_text=f"{MIN_SIZE} to {MAX_SIZE} pixels.",
        widget=forms.NumberInput(attrs={"class": "form-control"}),
    )


class ImageGeneratorForm(BootstrapErrorsMixin, forms.ModelForm):
    """The full recipe for a stored pattern: type, size in pixels and two colours."""

    pattern_type = forms.ChoiceField(
        label="Pattern style",
        choices=PATTERN_CHOICES,
        initial=PATTERN_CHOICES[0][0],
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    width = size_field("Width (px)")
    height = size_field("Height (px)")

    class Meta:
        model = GeneratedImage
        fields = ["pattern_type", "width", "height", "primary_color", "secondary_color"]
        field_classes = {"primary_color": HexColourField, "secondary_color": HexColourField}


class PreviewForm(BootstrapErrorsMixin, forms.Form):
    """What a 150x150 preview needs: type, colours and an optional seed for random patterns."""

    pattern_type = forms.ChoiceField(choices=PATTERN_CHOICES)
    primary_color = HexColourField(label="Primary colour")
    secondary_color = HexColourField(label="Secondary colour")
    seed = forms.IntegerField(required=False, min_value=0, max_value=SEED_MAX)
