"""A GAN you can step through, after GAN Lab (Kahng et al., 2019): the course's GAN on points
in the plane instead of digits, so every part of the game can be drawn at once.

The real data is a ring of Gaussians (``ring_of_gaussians``). The players are the course's own
``Generator`` (2 noise numbers -> a point) and ``Discriminator`` (a point -> a logit), and every
update is ``course_lib.training``'s ``discriminator_step`` / ``generator_step``: the same loss
and code as ``train_gan``, only the data is smaller. ``GANPlayground`` wraps them in buttons
("step D", "step G", "train 100 steps", "reset") and one picture: D's probability "real" over
the plane as a heat map, the real and the generated points, and the arrows that show where the
generator's loss pushes each generated point. ``modes_covered`` counts how many of the ring's
modes the generator reaches, so mode collapse reads as a number ("modes covered: 2/8").
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from PIL import Image

from .models import Discriminator, Generator
from .training import discriminator_step, generator_loss, generator_step
from .widgets import _check_int, _image, _one_thread, _ShowsWidget, _title

__all__ = [
    "GANPlayground",
    "mode_centres",
    "modes_covered",
    "push_directions",
    "ring_of_gaussians",
]

RADIUS = 0.75  # inside tanh's (-1, 1), the range of the generator's output
STD = 0.05  # spread of each mode; neighbours on a ring of 8 are 0.57 apart, > 11 spreads
EXTENT = 1.1  # the picture shows the square [-EXTENT, EXTENT]^2
_REAL, _FAKE = "#1b7837", "#762a83"  # dark green and purple points, as in GAN Lab


def _surface_colours(values: np.ndarray) -> np.ndarray:
    """RGBA for D's probabilities: purple where D says "fake", green where it says "real"
    (matplotlib's PRGn), the colours of the generated and the real points."""
    from matplotlib import colormaps

    return colormaps["PRGn"](values)


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def mode_centres(n_modes: int = 8, radius: float = RADIUS) -> torch.Tensor:
    """The ``n_modes`` centres, evenly spaced on a circle of ``radius``: ``(n_modes, 2)``."""
    _check_int("n_modes", n_modes, 1)
    _check_positive("radius", radius)
    angles = torch.arange(n_modes) * (2 * math.pi / n_modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def ring_of_gaussians(
    n: int,
    n_modes: int = 8,
    *,
    radius: float = RADIUS,
    std: float = STD,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """``n`` points ``(n, 2)`` from an equal mixture of ``n_modes`` round Gaussians on a ring,
    the classic 2-D test of mode collapse (Metz et al., 2017). Seeded by ``seed`` or drawn
    from ``generator`` (a run that draws many batches keeps one)."""
    _check_int("n", n, 1)
    _check_positive("std", std)
    centres = mode_centres(n_modes, radius)
    if generator is None:
        generator = torch.Generator().manual_seed(0 if seed is None else seed)
    which = torch.randint(0, n_modes, (n,), generator=generator)
    return centres[which] + std * torch.randn(n, 2, generator=generator)


def modes_covered(
    points: torch.Tensor,
    n_modes: int = 8,
    *,
    radius: float = RADIUS,
    std: float = STD,
    within: float = 3.0,
    min_share: float = 0.02,
) -> int:
    """How many modes have at least ``min_share`` of ``points`` within ``within`` standard
    deviations of their centre (the count of Metz et al., 2017, and Srivastava et al., 2017).
    A share, not a single point, so that a stray point passing by does not count as a mode."""
    if not isinstance(points, torch.Tensor) or points.dim() != 2 or points.shape[1] != 2:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be a tensor of shape (n, 2), got {shape}")
    if len(points) == 0:
        raise ValueError("points is empty: there is nothing to count")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    _check_positive("within", within)
    distances = torch.cdist(points.detach().float().cpu(), mode_centres(n_modes, radius))
    near = (distances <= within * std).float().mean(dim=0)  # share of points near each mode
    return int((near >= min_share).sum())


def push_directions(discriminator: Discriminator, points: torch.Tensor) -> torch.Tensor:
    """Where the generator's loss pushes each point: minus the gradient of the non-saturating
    loss ``generator_loss(D(point))`` with respect to the point, ``(n, 2)``. The generator can
    only move its points along these arrows, towards where D says "real"."""
    points = points.detach().clone().requires_grad_(True)
    loss = generator_loss(discriminator.logits(points)) * len(points)  # per point, not the mean
    (gradient,) = torch.autograd.grad(loss, points)
    return -gradient


class GANPlayground(_ShowsWidget):
    """Step a GAN on a ring of Gaussians by hand and watch the game (notebook 03, section 7).

    ``step_d()``, ``step_g()``, ``train(steps)`` and ``reset()`` are what the buttons call;
    ``frame()`` is the picture, ``status()`` the text line. Everything is seeded: the same clicks
    give the same picture. ``g_steps_per_d`` > 1 gives the generator several updates per round
    of ``train``, a way to make it collapse on purpose.
    """

    def __init__(
        self,
        n_modes: int = 8,
        *,
        seed: int = 0,
        hidden_dim: int = 64,
        batch_size: int = 64,
        lr: float = 5e-3,
        g_steps_per_d: int = 1,
        n_show: int = 500,
    ) -> None:
        self.n_modes = _check_int("n_modes", n_modes, 1)
        self.seed = _check_int("seed", seed, 0)
        self.hidden_dim = _check_int("hidden_dim", hidden_dim, 1)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.lr = _check_positive("lr", lr)
        self.g_steps_per_d = _check_int("g_steps_per_d", g_steps_per_d, 1)
        self.n_show = _check_int("n_show", n_show, 1)
        self._chrome: np.ndarray | None = None  # drawn on the first frame
        self.reset(redraw=False)

        self.buttons = {
            "step D": w.Button(description="step D", tooltip="one discriminator update"),
            "step G": w.Button(description="step G", tooltip="one generator update"),
            "train 100 steps": w.Button(
                description="train 100 steps", tooltip="100 rounds of one D then one G step"
            ),
            "reset": w.Button(description="reset", tooltip="back to the untrained pair"),
        }
        actions = {
            "step D": self.step_d,
            "step G": self.step_g,
            "train 100 steps": lambda: self.train(100),
            "reset": self.reset,
        }
        for name, button in self.buttons.items():
            button.on_click(lambda _button, act=actions[name]: self._clicked(act))
        self.text = w.HTML(value=self.status())
        self.image = _image(self.render())
        self.widget = w.VBox(
            [_title(repr(self)), w.HBox(list(self.buttons.values())), self.text, self.image]
        )

    def __repr__(self) -> str:
        return f"GANPlayground(ring of {self.n_modes} Gaussians, seed {self.seed})"

    # --- the game ---------------------------------------------------------------------------

    def reset(self, redraw: bool = True) -> None:
        """Back to the untrained pair: same seed, same weights, same data, step counts at 0."""
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self.generator = Generator(noise_dim=2, hidden_dim=self.hidden_dim, output_dim=2)
            self.discriminator = Discriminator(input_dim=2, hidden_dim=self.hidden_dim)
        self.generator.train()
        self.discriminator.train()
        betas = (0.5, 0.999)  # as train_gan
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=betas)
        self.draws = torch.Generator().manual_seed(self.seed + 1)
        self.show_noise = torch.randn(self.n_show, 2, generator=torch.Generator().manual_seed(2))
        self.real_shown = ring_of_gaussians(self.n_show, self.n_modes, seed=self.seed + 3)
        self.d_steps = self.g_steps = 0
        self.d_loss = self.g_loss = float("nan")
        if redraw:
            self._redraw()

    def _fakes(self) -> torch.Tensor:
        return self.generator(torch.randn(self.batch_size, 2, generator=self.draws))

    def _step_d(self, fake: torch.Tensor) -> None:
        real = ring_of_gaussians(self.batch_size, self.n_modes, generator=self.draws)
        self.d_loss = discriminator_step(self.discriminator, real, fake, self.opt_d)["d_loss"]
        self.d_steps += 1

    def _step_g(self, fake: torch.Tensor) -> None:
        self.g_loss = generator_step(self.discriminator, fake, self.opt_g)
        self.g_steps += 1

    def step_d(self) -> None:
        """One discriminator update on a fresh batch of real points and of fakes."""
        with _one_thread():
            self._step_d(self._fakes().detach())

    def step_g(self) -> None:
        """One generator update against the discriminator as it is now."""
        with _one_thread():
            self._step_g(self._fakes())

    def train(self, steps: int = 100) -> None:
        """``steps`` rounds of ``train_gan``'s update: one D step, then ``g_steps_per_d`` G
        steps (the first on the same fakes, as in ``train_gan``)."""
        _check_int("steps", steps, 1)
        with _one_thread():
            for _ in range(steps):
                fake = self._fakes()
                self._step_d(fake)
                self._step_g(fake)
                for _ in range(self.g_steps_per_d - 1):
                    self._step_g(self._fakes())

    # --- what the learner sees ---------------------------------------------------------------

    def generated(self) -> torch.Tensor:
        """The generator's points for the fixed display noise, ``(n_show, 2)``."""
        with torch.no_grad():
            return self.generator(self.show_noise)

    def coverage(self) -> int:
        """How many of the ring's modes the generated points reach (see ``modes_covered``)."""
        with _one_thread():
            return modes_covered(self.generated(), self.n_modes)

    def status(self) -> str:
        """The text line: step counts, the last losses and the mode coverage."""

        def loss(value: float) -> str:
            return "-" if math.isnan(value) else f"{value:.3f}"

        return (
            f"D steps: {self.d_steps} · G steps: {self.g_steps} · D loss: {loss(self.d_loss)}"
            f" · G loss: {loss(self.g_loss)} · modes covered: {self.coverage()}/{self.n_modes}"
        )

    def _make_chrome(self) -> None:
        """Draw the parts that never change once with matplotlib (axes, ticks, colour bar,
        legend) and remember where the plot area is. Each frame then paints the heat map, points
        and arrows into that area with NumPy and Pillow: about 5 ms, where a full matplotlib
        redraw takes ~50 ms on a busy CPU and would make every click feel slow."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        figure = Figure(figsize=(5.4, 5.0), dpi=80)
        FigureCanvasAgg(figure)
        axes = figure.add_axes((0.1, 0.2, 0.68, 0.74))
        axes.set_xlim(-EXTENT, EXTENT)
        axes.set_ylim(-EXTENT, EXTENT)
        colourbar_axes = figure.add_axes((0.82, 0.2, 0.04, 0.74))
        # Pale colours for D's surface, so the dark points and arrows stand out on it.
        lut = 0.55 * _surface_colours(np.linspace(0, 1, 256))[:, :3] + 0.45
        figure.colorbar(
            ScalarMappable(cmap=ListedColormap(lut), norm=None),
            cax=colourbar_axes,
            label='D(x): probability "real"',
        )
        self._lut = np.round(255 * lut).astype(np.uint8)
        handles = [
            Line2D([], [], ls="", marker="s", ms=5, color=_REAL, label="real points"),
            Line2D([], [], ls="", marker="s", ms=5, color=_FAKE, label="generated points"),
            Line2D([], [], color="black", marker=">", ms=5, label="push from G's loss"),
        ]
        figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
        canvas = figure.canvas
        canvas.draw()
        self._chrome = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        height = self._chrome.shape[0]
        x0, y0, x1, y1 = axes.get_window_extent().extents
        self._box = (
            math.ceil(x0) + 1,
            height - math.floor(y1) + 1,
            math.floor(x1) - 1,
            height - math.ceil(y0) - 1,
        )  # fmt: skip  (left, top, right, bottom)
        side = np.linspace(-EXTENT, EXTENT, 48, dtype=np.float32)
        xx, yy = np.meshgrid(side, side[::-1])  # row 0 is the top of the picture
        self._grid = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1))

    def _pixels(self, points: torch.Tensor) -> np.ndarray:
        """Plane coordinates ``(n, 2)`` -> pixel (column, row) inside the plot area."""
        left, top, right, bottom = self._box
        xy = points.detach().numpy()
        column = (xy[:, 0] + EXTENT) / (2 * EXTENT) * (right - left - 1)
        row = (EXTENT - xy[:, 1]) / (2 * EXTENT) * (bottom - top - 1)
        return np.stack([column, row], axis=1)

    def _dots(self, area: np.ndarray, points: torch.Tensor, colour: tuple[int, ...]) -> None:
        """Paint each point as a 3x3 square (those off the plot area are left out)."""
        where = np.round(self._pixels(points)).astype(int)
        height, width = area.shape[:2]
        inside = (where[:, 0] >= 1) & (where[:, 0] < width - 1)
        inside &= (where[:, 1] >= 1) & (where[:, 1] < height - 1)
        columns, rows = where[inside, 0], where[inside, 1]
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                area[rows + dr, columns + dc] = colour

    def frame(self) -> Image.Image:
        """The picture: D's heat map, real and generated points, the generator's push arrows,
        with the step counts and the coverage drawn on top."""
        from PIL import ImageDraw

        from .imaging import titled

        if self._chrome is None:
            self._make_chrome()
        left, top, right, bottom = self._box
        side = math.isqrt(len(self._grid))
        with torch.no_grad(), _one_thread():
            surface = self.discriminator(self._grid).reshape(side, side).numpy()
            fake = self.generator(self.show_noise)
        with _one_thread():
            arrow_points = fake[:: max(1, len(fake) // 40)][:40]
            push = push_directions(self.discriminator, arrow_points)
        heat = Image.fromarray(self._lut[np.round(surface * 255).astype(int)])
        area = np.array(heat.resize((right - left, bottom - top), Image.Resampling.BILINEAR))
        self._dots(area, self.real_shown, _rgb(_REAL))
        self._dots(area, fake, _rgb(_FAKE))
        picture = self._chrome.copy()
        picture[top:bottom, left:right] = area
        image = Image.fromarray(picture)
        # One scale for all arrows: the longest is 0.3 long in the plane, the rest in proportion.
        push = push / push.norm(dim=1).max().clamp_min(1e-12) * 0.3
        starts = self._pixels(arrow_points) + (left, top)
        ends = self._pixels(arrow_points + push) + (left, top)
        draw = ImageDraw.Draw(image)
        for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
            draw.line([(x0, y0), (x1, y1)], fill="black", width=1)
            length = math.hypot(x1 - x0, y1 - y0)
            if length >= 3:
                ux, uy = (x1 - x0) / length, (y1 - y0) / length
                for turn in (0.5, -0.5):  # a head of two strokes, 30 degrees off the shaft
                    cos, sin = math.cos(turn), math.sin(turn)
                    hx, hy = ux * cos - uy * sin, ux * sin + uy * cos
                    draw.line([(x1, y1), (x1 - 5 * hx, y1 - 5 * hy)], fill="black", width=1)
        return titled(
            image,
            f"after {self.d_steps} D and {self.g_steps} G steps: "
            f"{self.coverage()}/{self.n_modes} modes covered",
            font_size=14,
        )

    def render(self) -> bytes:
        """PNG bytes of :meth:`frame` (what the widget's image shows), fast compression."""
        buffer = io.BytesIO()
        self.frame().save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def _redraw(self) -> None:
        if hasattr(self, "image"):
            self.text.value = self.status()
            self.image.value = self.render()

    def _clicked(self, action: Any) -> None:
        with _one_thread():  # once around the whole update: switching threads costs ~5 ms
            action()
            self._redraw()

    def click_latency(self, repeats: int = 30) -> dict[str, float]:
        """Time ``repeats`` clicks of "step D" and "step G" (alternating), each up to the new
        picture in the widget: the whole kernel-side update. p50/p95 in ms."""
        _check_int("repeats", repeats, 1)
        times = []
        for i in range(repeats + 2):  # the first two warm up and are not counted
            button = self.buttons["step D" if i % 2 == 0 else "step G"]
            tick = time.perf_counter()
            button.click()
            if i >= 2:
                times.append((time.perf_counter() - tick) * 1000.0)
        return {
            "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95)),
            "repeats": repeats,
        }
