"""Notebook 05 in a real JupyterLab: run every cell, then drag a latent slider in Chromium.

The sliders are the learner's main way to touch a model, and only a browser proves that the
whole chain works: the widget renders, a key press on its handle reaches the kernel, the kernel
decodes a new image and the page shows it. JupyterLab runs headless on a free port with a
random token, on a *copy* of the notebook (JupyterLab autosaves, and nbval checks the original).
The kernel reads the shared checkpoint folder, so the course's trained models are reused (and
trained there first if missing, exactly as the notebook does for a learner).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_lib import paths

from .servers import (
    ONE_THREAD,
    REPO_ROOT,
    ServerProcess,
    free_port,
    processes_mentioning,
    wait_for_http,
)

NOTEBOOK = "05_latent_space.ipynb"
#: Run All with every model already trained takes ~15 s; from an empty checkpoint folder the
#: notebook first trains two VAEs (about a minute on a laptop CPU), so allow plenty.
RUN_ALL_TIMEOUT_S = 600
REDRAW_TIMEOUT_MS = 30_000  # a redraw takes milliseconds; this only bounds a broken one
SLIDERS_TITLE = "LatentSliders("  # the caption course_lib.widgets.LatentSliders shows on top

# A code cell's prompt is "[ ]:" before it runs, "[*]:" while queued or running, "[n]:" after.
ALL_CELLS_RAN = """() => {
  const prompts = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'));
  return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""
UNFINISHED_CELLS = """() => Array.from(document.querySelectorAll('.jp-CodeCell'))
  .map((cell, i) => [i + 1, cell.querySelector('.jp-InputArea-prompt').textContent.trim()])
  .filter(([, prompt]) => !/^\\[\\d+\\]:$/.test(prompt))"""
# A slider's readout shows its value with a typographic minus sign ("\u22123.00").
READOUT_IS = """([el, want]) =>
  Math.abs(parseFloat(el.textContent.replace('\\u2212', '-')) - want) < 1e-6"""
IMAGE_READY = "img => img.complete && img.naturalWidth > 0"
IMAGE_CHANGED = "([img, before]) => img.src !== before && img.complete && img.naturalWidth > 0"
# The decoded pixels of an <img> (a blob: URL from the same origin, so the canvas is readable).
IMAGE_PIXELS = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png');
}"""


@dataclass
class Lab:
    url: str
    token: str
    server: ServerProcess

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}"


def _write_config(config_dir: Path) -> None:
    """A private Jupyter config: nothing fetched from the internet, no pop-ups over the page."""
    (config_dir / "labconfig").mkdir(parents=True)
    (config_dir / "jupyter_server_config.py").write_text(
        "c.LabApp.news_url = None\n"
        'c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"\n'
        'c.LabApp.extension_manager = "readonly"\n'
    )
    disabled = {"@jupyterlab/apputils-extension:announcements": True}
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": disabled})
    )


def _shut_down_kernels(lab: Lab) -> None:
    """Ask the server to stop its kernels (they run in their own sessions, outside its group)."""
    headers = {"Authorization": f"token {lab.token}"}
    with urllib.request.urlopen(
        urllib.request.Request(f"{lab.url}/api/kernels", headers=headers), timeout=10
    ) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(
            f"{lab.url}/api/kernels/{kernel['id']}", headers=headers, method="DELETE"
        )
        urllib.request.urlopen(request, timeout=30).close()


@pytest.fixture(scope="module")
def jupyter_lab(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``jupyter lab`` on a copy of notebook 05; it and its kernels are stopped afterwards."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root, config, runtime = base / "notebooks", base / "config", base / "runtime"
    root.mkdir()
    shutil.copy2(REPO_ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    _write_config(config)
    token = secrets.token_hex(16)
    port = free_port()
    env = {
        **os.environ,
        **ONE_THREAD,
        "JUPYTER_PREFER_ENV_PATH": "1",  # kernel "python3" is this virtual environment's
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(base / "ipython"),
        "COURSE_DATA_DIR": str(paths.data_dir()),  # the shared checkpoints, as for a learner
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",  # CI containers run as root
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    server = ServerProcess("jupyter lab", command, env=env, cwd=base, log=base / "lab.log")
    lab = Lab(f"http://127.0.0.1:{port}", token, server)
    try:
        wait_for_http(
            f"{lab.url}/api/status",
            [server],
            timeout=90,
            headers={"Authorization": f"token {token}"},
        )
        yield lab
    finally:
        if server.process.poll() is None:
            with contextlib.suppress(OSError):
                _shut_down_kernels(lab)
        server.stop()
        # A kernel the server could not stop still names a connection file in our runtime folder.
        for pid in processes_mentioning(str(runtime)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _menu(page, menu: str, item: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then its entry ``item`` (exact names)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=_exactly(menu)).click()
    page.locator(".lm-Menu-itemLabel", has_text=_exactly(item)).click()


def _exactly(text: str) -> re.Pattern[str]:
    """Match a label exactly: "Run All Cells" but not "Restart Kernel and Run All Cells…"."""
    return re.compile(rf"^{re.escape(text)}$")


def _readout(slider):
    """The element showing a slider's value, for ``READOUT_IS``."""
    return slider.locator(".widget-readout").element_handle()


def _wait_image_changed(page, image, before_src: str, action: str) -> None:
    """Wait until the kernel has sent the widget a new image (a new blob: URL) and it loaded."""
    try:
        page.wait_for_function(
            IMAGE_CHANGED, arg=[image.element_handle(), before_src], timeout=REDRAW_TIMEOUT_MS
        )
    except Exception as error:
        raise AssertionError(
            f"{action}, but the decoded image was not redrawn within "
            f"{REDRAW_TIMEOUT_MS / 1000:.0f} s"
        ) from error


def _wait_all_cells_ran(page, lab: Lab) -> None:
    try:
        page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_ALL_TIMEOUT_S * 1000)
    except Exception as error:
        unfinished = page.evaluate(UNFINISHED_CELLS)
        raise AssertionError(
            f"not every cell ran within {RUN_ALL_TIMEOUT_S} s; code cells still waiting "
            f"(number, prompt): {unfinished}\n{lab.server.describe()}"
        ) from error


def test_run_all_then_a_latent_slider_redraws_the_decoded_digit(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)  # JupyterLab's first load is slow on a busy 2-core machine
    page.goto(jupyter_lab.notebook_url(NOTEBOOK))
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-CodeCell').length > 10")
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for()

    # Start from a notebook without outputs, so every prompt and widget below is from this run.
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
        ".every(p => p.textContent.trim() === '[ ]:')"
    )
    assert page.locator(".widget-slider").count() == 0
    _menu(page, "Run", "Run All Cells")
    _wait_all_cells_ran(page, jupyter_lab)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for()
    tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()

    # The LatentSliders widget: a caption, eight sliders z[0]..z[7], the decoded image.
    widget = page.locator(".widget-vbox", has=page.locator(".widget-html", has_text=SLIDERS_TITLE))
    assert widget.count() == 1
    widget.scroll_into_view_if_needed()  # JupyterLab skips laying out cells far off screen
    sliders = widget.locator(".widget-slider")
    assert sliders.count() == 8
    assert sliders.locator(".widget-label").all_text_contents() == [f"z[{i}]" for i in range(8)]
    image = widget.locator("img.widget-image")
    page.wait_for_function(IMAGE_READY, arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [224, 224]  # 28 x 8
    first_src = image.get_attribute("src")
    first_pixels = image.evaluate(IMAGE_PIXELS)

    # Move z[0] to the far end of its range with the keyboard, as a learner can.
    handle = sliders.first.locator(".noUi-handle")
    start = float(handle.get_attribute("aria-valuenow"))
    low = float(handle.get_attribute("aria-valuemin"))
    high = float(handle.get_attribute("aria-valuemax"))
    key, target = ("End", high) if high - start >= start - low else ("Home", low)
    handle.focus()
    handle.press(key)
    page.wait_for_function(READOUT_IS, arg=[_readout(sliders.first), target])
    # The kernel decodes the new code and sends a new PNG: the image's source and pixels change.
    _wait_image_changed(page, image, first_src, f"z[0] was moved to {target:.2f}")
    keyed_src = image.get_attribute("src")
    keyed_pixels = image.evaluate(IMAGE_PIXELS)
    assert keyed_pixels != first_pixels, "the slider moved but the decoded digit did not change"

    # Drag the next slider's handle to the left end with the mouse: the digit changes again.
    second = sliders.nth(1)
    box = second.locator(".noUi-handle").bounding_box()
    track = second.locator(".noUi-base").bounding_box()
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, middle)
    page.mouse.down()
    page.mouse.move(track["x"] - 10, middle, steps=8)
    page.mouse.up()
    second_low = float(second.locator(".noUi-handle").get_attribute("aria-valuemin"))
    page.wait_for_function(READOUT_IS, arg=[_readout(second), second_low])
    _wait_image_changed(page, image, keyed_src, "z[1] was dragged to its left end")
    assert image.evaluate(IMAGE_PIXELS) not in (first_pixels, keyed_pixels)

    # Every image a widget of this notebook shows is drawn at its own size: not stretched by
    # the flex box around it (a distorted digit), not blown up to the width of the page.
    images = page.locator(".jp-OutputArea-output img.widget-image")
    assert images.count() >= 3  # the sliders' digit, the interpolation frame and its strip
    for index in range(images.count()):
        shown = images.nth(index)
        shown.scroll_into_view_if_needed()
        page.wait_for_function(IMAGE_READY, arg=shown.element_handle())
        natural, client = shown.evaluate(
            "img => [[img.naturalWidth, img.naturalHeight], [img.clientWidth, img.clientHeight]]"
        )
        assert client == natural, f"widget image {index} is {natural} pixels but shown {client}"

    widget.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab-latent-sliders", full_page=False)
    assert page.js_errors == []
