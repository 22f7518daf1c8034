"""The pattern studio: procedural images (mandalas, grids, gradients, noise, spirals).

Every pattern is an RGB ``PIL.Image.Image`` drawn with numpy arrays or ``PIL.ImageDraw``
primitives (never a per-pixel Python loop), so even large canvases render quickly.
``pattern_dataset`` turns the five pattern families into a small MNIST-like labelled
dataset for training generative models on procedural art.
"""

from __future__ import annotations

import math
import string

import numpy as np
from PIL import Image, ImageDraw

PATTERN_TYPES: tuple[str, ...] = ("mandala", "geometric", "gradient", "noise", "spiral")

MAX_SIZE = 4096
WHITE = (255, 255, 255)
RGB = tuple[int, int, int]


def _check_size(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a whole number in 1..MAX_SIZE, else raise ValueError."""
    # bool is a subclass of int, so it has to be rejected explicitly.
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not (is_int and 1 <= value <= MAX_SIZE):
        raise ValueError(f"{name} must be an integer between 1 and {MAX_SIZE}, got {value!r}")
    return int(value)


def _prepare(
    width: object, height: object, primary_color: object, secondary_color: object
) -> tuple[int, int, RGB, RGB]:
    """Validate the arguments every pattern shares and return them in usable form."""
    return (
        _check_size("width", width),
        _check_size("height", height),
        ImageChef.hex_to_rgb(primary_color),
        ImageChef.hex_to_rgb(secondary_color),
    )


class ImageChef:
    """Recipes for procedural patterns; each static method returns an RGB image."""

    @staticmethod
    def hex_to_rgb(hex_color: str) -> RGB:
        """Convert ``'#RRGGBB'`` (or ``'RRGGBB'``, any case) to an ``(r, g, b)`` tuple of ints."""
        digits = hex_color[1:] if isinstance(hex_color, str) and hex_color[:1] == "#" else hex_color
        # int(x, 16) alone is too lenient (it accepts '0x', '_' and spaces), so check each char.
        if (
            not isinstance(digits, str)
            or len(digits) != 6
            or any(c not in string.hexdigits for c in digits)
        ):
            raise ValueError(
                f"invalid hex colour {hex_color!r}: expected a string like '#RRGGBB' "
                "with 6 hexadecimal digits (the leading '#' is optional)"
            )
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))

    @staticmethod
    def create_mandala(
        width: int, height: int, primary_color: str, secondary_color: str
    ) -> Image.Image:
        """Draw concentric rings in alternating colours, each decorated with 8 petal discs."""
        width, height, primary, secondary = _prepare(width, height, primary_color, secondary_color)
        image = Image.new("RGB", (width, height), WHITE)
        draw = ImageDraw.Draw(image)

        cx, cy = (width - 1) / 2, (height - 1) / 2
        radius = min(width, height) / 2
        n_rings = min(max(min(width, height) // 50, 3), 10)  # more rings on bigger canvases
        step = radius / (n_rings + 1)  # distance between neighbouring rings
        ring_width = max(1, round(step / 4))
        petal_radius = max(1.0, step / 3)

        def disc(x: float, y: float, r: float, colour: RGB) -> None:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)

        disc(cx, cy, max(1.0, step / 2), primary)  # the centre of the flower
        for i in range(1, n_rings + 1):
            ring_colour, petal_colour = (secondary, primary) if i % 2 else (primary, secondary)
            r = i * step
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=ring_colour, width=ring_width)
            for k in range(8):  # petals every 45 degrees, shifted by half a step on odd rings
                angle = math.radians(45 * k + 22.5 * (i % 2))
                disc(cx + r * math.cos(angle), cy + r * math.sin(angle), petal_radius, petal_colour)
        return image

    @staticmethod
    def create_geometric(
        width: int,
        height: int,
        primary_color: str,
        secondary_color: str,
        seed: int | None = None,
    ) -> Image.Image:
        """Fill a grid of cells with random rectangles, ellipses and triangles (seeded)."""
        width, height, primary, secondary = _prepare(width, height, primary_color, secondary_color)
        rng = np.random.default_rng(seed)
        image = Image.new("RGB", (width, height), WHITE)
        draw = ImageDraw.Draw(image)

        pitch = max(4, round(min(width, height) / 6.5))  # ~60 px at 400 px, a few cells at 28 px
        pad = max(1, pitch // 8)  # white margin inside each cell keeps the shapes apart
        rows, cols = math.ceil(height / pitch), math.ceil(width / pitch)
        shapes = rng.integers(0, 3, size=(rows, cols))  # 0 rectangle, 1 ellipse, 2 triangle
        colours = rng.integers(0, 2, size=(rows, cols))  # 0 primary, 1 secondary

        for row in range(rows):
            for col in range(cols):
                x0, y0 = col * pitch + pad, row * pitch + pad
                x1, y1 = (col + 1) * pitch - 1 - pad, (row + 1) * pitch - 1 - pad
                fill = primary if colours[row, col] == 0 else secondary
                if shapes[row, col] == 0:
                    draw.rectangle([x0, y0, x1, y1], fill=fill)
                elif shapes[row, col] == 1:
                    draw.ellipse([x0, y0, x1, y1], fill=fill)
                else:
                    draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=fill)
        return image

    @staticmethod
    def create_gradient(
        width: int, height: int, primary_color: str, secondary_color: str
    ) -> Image.Image:
        """Blend vertically from the primary colour (top row) to the secondary one (bottom row)."""
        width, height, primary, secondary = _prepare(width, height, primary_color, secondary_color)
        t = np.linspace(0.0, 1.0, height)[:, None]  # 0 at the top, 1 at the bottom
        rows = (1.0 - t) * np.array(primary) + t * np.array(secondary)  # shape (height, 3)
        pixels = np.broadcast_to(np.rint(rows).astype(np.uint8)[:, None, :], (height, width, 3))
        return Image.fromarray(np.ascontiguousarray(pixels), mode="RGB")

    @staticmethod
    def create_noise(
        width: int,
        height: int,
        primary_color: str,
        secondary_color: str,
        seed: int | None = None,
    ) -> Image.Image:
        """Sprinkle small square clusters of both colours over a white canvas (seeded)."""
        width, height, primary, secondary = _prepare(width, height, primary_color, secondary_color)
        rng = np.random.default_rng(seed)

        max_radius = min(max(round(min(width, height) / 80), 1), 5)  # 1 px on tiny images
        mean_area = np.mean([(2 * r + 1) ** 2 for r in range(1, max_radius + 1)])
        # Squares covering 0.7x the canvas in total overlap to ink roughly half of it.
        n = max(1, round(0.7 * width * height / mean_area))
        xs = rng.integers(0, width, size=n)
        ys = rng.integers(0, height, size=n)
        radii = rng.integers(1, max_radius + 1, size=n)
        labels = rng.integers(1, 3, size=n).astype(np.uint8)  # 1 primary, 2 secondary

        # Paint a label map: one vectorised pass per offset (dy, dx) inside the largest square.
        canvas = np.zeros((height, width), dtype=np.uint8)  # 0 means white
        for dy in range(-max_radius, max_radius + 1):
            for dx in range(-max_radius, max_radius + 1):
                y, x = ys + dy, xs + dx
                keep = max(abs(dy), abs(dx)) <= radii
                keep &= (y >= 0) & (y < height) & (x >= 0) & (x < width)
                canvas[y[keep], x[keep]] = labels[keep]

        palette = np.array([WHITE, primary, secondary], dtype=np.uint8)
        return Image.fromarray(palette[canvas], mode="RGB")

    @staticmethod
    def create_spiral(
        width: int, height: int, primary_color: str, secondary_color: str
    ) -> Image.Image:
        """Draw three interleaved Archimedean spiral arms (120 degrees apart) as thick lines."""
        width, height, primary, secondary = _prepare(width, height, primary_color, secondary_color)
        image = Image.new("RGB", (width, height), WHITE)
        draw = ImageDraw.Draw(image)

        cx, cy = (width - 1) / 2, (height - 1) / 2
        turns = 3
        theta_max = 2 * math.pi * turns
        r_max = math.hypot(width, height) / 2  # reach the corners so the spiral fills the canvas
        growth = r_max / theta_max  # Archimedean spiral: r = growth * theta
        line_width = max(1, round(min(width, height) / 40))
        # One point about every line width along the arm (its length is ~ r_max * theta_max / 2):
        # denser points only make the thick line's edges ragged.
        n_points = max(64, int(r_max * theta_max / (2 * max(2, line_width))))
        theta = np.linspace(0.0, theta_max, n_points)

        for arm in range(3):
            angle = theta + arm * 2 * math.pi / 3
            xs = cx + growth * theta * np.cos(angle)
            ys = cy + growth * theta * np.sin(angle)
            colour = primary if arm % 2 == 0 else secondary
            points = list(zip(xs.tolist(), ys.tolist(), strict=True))
            # One polyline, then a disc on every joint to round it: Pillow's joint="curve"
            # does the same job about three times slower.
            draw.line(points, fill=colour, width=line_width)
            half = line_width / 2
            for x, y in points:
                draw.ellipse((x - half, y - half, x + half, y + half), fill=colour)
        return image


_DETERMINISTIC = {
    "mandala": ImageChef.create_mandala,
    "gradient": ImageChef.create_gradient,
    "spiral": ImageChef.create_spiral,
}
_SEEDED = {
    "geometric": ImageChef.create_geometric,
    "noise": ImageChef.create_noise,
}


def create_pattern(
    pattern_type: str,
    width: int,
    height: int,
    primary_color: str,
    secondary_color: str,
    seed: int | None = None,
) -> Image.Image:
    """Draw the pattern named ``pattern_type`` (one of PATTERN_TYPES); seed affects random ones."""
    if pattern_type in _SEEDED:
        return _SEEDED[pattern_type](width, height, primary_color, secondary_color, seed=seed)
    if pattern_type in _DETERMINISTIC:
        return _DETERMINISTIC[pattern_type](width, height, primary_color, secondary_color)
    raise ValueError(
        f"unknown pattern type {pattern_type!r}; expected one of: {', '.join(PATTERN_TYPES)}"
    )


def _random_colour_pair(rng: np.random.Generator) -> tuple[str, str]:
    """Pick two distinct, fairly dark colours so both stay visible as grayscale ink."""
    while True:
        a, b = rng.integers(0, 200, size=(2, 3))
        if (a != b).any():
            return "#{:02x}{:02x}{:02x}".format(*a), "#{:02x}{:02x}{:02x}".format(*b)


def pattern_dataset(
    n_per_class: int, size: int = 28, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Build an MNIST-like labelled dataset of grayscale patterns (ink = 1.0, background = 0.0).

    Returns ``images`` float32 of shape ``(5 * n_per_class, 1, size, size)`` in [0, 1] and
    ``labels`` int64 holding the index of each image's type in ``PATTERN_TYPES``.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE // 4:
        raise ValueError(f"size must be an integer between 1 and {MAX_SIZE // 4}, got {size!r}")

    rng = np.random.default_rng(seed)
    canvas = 4 * size  # draw big, then shrink: thin lines become smooth gray strokes
    images = np.empty((len(PATTERN_TYPES) * n_per_class, 1, size, size), dtype=np.float32)
    labels = np.repeat(np.arange(len(PATTERN_TYPES), dtype=np.int64), n_per_class)

    for index, label in enumerate(labels):
        pattern_type = PATTERN_TYPES[label]
        primary, secondary = _random_colour_pair(rng)
        pattern_seed = int(rng.integers(0, 2**32))
        image = create_pattern(pattern_type, canvas, canvas, primary, secondary, seed=pattern_seed)
        box = (0, 0, canvas, canvas)
        if pattern_type in _DETERMINISTIC:
            # Same recipe every time, so add variety: rotate, maybe mirror, crop-and-zoom.
            image = image.rotate(90 * int(rng.integers(0, 4)))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            side = int(canvas * rng.uniform(0.6, 1.0))
            left, top = rng.integers(0, canvas - side + 1, size=2)
            box = (int(left), int(top), int(left) + side, int(top) + side)
        gray = image.convert("L").resize((size, size), Image.Resampling.LANCZOS, box=box)
        images[index, 0] = 1.0 - np.asarray(gray, dtype=np.float32) / 255.0  # invert: ink = 1
    return images, labels
