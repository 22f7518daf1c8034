"""What every page shares: the tab icon, the admin's name, the page header."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse

pytestmark = pytest.mark.django_db

FAVICON = static("site/favicon.svg")
# One page of each kind: the three apps, an error page, the admin.
PAGES = ["/", "/create/", "/patterns/", "/patterns/gallery/", "/styles/", "/no-such-page/"]


def test_the_favicon_is_a_static_svg_that_is_served():
    path = finders.find("site/favicon.svg")
    assert path is not None
    with open(path, encoding="utf-8") as svg:
        assert svg.read().lstrip().startswith("<svg")


def test_favicon_ico_points_at_the_static_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == FAVICON
    assert reverse("favicon") == "/favicon.ico"
    icon = client.get(FAVICON)
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"


@pytest.mark.parametrize("path", [*PAGES, "/admin/login/"])
def test_every_page_links_the_icon(client, path):
    html = client.get(path).content.decode()
    assert f'<link rel="icon" href="{FAVICON}" type="image/svg+xml">' in html


def test_the_admin_is_branded_for_the_course(client, admin_client):
    login = client.get("/admin/login/").content.decode()
    assert "AI Art Gallery · course admin" in login
    assert "Django administration" not in login
    assert "<title>Log in | AI Art Gallery admin</title>" in login
    index = admin_client.get("/admin/").content.decode()
    assert "Artworks, patterns and styles of the generative models course" in index


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_one_header_with_one_heading(client, path):
    html = client.get(path).content.decode()
    assert html.count('<header class="page-header">') == 1
    assert html.count("<h1") == 1
