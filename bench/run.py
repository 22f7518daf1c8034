"""The course's benchmark report: speed and quality bars, measured side by side in one run.

Run with ``make bench`` (about two minutes on a 2-core laptop). Writes ``bench/report.md``.
Everything is measured here, now, on this machine: ratios compare two things timed in the same
run, so a slow or busy machine shifts both sides alike.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "bench" / "report.md"


def _p50_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and 95th percentile wall time of ``fn`` in milliseconds."""
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def naive_gradient(width: int, height: int, top: tuple, bottom: tuple) -> Image.Image:
    """The per-pixel ``putpixel`` loop the original lesson used, kept only to compare against."""
    img = Image.new("RGB", (width, height))
    for y in range(height):
        t = y / height
        colour = tuple(int(a * (1 - t) + b * t) for a, b in zip(top, bottom, strict=True))
        for x in range(width):
            img.putpixel((x, y), colour)
    return img


def bench_vae_bar(seconds: float = 30.0) -> list[str]:
    """Train the CLI's VAE for ``seconds`` on mnist5k; report held-out negative ELBO (bar 115)."""
    from course_lib.data import load_dataset
    from course_lib.metrics import negative_elbo
    from course_lib.models import VariationalAutoencoder
    from course_lib.training import set_seed, train_vae

    train, test = load_dataset("mnist5k", "train"), load_dataset("mnist5k", "test")
    rows = []
    for label, hidden in (
        ("CLI default (hidden 400, latent 32)", 400),
        ("lesson size (hidden 128, latent 32)", 128),
    ):
        set_seed(0)
        model = VariationalAutoencoder(hidden_dim=hidden, latent_dim=32)
        history = train_vae(model, train, time_budget=seconds, batch_size=64, progress=False)
        nelbo = negative_elbo(model, test)
        verdict = "pass" if nelbo <= 115 else "FAIL"
        rows.append(
            f"| VAE {seconds:.0f} s on mnist5k, {label} | {len(history)} epochs | "
            f"held-out −ELBO **{nelbo:.1f} nats** | ≤ 115: {verdict} |"
        )
    return rows


def bench_threads(epochs: int = 5) -> list[str]:
    """Training throughput with 1 vs 2 PyTorch threads (why notebooks and workers use 1)."""
    from course_lib.data import load_dataset
    from course_lib.models import VariationalAutoencoder
    from course_lib.training import train_vae

    train = load_dataset("mnist5k", "train")
    seconds = {}
    original = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = VariationalAutoencoder(hidden_dim=400, latent_dim=32)
        start = time.perf_counter()
        train_vae(model, train, epochs=epochs, batch_size=64, progress=False)
        seconds[threads] = (time.perf_counter() - start) / epochs
    torch.set_num_threads(original)
    return [
        f"| VAE epoch (4,000 digits), 1 thread vs 2 threads | {seconds[1]:.2f} s vs "
        f"{seconds[2]:.2f} s | 2 threads are {seconds[1] / seconds[2]:.2f}x as fast | "
        "idle machine only; see README |"
    ]


def bench_patterns() -> list[str]:
    """Vectorised ImageChef gradient vs the lesson's per-pixel loop, 800x800."""
    from course_lib.patterns import ImageChef

    naive_ms, _ = _p50_ms(lambda: naive_gradient(800, 800, (255, 0, 0), (0, 0, 255)), 3)
    fast_ms, _ = _p50_ms(lambda: ImageChef.create_gradient(800, 800, "#FF0000", "#0000FF"), 20)
    rows = [
        f"| gradient 800x800: per-pixel loop vs ImageChef | {naive_ms:.0f} ms vs "
        f"{fast_ms:.1f} ms | **{naive_ms / fast_ms:.0f}x** faster | ≥ 20x: "
        f"{'pass' if naive_ms / fast_ms >= 20 else 'FAIL'} |"
    ]
    for name in ("mandala", "geometric", "noise", "spiral"):
        ms, _ = _p50_ms(
            lambda name=name: getattr(ImageChef, f"create_{name}")(800, 800, "#FF0000", "#0000FF"),
            10,
        )
        rows.append(f"| {name} 800x800 | {ms:.1f} ms | | |")
    return rows


def bench_widgets() -> list[str]:
    """Kernel-side slider latency with the course VAE (bar: well under 50 ms)."""
    from course_lib import recipes
    from course_lib.data import load_dataset
    from course_lib.widgets import interpolation_slider, latent_sliders, measure_latency

    vae, _ = recipes.get("vae_mnist5k", progress=False)
    test = load_dataset("mnist5k", "test")
    with torch.no_grad():
        mu = vae.encode(test.images[:2])[0]
    rows = []
    for label, widget in (
        ("latent sliders", latent_sliders(vae, z=mu[0])),
        ("interpolation slider", interpolation_slider(vae, mu[0], mu[1])),
    ):
        result = measure_latency(widget, repeats=100)
        verdict = "pass" if result["p50_ms"] < 50 else "FAIL"
        rows.append(
            f"| widget update, {label} | p50 {result['p50_ms']:.2f} ms, "
            f"p95 {result['p95_ms']:.2f} ms | | < 50 ms: {verdict} |"
        )
    return rows


def bench_gallery() -> list[str]:
    """Gallery latency and model loads, if the Django app's bench module is there."""
    sys.path.insert(0, str(ROOT / "django_project"))
    try:
        from gallery import bench as gallery_bench
    except ImportError as err:
        return [f"| gallery | not measured ({err}) | | |"]
    result = gallery_bench.run(n=200)
    rows = []
    for label, key in (("cached-model generate()", "generate"), ("POST /create/", "post_create")):
        for method, stats in result[key].items():
            rows.append(
                f"| {label}, {method} (in-process, {stats['n']} calls) | "
                f"p50 {stats['p50_ms']:.2f} ms, p90 {stats['p90_ms']:.2f} ms | | |"
            )
    loads = result["model_loads_during_requests"]
    ok = all(count <= 1 for count in loads.values())
    rows.append(
        f"| model loads during {result['requests']} requests | "
        f"{', '.join(f'{m} {c}' for m, c in loads.items())} | | "
        f"≤ 1 per model: {'pass' if ok else 'FAIL'} |"
    )
    rows.append(
        f"| GET /explore/ (first / then p50) | {result['explore_first_ms']:.0f} ms / "
        f"{result['explore']['p50_ms']:.1f} ms | | |"
    )
    rows.append(
        f"| GET /interpolate/a/b/ (12 frames) | p50 {result['interpolate_12']['p50_ms']:.1f} ms"
        " | | |"
    )
    return rows


def main() -> int:
    torch.set_num_threads(1)
    os.environ.setdefault("COURSE_DATA_DIR", str(ROOT / "data"))
    sections = [
        ("Quality bar: VAE in 30 seconds", bench_vae_bar),
        ("Threads", bench_threads),
        ("Procedural patterns", bench_patterns),
        ("Notebook widgets", bench_widgets),
        ("Web gallery", bench_gallery),
    ]
    lines = [
        "# Benchmark report",
        "",
        f"Made by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}.",
        "",
    ]
    for title, fn in sections:
        print(f"[bench] {title} ...", flush=True)
        start = time.perf_counter()
        rows = fn()
        lines += [
            f"## {title}",
            "",
            "| measurement | value | ratio / result | bar |",
            "|---|---|---|---|",
            *rows,
            "",
            f"_{time.perf_counter() - start:.0f} s to measure._",
            "",
        ]
    REPORT.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"[bench] wrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    np.random.seed(0)
    sys.exit(main())
