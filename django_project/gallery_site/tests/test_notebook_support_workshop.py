"""Notebook plumbing for training from the web (notebook 08): the task worker started and
always stopped, JSON posts with the CSRF header, following a training, no orphan checkpoints;
and labelled pictures for notebook 07."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_lib.imaging import to_png_bytes
from gallery_site import notebook_support as support
from gallery_site.processes import wait_until_logged


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.is_file() and "\nState:\tZ" in status.read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("workshop_site")
    db, media = root / "db.sqlite3", root / "media"
    support.manage("migrate", "--noinput", db_path=db, media_root=media)
    return db, media


# --- reset_site and the web-trained checkpoints ------------------------------------------------


def _records_db(path: Path, rows: list[tuple[str, str]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE workshop_modelrecord (checkpoint TEXT, source TEXT)")
        db.executemany("INSERT INTO workshop_modelrecord VALUES (?, ?)", rows)
    db.close()


def test_reset_site_deletes_the_checkpoints_its_site_trained_and_nothing_else(
    tmp_path, monkeypatch
):
    data = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    web, shared = data / "checkpoints" / "web", data / "checkpoints"
    web.mkdir(parents=True)
    files = {
        name: path
        for name, path in {
            "trained here": web / "record-1-abcd.pt",
            "another site's": web / "record-9-ffff.pt",
            "shared": shared / "vae_mnist5k.pt",
            "outside": tmp_path / "precious.pt",
        }.items()
    }
    for path in files.values():
        path.write_bytes(b"weights")
    db = tmp_path / "run" / "db.sqlite3"
    db.parent.mkdir()
    _records_db(
        db,
        [
            ("web/record-1-abcd.pt", "web"),
            ("vae_mnist5k.pt", "shared"),  # a registered shared checkpoint: never deleted
            ("web/../../../precious.pt", "web"),  # a forged path: outside web/, kept
            ("", "web"),  # a record still queued has no file
        ],
    )
    support.reset_site(db, tmp_path / "run" / "media")
    assert not db.exists() and not files["trained here"].exists()
    assert all(files[name].exists() for name in ("another site's", "shared", "outside"))


def test_reset_site_takes_a_database_without_the_workshop_table(tmp_path):
    db = tmp_path / "db.sqlite3"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE other (x)")
    connection.close()
    support.reset_site(db, tmp_path / "media")
    assert not db.exists()


# --- the task worker ----------------------------------------------------------------------------


def _task_statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT status FROM django_tasks_database_dbtaskresult")
        statuses = [row[0] for row in rows]
    connection.close()
    return statuses


def test_a_worker_takes_the_queued_training_and_stops(site):
    """POST /models/train/ (JSON + CSRF header) queues a task; the worker started afterwards
    runs it. The record is deleted first, so the task ends at once ("skipped") instead of
    training: what is tested is the plumbing, not the model."""
    db, media = site
    with support.start_server(db, media) as server:
        client = support.WebClient(server.url)
        client.get("/models/")  # the page sets the CSRF cookie
        refused = client.post_json("/models/train/", {"kind": "ae", "epochs": 1}, csrf=False)
        assert refused.status == 403
        bad = client.post_json("/models/train/", {"kind": "nope", "epochs": 1, "batch_size": 64})
        assert bad.status == 400 and "nope" in bad.json()["error"]
        queued = client.post_json("/models/train/", {"kind": "ae", "epochs": 1, "batch_size": 64})
        assert queued.status == 202, queued.text
        model_id = queued.json()["model_id"]
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM workshop_modelrecord WHERE id = ?", (model_id,))
    connection.close()
    assert _task_statuses(db) == ["READY"]

    worker = support.start_worker(db, media, interval=0.2)
    try:
        assert worker.running and worker in support._running
        assert support.WORKER_READY in worker.log()
        deadline = time.monotonic() + 60
        while _task_statuses(db) != ["SUCCESSFUL"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _task_statuses(db) == ["SUCCESSFUL"], worker.log()
    finally:
        worker.stop()
    assert not worker.running and worker not in support._running
    assert not _alive(worker.process.pid)
    worker.stop()  # stopping twice is harmless


def test_a_worker_that_cannot_start_is_reported_with_its_log(tmp_path):
    broken = {"DJANGO_SETTINGS_MODULE": "no_such_settings_module"}
    with pytest.raises(RuntimeError, match="exited with code") as error:
        support.start_worker(tmp_path / "db.sqlite3", tmp_path / "media", env=broken)
    assert "no_such_settings_module" in str(error.value)
    assert not support._running


def test_wait_until_logged_gives_up_after_its_timeout(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "quiet.log"
    process = support.processes.spawn(
        [sys.executable, "-c", "import time; time.sleep(30)"], cwd=tmp_path, env=os.environ, log=log
    )
    try:
        with pytest.raises(RuntimeError, match="did not log 'ready' within 1 s"):
            wait_until_logged(process, "ready", log=log, timeout=1)
    finally:
        support.processes.stop(process, grace=0)
    assert process.returncode is not None and isinstance(process, subprocess.Popen)


# --- following a training -----------------------------------------------------------------------


class _ScriptedClient:
    """Answers GET with the given status payloads in turn (the last one repeats)."""

    def __init__(self, *payloads: dict, status: int = 200) -> None:
        self.payloads = list(payloads)
        self.status = status
        self.calls = 0

    def get(self, path: str) -> support.Response:
        self.calls += 1
        payload = self.payloads[min(self.calls, len(self.payloads)) - 1]
        return support.Response(self.status, {}, json.dumps(payload).encode())


def test_follow_training_polls_until_the_training_ends():
    client = _ScriptedClient(
        {"status": "queued", "training_history": []},
        {"status": "running", "training_history": [{"epoch": 1}]},
        {"status": "done", "training_history": [{"epoch": 1}, {"epoch": 2}]},
    )
    final = support.follow_training(client, "/models/1/status/", interval=0)
    assert final["status"] == "done" and len(final["training_history"]) == 2
    assert client.calls == 3
    failed = _ScriptedClient({"status": "failed", "error": "Training failed: boom"})
    assert support.follow_training(failed, "/x/", interval=0)["error"].endswith("boom")


def test_follow_training_says_when_nothing_moves_or_the_site_refuses():
    stuck = _ScriptedClient({"status": "queued", "training_history": []})
    with pytest.raises(RuntimeError, match=r"still 'queued'.*start_worker"):
        support.follow_training(stuck, "/models/1/status/", timeout=0.05, interval=0.01)
    missing = _ScriptedClient({"success": False, "error": "There is no record #7."}, status=404)
    with pytest.raises(RuntimeError, match="answered 404"):
        support.follow_training(missing, "/models/7/status/", interval=0)


# --- labelled pictures ----------------------------------------------------------------------------


def test_show_pngs_labels_each_tile_and_titles_the_grid(monkeypatch):
    shown = []
    monkeypatch.setattr(support, "_display_png", lambda png, width=None: shown.append(png))
    tiles = [to_png_bytes(Image.new("L", (40, 40), value)) for value in (0, 255)]
    support.show_pngs(tiles, nrow=2)
    support.show_pngs(tiles, nrow=2, labels=["a", "a much longer label"], title="two tiles")
    with Image.open(io.BytesIO(shown[0])) as plain, Image.open(io.BytesIO(shown[1])) as labelled:
        assert labelled.width > plain.width  # the long label widened both tiles alike
        assert labelled.height > plain.height + 2 * 14  # a label band and a title band
        # the black tile is still there, under the title and its label band
        assert np.asarray(labelled.convert("L")).min() == 0
    support.show_pngs(tiles[:1], nrow=1, scale=3)
    with Image.open(io.BytesIO(shown[2])) as enlarged:
        assert enlarged.size == (3 * 40 + 2 * 4, 3 * 40 + 2 * 4)
    with pytest.raises(ValueError, match="1 labels for 2 images"):
        support.show_pngs(tiles, labels=["one"])
