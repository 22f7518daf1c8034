"""The in-process gallery benchmark (``bench/inprocess.py``) runs end to end (tiny models, a few
calls) and reports one load per model."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from bench import inprocess as bench
from gallery.models import GeneratedArtwork


@pytest.mark.django_db
def test_bench_reports_latencies_and_single_loads(tiny_models, media_root, monkeypatch):
    # pytest-django already gives a test database and media folder: use them instead.
    monkeypatch.setattr(bench, "_isolated_site", lambda: contextlib.nullcontext(media_root))
    report = bench.run(n=3, requests=6)
    assert report["model_loads_during_requests"] == {"VAE": 1, "GAN": 1, "AUTOENCODER": 1}
    assert report["model_loads_total"] == {"VAE": 1, "GAN": 1, "AUTOENCODER": 1}
    for section in ("generate", "post_create"):
        for timing in report[section].values():
            assert timing["n"] == 3 and timing["p50_ms"] > 0
    assert report["explore"]["p50_ms"] > 0 and report["interpolate_12"]["n"] == 20
    assert report["environment"]["torch_threads"] == 1
    assert GeneratedArtwork.objects.count() == 6 + 3 * 3


def test_bench_command_never_touches_the_real_database_or_media(tiny_data_dir, tmp_path):
    real_db, real_media = tmp_path / "real.sqlite3", tmp_path / "real_media"
    env = {
        **os.environ,
        "COURSE_DATA_DIR": str(tiny_data_dir),
        "GALLERY_DB": str(real_db),
        "GALLERY_MEDIA_ROOT": str(real_media),
        "DJANGO_SETTINGS_MODULE": "gallery_site.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bench.inprocess", "--n", "2", "--requests", "3"],
        cwd=Path(settings.BASE_DIR).parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model_loads_during_requests"] == {"VAE": 1, "GAN": 1, "AUTOENCODER": 1}
    assert not real_db.exists() and not real_media.exists()
