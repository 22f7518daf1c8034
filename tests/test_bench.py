"""``make bench`` cannot rot: its smoke version runs every section, and its yardsticks are fair.

No timing is asserted anywhere here: the bench measures, the tests only check that it measured
everything, in a well-formed report, and that the baselines draw what they claim to draw.
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import checkpoints
from course_lib.models import Generator
from course_lib.patterns import ImageChef
from course_lib.runtime import use_threads

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import baselines  # noqa: E402
from bench.report import speedup_row  # noqa: E402

SECTION_TITLES = [
    "1. Pattern generation vs the lesson's per-pixel code",
    "2. A generation request over HTTP vs the lesson's request path",
    "3. Training, decoding and PNG encoding",
    "4. Notebook execution, from scratch",
    "5. Notebook widgets",
    "6. The gallery in-process",
    "7. Model quality",
    "8. The style studio's two methods",
    "9. Why latent: one flow on codes and on pixels, one budget",
]
RATIO = re.compile(r"^\d+(\.\d+)?x$")


def _tables(report: str) -> dict[str, list[dict[str, str]]]:
    """Each section's table as a list of {column: cell}, keyed by the section's heading."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, columns = None, None
    for line in report.splitlines():
        if line.startswith("## "):
            heading, columns = line[3:], None
            tables[heading] = []
        elif line.startswith("|") and heading is not None:
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if columns is None:
                columns = cells
            elif not set(line) <= set("|-"):
                assert len(cells) == len(columns), f"ragged row in {heading}: {line}"
                tables[heading].append(dict(zip(columns, cells, strict=True)))
    return tables


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run ``bench/run.py --smoke`` once, with an empty data folder, and return the report."""
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "REPORT.md"
    data = tmp / "data"
    env = {**os.environ, "COURSE_DATA_DIR": str(data)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    # A smoke run trains its tiny stand-in models elsewhere: never in the shared data folder.
    assert not data.exists() or not any(data.rglob("*.pt"))
    return out.read_text()


def test_smoke_report_has_every_section_and_the_machine(smoke_report: str):
    headings = [line[3:] for line in smoke_report.splitlines() if line.startswith("## ")]
    assert headings == SECTION_TITLES
    assert re.search(r"CPU: .+, \d+ logical cores", smoke_report)
    for library in ("torch", "torchvision", "numpy", "pillow", "django", "gunicorn"):
        assert re.search(rf"\b{library} \d+\.\d+", smoke_report), library
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", smoke_report)
    assert "ERROR" not in smoke_report


def test_smoke_report_rows_are_well_formed(smoke_report: str):
    tables = _tables(smoke_report)
    for heading, rows in tables.items():
        assert rows, f"{heading} has no rows"
        for row in rows:
            if row.get("ratio"):
                assert RATIO.match(row["ratio"]), row
            if row.get("bar"):
                assert row["result"] in ("pass", "FAIL"), row

    patterns = {row["measurement"]: row for row in tables[SECTION_TITLES[0]]}
    for name in ("mandala", "geometric", "gradient", "noise", "spiral"):
        for size in (48, 96):
            row = patterns[f"{name} {size}x{size}"]
            assert row["ratio"] and row["bar"] and row["result"], row
    assert patterns["gradient 96x96"]["bar"] == "≥ 100x"
    assert patterns["noise 96x96"]["bar"] == "≥ 10x"

    http = tables[SECTION_TITLES[1]]
    rps = next(row for row in http if "requests per second" in row["measurement"])
    assert rps["measurement"].startswith("`GET /generate/GAN.png`")  # the like-for-like request
    assert "20 concurrent clients" in rps["measurement"]
    # A figure, not a bar: the preview is served by Django with all its middleware.
    assert rps["bar"] == rps["result"] == "" and RATIO.match(rps["ratio"])
    latency = [row for row in http if row["measurement"].startswith("`GET /generate/GAN.png` lat")]
    assert [row["measurement"].split()[3] for row in latency] == ["p50,", "p95,"]
    for row in latency:
        assert row["bar"] == "" and RATIO.match(row["ratio"]), row
        assert re.match(r"\d+(\.\d+)? m?s$", row["this course"]), row
    create = next(row for row in http if row["measurement"].startswith("`POST /create/`"))
    scale = [row for row in http if row["measurement"].startswith("for scale")]
    assert len(scale) == 1
    for row in (rps, create, *scale):
        assert RATIO.match(row["ratio"]), row
        for side in ("this course", "lesson-style baseline"):
            assert re.match(r"\d+\.\d/s \(\d+ in", row[side]), row
    # Every method the gallery serves, previewed and kept, under the same 20 clients.
    for method in ("VAE", "GAN", "AUTOENCODER", "FLOW"):
        for request in (f"`GET /generate/{method}.png`", "`POST /create/`"):
            row = next(
                row
                for row in http
                if row["measurement"].startswith(f"per method: {request} with {method} (")
            )
            assert "20 concurrent clients" in row["measurement"], row
            figures = r"p50 \d+(\.\d+)? m?s, p95 \d+(\.\d+)? m?s, \d+\.\d/s \(\d+ in"
            assert re.match(figures, row["this course"]), row
    # Every request got a 200: CSRF, the form, the model and the lesson app all worked.
    errors = next(row for row in http if row["measurement"].startswith("answers other than 200"))
    assert errors["result"] == "pass", errors


def test_smoke_report_measures_training_notebooks_and_the_gallery(smoke_report: str):
    tables = _tables(smoke_report)
    training = [row["measurement"] for row in tables[SECTION_TITLES[2]]]
    for name in ("ae_mnist5k", "vae_mnist5k", "gan_mnist5k"):
        for label in ("one epoch of 256 digits", "decoder, batch 1", "decoder, batch 64"):
            assert any(m.startswith(f"{name} ") and label in m for m in training), (name, label)
    assert "PNG encode, one 28x28 digit" in training
    assert any(m.startswith("PNG encode, 400x400") for m in training)

    notebooks = tables[SECTION_TITLES[3]]
    assert notebooks[0]["measurement"] == "smoke" and notebooks[0]["bar"] == "< 40 s"
    assert re.match(r"\d+\.\d s$", notebooks[0]["this course"])

    loads = next(r for r in tables[SECTION_TITLES[5]] if r["measurement"].startswith("checkpoint"))
    assert loads["this course"] == "VAE 1, GAN 1, AUTOENCODER 1" and loads["result"] == "pass"


def test_smoke_report_measures_model_quality_through_the_command_line(smoke_report: str):
    rows = _tables(smoke_report)[SECTION_TITLES[6]]
    # one table, one row per model family, every row judged the same way
    families = [
        "lesson's VAE",
        "mixture-prior VAE",
        "lesson's MLP GAN",
        "conv GAN",
        "conditional conv GAN",
        "latent flow, unconditional",
        "latent flow, conditional",
    ]
    assert len(rows) == len(families)
    for row, family in zip(rows, families, strict=True):
        assert row["measurement"].startswith(family), (row, family)
        assert "`train " in row["measurement"] and "--time-budget" in row["measurement"]
        assert RATIO.match(row["score ratio"]) and RATIO.match(row["Fréchet ratio"]), row
        assert re.match(r"\d+\.\d\d \(\d+\.\d%\)$", row["memorisation"]), row
        assert re.match(r"\d+\.\d{3}$", row["ms per image"]), row
        is_vae = "VAE" in family
        assert bool(re.match(r"\d+\.\d nats$", row["negative ELBO"])) == is_vae, row
    assert "--arch conditional" in rows[4]["measurement"]
    assert all("`train flow --time-budget" in row["measurement"] for row in rows[5:])
    # the bars apply to the command line's default of each kind, and only to them
    bars = {row["measurement"].split(":")[0]: row["bar"] for row in rows if row["bar"]}
    assert bars == {
        "mixture-prior VAE (CLI default VAE)": "≤ 110 nats",
        "conditional conv GAN (CLI default GAN)": "score ≥ 0.8, Fréchet ≤ 5x, memorisation ≥ 0.8,"
        " < 5% copies",
        "latent flow, conditional (CLI default flow)": "score ≥ 0.95, Fréchet ≤ 2x, memorisation"
        " ≥ 0.8, < 5% copies",
    }
    for row in rows:
        assert row["result"] in (("pass", "FAIL") if row["bar"] else ("",)), row


@pytest.mark.parametrize("name", ["gradient", "noise", "mandala"])
@pytest.mark.parametrize("size", [(1, 1), (9, 31), (120, 80), (400, 401)])
def test_baselines_draw_imagechefs_exact_pixels(name, size):
    extra = {"seed": 7} if name == "noise" else {}
    ours = baselines.BASELINES[name](*size, "#12ab34", "#fe0099", **extra)
    chef = getattr(ImageChef, f"create_{name}")(*size, "#12ab34", "#fe0099", **extra)
    assert ours.size == chef.size and ours.mode == chef.mode == "RGB"
    assert np.array_equal(np.asarray(ours), np.asarray(chef))


@pytest.mark.parametrize("name", ["geometric", "spiral"])
def test_shape_baselines_draw_the_same_kind_of_picture(name):
    ours = np.asarray(baselines.BASELINES[name](200, 160, "#12ab34", "#fe0099"))
    chef = np.asarray(getattr(ImageChef, f"create_{name}")(200, 160, "#12ab34", "#fe0099"))
    assert ours.shape == chef.shape == (160, 200, 3)
    for picture in (ours, chef):
        colours = {tuple(c) for c in picture.reshape(-1, 3)}
        assert {(0x12, 0xAB, 0x34), (0xFE, 0x00, 0x99), (255, 255, 255)} <= colours
    # Roughly as much ink: the baseline does not get off lightly by drawing less.
    ink = [(picture != 255).any(axis=-1).mean() for picture in (ours, chef)]
    assert abs(ink[0] - ink[1]) < 0.25 * ink[1]


def test_speedup_row_bars():
    fast = [1.0, 1.0, 1.0, 1.0]
    assert speedup_row("x", [150.0] * 4, fast, at_least=100).passed
    row = speedup_row("x", [90.0] * 4, fast, at_least=100)
    assert not row.passed and row.result == "FAIL" and row.ratio == pytest.approx(90)
    # "Not slower": a few percent slower is noise, half as fast is not.
    assert speedup_row("x", [0.97] * 4, fast).passed
    assert not speedup_row("x", [0.5] * 4, fast).passed
    # Noisy timings widen the band, but never beyond 25%.
    noisy = [0.6, 1.0, 1.4, 0.7, 1.3]
    assert not speedup_row("x", [0.7] * 5, noisy).passed
    assert speedup_row("x", [0.8] * 5, noisy).passed


def test_lesson_app_reloads_the_weights_for_every_request(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = checkpoints.save(Generator(noise_dim=8, hidden_dim=16), tmp_path / "gan.pt")
    monkeypatch.setenv("LESSON_CHECKPOINT", str(path))
    # Importing the app sets one torch thread and matplotlib's Agg backend, as a server wants;
    # give the rest of the test session its own settings back.
    threads, backend = use_threads(), matplotlib.get_backend()  # use_threads returns the old count
    try:
        from bench import lesson_app
    finally:
        use_threads(threads)
        matplotlib.use(backend)

    loads = []
    real_load = torch.load
    monkeypatch.setattr(
        lesson_app.torch, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k)
    )
    statuses = []
    for expected_loads in (1, 2):
        environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO()}
        body = b"".join(lesson_app.application(environ, lambda status, _: statuses.append(status)))
        assert statuses == ["200 OK"] * expected_loads and len(loads) == expected_loads
        encoded = re.search(rb"data:image/png;base64,([A-Za-z0-9+/=]+)", body).group(1)
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as picture:
            assert picture.format == "PNG" and min(picture.size) > 100  # a pyplot figure


def test_smoke_report_races_the_latent_flow_against_pixel_flows(smoke_report: str):
    rows = _tables(smoke_report)[SECTION_TITLES[8]]
    assert [row["measurement"].split(" (")[0] for row in rows] == [
        "latent flow",
        "pixel MLP",
        "pixel U-Net",
    ]
    for row in rows:
        assert int(row["steps"].replace(",", "")) >= 1 and float(row["steps per second"]) > 0
        assert RATIO.match(row["score ratio"]) and RATIO.match(row["Fréchet ratio"]), row
    assert rows[0]["bar"] and rows[0]["result"] in ("pass", "FAIL")
