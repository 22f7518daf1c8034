"""Style studio pages: upload, sample styles, status, the trained style's page, CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from PIL import Image

from course_lib import styles as course_styles
from styles import services
from styles.models import Style, StyleSample, StyleStatus

from .conftest import image_bytes, upload, uploads

INDEX = reverse("styles:index")
pytestmark = pytest.mark.django_db


def post_upload(client: Client, files: list, name: str = "Doodles"):
    return client.post(INDEX, {"name": name, "images": files})


def test_index_shows_the_form_the_samples_and_the_styles(client: Client, done_style) -> None:
    response = client.get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="images"' in html and "multiple" in html
    assert 'value="warm_mandalas"' in html  # a one-click sample style
    assert reverse("styles:detail", args=[done_style.pk]) in html
    assert "Warm test" in html and ">Done<" in html
    assert reverse("styles:index") in client.get(reverse("gallery:index")).content.decode()


def test_a_valid_upload_stores_the_samples_trains_and_opens_the_style(
    client: Client, media_files, django_capture_on_commit_callbacks
) -> None:
    files = uploads(3) + uploads(1, "JPEG") + uploads(1, "WEBP")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_upload(client, files)
    style = Style.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("styles:detail", args=[style.pk])
    assert len(callbacks) == 1  # training is queued only once the rows are committed
    assert style.name == "Doodles"
    assert style.status == StyleStatus.DONE, style.error
    assert style.progress == 1.0 and style.task_result_id
    assert [s.image.name.rsplit(".", 1)[1] for s in style.samples.all()] == [
        "png",
        "png",
        "png",
        "jpg",
        "webp",
    ]
    stored = {path.name for path in media_files()}
    assert {s.image.name.rsplit("/", 1)[1] for s in style.samples.all()} < stored
    assert style.style_file.name.rsplit("/", 1)[1] in stored
    assert set(style.report) >= {"reconstruction_psnr_db", "variety_ratio", "copy_fraction"}


def test_ten_files_of_5_mb_each_get_through_the_request_parser(client: Client, media_files) -> None:
    """50 MB in one request: the 5 MB DATA_UPLOAD_MAX_MEMORY_SIZE does not count file data."""
    files = [upload(image_bytes(seed=i, pad_to=5 * 2**20), f"big_{i}.png") for i in range(10)]
    response = post_upload(client, files)
    assert response.status_code == 302
    assert StyleSample.objects.count() == 10
    assert len(media_files()) == 10


def test_more_files_than_django_parses_is_a_400_not_a_500(client: Client, media_files) -> None:
    """Over DATA_UPLOAD_MAX_NUMBER_FILES (100) Django's parser refuses the request itself."""
    response = post_upload(client, uploads(101))
    assert response.status_code == 400
    assert b"you sent" not in response.content  # refused before the form saw it
    assert not Style.objects.exists() and media_files() == []


BAD_UPLOADS = {
    "four files": (lambda: uploads(4), "you sent 4"),
    "eleven files": (lambda: uploads(11), "you sent 11"),
    "text named png": (
        lambda: uploads(4) + [upload(b"hello", "fake.png")],
        "fake.png: the file is not an image",
    ),
    "over 5 MB": (
        lambda: uploads(4) + [upload(image_bytes(pad_to=6 * 2**20), "huge.png")],
        "huge.png: the file is 6.0 MB; the limit is 5 MB",
    ),
    "5000x10": (
        lambda: uploads(4) + [upload(image_bytes(size=(5000, 10)), "wide.png")],
        "wide.png: the image is 5000x10 pixels",
    ),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_a_bad_upload_is_refused_with_a_message_and_nothing_stored(
    client: Client, media_files, django_capture_on_commit_callbacks, case: str
) -> None:
    make_files, message = BAD_UPLOADS[case]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_upload(client, make_files())
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Style.objects.exists() and not StyleSample.objects.exists()
    assert media_files() == [] and callbacks == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_decompression_bomb_is_refused_and_nothing_stored(
    client: Client, media_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = uploads(5)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the 40x40 images now count as bombs
    response = post_upload(client, files)
    assert response.status_code == 400
    assert "decompression bomb" in response.content.decode()
    assert not Style.objects.exists() and media_files() == []


def test_a_storage_failure_leaves_no_row_and_no_file(
    client: Client, media_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = StyleSample.save
    calls = []

    def fail_on_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise DatabaseError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StyleSample, "save", fail_on_third)
    response = post_upload(client, uploads(5))
    assert response.status_code == 503
    assert "could not be saved" in response.content.decode()
    assert not Style.objects.exists() and not StyleSample.objects.exists()
    assert media_files() == []


def test_a_sample_style_copies_the_shipped_images_and_trains(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("styles:try_sample"), {"sample": "cool_geometric"})
    style = Style.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("styles:detail", args=[style.pk])
    assert style.name == "Cool geometric (sample)"
    assert style.samples.count() == 8
    assert style.status == StyleStatus.DONE, style.error


@pytest.mark.parametrize("sample", ["../../gallery", "nope", ""])
def test_an_unknown_sample_style_is_refused(client: Client, media_files, sample: str) -> None:
    response = client.post(reverse("styles:try_sample"), {"sample": sample})
    assert response.status_code == 400
    assert "sample style" in response.content.decode()
    assert not Style.objects.exists() and media_files() == []


def test_every_post_needs_the_csrf_token(done_style, media_files) -> None:
    client = Client(enforce_csrf_checks=True)
    files_before = media_files()
    assert post_upload(client, uploads(5)).status_code == 403
    assert client.post(reverse("styles:try_sample"), {"sample": "warm_mandalas"}).status_code == 403
    save = reverse("styles:save_variation", args=[done_style.pk, 0])
    assert client.post(save).status_code == 403
    assert Style.objects.count() == 1 and media_files() == files_before

    client.get(INDEX)  # sets the CSRF cookie; with the token, the same POST goes through
    token = client.cookies["csrftoken"].value
    response = client.post(save, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302


def test_a_queued_style_polls_its_status(client: Client) -> None:
    style = Style.objects.create(name="Waiting")
    response = client.get(reverse("styles:detail", args=[style.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-status-url="{reverse("styles:status", args=[style.pk])}"' in html
    assert "db_worker" in html
    data = client.get(reverse("styles:status", args=[style.pk])).json()
    assert data == {"status": "queued", "label": "Queued", "progress": 0.0, "error": ""}


def test_status_of_a_running_style_reports_its_progress(client: Client) -> None:
    style = Style.objects.create(name="Busy", status=StyleStatus.RUNNING, progress=0.4321)
    data = client.get(reverse("styles:status", args=[style.pk])).json()
    assert data["status"] == "running" and data["progress"] == 0.4321
    assert (
        'style="width: 43%"'
        in client.get(reverse("styles:detail", args=[style.pk])).content.decode()
    )


def test_status_of_a_missing_style_is_404_json(client: Client) -> None:
    response = client.get(reverse("styles:status", args=[999]))
    assert response.status_code == 404
    assert response.json() == {"error": "There is no style #999."}
    assert client.get(reverse("styles:detail", args=[999])).status_code == 404


def test_a_stale_running_style_is_shown_as_failed(client: Client) -> None:
    style = Style.objects.create(name="Orphan", status=StyleStatus.RUNNING, progress=0.3)
    Style.objects.filter(pk=style.pk).update(updated=timezone.now() - timedelta(minutes=11))
    data = client.get(reverse("styles:status", args=[style.pk])).json()
    assert data["status"] == "failed"
    assert data["error"].startswith("The worker stopped")
    html = client.get(reverse("styles:detail", args=[style.pk])).content.decode()
    assert "The worker stopped" in html and "data-status-url" not in html
    fresh = Style.objects.create(name="Alive", status=StyleStatus.RUNNING)
    assert client.get(reverse("styles:status", args=[fresh.pk])).json()["status"] == "running"


def test_a_failing_training_marks_the_style_failed_with_the_reason(
    client: Client, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("the paint ran out")

    monkeypatch.setattr(course_styles, "train_style", explode)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_upload(client, uploads(5))
    style = Style.objects.get()
    assert response.status_code == 302
    assert style.status == StyleStatus.FAILED
    assert style.error == "Training failed: RuntimeError: the paint ran out"
    assert not style.style_file
    html = client.get(response.url).content.decode()
    assert "the paint ran out" in html and ">Failed<" in html
    assert client.get(reverse("styles:status", args=[style.pk])).json()["status"] == "failed"


def test_a_trained_style_shows_originals_variations_traversal_and_report(
    client: Client, done_style
) -> None:
    response = client.get(reverse("styles:detail", args=[done_style.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    showcase = response.context["showcase"]
    assert len(showcase.originals) == 8
    assert len(showcase.variations) == services.N_VARIATIONS
    assert len(showcase.traversal) == services.TRAVERSAL_STEPS
    assert html.count('class="pixelated rounded style-tile" width="128"') == 8 + 16 + 8
    assert html.count('src="data:image/png;base64,') == 8 + 16 + 8
    assert escape(course_styles.brief_report(done_style.report)) in html
    assert "from sample" in html  # each variation's distance to its nearest original
    assert html.count("data-save-form") == services.N_VARIATIONS
    assert "data-status-url" not in html  # nothing to poll


def test_the_trained_style_is_loaded_once_per_process(client: Client, done_style) -> None:
    for _ in range(3):
        assert client.get(reverse("styles:detail", args=[done_style.pk])).status_code == 200
    assert services.load_count(done_style) == 1


def test_a_damaged_style_file_shows_a_message_not_a_500(client: Client, done_style) -> None:
    with done_style.style_file.open("wb") as handle:
        handle.write(b"not a style")
    response = client.get(reverse("styles:detail", args=[done_style.pk]))
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()


def test_the_admin_lists_styles_and_samples(admin_client: Client, done_style) -> None:
    StyleSample.objects.create(style=done_style, image="styles/samples/x.png")
    for url in (
        reverse("admin:styles_style_changelist"),
        reverse("admin:styles_style_change", args=[done_style.pk]),
        reverse("admin:styles_stylesample_changelist"),
    ):
        assert admin_client.get(url).status_code == 200, url


def test_deleting_a_style_removes_its_files(
    client: Client, media_files, django_capture_on_commit_callbacks
) -> None:
    post_upload(client, uploads(5))  # stored, not trained: on_commit is not run here
    assert len(media_files()) == 5
    with django_capture_on_commit_callbacks(execute=True):
        Style.objects.get().delete()
    assert media_files() == [] and not StyleSample.objects.exists()
