"""Hostile input for every gallery endpoint: never a 5xx, always a reason, never a stray row.

Each Hypothesis test feeds an endpoint junk, huge, Unicode, negative, NaN/Inf and missing or
repeated fields, and checks the answer against an oracle: the same form run on the same data.
Valid input must store exactly one row and one file; invalid input must be a 4xx naming what
is wrong and must leave the database and MEDIA_ROOT exactly as they were.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import event, example, given
from hypothesis import strategies as st

from gallery import generation
from gallery.forms import CreateArtworkForm, ExploreForm, InterpolatePickForm
from gallery.models import GeneratedArtwork
from gallery_site.testing.fuzzing import (
    HOSTILE_STRINGS,
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

pytestmark = pytest.mark.django_db

CREATE = reverse("gallery:create")
PICK = reverse("gallery:interpolate_pick")
EXPLORE = reverse("gallery:explore")
METHODS = ["VAE", "GAN", "AUTOENCODER"]


@pytest.fixture
def client() -> Client:
    """A client that turns a view's exception into the 500 a visitor would get, not a raise."""
    return Client(raise_request_exception=False)


# --- POST /create/ ----------------------------------------------------------------------------

create_fields = {
    "method": field_value(METHODS + ["vae", "DIFFUSION"]),
    "creativity": st.one_of(
        st.floats(min_value=0.1, max_value=2.0).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["0.1", "2.0", "2", "1e0", "0.09999", "2.0000001", "\uff11"]),
        hostile_text,
    ),
    "title": st.one_of(st.text(max_size=250), st.sampled_from(HOSTILE_STRINGS)),
}


valid_create = {
    "method": st.sampled_from(METHODS),
    "creativity": st.floats(min_value=0.1, max_value=2.0).map(str),
    "title": st.text(max_size=200),
}


@fuzz_settings(60)
@given(pairs=form_pairs(create_fields, valid_create))
@example(pairs=[("method", "VAE"), ("creativity", "nan")])
@example(pairs=[("method", "GAN"), ("creativity", "1e309")])
@example(pairs=[("method", "VAE"), ("creativity", "-1")])
@example(pairs=[("method", "VAE"), ("creativity", "1"), ("title", "a\x00b")])
@example(pairs=[("method", "VAE"), ("method", "GAN"), ("creativity", "1"), ("creativity", "x")])
@example(pairs=[("method", "AUTOENCODER"), ("creativity", "1"), ("title", "x" * 201)])
@example(pairs=[("method", "GAN"), ("creativity", "\uff11"), ("title", "\U0001f3a8" * 200)])
def test_create_answers_every_form_body_by_the_forms_verdict(client, tiny_models, pairs):
    form = CreateArtworkForm(as_querydict(pairs))
    before = snapshot()
    response = post_form(client, CREATE, pairs)
    event(f"form valid: {form.is_valid()}")
    if form.is_valid():
        assert response.status_code == 200, describe(response)
        data = response.json()
        artwork = GeneratedArtwork.objects.get(pk=data["artwork_id"])
        assert artwork.generation_method == form.cleaned_data["method"]
        assert artwork.title == (form.cleaned_data["title"] or artwork.title)
        after = snapshot()
        assert after.row_count("gallery.GeneratedArtwork") == (
            before.row_count("gallery.GeneratedArtwork") + 1
        )
        assert after.files - before.files == {artwork.image_file.name}
    else:
        assert response.status_code == 400, describe(response)
        errors = response.json()["errors"]
        assert errors == {field: list(messages) for field, messages in form.errors.items()}
        assert_refused(response, before, json=True, says=form_messages(form))


BAD_BODIES = [
    ("application/json", b'{"method": "VAE", "creativity": 1}', "Choose a generation method"),
    ("text/plain", b"method=VAE&creativity=1", "Choose a generation method"),
    ("application/x-www-form-urlencoded", b"\xff\xfe\x00garbage=\x80\x81", "Choose"),
    ("application/x-www-form-urlencoded", b"method=VAE&creativity=" + b"9" * 6000, "Creativity"),
    ("application/x-www-form-urlencoded", b"&&&===&%%%&method", "Choose"),
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data\r\n\r\nno boundary", None),
    ("multipart/form-data; boundary=x", b"--x\r\nbroken", "Choose"),
    ("application/x-www-form-urlencoded", b"a=1&" * 1500, "too many form fields"),
    ("application/x-www-form-urlencoded", b"title=" + b"x" * (6 * 2**20), "too large"),
]


@pytest.mark.parametrize(("content_type", "body", "says"), BAD_BODIES)
def test_create_refuses_unreadable_or_wrong_bodies_in_json(
    client, tiny_models, content_type, body, says
):
    before = snapshot()
    response = client.generic("POST", CREATE, body, content_type=content_type)
    message = assert_refused(response, before, json=True, status=400)
    if says:
        assert says in message, message


# --- POST /artworks/<id>/like/ ----------------------------------------------------------------


@fuzz_settings(40)
@given(artwork_id=st.one_of(st.integers(min_value=0, max_value=10**30), st.just(2**63)))
def test_liking_any_unknown_id_is_a_json_404_naming_it(client, artwork_id):
    GeneratedArtwork.objects.filter(pk=artwork_id).delete()
    before = snapshot()
    response = client.post(reverse("gallery:like", args=[artwork_id]))
    assert_refused(response, before, json=True, status=404, says=[f"#{artwork_id}"])


def test_likes_ignore_any_body_and_count_one_each(client, make_artwork):
    artwork = make_artwork()
    url = reverse("gallery:like", args=[artwork.pk])
    bodies = [{"likes": "1000000"}, {"likes": "-5"}, {"likes": "nan"}, {"id": "999"}]
    for count, body in enumerate(bodies, start=1):
        client.cookies.clear()  # each body from a new visitor: one like per visitor
        response = client.post(url, body)
        assert response.json() == {"success": True, "likes": count, "already_liked": False}
    before = snapshot()
    response = client.generic("POST", url, b"a=1&" * 1500, "application/x-www-form-urlencoded")
    assert_refused(response, before, json=True, status=400, says=["too many form fields"])
    artwork.refresh_from_db()
    assert artwork.likes == len(bodies)


@pytest.mark.parametrize(
    "path", ["/artworks/-1/like/", "/artworks/abc/like/", "/artworks/1.5/like/", "/artworks//like/"]
)
def test_like_paths_that_are_not_ids_are_404(client, path):
    before = snapshot()
    response = client.post(path)
    assert_refused(response, before, json=False, status=404, says=["There is no page at"])


# --- GET /interpolate/<a>/<b>/ ----------------------------------------------------------------


@fuzz_settings(30)
@given(first=st.integers(min_value=0, max_value=10**25), second=st.integers(0, 10**25))
def test_interpolating_unknown_ids_is_a_404_naming_the_missing_one(
    client, make_artwork, first, second
):
    known = make_artwork("GAN") if not GeneratedArtwork.objects.exists() else None
    known = known or GeneratedArtwork.objects.get()
    ids = [known.pk if first % 3 == 0 else first + known.pk + 1, second + known.pk + 1]
    before = snapshot()
    response = client.get(reverse("gallery:interpolate", args=ids))
    missing = next(i for i in ids if i != known.pk)
    says = [f"There is no artwork #{missing}."]
    assert_refused(response, before, json=False, status=404, says=says)


def test_interpolating_tampered_latent_vectors_is_refused_in_words(client, make_artwork):
    """Codes edited in the admin or the database into junk: a 4xx with a reason, no 500."""
    a, b = make_artwork("VAE"), make_artwork("VAE", seed=1)
    url = reverse("gallery:interpolate", args=[a.pk, b.pk])
    for junk in (["x"] * 4, [None] * 4, {"a": 1}, "abc", [[1, 2], [3, 4]], [1e308] * 3 + [None]):
        GeneratedArtwork.objects.filter(pk=b.pk).update(latent_vector=junk)
        before = snapshot()
        response = client.get(url)
        assert_refused(response, before, json=False, status=409, says=["latent vector"])
    GeneratedArtwork.objects.filter(pk=b.pk).update(latent_vector=[1e30, -1e30, 0, 1])
    assert client.get(url).status_code == 200  # huge but finite: decodes to some image


# --- GET /interpolate/?first=&second= ---------------------------------------------------------

small_ids = st.one_of(st.integers(min_value=0, max_value=6).map(str), hostile_text)


@fuzz_settings(40)
@given(pairs=form_pairs({"first": small_ids, "second": small_ids}))
@example(pairs=[("first", "1"), ("second", "99999999999999999999999")])
@example(pairs=[("first", "1"), ("second", "-1")])
@example(pairs=[("first", "1"), ("second", "1.0")])
def test_pick_form_answers_junk_with_its_errors(client, make_artwork, pairs):
    if not GeneratedArtwork.objects.exists():
        make_artwork("VAE"), make_artwork("GAN", seed=1)
    query = as_querydict(pairs)
    form = InterpolatePickForm(query)
    before = snapshot()
    response = client.get(PICK, query)
    event(f"{response.status_code}")
    if not query:  # no parameters at all: the empty picker
        assert response.status_code == 200
    elif form.is_valid():
        assert response.status_code == 302, describe(response)
    else:
        assert_refused(response, before, json=False, status=400, says=form_messages(form))


# --- GET /explore/?method= and the plain pages ------------------------------------------------


@fuzz_settings(30)
@given(pairs=form_pairs({"method": field_value(["pca", "PCA", "tsne", "umap"])}))
def test_explore_accepts_only_its_projections(client, tiny_models, monkeypatch, pairs):
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 60)
    query = as_querydict(pairs)
    form = ExploreForm(query)
    before = snapshot()
    response = client.get(EXPLORE, query)
    event(f"form valid: {form.is_valid()}")
    if form.is_valid():
        assert response.status_code == 200, describe(response)
        assert 'id="latent-scatter"' in response.content.decode()
    else:
        assert_refused(response, before, json=False, status=400, says=["Projection must be"])


@fuzz_settings(30)
@given(params=st.lists(st.tuples(st.text(max_size=20), hostile_text), max_size=4))
def test_pages_ignore_unknown_query_parameters(client, params):
    for url in (reverse("gallery:index"), CREATE):
        response = client.get(url, dict(params))
        assert response.status_code == 200, describe(response)


# --- methods ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "allowed", "json"),
    [
        ("index", [], ["GET", "HEAD"], False),
        ("create", [], ["GET", "HEAD", "POST"], True),
        ("explore", [], ["GET", "HEAD"], False),
        ("interpolate_pick", [], ["GET", "HEAD"], False),
        ("interpolate", [1, 2], ["GET", "HEAD"], False),
        ("like", [1], ["POST"], True),
    ],
)
def test_wrong_methods_are_405_with_allow_and_a_reason(client, name, args, allowed, json):
    refused = assert_method_not_allowed(
        client, reverse(f"gallery:{name}", args=args), allowed, json=json
    )
    assert "PUT" in refused and "DELETE" in refused


def test_405_page_explains_in_html(client):
    response = client.put(reverse("gallery:index"))
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    text = html.unescape(response.content.decode())
    assert "PUT is not allowed here; this address accepts GET and HEAD." in text


# --- /media/ and /admin/ (the project's own routes) -------------------------------------------

media_paths = st.one_of(
    st.text(min_size=1, max_size=80).filter(lambda p: "\x00" not in p),
    st.sampled_from(
        [
            "../db.sqlite3",
            "..%2f..%2fsettings.py",
            "generated_art/../../x.png",
            "/etc/passwd",
            "styles/models/x.pt",
            "generated_art/",
            "a" * 300 + ".png",
            "%00.png",
        ]
    ),
)


@fuzz_settings(40)
@given(path=media_paths)
def test_media_never_fails_and_serves_only_stored_images(client, make_artwork, path):
    if not GeneratedArtwork.objects.exists():
        make_artwork("GAN")
    stored = GeneratedArtwork.objects.get().image_file.name
    response = client.get("/media/" + quote(path))
    if path == stored:
        assert response.status_code == 200
    else:
        assert response.status_code in (400, 404), describe(response)
    assert client.get("/media/" + stored).status_code == 200


@fuzz_settings(20)  # each attempt hashes a password on purpose (slow against guessing)
@given(pairs=form_pairs({"username": hostile_text, "password": hostile_text}))
def test_admin_login_refuses_junk_without_a_500(client, pairs):
    before = snapshot()
    response = post_form(client, "/admin/login/", pairs)
    assert response.status_code in (200, 400), describe(response)
    assert "_auth_user_id" not in client.session
    assert snapshot() == before


def test_a_too_large_body_behind_the_csrf_check_gets_the_explaining_400_page(tiny_models):
    """With CSRF enforced the middleware reads the body before any view: Django's 400 handler
    answers, with the site's 400 page rather than a bare "Bad Request (400)"."""
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.get(CREATE)
    token = strict.cookies["csrftoken"].value
    before = snapshot()
    body = b"title=" + b"x" * (6 * 2**20)
    response = strict.generic(
        "POST", CREATE, body, "application/x-www-form-urlencoded", HTTP_X_CSRFTOKEN=token
    )
    assert_refused(response, before, json=False, status=400, says=["it may be too large"])
