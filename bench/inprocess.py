"""How fast the gallery answers, measured in-process on a throwaway database and media folder.

``run()`` returns a dict (``make bench``'s section 6 reports it); from the repository root:
``python -m bench.inprocess [--n 200]``. It uses the real course checkpoints from the shared
folder and never touches ``db.sqlite3`` or ``media/``: the database is Django's in-memory test
database and MEDIA_ROOT a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DJANGO_DIR = Path(__file__).resolve().parent.parent / "django_project"
METHODS = ("VAE", "GAN", "AUTOENCODER")


def _ensure_django() -> None:
    """Configure Django when called from a plain Python process (``python -m bench.inprocess``)."""
    if str(DJANGO_DIR) not in sys.path:
        sys.path.insert(0, str(DJANGO_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


@contextmanager
def _isolated_site() -> Iterator[Path]:
    """A temporary MEDIA_ROOT and an in-memory test database, removed afterwards."""
    from django.test.utils import (
        override_settings,
        setup_databases,
        setup_test_environment,
        teardown_databases,
        teardown_test_environment,
    )

    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as tmp:
        media = Path(tmp) / "media"
        with override_settings(MEDIA_ROOT=media):
            setup_test_environment(debug=False)
            old_config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
            try:
                yield media
            finally:
                teardown_databases(old_config, verbosity=0)
                teardown_test_environment()


def _timings_ms(call: Callable[[], Any], n: int) -> dict[str, float]:
    """p50 / p90 / mean of ``n`` calls, in milliseconds."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    p90 = statistics.quantiles(samples, n=10)[-1] if n >= 2 else samples[0]
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p90_ms": round(p90, 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "n": n,
    }


def _post_create(client: Any, method: str) -> None:
    from django.urls import reverse

    response = client.post(reverse("gallery:create"), {"method": method, "creativity": "1.0"})
    if response.status_code != 200:
        raise RuntimeError(f"POST /create/ ({method}) answered {response.status_code}")


def _measure(n: int, requests: int, methods: tuple[str, ...]) -> dict[str, Any]:
    """The measurements themselves, inside an isolated site."""
    import torch
    from django.test import Client
    from django.urls import reverse

    from gallery import generation
    from gallery.models import GeneratedArtwork

    client = Client()
    generation.clear_cache()

    # 1. A burst of requests on a cold process: every model must be loaded once, not per request.
    start = time.perf_counter()
    for i in range(requests):
        _post_create(client, methods[i % len(methods)])
    burst_s = time.perf_counter() - start
    report: dict[str, Any] = {
        "requests": requests,
        "requests_total_s": round(burst_s, 3),
        "model_loads_during_requests": {m: generation.load_count(m) for m in methods},
    }

    # 2. Cached-model generate() and the full POST /create/ (form, generate, PNG, file, row).
    report["generate"] = {
        m: _timings_ms(lambda m=m: generation.generate(m, 1.0), n) for m in methods
    }
    report["post_create"] = {
        m: _timings_ms(lambda m=m: _post_create(client, m), n) for m in methods
    }

    # 3. The other pages, a few calls each (the latent map is built on the first call).
    if "VAE" in methods:
        explore = reverse("gallery:explore")
        start = time.perf_counter()
        client.get(explore)
        report["explore_first_ms"] = round((time.perf_counter() - start) * 1000, 3)
        report["explore"] = _timings_ms(lambda: client.get(explore), 20)
        pair = GeneratedArtwork.objects.filter(generation_method="VAE").values_list("pk", flat=True)
        strip = reverse("gallery:interpolate", args=list(pair[:2]))
        report["interpolate_12"] = _timings_ms(lambda: client.get(strip), 20)

    report["model_loads_total"] = {m: generation.load_count(m) for m in methods}
    report["environment"] = {
        "torch": str(torch.__version__),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    return report


def run(n: int = 200, requests: int = 100, train_missing: bool = False) -> dict[str, Any]:
    """Measure p50 latencies over ``n`` calls and model loads during ``requests`` requests."""
    _ensure_django()
    from course_lib import recipes
    from course_lib.paths import checkpoint_path
    from gallery import generation

    missing = [m for m in METHODS if not checkpoint_path(generation.CHECKPOINTS[m]).is_file()]
    if missing and train_missing:
        for method in missing:
            recipes.get(generation.CHECKPOINTS[method], progress=False)
        missing = []
    methods = tuple(m for m in METHODS if m not in missing)
    if not methods:
        return {"error": "no trained checkpoints; run `python manage.py train_models` first"}
    with _isolated_site():
        report = _measure(n, requests, methods)
    report["checkpoints"] = {m: str(checkpoint_path(generation.CHECKPOINTS[m])) for m in methods}
    if missing:
        report["missing"] = {
            m: f"{generation.CHECKPOINTS[m]} not trained: run `python manage.py train_models`"
            for m in missing
        }
    return report


def main() -> None:
    """Command line: print the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="calls per latency measurement")
    parser.add_argument("--requests", type=int, default=100, help="requests in the load check")
    parser.add_argument("--train-missing", action="store_true", help="train missing checkpoints")
    args = parser.parse_args()
    print(json.dumps(run(args.n, args.requests, args.train_missing), indent=2))


if __name__ == "__main__":
    main()
