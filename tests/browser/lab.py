"""A real JupyterLab for browser tests: started headless on a free port with a random token, on
*copies* of the course notebooks (JupyterLab autosaves, and nbval checks the originals), plus
the page actions every notebook test needs (open a notebook, clear it, Run All, wait).

The kernels read the shared checkpoint folder, so the course's trained models are reused (and
trained there first if missing, exactly as the notebooks do for a learner). Use the
``jupyter_lab`` fixture (``tests/browser/conftest.py``) and ``run_all(page, lab, name)``.
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

from course_lib import paths

from .servers import (
    ONE_THREAD,
    REPO_ROOT,
    ServerProcess,
    free_port,
    processes_mentioning,
    wait_for_http,
)

#: Run All with every model already trained takes seconds; from an empty checkpoint folder a
#: notebook first trains its models (about a minute on a laptop CPU), so allow plenty.
RUN_ALL_TIMEOUT_S = 600
REDRAW_TIMEOUT_MS = 30_000  # a redraw takes milliseconds; this only bounds a broken one

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


@contextlib.contextmanager
def running_lab(base: Path) -> Iterator[Lab]:
    """``jupyter lab`` on copies of every course notebook in ``base``; it and its kernels are
    stopped afterwards (kernels run in their own sessions, outside the server's group)."""
    root, config, runtime = base / "notebooks", base / "config", base / "runtime"
    root.mkdir()
    for notebook in (REPO_ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy2(notebook, root / notebook.name)
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


def menu(page, name: str, item: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then its entry ``item`` (exact names)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=exactly(name)).click()
    page.locator(".lm-Menu-itemLabel", has_text=exactly(item)).click()


def exactly(text: str) -> re.Pattern[str]:
    """Match a label exactly: "Run All Cells" but not "Restart Kernel and Run All Cells…"."""
    return re.compile(rf"^{re.escape(text)}$")


def readout(slider):
    """The element showing a slider's value, for ``READOUT_IS``."""
    return slider.locator(".widget-readout").element_handle()


def wait_image_changed(page, image, before_src: str, action: str) -> None:
    """Wait until the kernel has sent the widget a new image (a new blob: URL) and it loaded."""
    try:
        page.wait_for_function(
            IMAGE_CHANGED, arg=[image.element_handle(), before_src], timeout=REDRAW_TIMEOUT_MS
        )
    except Exception as error:
        raise AssertionError(
            f"{action}, but the image was not redrawn within {REDRAW_TIMEOUT_MS / 1000:.0f} s"
        ) from error


def wait_all_cells_ran(page, lab: Lab) -> None:
    try:
        page.wait_for_function(ALL_CELLS_RAN, timeout=RUN_ALL_TIMEOUT_S * 1000)
    except Exception as error:
        unfinished = page.evaluate(UNFINISHED_CELLS)
        raise AssertionError(
            f"not every cell ran within {RUN_ALL_TIMEOUT_S} s; code cells still waiting "
            f"(number, prompt): {unfinished}\n{lab.server.describe()}"
        ) from error


def run_all(page, lab: Lab, notebook: str) -> None:
    """Open ``notebook``, clear every output (so what the test sees is from this run), Run All
    Cells, wait until every cell ran and the kernel is idle, and fail on any traceback."""
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)  # JupyterLab's first load is slow on a busy 2-core machine
    page.goto(lab.notebook_url(notebook))
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-CodeCell').length > 3")
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for()
    menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'))"
        ".every(p => p.textContent.trim() === '[ ]:')"
    )
    assert page.locator(".jupyter-widgets").count() == 0
    menu(page, "Run", "Run All Cells")
    wait_all_cells_ran(page, lab)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for()
    tracebacks = page.locator(".jp-OutputArea-output", has_text="Traceback")
    assert tracebacks.count() == 0, tracebacks.first.inner_text()


def forget_open_tabs(lab: Lab) -> None:
    """Delete JupyterLab's saved workspace, so the next page opens only its own notebook (a
    second ``run_all`` in one JupyterLab would otherwise also see the first notebook's cells)."""
    request = urllib.request.Request(
        f"{lab.url}/lab/api/workspaces/default",
        headers={"Authorization": f"token {lab.token}"},
        method="DELETE",
    )
    with contextlib.suppress(urllib.error.HTTPError):  # 404: nothing saved yet
        urllib.request.urlopen(request, timeout=30).close()
