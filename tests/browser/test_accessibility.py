"""Every page of the site, on a laptop and on a phone: axe-core finds no serious problem.

axe-core (from npm, see ``django_project/package.json``) checks colour contrast, names of
buttons and links, landmarks, labels and more. Each page is loaded with real content (artworks,
patterns, a training style and a trained one), checked, and screenshotted as
``<width>-<page>.png`` so a person can look at what the test saw. The same visit records every
response and console error: apart from the deliberate 404 page, nothing the pages load may be
missing, the tab icon each page links must load (browsers fetch it outside the page's own
requests), and the visible text spells "colour" one way.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import override_settings

from course_lib import checkpoints
from course_lib.paths import checkpoint_dir
from gallery import generation
from patterns import services as pattern_services
from patterns.forms import ImageGeneratorForm
from styles import services as style_services
from styles.models import Style, StyleStatus
from workshop.models import ModelKind, ModelRecord, ModelStatus

from .conftest import BLOCKING_IMPACTS, axe_violations, describe_violations, make_artwork

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("tiny_models")]

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
MISSING_PATH = "/no-such-page/"


def _store_pattern(kind: str, primary: str) -> None:
    form = ImageGeneratorForm(
        {
            "pattern_type": kind,
            "width": 120,
            "height": 120,
            "primary_color": primary,
            "secondary_color": "#FFCC00",
        }
    )
    assert form.is_valid(), form.errors
    pattern_services.store_pattern(form)


def _site_content() -> dict[str, str]:
    """Store what the pages show; return the paths of every page, by a short name."""
    first = make_artwork("VAE", seed=1, title="Morning digit")
    second = make_artwork("VAE", seed=2, title="Evening digit")
    make_artwork("GAN", seed=3, title="A GAN dream")
    make_artwork("AUTOENCODER", seed=4, title="Squeezed and rebuilt")
    _store_pattern("mandala", "#3366CC")
    _store_pattern("spiral", "#AA2200")
    training = Style.objects.create(name="Half-trained stripes", status=StyleStatus.RUNNING)
    Style.objects.filter(pk=training.pk).update(progress=0.4)
    with override_settings(
        TASKS={"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}},
        STYLE_TRAINING_SECONDS=0.3,
    ):
        done = style_services.create_sample_style(style_services.sample_style_names()[0])
    done.refresh_from_db()
    assert done.status == StyleStatus.DONE, done.error
    # Model records: one finished (the gallery's tiny VAE), one training.
    vae_file = f"{generation.CHECKPOINTS['VAE']}.pt"
    finished = ModelRecord.objects.create(
        name="Tiny course VAE",
        kind=ModelKind.VAE,
        architecture="VariationalAutoencoder",
        checkpoint=vae_file,
        fingerprint=checkpoints.fingerprint(checkpoint_dir() / vae_file),
        input_dim=784,
        latent_dim=4,
        final_loss=250.5,
        metrics={"neg_elbo_nats": 250.0, "score_ratio": 0.5, "fd_ratio": 12.0},
        training_history=[{"epoch": 1, "loss": 300.0}, {"epoch": 2, "loss": 250.5}],
        epochs=2,
        batch_size=64,
        status=ModelStatus.DONE,
        progress=1.0,
    )
    running = ModelRecord.objects.create(
        name="Half-trained GAN", kind=ModelKind.GAN, status=ModelStatus.RUNNING, progress=0.3
    )
    return {
        "gallery": "/",
        "create": "/create/",
        "explore": "/explore/",
        "interpolate": f"/interpolate/{first.pk}/{second.pk}/",
        "artwork": f"/artworks/{first.pk}/",
        "patterns": "/patterns/",
        "pattern-gallery": "/patterns/gallery/",
        "styles": "/styles/",
        "style-training": f"/styles/{training.pk}/",
        "style-done": f"/styles/{done.pk}/",
        "models": "/models/",
        "model-done": f"/models/{finished.pk}/",
        "model-training": f"/models/{running.pk}/",
        "admin-login": "/admin/login/",
        "not-found": MISSING_PATH,
    }


def _settle(page) -> None:
    """Wait until the page's own requests are done and its images are decoded."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => Array.from(document.images).every(img => img.complete)", timeout=30_000
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_has_no_serious_accessibility_problem_and_loads_everything(
    live_server, page, screenshot: Callable, width: str
):
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    paths = _site_content()
    missing: list[str] = []
    page.on(
        "response",
        lambda response: missing.append(response.url) if response.status >= 400 else None,
    )
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            console_errors.append(f"{message.location['url']}: {message.text}")
            if message.type == "error" and not message.location["url"].endswith(MISSING_PATH)
            else None
        ),
    )
    problems: dict[str, str] = {}
    icons: dict[str, int] = {}
    american: list[str] = []
    counts: dict[str, str] = {}
    sideways: list[str] = []
    for name, path in paths.items():
        page.goto(live_server.url + path, timeout=60_000)  # the first map encodes digits
        _settle(page)
        violations = axe_violations(page)
        screenshot(page, f"{width}-{name}")
        counts[name] = ", ".join(f"{v['impact']} {v['id']} x{len(v['nodes'])}" for v in violations)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        if blocking:
            problems[name] = describe_violations(blocking)
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            sideways.append(path)
        icon = page.eval_on_selector("link[rel~=icon]", "link => link.href")
        icons[icon] = page.request.get(icon).status
        if re.search(r"\bcolor", page.inner_text("body"), re.IGNORECASE):
            american.append(path)
    print(f"\naxe-core at {width} width, violations (impact, rule, elements):")
    for name, found in counts.items():
        print(f"  {name:16} {found or 'none'}")
    report = "\n".join(f"{paths[name]}:\n{text}" for name, text in problems.items())
    assert not problems, f"axe-core found serious or critical problems:\n{report}"
    assert sideways == [], f"these pages scroll sideways at {width} width"
    assert [url for url in missing if not url.endswith(MISSING_PATH)] == []
    assert console_errors == []
    assert set(icons.values()) == {200}, icons
    assert american == [], "these pages spell it 'color'; the site writes 'colour'"
    assert page.js_errors == []
