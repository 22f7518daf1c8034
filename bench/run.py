"""The course's benchmark: speed bars measured side by side on this machine, in one run.

``make bench`` runs everything (about 6 minutes on a 2-core laptop, 4 of them executing the
notebooks) and writes ``bench/REPORT.md``::

    python bench/run.py [--smoke] [--out PATH] [--skip-notebooks] [--only SECTION ...]

``--smoke`` runs every section at tiny sizes in well under a minute; ``tests/test_bench.py``
runs it so the bench cannot rot. The numbers of a smoke run mean nothing.

Ratios compare two ways of doing the same job timed in the same run (alternating where they
can), so a slow or busy machine shifts both sides alike. Trained checkpoints come from the
shared folder (``COURSE_DATA_DIR``, else ``data/``); a full run trains missing ones with their
recipes, a smoke run makes tiny ones in a temporary folder instead.
"""

from __future__ import annotations

import argparse
import atexit
import inspect
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from course_lib.runtime import use_threads

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts only bench/ on the path
    sys.path.insert(0, str(ROOT))

from bench import baselines, serving  # noqa: E402
from bench.report import (  # noqa: E402
    Row,
    Section,
    format_ratio,
    format_seconds,
    now,
    render,
    speedup_row,
)

DJANGO_DIR = ROOT / "django_project"
DEFAULT_OUT = ROOT / "bench" / "REPORT.md"
PRIMARY, SECONDARY = "#2b6cb0", "#dd6b20"
PATTERN_BARS = {"gradient": 100.0, "noise": 10.0}  # the others: not slower than the lesson
HTTP_CLIENTS = 20  # concurrent clients for the preview-vs-lesson figures
NOTEBOOK_BAR_S = 40.0  # issue 13: each notebook under 40 s from empty checkpoints
COURSE_BAR_S = 180.0  # and the whole course under 3 minutes


@dataclass(frozen=True)
class Config:
    """How big and how long each measurement is: the full bench, or the smoke version."""

    smoke: bool
    skip_notebooks: bool = False
    workers: int = 2
    pattern_sizes: tuple[int, ...] = (400, 800)
    pattern_rounds: int = 7  # at least this many alternating timings of each side
    pattern_budget_s: float = 1.0  # ... or more, up to about this long per pattern and size
    warmup_s: float = 2.0
    load_s: float = 10.0
    train_epochs: int = 3
    train_images: int | None = None  # None: the whole mnist5k training split
    latency_repeats: int = 200
    widget_repeats: int = 100
    gallery_calls: int = 200
    gallery_requests: int = 100

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Config:
        workers = args.workers or min(2, os.cpu_count() or 1)
        if not args.smoke:
            return cls(smoke=False, skip_notebooks=args.skip_notebooks, workers=workers)
        return cls(
            smoke=True,
            skip_notebooks=args.skip_notebooks,
            workers=args.workers or 1,  # each worker imports torch and Django: keep it quick
            pattern_sizes=(48, 96),
            pattern_rounds=2,
            pattern_budget_s=0.02,
            warmup_s=0.3,
            load_s=1.0,
            train_epochs=1,
            train_images=256,
            latency_repeats=5,
            widget_repeats=5,
            gallery_calls=3,
            gallery_requests=6,
        )


# --- helpers ----------------------------------------------------------------------------------


def timings(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall times of ``repeats`` calls in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - tick)
    return samples


def alternate(
    first: Callable[[], object], second: Callable[[], object], *, rounds: int, budget_s: float
) -> tuple[list[float], list[float]]:
    """Time two functions in alternation, so load changes on the machine hit both alike.

    Runs ``rounds`` rounds, or more for quick functions: as many as fit in ``budget_s`` (up to
    500), because a median of a few sub-millisecond timings is mostly noise.
    """
    a, b = timings(first, 1), timings(second, 1)  # first calls also warm caches up
    rounds = int(min(500, max(rounds, budget_s / max(a[0] + b[0], 1e-9))))
    for _ in range(rounds - 1):
        a += timings(first, 1, warmup=0)
        b += timings(second, 1, warmup=0)
    return a, b


def p50_ms(samples: list[float]) -> str:
    return f"p50 {format_seconds(statistics.median(samples))}"


def gallery_checkpoints() -> dict[str, str]:
    """The recipe behind each of the gallery's methods, from the gallery itself.

    ``gallery.generation`` imports only ``course_lib`` and plotting/scikit-learn, no Django, so
    this works before (and without) Django is set up.
    """
    if str(DJANGO_DIR) not in sys.path:
        sys.path.insert(0, str(DJANGO_DIR))
    from gallery import generation

    return dict(generation.CHECKPOINTS)


def lesson_checkpoints() -> dict[str, str]:
    """The lesson's own models the gallery keeps beside its best ones (the MLP GAN, the VAE)."""
    gallery_checkpoints()  # puts the Django project on the path
    from gallery import generation

    return dict(generation.LESSON_CHECKPOINTS)


def train_recipe(name: str, data, epochs: int) -> tuple[torch.nn.Module, list[dict]]:
    """Build the model of recipe ``name`` and train it on ``data`` as the recipe says, but for
    ``epochs`` epochs; returns the model (a GAN's generator) and its history."""
    from course_lib.recipes import train_fresh

    return train_fresh(name, data, epochs=epochs)


_prepared: Path | None = None


def prepare_checkpoints(cfg: Config) -> Path:
    """The data folder holding the gallery's checkpoints; made ready once per run.

    A full run trains missing ones with their recipes into the shared folder (as ``make
    gallery`` would). A smoke run never writes there: if any is missing it trains stand-ins for
    one epoch on 256 digits in a temporary folder and points ``COURSE_DATA_DIR`` at it.
    """
    global _prepared
    from course_lib import checkpoints, recipes
    from course_lib.data import load_dataset
    from course_lib.paths import checkpoint_path, data_dir

    if _prepared is not None:
        return _prepared
    names = [*gallery_checkpoints().values(), *lesson_checkpoints().values()]
    missing = [name for name in names if not checkpoint_path(name).is_file()]
    if missing and cfg.smoke:
        folder = tempfile.mkdtemp(prefix="bench-smoke-data-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["COURSE_DATA_DIR"] = folder
        for name in names:
            dataset = recipes.RECIPES[name].dataset
            model, _ = train_recipe(name, _subset(load_dataset(dataset, "train"), 256), epochs=1)
            checkpoints.save(model, checkpoint_path(name), smoke=True)
    else:
        for name in missing:
            print(f"[bench] training the missing checkpoint {name} with its recipe", flush=True)
            recipes.get(name, progress=True)
    _prepared = data_dir()
    return _prepared


def _subset(data, n: int | None):
    """The first ``n`` images of an in-memory dataset (all of them when ``n`` is None)."""
    from course_lib.data import ImageDataset

    if n is None:
        return data
    images, labels = data.images[:n].clone(), data.labels[:n].clone()
    return ImageDataset(images, labels, data.classes, f"{data.name}/{n}")


# --- 1. patterns ------------------------------------------------------------------------------


def bench_patterns(cfg: Config) -> list[Row]:
    """Each ImageChef pattern against lesson-style code drawing the same picture on the same
    canvas (`bench/baselines.py`): `putpixel` loops for the gradient and for every pixel of the
    noise clusters (both give ImageChef's exact pixels), `ImageDraw` calls for the shapes. The
    two sides are timed in alternation; medians."""
    from course_lib.patterns import PATTERN_TYPES, ImageChef

    rows = []
    for size in cfg.pattern_sizes:
        for name in PATTERN_TYPES:
            seed = {"seed": 0} if name in ("noise", "geometric") else {}
            baseline, course = baselines.BASELINES[name], getattr(ImageChef, f"create_{name}")
            slow, fast = alternate(
                lambda b=baseline, s=seed, n=size: b(n, n, PRIMARY, SECONDARY, **s),
                lambda c=course, s=seed, n=size: c(n, n, PRIMARY, SECONDARY, **s),
                rounds=cfg.pattern_rounds,
                budget_s=cfg.pattern_budget_s,
            )
            rows.append(
                speedup_row(f"{name} {size}x{size}", slow, fast, at_least=PATTERN_BARS.get(name))
            )
    return rows


# --- 2. a generation request over HTTP --------------------------------------------------------


def _site_env(folder: Path) -> dict[str, str]:
    """Environment for a production-style gallery on a throwaway database and media folder."""
    db = folder / "db.sqlite3"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gallery_site.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": f"{serving.HOST},localhost",
        # Plain HTTP on localhost: no redirect to HTTPS, cookies that work without TLS.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SESSION_COOKIE_SECURE": "false",
        "DJANGO_CSRF_COOKIE_SECURE": "false",
        "DJANGO_SECURE_HSTS_SECONDS": "0",
        "GALLERY_DB": str(db),
        "DATABASE_URL": f"sqlite:///{db}",
        "GALLERY_MEDIA_ROOT": str(folder / "media"),
        "MPLBACKEND": "Agg",
    }


def _migrate(env: dict[str, str]) -> None:
    """Create the throwaway database's tables, as a deployment would before serving.

    ``--skip-checks``: the system checks import every view (torch, scikit-learn, plotly) and
    take most of the time; the servers' own startup imports them anyway.
    """
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks"],
        cwd=DJANGO_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stderr[-2000:]}")


def _drive(
    server: serving.Server, request: serving.Request, cfg: Config, threads: int | None = None
) -> serving.LoadResult:
    """Warm every worker up (models load on first use), then measure a bounded load loop with
    ``threads`` concurrent clients (default ``2 x workers``, enough to keep every worker busy)."""
    threads = threads or 2 * cfg.workers
    serving.load(server, request, threads=threads, seconds=cfg.warmup_s)
    return serving.load(server, request, threads=threads, seconds=cfg.load_s)


def bench_http(cfg: Config) -> list[Row]:
    """A generation request on the gallery under gunicorn with its production settings
    (`gunicorn.conf.py`, DEBUG off, temporary SQLite database) and the lesson's request path: a
    bench-only WSGI app (`bench/lesson_app.py`, gunicorn, same workers) that reloads the GAN's
    weights from the checkpoint and draws the image on a pyplot figure for every request,
    answering a page with the PNG inlined, nothing stored. The like-for-like request is
    `GET /generate/GAN.png`: a new image from the loaded GAN, nothing stored, served by Django
    with all its middleware like every other URL; both are driven by 20 concurrent clients
    (raw sockets, one connection per request, `bench/serving.py`) for a fixed time after a
    warm-up, and reported as figures, with no bar. For scale, `POST /create/` (which also
    stores the PNG and writes a row) and Django's form page, with `2 x workers` clients. Each
    server is measured while the other sits idle. Then every method the gallery serves (the
    course's best model of each family), `GET /generate/<METHOD>.png` and `POST /create/`, each
    with 20 concurrent clients: requests per second, p50 and p95."""
    from course_lib.paths import checkpoint_path

    prepare_checkpoints(cfg)
    lesson_checkpoint = str(checkpoint_path(lesson_checkpoints()["GAN"]))
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        folder = Path(tmp)
        env = _site_env(folder)
        servers: list[serving.Server] = []
        try:
            # Both servers start (importing torch and Django takes seconds) while the database
            # is migrated; no request reaches a database before migrate is done. Each server is
            # measured on its own later, the other sitting idle.
            lesson_server = serving.start(
                "lesson_app:application",
                cwd=ROOT / "bench",
                env={**env, "LESSON_CHECKPOINT": lesson_checkpoint},
                workers=cfg.workers,
                log=folder / "lesson.log",
            )
            servers.append(lesson_server)
            gallery_server = serving.start(
                "gallery_site.wsgi:application",
                cwd=DJANGO_DIR,
                env=env,
                workers=cfg.workers,
                log=folder / "gallery.log",
            )
            servers.append(gallery_server)
            _migrate(env)

            gallery_server.wait_ready("/create/")
            token = serving.csrf_token(gallery_server, "/create/")
            create = serving.form_post(
                "/create/",
                "method=GAN&creativity=1.0",
                {"Cookie": f"csrftoken={token}", "X-CSRFToken": token},
            )
            preview_request = serving.get("/generate/GAN.png?creativity=1.0")
            preview = _drive(gallery_server, preview_request, cfg, HTTP_CLIENTS)
            gallery = _drive(gallery_server, create, cfg)
            page = _drive(gallery_server, serving.get("/create/"), cfg)
            per_method = {}
            for method in gallery_checkpoints():
                post = serving.form_post(
                    "/create/",
                    f"method={method}&creativity=1.0",
                    {"Cookie": f"csrftoken={token}", "X-CSRFToken": token},
                )
                get = serving.get(f"/generate/{method}.png?creativity=1.0")
                per_method[method] = (
                    _drive(gallery_server, get, cfg, HTTP_CLIENTS),
                    _drive(gallery_server, post, cfg, HTTP_CLIENTS),
                )

            lesson_server.wait_ready("/")
            lesson = _drive(lesson_server, serving.form_post("/", ""), cfg, HTTP_CLIENTS)
        finally:
            serving.stop(servers)

    def rate(result: serving.LoadResult) -> str:
        return f"{result.per_second:.1f}/s ({result.ok} in {result.seconds:.1f} s)"

    def problems(result: serving.LoadResult) -> str:
        seen = {f"HTTP {s}": n for s, n in result.statuses.items() if s != 200}
        seen.update(result.failures)
        return ", ".join(f"{k}: {n}" for k, n in seen.items()) or "none"

    def over(numerator: float, denominator: float) -> float | None:
        return numerator / denominator if numerator and denominator else None

    workers = f"{cfg.workers} worker" + ("s" if cfg.workers > 1 else "")
    rows = [
        Row(
            f"`GET /generate/GAN.png`, a new GAN image, nothing stored (the lesson view's job): "
            f"requests per second, {workers}, {HTTP_CLIENTS} concurrent clients",
            course=rate(preview),
            baseline=rate(lesson),
            ratio=over(preview.per_second, lesson.per_second),
        )
    ]
    for label, q in (("p50", 50), ("p95", 95)):
        slow, fast = lesson.percentile(q), preview.percentile(q)
        rows.append(
            Row(
                f"`GET /generate/GAN.png` latency {label}, {HTTP_CLIENTS} concurrent clients",
                course=format_seconds(fast),
                baseline=format_seconds(slow),
                ratio=over(slow, fast),
            )
        )
    rows += [
        Row(
            label,
            course=rate(result),
            baseline=rate(lesson),
            ratio=over(result.per_second, lesson.per_second),
        )
        for label, result in (
            (
                "`POST /create/`: generate, store the PNG and write a row (CSRF, sessions, "
                "database): requests per second",
                gallery,
            ),
            (
                "for scale: `GET /create/`, the form page through Django's whole middleware "
                "stack (no model, no database)",
                page,
            ),
        )
    ]
    named = {"preview": preview, "create": gallery, "page": page}
    for method, (get, post) in per_method.items():
        for name, result in ((f"`GET /generate/{method}.png`", get), ("`POST /create/`", post)):
            rows.append(
                Row(
                    f"per method: {name} with {method} ({gallery_checkpoints()[method]}), "
                    f"{HTTP_CLIENTS} concurrent clients",
                    course=f"p50 {format_seconds(result.percentile(50))}, "
                    f"p95 {format_seconds(result.percentile(95))}, {rate(result)}",
                )
            )
        named[f"{method} preview"], named[f"{method} create"] = get, post
    results = tuple(named.values())
    rows.append(
        Row(
            "answers other than 200, failed connections",
            course="; ".join(f"{name}: {problems(r)}" for name, r in named.items()),
            baseline=problems(lesson),
            bar="none",
            passed=all(r.errors == 0 for r in (*results, lesson)),
        )
    )
    return rows


# --- 3. training, decoding, PNG ---------------------------------------------------------------


def bench_training(cfg: Config) -> list[Row]:
    """Every shared mnist5k recipe (`course_lib/recipes.py`: architecture, batch size, learning
    rate, training loop) trained with one thread; seconds per epoch are the median epoch.
    Decoder latency is one forward pass of the same models in eval mode without gradients; PNG
    encoding is Pillow's, as the gallery and the pattern studio use it."""
    from course_lib import imaging
    from course_lib.data import load_dataset
    from course_lib.patterns import ImageChef
    from course_lib.recipes import RECIPES

    data = _subset(load_dataset("mnist5k", "train"), cfg.train_images)
    rows = []
    models = {}
    for name, recipe in RECIPES.items():
        if recipe.dataset != "mnist5k":
            continue
        model, history = train_recipe(name, data, cfg.train_epochs)
        models[name] = model.eval()
        per_epoch = statistics.median(record["seconds"] for record in history)
        dims = ", ".join(f"{k} {v}" for k, v in recipe.config.items())
        rows.append(
            Row(
                f"{name} ({recipe.kind}, {dims}): one epoch of {len(data):,} digits, 1 thread",
                course=f"{per_epoch:.2f} s (median of {len(history)})",
            )
        )
    rows.append(_threads_row(data, cfg))

    for name, model in models.items():
        for batch in (1, 64):
            z = model.codes(batch, seed=0)  # a conditional code carries its digit
            with torch.no_grad():
                samples = timings(lambda m=model, z=z: m.decode(z), cfg.latency_repeats, warmup=3)
            rows.append(Row(f"{name} decoder, batch {batch}", course=p50_ms(samples)))

    digit = data.images[0]
    mandala = ImageChef.create_mandala(400, 400, PRIMARY, SECONDARY)
    noise = ImageChef.create_noise(400, 400, PRIMARY, SECONDARY, seed=0)
    for label, encode in (
        ("PNG encode, one 28x28 digit", lambda: imaging.to_png_bytes(digit)),
        ("PNG encode, one digit at the gallery's 224x224", lambda: imaging.to_png_bytes(digit, 8)),
        ("PNG encode, 400x400 mandala", lambda: imaging.to_png_bytes(mandala)),
        ("PNG encode, 400x400 noise", lambda: imaging.to_png_bytes(noise)),
    ):
        rows.append(Row(label, course=p50_ms(timings(encode, cfg.latency_repeats, warmup=3))))
    return rows


def _threads_row(data, cfg: Config) -> Row:
    """VAE epoch time with 1 vs 2 PyTorch threads: why notebooks and web workers use one."""
    seconds = {}
    original = torch.get_num_threads()
    try:
        for threads in (1, 2):
            use_threads(threads)
            _, history = train_recipe("vae_mnist5k", data, cfg.train_epochs)
            seconds[threads] = statistics.median(record["seconds"] for record in history)
    finally:
        use_threads(original)
    return Row(
        "vae_mnist5k epoch, 1 thread vs 2 threads (2 are faster only on an idle machine)",
        course=f"1 thread {seconds[1]:.2f} s, 2 threads {seconds[2]:.2f} s",
    )


# --- 4. notebooks -----------------------------------------------------------------------------

SMOKE_NOTEBOOK = [
    "from course_lib.paths import checkpoint_dir\nprint('checkpoints in', checkpoint_dir())",
    "import torch\nprint(torch.ones(3).sum().item())",
]


def bench_notebooks(cfg: Config) -> list[Row]:
    """Every course notebook executed in course order with nbclient (kernel `python3`) on a
    temporary copy, with an empty temporary data folder: the learner's first run, every model
    trained from scratch. Seconds per notebook include starting its kernel."""
    import nbformat
    from nbclient import NotebookClient

    if cfg.skip_notebooks:
        return [Row("notebooks", course="skipped (--skip-notebooks)")]
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as tmp:
        copy = Path(tmp)
        if cfg.smoke:
            notebook = nbformat.v4.new_notebook()
            notebook.cells = [nbformat.v4.new_code_cell(source) for source in SMOKE_NOTEBOOK]
            nbformat.write(notebook, copy / "smoke.ipynb")
        else:
            for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb")):  # 03b too
                shutil.copy2(path, copy / path.name)
        # Notebook 00 shows the checkpoint folder relative to the repository, so the throwaway
        # data folder lives inside it (data/runs/ is git-ignored) for a full run.
        parent = None if cfg.smoke else ROOT / "data" / "runs"
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        data = Path(tempfile.mkdtemp(prefix="bench-notebooks-data-", dir=parent))
        saved = os.environ.get("COURSE_DATA_DIR")
        os.environ["COURSE_DATA_DIR"] = str(data)  # the kernels inherit it
        rows, total = [], 0.0
        try:
            for path in sorted(copy.glob("*.ipynb")):
                notebook = nbformat.read(path, as_version=4)
                client = NotebookClient(
                    notebook,
                    kernel_name="python3",
                    timeout=600,
                    resources={"metadata": {"path": str(copy)}},
                )
                tick = time.perf_counter()
                try:
                    client.execute()
                except Exception as err:  # a failing cell: say which, keep timing the rest
                    first = str(err).strip().splitlines()[-1] if str(err).strip() else ""
                    rows.append(Row(f"{path.stem}: {type(err).__name__} {first}"[:300], error=True))
                    continue
                seconds = time.perf_counter() - tick
                total += seconds
                rows.append(
                    Row(
                        path.stem,
                        course=f"{seconds:.1f} s",
                        bar=f"< {NOTEBOOK_BAR_S:g} s",
                        passed=seconds < NOTEBOOK_BAR_S,
                    )
                )
        finally:
            if saved is None:
                os.environ.pop("COURSE_DATA_DIR", None)
            else:
                os.environ["COURSE_DATA_DIR"] = saved
            shutil.rmtree(data, ignore_errors=True)
    minutes, seconds = divmod(round(total), 60)
    rows.append(
        Row(
            "the whole course, in order",
            course=f"{minutes} min {seconds:02d} s",
            bar="" if cfg.smoke else f"< {COURSE_BAR_S / 60:g} min",
            passed=None if cfg.smoke else total < COURSE_BAR_S,
        )
    )
    return rows


# --- 5. widgets and the gallery in-process ----------------------------------------------------


def bench_widgets(cfg: Config) -> list[Row]:
    """Kernel-side time from a slider change to the new image with the course VAE
    (`course_lib.widgets.measure_latency`), and from a click on the GAN playground's step
    buttons to its new picture; a widget feels instant well under 50 ms."""
    from course_lib import checkpoints
    from course_lib.data import load_dataset
    from course_lib.paths import checkpoint_path
    from course_lib.widgets import interpolation_slider, latent_sliders, measure_latency

    prepare_checkpoints(cfg)
    vae = checkpoints.load(checkpoint_path(gallery_checkpoints()["VAE"])).eval()
    test = load_dataset("mnist5k", "test")
    with torch.no_grad():
        mu = vae.encode(test.images[:2])[0]
    rows = []
    for label, widget in (
        ("latent sliders", latent_sliders(vae, z=mu[0])),
        ("interpolation slider", interpolation_slider(vae, mu[0], mu[1])),
    ):
        result = measure_latency(widget, repeats=cfg.widget_repeats)
        rows.append(
            Row(
                f"widget update, {label}",
                course=f"p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms",
                bar="p50 < 50 ms",
                passed=result["p50_ms"] < 50,
            )
        )
    from course_lib.playground import GANPlayground  # notebook 03's GAN you can step through

    result = GANPlayground().click_latency(repeats=cfg.widget_repeats)
    rows.append(
        Row(
            "widget update, GAN playground (one step D / step G click)",
            course=f"p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms",
            bar="p50 < 50 ms",
            passed=result["p50_ms"] < 50,
        )
    )
    return rows


def bench_gallery(cfg: Config) -> list[Row]:
    """The gallery's views called in-process through Django's test client (no HTTP, no server)
    on a throwaway in-memory database: where a request's time goes, and proof that each model
    is loaded once per process, not per request (`bench/inprocess.py`)."""
    from bench import inprocess

    prepare_checkpoints(cfg)
    result = inprocess.run(n=cfg.gallery_calls, requests=cfg.gallery_requests)
    if "error" in result:
        raise RuntimeError(result["error"])
    rows = []
    for label, key in (("cached-model generate()", "generate"), ("POST /create/", "post_create")):
        for method, stats in result[key].items():
            rows.append(
                Row(
                    f"{label}, {method}, {stats['n']} calls",
                    course=f"p50 {stats['p50_ms']:.2f} ms, p90 {stats['p90_ms']:.2f} ms",
                )
            )
    loads = result["model_loads_during_requests"]
    rows.append(
        Row(
            f"checkpoint loads during {result['requests']} requests",
            course=", ".join(f"{method} {count}" for method, count in loads.items()),
            bar="1 per model",
            passed=all(count == 1 for count in loads.values()),
        )
    )
    rows.append(
        Row(
            "GET /explore/, first call (builds the map) / then",
            course=f"{result['explore_first_ms']:.0f} ms / "
            f"p50 {result['explore']['p50_ms']:.1f} ms",
        )
    )
    rows.append(
        Row(
            "GET /interpolate/a/b/ (12 frames)",
            course=f"p50 {result['interpolate_12']['p50_ms']:.1f} ms",
        )
    )
    return rows


# --- model quality ----------------------------------------------------------------------------


def _cli_train(args: list[str], out: Path) -> dict:
    """Run ``python -m course_lib train ...`` in a fresh process (its default of one thread, as a
    learner would) and return the metrics stored in the checkpoint it wrote."""
    from course_lib import checkpoints

    command = [sys.executable, "-m", "course_lib", "train", *args, "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    meta = checkpoints.read_metadata(out)
    return {**meta["metrics"], "epochs": meta["epochs"], "seconds": meta["seconds"]}


#: The model families of the quality table: (label, `train` arguments, the run's file name,
#: keyword arguments of `sample`). The two flow rows sample one trained flow two ways.
QUALITY_MODELS: list[tuple[str, list[str], str, dict]] = [
    ("lesson's VAE", ["vae", "--arch", "mlp"], "vae", {}),
    ("mixture-prior VAE (CLI default VAE)", ["vae", "--arch", "mixture"], "mixture", {}),
    ("lesson's MLP GAN", ["gan", "--arch", "mlp"], "mlp", {}),
    ("conv GAN", ["gan", "--arch", "conv"], "conv", {}),
    ("conditional conv GAN (CLI default GAN)", ["gan", "--arch", "conditional"], "cgan", {}),
    ("latent flow, unconditional (guidance 0)", ["flow"], "flow", {"guidance": 0.0}),
    ("latent flow, conditional (CLI default flow)", ["flow"], "flow", {}),
]
#: Bars of the command line's default models: (score ratio at least, Fréchet ratio at most).
QUALITY_BARS = {"cgan": (0.8, 5.0), "flow": (0.95, 2.0)}
VAE_BAR_NATS = 110.0


def _judge_samples(model: torch.nn.Module, sample_kwargs: dict, data) -> dict[str, float]:
    """Classifier score and Fréchet ratios, memorisation and sampling time of 1,000 samples."""
    from course_lib.metrics import memorisation_check, sample_quality

    with torch.no_grad():
        model.sample(10, seed=0, **sample_kwargs)  # warm-up
        tick = time.perf_counter()
        samples = model.sample(1000, seed=2, **sample_kwargs)
        ms = (time.perf_counter() - tick) * 1000 / 1000
    quality = sample_quality(samples)
    check = memorisation_check(samples, data["train"], data["test"])
    return {**quality, "memorisation": check["ratio"], "copies": check["copies"], "ms": ms}


def bench_quality(cfg: Config) -> list[Row]:
    """Every model family on the same digits (mnist5k), trained by the command line in a fresh
    process under the same CPU budget (180 s; `train flow` spends a quarter of it on its
    autoencoder) and judged alike from 1,000 samples by the course's digit judge
    (`course_lib.metrics.sample_quality`): classifier score ratio (higher is better, 1 = real
    held-out digits), Fréchet ratio (lower is better, 1 = real-vs-real), memorisation (median
    distance to the nearest training digit, samples over new real digits: about 1 invents, well
    below 1 copies; near-copies in brackets), the held-out negative ELBO for the VAEs, and the
    time to sample one image in a batch of 1,000 on one thread."""
    from course_lib import checkpoints
    from course_lib.data import load_dataset

    budget = 3 if cfg.smoke else 180
    tiny = ["--hidden-dim", "16"] if cfg.smoke else []
    data = {split: load_dataset("mnist5k", split) for split in ("train", "test")}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as folder:
        trained: dict[str, dict] = {}
        for label, args, name, sample_kwargs in QUALITY_MODELS:
            out = Path(folder) / f"{name}.pt"
            if name not in trained:
                trained[name] = _cli_train([*args, "--time-budget", str(budget), *tiny], out)
            meta = trained[name]
            m = _judge_samples(checkpoints.load(out), sample_kwargs, data)
            nats = meta.get("test_neg_elbo_nats")
            cells = {
                "score ratio": format_ratio(m["score_ratio"]),
                "Fréchet ratio": format_ratio(m["fd_ratio"]),
                "memorisation": f"{m['memorisation']:.2f} ({m['copies']:.1%})",
                "negative ELBO": f"{nats:.1f} nats" if nats is not None else "",
                "ms per image": f"{m['ms']:.3f}",
            }
            bar, passed = "", None
            if name == "mixture":
                bar, passed = f"≤ {VAE_BAR_NATS:g} nats", nats <= VAE_BAR_NATS
            elif name in QUALITY_BARS and not sample_kwargs:
                score, fd = QUALITY_BARS[name]
                bar = f"score ≥ {score:g}, Fréchet ≤ {fd:g}x, memorisation ≥ 0.8, < 5% copies"
                passed = (
                    m["score_ratio"] >= score
                    and m["fd_ratio"] <= fd
                    and m["memorisation"] >= 0.8
                    and m["copies"] < 0.05
                )
            command = " ".join(["train", *args, "--time-budget", str(budget)])
            rows.append(
                Row(
                    f"{label}: `{command}`, {meta['epochs']} epochs",
                    extra=cells,
                    bar=bar,
                    passed=passed,
                )
            )
    return rows


def bench_styles(cfg: Config) -> list[Row]:
    """The style studio's two methods on each sample style, side by side under the same time
    budget (30 s, one thread): an autoencoder plus a latent flow on its codes
    (``course_lib.styles``, ``method="flow"``) against the small StyleVAE, the default. Shape
    fidelity is the sharpness ratio (mean brightness step between neighbouring pixels of 32
    variations over the originals'; 1 = as crisp as the originals, blur and blobs lower it);
    memorisation is the distance of each variation to its nearest original over an augmented
    picture's (about 1 invents, well below 1 copies), with near-copies in brackets."""
    from course_lib.styles import SAMPLE_STYLES_DIR, load_style_images, measure_style, train_style

    budget = 2.0 if cfg.smoke else 30.0
    sets = sorted(path for path in SAMPLE_STYLES_DIR.iterdir() if path.is_dir())
    if cfg.smoke:
        sets = sets[:1]
    rows = []
    for folder in sets:
        images = load_style_images(folder)
        measured = {}
        for method in ("flow", "vae"):
            result = train_style(images, method=method, time_budget=budget, progress=False)
            measured[method] = measure_style(result)
        for method, label in (("flow", "autoencoder + latent flow"), ("vae", "StyleVAE")):
            m = measured[method]
            cells = {
                "sharpness ratio": f"{m['sharpness_ratio']:.2f}",
                "memorisation": (
                    f"{m['nearest_original_ratio']:.2f} ({m['near_copy_fraction']:.0%})"
                ),
                "training": f"{m['training_seconds']:.0f} s",
                "ms per variation": f"{m['ms_per_variation']:.2f}",
            }
            bar, passed = "", None
            if method == "flow":
                bar = "sharper than the StyleVAE's, no near-copies"
                passed = (
                    m["sharpness_ratio"] > measured["vae"]["sharpness_ratio"]
                    and m["near_copy_fraction"] == 0
                )
            rows.append(Row(f"{folder.name}: {label}", extra=cells, bar=bar, passed=passed))
    return rows


def bench_latent(cfg: Config) -> list[Row]:
    """Why notebook 10's flow lives in the autoencoder's latent space: the same flow matching
    (same loss, batch 256, lr 3e-3 along a cosine, label dropout 0.1, no weight average, 20
    Euler steps at guidance 1.5 to sample) trained for the same CPU budget (60 s, one thread)
    on the course autoencoder's 32 numbers (`ae_mnist5k`, trained beforehand and not counted),
    on the 784 pixels with an MLP, and on the 28x28 image with a tiny U-Net
    (`course_lib.pixel_flow`). Steps done, steps per second, and 1,000 samples (digits asked for
    in turn) judged by the course's digit judge (classifier score ratio, higher is better;
    Fréchet ratio, lower is better; 1 = real digits)."""
    from course_lib import checkpoints
    from course_lib.data import load_dataset
    from course_lib.flow import LatentFlowModel
    from course_lib.metrics import sample_quality
    from course_lib.paths import checkpoint_path
    from course_lib.pixel_flow import PixelMLPFlow, TinyUNetFlow
    from course_lib.training import steps_per_second, train_flow, train_pixel_flow

    budget = 2.0 if cfg.smoke else 60.0
    n_samples = 100 if cfg.smoke else 1000
    prepare_checkpoints(cfg)
    autoencoder = checkpoints.load(checkpoint_path(gallery_checkpoints()["AUTOENCODER"]))
    data = _subset(load_dataset("mnist5k", "train"), cfg.train_images)
    torch.manual_seed(0)
    contenders = [
        ("latent flow (32 numbers)", LatentFlowModel(autoencoder, width=128, depth=2), train_flow),
        ("pixel MLP (784 pixels)", PixelMLPFlow(), train_pixel_flow),
        ("pixel U-Net (28x28 image)", TinyUNetFlow(), train_pixel_flow),
    ]
    rows, speed = [], {}
    for label, model, train in contenders:
        history = train(
            model, data, time_budget=budget, batch_size=256, lr=3e-3, ema_decay=0.0,
            progress=False,
        )  # fmt: skip
        pace = steps_per_second(history)
        speed[label] = pace["steps_per_second"]
        with torch.no_grad():
            judged = sample_quality(model.sample(n_samples, seed=2), n_reference=n_samples)
        cells = {
            "steps": f"{pace['steps']:,}",
            "steps per second": f"{pace['steps_per_second']:.1f}",
            "score ratio": format_ratio(judged["score_ratio"]),
            "Fréchet ratio": format_ratio(judged["fd_ratio"]),
        }
        rows.append(Row(f"{label}, {budget:g} s", extra=cells))
    latent, unet = speed[contenders[0][0]], speed[contenders[2][0]]
    rows[0].bar, rows[0].passed = "≥ 20x the U-Net's steps per second", latent >= 20 * unet
    return rows


# (key for --only, title, function). The function's docstring is printed above its table.
SECTIONS: list[tuple[str, str, Callable[[Config], list[Row]]]] = [
    ("patterns", "Pattern generation vs the lesson's per-pixel code", bench_patterns),
    ("http", "A generation request over HTTP vs the lesson's request path", bench_http),
    ("training", "Training, decoding and PNG encoding", bench_training),
    ("notebooks", "Notebook execution, from scratch", bench_notebooks),
    ("widgets", "Notebook widgets", bench_widgets),
    ("gallery", "The gallery in-process", bench_gallery),
    ("quality", "Model quality", bench_quality),
    ("styles", "The style studio's two methods", bench_styles),
    ("latent", "Why latent: one flow on codes and on pixels, one budget", bench_latent),
]


def _intro(fn: Callable[..., object]) -> str:
    return " ".join((inspect.getdoc(fn) or "").split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the bench runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report file (Markdown)")
    parser.add_argument("--skip-notebooks", action="store_true", help="skip section 4 (~4 min)")
    parser.add_argument(
        "--only",
        action="append",
        choices=[key for key, _, _ in SECTIONS],
        help="run only this section (repeat for several)",
    )
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: up to 2)")
    args = parser.parse_args(argv)
    cfg = Config.from_args(args)
    shlex_args = [shlex.quote(arg) for arg in (sys.argv[1:] if argv is None else argv)]

    use_threads(1)
    np.random.seed(0)
    os.environ.setdefault("COURSE_DATA_DIR", str(ROOT / "data"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gallery_site.settings")
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")  # the venv's python3 kernel
    os.environ.setdefault("MPLBACKEND", "Agg")

    started, clock = now(), time.perf_counter()
    sections: list[Section] = []
    for number, (key, title, fn) in enumerate(SECTIONS, 1):
        if args.only and key not in args.only:
            continue
        print(f"[bench] {title} ...", flush=True)
        tick = time.perf_counter()
        try:
            rows = fn(cfg)
        except Exception as err:  # report it in the table and go on with the other sections
            traceback.print_exc()
            rows = [Row(f"{type(err).__name__}: {err}".splitlines()[0][:300], error=True)]
        sections.append(Section(number, key, title, _intro(fn), rows, time.perf_counter() - tick))
        text = render(
            sections,
            command=" ".join(["python bench/run.py", *shlex_args]),
            smoke=cfg.smoke,
            started=started,
            seconds=time.perf_counter() - clock,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)  # after every section: a crash keeps what was measured
    print(text)
    print(f"[bench] wrote {args.out}")
    return 1 if any(row.error for section in sections for row in section.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
