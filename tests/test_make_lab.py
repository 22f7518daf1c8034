"""The README's first command for real: ``make lab`` starts JupyterLab and ``/lab`` answers.

Run as the current user, which in a container or a fresh cloud machine (and in CI) is root:
Jupyter refuses root unless the Makefile passes ``--allow-root``. The test runs the ``lab``
recipe itself (``make -o venv``: the environment running the tests is the one to use, so
nothing is installed) on a free port with a token, waits for HTTP 200 from ``/lab``, then
stops the whole process group.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest
from browser.servers import REPO_ROOT, ServerProcess, free_port, wait_for_http

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def test_make_lab_serves_jupyterlab_as_the_current_user(tmp_path: Path) -> None:
    port, token = free_port(), secrets.token_hex(16)
    lab_args = (
        f"--no-browser --ip=127.0.0.1 --port={port} --port-retries=0 "
        f"--IdentityProvider.token={token}"
    )
    command = [
        "make",
        "--no-print-directory",
        "-o",
        "venv",  # the tests' own environment is the venv: nothing to install
        f"BIN={Path(sys.executable).parent}",
        f"LAB_ARGS={lab_args}",
        "lab",
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    server = ServerProcess("make lab", command, env=env, cwd=REPO_ROOT, log=tmp_path / "lab.log")
    try:
        wait_for_http(f"http://127.0.0.1:{port}/lab?token={token}", [server], timeout=90)
    finally:
        server.stop()
    # As root, Jupyter without --allow-root exits at once with this line (and no HTTP 200).
    assert "Running as root is not recommended" not in server.log.read_text(errors="replace")
