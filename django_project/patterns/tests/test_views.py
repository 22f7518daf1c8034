"""Pattern studio pages through the test client: forms, redirects, JSON, CSRF, pagination."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from patterns.models import GeneratedImage

pytestmark = pytest.mark.django_db

INDEX = reverse("patterns:index")
GALLERY = reverse("patterns:gallery")
PREVIEW = reverse("patterns:preview")
PREVIEW_DATA = {"pattern_type": "spiral", "primary_color": "#112233", "secondary_color": "#FFEEDD"}


def test_urls_match_the_contract() -> None:
    assert (INDEX, GALLERY, PREVIEW) == ("/patterns/", "/patterns/gallery/", "/patterns/preview/")


def test_index_shows_the_form_and_the_preview_wiring(client: Client) -> None:
    response = client.get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'data-preview-url="{PREVIEW}"' in html
    assert "patterns/studio.js" in html
    assert 'id="preview-spinner"' in html
    assert html.count('type="color"') == 2


def test_valid_post_stores_the_image_and_redirects_to_the_gallery(
    client: Client, recipe: dict, media_root
) -> None:
    response = client.post(INDEX, {**recipe, "width": 240, "height": 160})
    assert response.status_code == 302
    assert response.url == GALLERY

    record = GeneratedImage.objects.get()
    assert (record.pattern_type, record.width, record.height) == ("mandala", 240, 160)
    assert record.primary_color == "#FF8800"  # normalised
    path = media_root / record.image_file.name
    assert path.is_file()
    with Image.open(path) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (240, 160), "RGB")

    page = client.get(response.url)
    assert record.image_file.url in page.content.decode()
    assert "Saved your Mandala Pattern." in page.content.decode()


@pytest.mark.parametrize(
    "overrides",
    [
        {"width": 99},
        {"height": 801},
        {"width": "abc"},
        {"primary_color": "red"},
        {"pattern_type": "x"},
    ],
)
def test_invalid_post_rerenders_with_errors_and_stores_nothing(
    client: Client, recipe: dict, media_files, overrides: dict
) -> None:
    response = client.post(INDEX, {**recipe, **overrides})
    assert response.status_code == 400
    assert "invalid-feedback" in response.content.decode()
    assert response.context["form"].errors
    assert not GeneratedImage.objects.exists()
    assert media_files() == []


def test_database_failure_is_reported_without_a_500_or_orphan_file(
    client: Client, recipe: dict, media_files
) -> None:
    with mock.patch.object(GeneratedImage, "save", side_effect=DatabaseError("locked")):
        response = client.post(INDEX, recipe)
    assert response.status_code == 503
    assert "could not be saved" in response.content.decode()
    assert not GeneratedImage.objects.exists()
    assert media_files() == []


def test_preview_returns_a_150px_png_data_url(client: Client) -> None:
    response = client.post(PREVIEW, {**PREVIEW_DATA, "seed": 3})
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is True
    prefix = "data:image/png;base64,"
    assert data["image_data"].startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data["image_data"][len(prefix) :])))
    assert (image.format, image.size) == ("PNG", (150, 150))


def test_preview_bad_input_is_a_400_with_field_errors(client: Client) -> None:
    response = client.post(
        PREVIEW, {**PREVIEW_DATA, "pattern_type": "plasma", "primary_color": "#12"}
    )
    assert response.status_code == 400
    data = response.json()
    assert data["success"] is False
    assert set(data["errors"]) == {"pattern_type", "primary_color"}
    assert "plasma" in data["errors"]["pattern_type"][0]


def test_preview_refuses_get(client: Client) -> None:
    assert client.get(PREVIEW).status_code == 405


@pytest.mark.parametrize("url", [INDEX, PREVIEW])
def test_posts_without_a_csrf_token_are_forbidden(url: str, recipe: dict, media_files) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(url, {**recipe, **PREVIEW_DATA})
    assert response.status_code == 403
    assert not GeneratedImage.objects.exists()
    assert media_files() == []


def test_posts_with_the_pages_csrf_token_are_accepted(recipe: dict) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get(INDEX)  # sets the CSRF cookie, as a browser visit would
    token = client.cookies["csrftoken"].value
    preview = client.post(PREVIEW, PREVIEW_DATA, headers={"X-CSRFToken": token})
    assert preview.status_code == 200
    stored = client.post(INDEX, {**recipe, "csrfmiddlewaretoken": token})
    assert stored.status_code == 302
    assert GeneratedImage.objects.count() == 1


@pytest.fixture
def twenty_patterns() -> list[GeneratedImage]:
    """Twenty rows sharing one tiny stored PNG, created a minute apart."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    name = default_storage.save("generated/tiny.png", ContentFile(buffer.getvalue()))
    now = timezone.now()
    rows = [
        GeneratedImage(
            pattern_type="gradient",
            width=100 + i,
            image_file=name,
            created_at=now - timedelta(minutes=i),
        )
        for i in range(20)
    ]
    return GeneratedImage.objects.bulk_create(rows)


@pytest.mark.parametrize(
    ("page", "number", "count"),
    [("", 1, 9), ("1", 1, 9), ("2", 2, 9), ("3", 3, 2), ("abc", 1, 9), ("99", 3, 2), ("-1", 3, 2)],
)
def test_gallery_pages_hold_nine_and_bad_numbers_fall_back(
    client: Client, twenty_patterns: list, page: str, number: int, count: int
) -> None:
    response = client.get(GALLERY, {"page": page})
    assert response.status_code == 200
    page_obj = response.context["page_obj"]
    assert (page_obj.number, len(page_obj.object_list)) == (number, count)
    assert response.content.decode().count('class="card-img-top') == count


def test_gallery_shows_newest_first_with_details_and_pagination(
    client: Client, twenty_patterns: list
) -> None:
    html = client.get(GALLERY).content.decode()
    assert html.index("100×400") < html.index("101×400")  # the newest row comes first
    assert "Colour Gradient" in html and "#FF0000" in html and "#0000FF" in html
    assert 'href="?page=2"' in html and 'href="?page=3"' in html
    assert "20 patterns" in html


def test_gallery_empty_state_links_to_the_studio(client: Client) -> None:
    response = client.get(GALLERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No patterns yet" in html
    assert f'href="{INDEX}"' in html
    assert 'class="pagination' not in html
