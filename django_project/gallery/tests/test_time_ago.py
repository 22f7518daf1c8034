"""The ``ago`` filter: "just now" for the first minute, then Django's words plus "ago"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from gallery.templatetags.time_ago import ago
from styles.models import Style

NOW = timezone.now()


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-30), "just now"),  # a clock a little ahead of the server's
        (timedelta(seconds=60), "1\xa0minute ago"),
        (timedelta(minutes=5, seconds=20), "5\xa0minutes ago"),
        (timedelta(days=2, hours=3), "2\xa0days, 3\xa0hours ago"),
    ],
)
def test_ago_says_how_long_ago_in_words(age, words):
    assert ago(NOW - age, now=NOW) == words


def test_ago_of_nothing_is_empty():
    assert ago(None) == ""


def test_templates_load_it_and_a_new_thing_reads_just_now():
    template = Template("{% load time_ago %}{{ made|ago }} / {{ old|ago }}")
    text = template.render(
        Context({"made": timezone.now(), "old": timezone.now() - timedelta(hours=1)})
    )
    assert text == "just now / 1\xa0hour ago"


@pytest.mark.django_db
def test_the_gallery_and_the_style_studio_say_just_now(client, make_artwork):
    make_artwork("VAE")
    Style.objects.create(name="fresh")
    for page in ["/", "/styles/"]:
        html = client.get(page).content.decode()
        assert "just now</time>" in html
        assert "0\xa0minutes" not in html
