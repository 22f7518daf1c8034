"""The studio's forms: what they accept, what they reject, how they normalise colours."""

from __future__ import annotations

import pytest

from patterns.forms import ImageGeneratorForm, PreviewForm


def test_valid_recipe_is_accepted_and_colours_upper_cased(recipe: dict) -> None:
    form = ImageGeneratorForm(recipe)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["primary_color"] == "#FF8800"
    assert form.cleaned_data["width"] == 120


@pytest.mark.parametrize("size", [100, 800])
def test_size_limits_are_inclusive(recipe: dict, size: int) -> None:
    assert ImageGeneratorForm({**recipe, "width": size, "height": size}).is_valid()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("width", 99, "greater than or equal to 100"),
        ("width", 801, "less than or equal to 800"),
        ("width", "abc", "whole number"),
        ("height", "", "required"),
        ("primary_color", "red", "#FF0000"),
        ("primary_color", "#12345", "#FF0000"),
        ("secondary_color", "#GGGGGG", "#FF0000"),
        ("secondary_color", "#1234567", "at most 7"),
        ("pattern_type", "plasma", "not one of the available choices"),
    ],
)
def test_bad_values_are_rejected_with_a_message(
    recipe: dict, field: str, value: object, message: str
) -> None:
    form = ImageGeneratorForm({**recipe, field: value})
    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert any(message in error for error in form.errors[field])
    assert "is-invalid" in form.fields[field].widget.attrs["class"]


def test_widgets_are_pickers_with_limits() -> None:
    html = str(ImageGeneratorForm())
    assert html.count('type="color"') == 2
    assert 'min="100"' in html and 'max="800"' in html
    assert 'class="form-select"' in html
    assert 'value="#FF0000"' in html and 'value="400"' in html
    assert '<option value="mandala" selected>' in html and "---------" not in html


def test_preview_form_seed_is_optional() -> None:
    form = PreviewForm(
        {"pattern_type": "noise", "primary_color": "#abcdef", "secondary_color": "#000000"}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["seed"] is None
    assert form.cleaned_data["primary_color"] == "#ABCDEF"


@pytest.mark.parametrize(
    "overrides",
    [{"pattern_type": "plasma"}, {"primary_color": "blue"}, {"seed": -1}, {"seed": "x"}],
)
def test_preview_form_rejects_bad_values(overrides: dict) -> None:
    data = {"pattern_type": "noise", "primary_color": "#ABCDEF", "secondary_color": "#000000"}
    assert not PreviewForm({**data, **overrides}).is_valid()
