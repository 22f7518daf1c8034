"""Rows, bars and the Markdown report of ``make bench``.

Every measurement is one row. A row that compares two ways of doing the same job holds both
timings, their ratio and a bar the ratio must clear; both sides are timed in the same run, so a
slow or busy machine shifts them alike and the ratio still means something.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

#: Libraries whose versions the report names (distribution names on PyPI).
LIBRARIES = ("torch", "torchvision", "numpy", "pillow", "django", "gunicorn")
COLUMNS = ("measurement", "lesson-style baseline", "this course", "ratio", "bar", "result")


@dataclass
class Row:
    """One measurement; ``passed`` is None when the row has no bar (information only)."""

    measurement: str
    course: str = ""
    baseline: str = ""
    ratio: float | None = None
    bar: str = ""
    passed: bool | None = None
    error: bool = False
    #: More named cells (a table comparing several figures per row), shown after "this course".
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def result(self) -> str:
        if self.error:
            return "ERROR"
        if self.passed is None:
            return ""
        return "pass" if self.passed else "FAIL"

    def cells(self) -> dict[str, str]:
        ratio = format_ratio(self.ratio) if self.ratio is not None else ""
        cells = dict(
            zip(
                COLUMNS,
                [self.measurement, self.baseline, self.course, ratio, self.bar, self.result],
                strict=True,
            )
        )
        cells.update(self.extra)
        return {
            column: cell.replace("|", "\\|").replace("\n", " ") for column, cell in cells.items()
        }


@dataclass
class Section:
    """A titled table of rows plus a sentence on how it was measured."""

    number: int
    key: str
    title: str
    intro: str = ""
    rows: list[Row] = field(default_factory=list)
    seconds: float = 0.0


def format_ratio(ratio: float) -> str:
    """``151x``, ``21.9x`` or ``0.98x``: about three significant digits."""
    if ratio >= 100:
        return f"{ratio:.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def format_seconds(seconds: float) -> str:
    """A duration with a unit that keeps two or three significant digits."""
    if seconds >= 10:
        return f"{seconds:.1f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def relative_spread(samples: list[float]) -> float:
    """Interquartile range over the median: how much repeated timings of one thing disagree."""
    values = np.asarray(samples, dtype=float)
    median = float(np.median(values))
    if median <= 0:
        return 0.0
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1) / median


def speedup_row(
    measurement: str,
    baseline: list[float],
    course: list[float],
    *,
    at_least: float | None = None,
) -> Row:
    """Compare medians of repeated timings (seconds) of the lesson-style way and the course's.

    With ``at_least`` the ratio must reach that bar. Without it the bar is "not slower": the
    ratio must reach 1.0 minus the timings' own spread (both sides' relative interquartile
    ranges, kept between 5% and 25%), since two equal things never time exactly alike.
    """
    slow, fast = float(np.median(baseline)), float(np.median(course))
    ratio = slow / fast if fast > 0 else float("inf")
    if at_least is not None:
        bar, passed = f"≥ {at_least:g}x", ratio >= at_least
    else:
        band = min(0.25, max(0.05, relative_spread(baseline) + relative_spread(course)))
        bar, passed = f"≥ 1x within noise (±{band:.0%})", ratio >= 1.0 - band
    return Row(
        measurement,
        course=f"{format_seconds(fast)} (median of {len(course)})",
        baseline=f"{format_seconds(slow)} (median of {len(baseline)})",
        ratio=ratio,
        bar=bar,
        passed=passed,
    )


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Installed versions of the libraries the numbers depend on."""
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def render(
    sections: list[Section], *, command: str, smoke: bool, started: datetime, seconds: float
) -> str:
    """The whole report as Markdown: machine, summary of the bars, one table per section."""
    rows = [row for section in sections for row in section.rows]
    counts = {result: sum(row.result == result for row in rows) for result in ("pass", "FAIL")}
    errors = sum(row.error for row in rows)
    libs = ", ".join(f"{name} {version}" for name, version in versions().items())
    lines = [
        "# Benchmark report",
        "",
        f"Made by `{command}` on {started:%Y-%m-%d %H:%M} UTC in {seconds:.0f} s.",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores ({platform.machine()})",
        f"- Python {platform.python_version()}; {libs}",
        f"- Bars: {counts['pass']} pass, {counts['FAIL']} FAIL"
        + (f", {errors} measurements failed with an error" if errors else ""),
    ]
    if smoke:
        lines.append(
            "- **Smoke run**: tiny sizes and a few repeats, to check the bench itself works; "
            "the numbers mean nothing."
        )
    for section in sections:
        lines += ["", f"## {section.number}. {section.title}", ""]
        if section.intro:
            lines += [section.intro, ""]
        lines += [*table(section.rows), "", f"_{section.seconds:.0f} s to measure._"]
    return "\n".join(lines) + "\n"


def table(rows: list[Row]) -> list[str]:
    """A Markdown table of ``rows``, leaving out columns no row fills (keeps "result")."""
    cells = [row.cells() for row in rows]
    extra = list(dict.fromkeys(name for row in rows for name in row.extra))
    order = [*COLUMNS[:3], *extra, *COLUMNS[3:]]
    columns = [c for c in order if c in ("measurement", "result") or any(r.get(c) for r in cells)]
    if not any(r["result"] for r in cells):
        columns.remove("result")
    return [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in cells),
    ]


def now() -> datetime:
    return datetime.now(UTC)
