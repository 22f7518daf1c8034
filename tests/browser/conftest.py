"""Browser tests: Debian's chromium driven by Playwright against the gallery and JupyterLab.

Playwright never downloads a browser here: it launches the system's ``chromium`` through
``executable_path`` (``.ci/run`` installs it with apt-get). Without chromium the tests are
skipped locally, but fail in CI, where a silent skip would hide a broken page.

Screenshots of the key pages are written to ``test-artifacts/screenshots/`` at the top of the
repository (``BROWSER_SCREENSHOT_DIR`` moves them), so a person can look at what the tests saw;
a failing test also leaves a screenshot of its page there, named ``FAILED-<test>.png``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from course_lib.runtime import use_threads
from gallery import generation
from gallery.models import GeneratedArtwork
from gallery_site.testing.checkpoints import write_tiny_checkpoints

from .servers import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_DIR = Path(
    os.environ.get("BROWSER_SCREENSHOT_DIR") or REPO_ROOT / "test-artifacts" / "screenshots"
)
#: axe-core, the accessibility checker, installed from npm with the site's assets (``npm ci``).
AXE_JS = REPO_ROOT / "django_project" / "node_modules" / "axe-core" / "axe.min.js"
#: Every violation of these impacts fails a page; "minor" and "moderate" ones are reported.
BLOCKING_IMPACTS = ("serious", "critical")
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# page actions are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def save_screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Write a PNG of the page to the screenshot folder and return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is now: its violations (rule id, impact, nodes, help)."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run `npm ci` in django_project (`make venv` does)")
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
    )


def describe_violations(violations: list[dict]) -> str:
    """One line per violated rule with the first offending elements, for failure messages."""
    lines = []
    for violation in violations:
        targets = ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        lines.append(
            f"  [{violation['impact']}] {violation['id']} x{len(violation['nodes'])}: "
            f"{violation['help']} ({targets})"
        )
    return "\n".join(lines)


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(page, name)`` saves a full-page PNG as a test artifact."""
    return save_screenshot


@pytest.fixture
def blank_page(browser, request: pytest.FixtureRequest) -> Iterator:
    """A fresh browser tab that records JavaScript errors; screenshotted if its test fails."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # tests assert the page ran without JavaScript errors
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            save_screenshot(page, f"FAILED-{name}")
        except Exception as error:  # a crashed page cannot be captured; the failure stands
            print(f"no failure screenshot for {request.node.nodeid}: {error}")
    context.close()


@pytest.fixture
def page(blank_page, settings, tmp_path):
    """A tab for tests against Django's live server, with media in a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return blank_page


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COURSE_DATA_DIR holding tiny untrained models under the gallery's checkpoint names."""
    return write_tiny_checkpoints(tmp_path_factory.mktemp("course_data"))


@pytest.fixture
def tiny_models(tiny_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Serve the tiny models from an empty cache; torch's thread count restored afterwards.

    The live server runs in a thread of this process, so the environment variable and the
    service's model cache apply to it.
    """
    threads = torch.get_num_threads()
    monkeypatch.setenv("COURSE_DATA_DIR", str(tiny_data_dir))
    monkeypatch.setattr(generation, "EXPLORER_SAMPLES", 120)  # a small latent map is enough
    generation.clear_cache()
    yield tiny_data_dir
    generation.clear_cache()
    use_threads(threads)


def make_artwork(method: str = "VAE", seed: int = 0, title: str = "test art") -> GeneratedArtwork:
    """Store an artwork through the service, as a POST to /create/ would."""
    image = generation.generate(method, 1.0, seed=seed)
    return GeneratedArtwork.objects.create_with_image(
        title=title,
        generation_method=method,
        png_bytes=image.png_bytes,
        latent_vector=image.latent_vector,
    )


@pytest.fixture(scope="module")
def jupyter_lab(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A headless JupyterLab on copies of the course notebooks (``tests/browser/lab.py``)."""
    from .lab import running_lab

    with running_lab(tmp_path_factory.mktemp("jupyterlab")) as lab:
        yield lab
