"""Hostile input for every style-studio endpoint: never a 5xx, always a reason, no strays.

Uploads are the riskiest input of the site, so they get the most: random bytes, text named
``.png``, empty files, truncated and bit-flipped PNG/JPEG/GIF/WebP, headers that claim huge
sizes, too few and too many files. The oracle is the upload form run on the same files: a
valid upload stores one style with one sample row and one file per image, anything else is a
400 that names each bad file and stores nothing.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from hypothesis import event, example, given
from hypothesis import strategies as st

from gallery.models import GeneratedArtwork
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
from styles import services
from styles.forms import SampleStyleForm, StyleUploadForm
from styles.models import Style, StyleStatus

from .conftest import CONTENT_TYPES, image_bytes

pytestmark = pytest.mark.django_db

INDEX = reverse("styles:index")
SAMPLES = reverse("styles:try_sample")
FORMATS = list(CONTENT_TYPES)


@pytest.fixture
def client() -> Client:
    """A client that turns a view's exception into the 500 a visitor would get, not a raise."""
    return Client(raise_request_exception=False)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


KINDS = ["random", "truncated", "flipped", "text", "empty", "huge"]


@st.composite
def upload_bytes(draw: st.DrawFn, kinds: list[str] | None = None) -> bytes:
    """One uploaded file: a good image, or one of the ways an upload goes wrong."""
    fmt = draw(st.sampled_from(FORMATS))
    size = draw(st.tuples(st.integers(1, 48), st.integers(1, 48)))
    good = image_bytes(fmt, size=size, seed=draw(st.integers(0, 3)))
    kind = draw(st.sampled_from(kinds or ["good", "good", *KINDS]))
    event(f"file: {kind}")
    if kind == "good":
        return good
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "truncated":
        return good[: draw(st.integers(0, max(0, len(good) - 1)))]
    if kind == "flipped":  # bit rot somewhere in the header or the pixel data
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return bytes(data)
    if kind == "text":
        return draw(hostile_text).encode("utf-8", "replace")
    if kind == "huge":
        side = draw(st.sampled_from([4097, 20_000, 2**31 - 1]))
        return png_claiming(side, draw(st.sampled_from([1, side])))
    return b""


file_names = st.sampled_from(["a.png", "b.jpg", "c.gif", "d.webp", "e.txt", ""])
#: Found by this fuzzer: one flipped byte in a chunk type makes Pillow raise SyntaxError while
#: decoding, which escaped the checks as a 500.
BROKEN_CHUNK_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x04IDATx\x9cc\x88o:\x04\x00\x02\xe7\x01\xa4\x0c\xe7=\xb1"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
uploads_strategy = st.one_of(
    st.lists(st.tuples(upload_bytes(), file_names), min_size=0, max_size=11),
    # 5-10 good images, the near miss of which the random lists hit too rarely
    st.lists(st.tuples(upload_bytes(["good"]), file_names), min_size=5, max_size=10),
)
names = st.one_of(st.text(min_size=1, max_size=30), hostile_text)


def as_uploads(files: list[tuple[bytes, str]]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name or "blank", data, "image/png") for data, name in files]


@fuzz_settings(300)
@given(data=upload_bytes(["good", *KINDS]))
@example(data=BROKEN_CHUNK_PNG)
@example(data=png_claiming(2**31 - 1, 2**31 - 1))
@example(data=b"GIF89a" + b"\xff" * 20)
@example(data=b"\xff\xd8\xff")
@example(data=b"RIFF\x00\x00\x00\x00WEBPVP8 ")
def test_check_image_accepts_an_image_or_says_why_not(data):
    """Every byte string is either a usable image or a ValueError: Pillow's other errors
    (EOFError, struct.error, SyntaxError, ...) would be a 500 in the upload view."""
    try:
        checked = services.check_image(data, "sample.png")
    except ValueError as error:
        assert str(error).strip()
    else:
        assert checked.format in FORMATS and checked.data == data


@fuzz_settings(40)
@given(name=names, files=uploads_strategy)
@example(name="Doodles", files=[(image_bytes("PNG", seed=i), f"{i}.png") for i in range(5)])
@example(name="Doodles", files=[(png_claiming(2**31 - 1, 2**31 - 1), "bomb.png")] * 5)
@example(
    name="Bit rot",
    files=[(BROKEN_CHUNK_PNG, "rot.png")] + [(image_bytes(seed=i), f"{i}.png") for i in range(4)],
)
@example(name="x" * 101, files=[(image_bytes("GIF", seed=i), f"{i}.gif") for i in range(10)])
@example(name="Eleven", files=[(image_bytes("JPEG", seed=i), f"{i}.jpg") for i in range(11)])
def test_uploads_are_stored_whole_or_refused_with_each_reason(client, name, files):
    form = StyleUploadForm({"name": name}, {"images": as_uploads(files)})
    valid = form.is_valid()
    event(f"form valid: {valid}")
    before = snapshot()
    response = client.post(INDEX, {"name": name, "images": as_uploads(files)})
    if valid:
        assert response.status_code == 302, describe(response)
        style = Style.objects.order_by("-pk").first()
        assert response.url == reverse("styles:detail", args=[style.pk])
        after = snapshot()
        assert after.row_count("styles.Style") == before.row_count("styles.Style") + 1
        assert after.row_count("styles.StyleSample") == (
            before.row_count("styles.StyleSample") + len(files)
        )
        assert after.files - before.files == {s.image.name for s in style.samples.all()}
    else:
        assert response.status_code == 400, describe(response)
        assert_refused(response, before, json=False, says=form_messages(form))


def test_too_many_files_in_one_request_is_400_in_words(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 12
    files = [SimpleUploadedFile(f"{i}.png", image_bytes(seed=i)) for i in range(13)]
    before = snapshot()
    response = client.post(INDEX, {"name": "Many", "images": files})
    assert_refused(response, before, json=False, status=400, says=["too many files (at most 12)"])


@fuzz_settings(30)
@given(pairs=form_pairs({"sample": field_value(["warm_mandalas", "../etc", "none", ""])}))
def test_sample_styles_start_only_for_shipped_folders(client, pairs):
    form = SampleStyleForm(as_querydict(pairs))
    before = snapshot()
    response = post_form(client, SAMPLES, pairs)
    event(f"form valid: {form.is_valid()}")
    if form.is_valid():
        assert response.status_code == 302, describe(response)
        assert snapshot().row_count("styles.Style") == before.row_count("styles.Style") + 1
    else:
        assert_refused(response, before, json=False, status=400, says=form_messages(form))


@fuzz_settings(30)
@given(style_id=st.integers(min_value=0, max_value=10**25))
def test_unknown_style_ids_are_404_naming_the_id(client, style_id):
    Style.objects.filter(pk=style_id).delete()
    before = snapshot()
    page = client.get(reverse("styles:detail", args=[style_id]))
    assert_refused(page, before, json=False, status=404, says=[f"There is no style #{style_id}."])
    status = client.get(reverse("styles:status", args=[style_id]))
    assert_refused(status, before, json=True, status=404, says=[f"#{style_id}"])
    save = reverse("styles:save_variation", args=[style_id, 0])
    as_json = client.post(save, HTTP_ACCEPT="application/json")
    assert_refused(as_json, before, json=True, status=404, says=[f"#{style_id}"])
    as_page = client.post(save)
    assert_refused(as_page, before, json=False, status=404, says=[f"#{style_id}"])


@fuzz_settings(30)
@given(index=st.integers(min_value=0, max_value=10**25), accept=st.sampled_from(["", "json"]))
@example(index=services.N_VARIATIONS, accept="json")
@example(index=services.N_VARIATIONS - 1, accept="")
def test_saving_any_variation_number_stores_one_artwork_or_none(client, done_style, index, accept):
    headers = {"HTTP_ACCEPT": "application/json"} if accept else {}
    before = snapshot()
    response = client.post(reverse("styles:save_variation", args=[done_style.pk, index]), **headers)
    if index < services.N_VARIATIONS:
        assert response.status_code in (200, 302), describe(response)
        after = snapshot()
        assert after.row_count("gallery.GeneratedArtwork") == (
            before.row_count("gallery.GeneratedArtwork") + 1
        )
        assert len(after.files - before.files) == 1
    else:
        says = [f"Variation numbers run from 1 to {services.N_VARIATIONS}."]
        assert_refused(response, before, json=bool(accept), status=400, says=says)


def test_saving_from_a_style_still_training_is_409(client, done_style):
    Style.objects.filter(pk=done_style.pk).update(status=StyleStatus.RUNNING)
    before = snapshot()
    response = client.post(
        reverse("styles:save_variation", args=[done_style.pk, 0]), HTTP_ACCEPT="application/json"
    )
    assert_refused(response, before, json=True, status=409, says=["not finished training"])
    assert not GeneratedArtwork.objects.exists()


@pytest.mark.parametrize(
    ("name", "args", "allowed", "json"),
    [
        ("index", [], ["GET", "HEAD", "POST"], False),
        ("try_sample", [], ["POST"], False),
        ("detail", [1], ["GET", "HEAD"], False),
        ("status", [1], ["GET", "HEAD"], True),
        ("save_variation", [1, 0], ["POST"], False),
    ],
)
def test_wrong_methods_are_405_with_allow_and_a_reason(client, name, args, allowed, json):
    url = reverse(f"styles:{name}", args=args)
    assert "PUT" in assert_method_not_allowed(client, url, allowed, json=json)


def test_a_fetch_with_a_wrong_method_gets_json(client):
    url = reverse("styles:save_variation", args=[1, 0])
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {
        "success": False,
        "error": "GET is not allowed here; this address accepts POST.",
    }


class _Exploit:
    """Unpickling this creates ``marker``: proof that code in the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_style_file_replaced_by_a_malicious_pickle_is_refused(client, done_style, tmp_path):
    marker = tmp_path / "pwned"
    payload = torch.load(done_style.style_file.path, weights_only=True)
    payload["report"] = _Exploit(marker)
    torch.save(payload, done_style.style_file.path)
    # The file really is dangerous: opening it the unsafe way runs the code.
    torch.load(done_style.style_file.path, weights_only=False)["report"].close()
    assert marker.exists()
    marker.unlink()

    page = client.get(reverse("styles:detail", args=[done_style.pk]))
    assert page.status_code == 200
    assert "could run arbitrary code" in page.context["unavailable"]
    before = snapshot()
    save = client.post(
        reverse("styles:save_variation", args=[done_style.pk, 0]), HTTP_ACCEPT="application/json"
    )
    assert_refused(save, before, json=True, status=409, says=["could run arbitrary code"])
    assert not marker.exists()
