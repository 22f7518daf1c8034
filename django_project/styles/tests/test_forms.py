"""The upload form: 5-10 files, each checked by its content, size, dimensions and pixel count."""

from __future__ import annotations

import io

import pytest
from django.utils.datastructures import MultiValueDict
from PIL import Image

from styles.forms import SampleStyleForm, StyleUploadForm

from .conftest import image_bytes, upload, uploads


def make_form(files: list, name: str = "My style") -> StyleUploadForm:
    return StyleUploadForm({"name": name}, MultiValueDict({"images": files}))


def test_png_jpeg_webp_and_gif_are_accepted_by_content() -> None:
    files = [
        upload(image_bytes("PNG", seed=0), "a.png"),
        upload(image_bytes("PNG", seed=1), "b.png"),
        upload(image_bytes("JPEG", seed=2), "c.jpg", "image/jpeg"),
        upload(image_bytes("WEBP", seed=3), "d.webp", "image/webp"),
        upload(image_bytes("GIF", seed=4), "e.gif", "image/gif"),
    ]
    form = make_form(files)
    assert form.is_valid(), form.errors
    assert [image.format for image in form.cleaned_data["images"]] == [
        "PNG",
        "PNG",
        "JPEG",
        "WEBP",
        "GIF",
    ]


def test_a_jpeg_named_png_is_judged_by_its_content() -> None:
    files = uploads(4) + [upload(image_bytes("JPEG"), "really_a_jpeg.png")]
    form = make_form(files)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["images"][-1].format == "JPEG"


@pytest.mark.parametrize("count", [0, 1, 4, 11])
def test_fewer_than_5_or_more_than_10_files_are_refused(count: int) -> None:
    form = make_form(uploads(count))
    assert not form.is_valid()
    assert form.errors["images"] == [f"Upload 5 to 10 images of one style; you sent {count}."]


def test_10_files_are_the_most_accepted() -> None:
    assert make_form(uploads(10)).is_valid()


def test_a_text_file_named_png_is_refused_with_its_name() -> None:
    form = make_form(uploads(4) + [upload(b"just some text, honestly", "notes.png")])
    assert not form.is_valid()
    (message,) = form.errors["images"]
    assert message.startswith("notes.png: the file is not an image Pillow can read")


def test_a_format_outside_the_four_is_refused() -> None:
    form = make_form(uploads(4) + [upload(image_bytes("TIFF"), "scan.tif", "image/tiff")])
    assert not form.is_valid()
    assert "TIFF images are not accepted" in form.errors["images"][0]


def test_a_truncated_image_is_refused() -> None:
    data = image_bytes("PNG", size=(64, 64))
    form = make_form(uploads(4) + [upload(data[: len(data) // 2], "cut.png")])
    assert not form.is_valid()
    assert "cut.png: the image is damaged or truncated" in form.errors["images"][0]


class _WatchedBytes(io.BytesIO):
    """File contents that record every attempt to read them."""

    def __init__(self, data: bytes, reads: list[str]) -> None:
        super().__init__(data)
        self.reads = reads

    def read(self, *args):
        self.reads.append("read")
        return super().read(*args)

    def readinto(self, buffer):
        self.reads.append("readinto")
        return super().readinto(buffer)

    def __iter__(self):
        self.reads.append("iter")
        return super().__iter__()


def test_a_file_over_5_mb_is_refused_before_it_is_read() -> None:
    big = upload(image_bytes("PNG", pad_to=5 * 2**20 + 1), "huge.png")
    reads: list[str] = []
    big.file = _WatchedBytes(big.file.getvalue(), reads)
    small = upload(image_bytes("PNG", seed=9), "small.png")
    small.file = _WatchedBytes(small.file.getvalue(), small_reads := [])
    form = make_form(uploads(3) + [small, big])
    assert not form.is_valid()
    assert form.errors["images"] == ["huge.png: the file is 5.0 MB; the limit is 5 MB."]
    assert reads == []  # refused by its size alone: not a byte of it was read
    assert small_reads  # (the watch works: a file under the limit is read and checked)


def test_an_image_over_4096_pixels_a_side_is_refused() -> None:
    form = make_form(uploads(4) + [upload(image_bytes("PNG", size=(5000, 10)), "wide.png")])
    assert not form.is_valid()
    (message,) = form.errors["images"]
    assert message.startswith("wide.png: the image is 5000x10 pixels; the limit is 4096 on each")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [40, 80])  # over the limit, and over twice it (Pillow raises)
def test_a_decompression_bomb_is_refused(side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    files = uploads(4) + [upload(image_bytes("PNG", size=(side, side)), "bomb.png")]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the four others have 1600 pixels too
    form = make_form(files)
    assert not form.is_valid()
    assert all("decompression bomb" in message for message in form.errors["images"])
    assert any(message.startswith("bomb.png:") for message in form.errors["images"])


def test_every_bad_file_is_named() -> None:
    files = uploads(3) + [upload(b"x", "one.png"), upload(b"y", "two.gif", "image/gif")]
    errors = make_form(files).errors["images"]
    assert [message.split(":")[0] for message in errors] == ["one.png", "two.gif"]


def test_the_name_is_required() -> None:
    form = make_form(uploads(5), name="  ")
    assert form.errors["name"] == ["Give your style a name."]


def test_the_file_input_lets_the_browser_pick_several_images() -> None:
    html = str(StyleUploadForm()["images"])
    assert "multiple" in html
    assert 'accept="image/png,image/jpeg,image/webp,image/gif"' in html


def test_sample_style_choices_are_the_shipped_folders() -> None:
    form = SampleStyleForm({"sample": "warm_mandalas"})
    assert form.is_valid()
    assert {"cool_geometric", "sunset_gradients", "warm_mandalas"} <= {
        value for value, _ in form.fields["sample"].choices
    }
    for bad in ("../gallery", "nope", ""):
        assert not SampleStyleForm({"sample": bad}).is_valid()
