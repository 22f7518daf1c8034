"""Hostile input for every pattern-studio endpoint: never a 5xx, always a reason, no strays.

The oracle is the studio's own form run on the same data: a valid recipe must store exactly
one row and one PNG of the asked size; anything else must be a 4xx showing each of the form's
messages and must leave the database and MEDIA_ROOT untouched.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import event, example, given
from hypothesis import strategies as st
from PIL import Image

from gallery_site.testing.fuzzing import (
    as_querydict,
    assert_method_not_allowed,
    assert_refused,
    describe,
    field_value,
    form_messages,
    form_pairs,
    fuzz_settings,
    hostile_text,
    post_form,
    snapshot,
)
from patterns.forms import ImageGeneratorForm, PreviewForm
from patterns.models import PATTERN_CHOICES, GeneratedImage

pytestmark = pytest.mark.django_db

INDEX = reverse("patterns:index")
GALLERY = reverse("patterns:gallery")
PREVIEW = reverse("patterns:preview")
TYPES = [name for name, _ in PATTERN_CHOICES]


@pytest.fixture
def client() -> Client:
    """A client that turns a view's exception into the 500 a visitor would get, not a raise."""
    return Client(raise_request_exception=False)


colours = field_value(["#FF0000", "#00ff00", "#123ABC", "#fff", "FF0000", "#GGGGGG", "#FF00001"])
sizes = st.one_of(
    st.integers(min_value=100, max_value=160).map(str),  # valid and quick to draw
    st.sampled_from(["99", "100", "800", "801", "0", "-100", "1e3", "150.0", "1" * 30]),
    hostile_text,
)
recipe_fields = {
    "pattern_type": field_value(TYPES + ["MANDALA", "fractal"]),
    "width": sizes,
    "height": sizes,
    "primary_color": colours,
    "secondary_color": colours,
}


valid_recipe = {
    "pattern_type": st.sampled_from(TYPES),
    "width": st.integers(min_value=100, max_value=140).map(str),
    "height": st.integers(min_value=100, max_value=140).map(str),
    "primary_color": st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
    "secondary_color": st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
}


@fuzz_settings(40)
@given(pairs=form_pairs(recipe_fields, valid_recipe))
@example(
    pairs=[
        ("pattern_type", "spiral"),
        ("width", "100"),
        ("height", "120"),
        ("primary_color", "#ff0000"),
        ("secondary_color", "#00FF00"),
    ]
)
@example(
    pairs=[
        ("pattern_type", "noise"),
        ("width", "nan"),
        ("height", "1e309"),
        ("primary_color", "#FF0000\x00"),
        ("secondary_color", "<script>"),
    ]
)
def test_studio_post_is_stored_or_refused_as_the_form_says(client, media_root, pairs):
    form = ImageGeneratorForm(as_querydict(pairs))
    before = snapshot()
    response = post_form(client, INDEX, pairs)
    event(f"form valid: {form.is_valid()}")
    if form.is_valid():
        assert response.status_code == 302 and response.url == GALLERY, describe(response)
        after = snapshot()
        assert after.row_count("patterns.GeneratedImage") == (
            before.row_count("patterns.GeneratedImage") + 1
        )
        (new_file,) = after.files - before.files
        record = GeneratedImage.objects.get(image_file=new_file)
        with Image.open(media_root / new_file) as image:
            assert image.size == (form.cleaned_data["width"], form.cleaned_data["height"])
        assert record.primary_color == form.cleaned_data["primary_color"]
    else:
        assert response.status_code == 400, describe(response)
        assert_refused(response, before, json=False, says=form_messages(form))


preview_fields = {
    "pattern_type": field_value(TYPES),
    "primary_color": colours,
    "secondary_color": colours,
    "seed": field_value(["0", "1", "4294967295", "4294967296", "-1", ""]),
}


valid_preview = {
    "pattern_type": st.sampled_from(TYPES),
    "primary_color": st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
    "secondary_color": st.from_regex(r"#[0-9A-Fa-f]{6}", fullmatch=True),
    "seed": st.integers(min_value=0, max_value=2**32 - 1).map(str),
}


@fuzz_settings(40)
@given(pairs=form_pairs(preview_fields, valid_preview))
@example(
    pairs=[
        ("pattern_type", "noise"),
        ("primary_color", "#000000"),
        ("secondary_color", "#FFFFFF"),
        ("seed", "4294967296"),
    ]
)
def test_preview_answers_json_as_the_form_says(client, pairs):
    form = PreviewForm(as_querydict(pairs))
    before = snapshot()
    response = post_form(client, PREVIEW, pairs)
    event(f"form valid: {form.is_valid()}")
    if form.is_valid():
        assert response.status_code == 200, describe(response)
        assert response.json()["image_data"].startswith("data:image/png;base64,")
        assert snapshot() == before  # a preview is never stored
    else:
        assert response.status_code == 400, describe(response)
        assert response.json()["errors"] == {
            field: [str(m) for m in messages] for field, messages in form.errors.items()
        }
        assert_refused(response, before, json=True, says=form_messages(form))


@pytest.mark.parametrize(
    ("url", "json"),
    [(INDEX, False), (PREVIEW, True)],
)
@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("application/x-www-form-urlencoded", b"a=1&" * 1500, "too many form fields"),
        ("application/x-www-form-urlencoded", b"x=" + b"y" * (6 * 2**20), "too large"),
        ("multipart/form-data; boundary=", b"--\r\n", "could not be read"),
    ],
)
def test_unreadable_bodies_are_400_in_words(client, url, json, content_type, body, says):
    before = snapshot()
    response = client.generic("POST", url, body, content_type=content_type)
    assert_refused(response, before, json=json, status=400, says=[says])


@fuzz_settings(40)
@given(page=st.one_of(hostile_text, st.integers(-(10**30), 10**30).map(str)))
@example(page="9" * 5000)
@example(page="last")
def test_gallery_pages_fall_back_for_any_page_value(client, page):
    response = client.get(GALLERY, {"page": page})
    assert response.status_code == 200, describe(response)


@pytest.mark.parametrize(
    ("url", "allowed", "json"),
    [
        (INDEX, ["GET", "HEAD", "POST"], False),
        (GALLERY, ["GET", "HEAD"], False),
        (PREVIEW, ["POST"], True),
    ],
)
def test_wrong_methods_are_405_with_allow_and_a_reason(client, url, allowed, json):
    assert "DELETE" in assert_method_not_allowed(client, url, allowed, json=json)
