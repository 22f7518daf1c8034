"""Lesson-style pattern code, kept only as the yardstick ``course_lib.patterns`` is timed against.

The lesson drew its gradient and noise one pixel at a time with ``Image.putpixel`` and its
shapes with ``PIL.ImageDraw``, one call per shape or line segment. Each function here does the
same, on the same canvas geometry as ``ImageChef`` (ring count, grid pitch, line width, number
of noise clusters), so both sides of a ratio draw the same picture:

- ``gradient`` and ``noise`` give exactly ImageChef's pixels (``tests/test_bench.py`` checks it),
  so their ratios compare a Python loop with numpy and nothing else;
- ``mandala`` follows the lesson's loop of ``ImageDraw`` calls (ImageChef draws the same way);
- ``geometric`` picks each cell's shape with Python's ``random`` as the lesson did;
- ``spiral`` computes every point with ``math`` and draws segment by segment, with a disc at
  each joint so the thick arms stay round like ImageChef's ``joint="curve"`` polyline.

Never import this from the course: it is slow on purpose.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

from course_lib.patterns import ImageChef

WHITE = (255, 255, 255)


def gradient(width: int, height: int, primary: str, secondary: str) -> Image.Image:
    """Vertical blend, one ``putpixel`` per pixel (the lesson's loop)."""
    top, bottom = ImageChef.hex_to_rgb(primary), ImageChef.hex_to_rgb(secondary)
    image = Image.new("RGB", (width, height))
    # t runs 0..1 over the rows exactly as np.linspace computes it (step * row, last row 1.0),
    # so the rounded colours match ImageChef's bit for bit.
    step = 1.0 / (height - 1) if height > 1 else 0.0
    for y in range(height):
        t = 1.0 if y == height - 1 and height > 1 else y * step
        colour = tuple(round((1.0 - t) * a + t * b) for a, b in zip(top, bottom, strict=True))
        for x in range(width):
            image.putpixel((x, y), colour)
    return image


def noise(width: int, height: int, primary: str, secondary: str, seed: int = 0) -> Image.Image:
    """Square clusters of both colours, every pixel of every cluster set with ``putpixel``.

    The cluster positions, sizes and colours are ImageChef's (same generator, same draws), and
    pixels are painted in ImageChef's order (offset by offset, cluster by cluster), so where
    clusters overlap the same one ends on top.
    """
    colours = (ImageChef.hex_to_rgb(primary), ImageChef.hex_to_rgb(secondary))
    rng = np.random.default_rng(seed)
    max_radius = int(np.clip(round(min(width, height) / 80), 1, 5))
    mean_area = np.mean([(2 * r + 1) ** 2 for r in range(1, max_radius + 1)])
    n = max(1, round(0.7 * width * height / mean_area))
    xs = rng.integers(0, width, size=n).tolist()
    ys = rng.integers(0, height, size=n).tolist()
    radii = rng.integers(1, max_radius + 1, size=n).tolist()
    labels = rng.integers(1, 3, size=n).tolist()

    image = Image.new("RGB", (width, height), WHITE)
    for dy in range(-max_radius, max_radius + 1):
        for dx in range(-max_radius, max_radius + 1):
            reach = max(abs(dy), abs(dx))
            for x, y, radius, label in zip(xs, ys, radii, labels, strict=True):
                px, py = x + dx, y + dy
                if reach <= radius and 0 <= px < width and 0 <= py < height:
                    image.putpixel((px, py), colours[label - 1])
    return image


def mandala(width: int, height: int, primary: str, secondary: str) -> Image.Image:
    """Rings with eight petal discs each, one ``ImageDraw`` call per ring and per petal."""
    colour_a, colour_b = ImageChef.hex_to_rgb(primary), ImageChef.hex_to_rgb(secondary)
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    n_rings = min(max(min(width, height) // 50, 3), 10)
    step = min(width, height) / 2 / (n_rings + 1)
    ring_width = max(1, round(step / 4))
    petal = max(1.0, step / 3)
    centre = max(1.0, step / 2)
    draw.ellipse([cx - centre, cy - centre, cx + centre, cy + centre], fill=colour_a)
    for i in range(1, n_rings + 1):
        ring, fill = (colour_b, colour_a) if i % 2 else (colour_a, colour_b)
        r = i * step
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=ring, width=ring_width)
        for angle in range(0, 360, 45):
            rad = math.radians(angle + 22.5 * (i % 2))
            x, y = cx + r * math.cos(rad), cy + r * math.sin(rad)
            draw.ellipse([x - petal, y - petal, x + petal, y + petal], fill=fill)
    return image


def geometric(width: int, height: int, primary: str, secondary: str, seed: int = 0) -> Image.Image:
    """A grid of random shapes, each cell's shape and colour from ``random.choice``."""
    colours = [ImageChef.hex_to_rgb(primary), ImageChef.hex_to_rgb(secondary)]
    chooser = random.Random(seed)
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    pitch = max(4, round(min(width, height) / 6.5))
    pad = max(1, pitch // 8)
    for top in range(0, height, pitch):
        for left in range(0, width, pitch):
            shape = chooser.choice(["rectangle", "ellipse", "triangle"])
            fill = chooser.choice(colours)
            x0, y0 = left + pad, top + pad
            x1, y1 = left + pitch - 1 - pad, top + pitch - 1 - pad
            if shape == "rectangle":
                draw.rectangle([x0, y0, x1, y1], fill=fill)
            elif shape == "ellipse":
                draw.ellipse([x0, y0, x1, y1], fill=fill)
            else:
                draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=fill)
    return image


def spiral(width: int, height: int, primary: str, secondary: str) -> Image.Image:
    """Three Archimedean arms, points computed one by one, drawn one segment at a time."""
    colours = [ImageChef.hex_to_rgb(primary), ImageChef.hex_to_rgb(secondary)]
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    theta_max = 2 * math.pi * 3
    growth = math.hypot(width, height) / 2 / theta_max
    line_width = max(1, round(min(width, height) / 40))
    n_points = max(64, int(math.hypot(width, height) / 2 * theta_max / (2 * max(2, line_width))))
    half = line_width / 2
    for arm in range(3):
        colour = colours[arm % 2]
        points = []
        for i in range(n_points):
            theta = theta_max * i / (n_points - 1)
            angle = theta + arm * 2 * math.pi / 3
            r = growth * theta
            points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
        for start, end in zip(points, points[1:], strict=False):
            draw.line([start, end], fill=colour, width=line_width)
            x, y = end
            draw.ellipse([x - half, y - half, x + half, y + half], fill=colour)
    return image


#: The baseline for each ImageChef pattern, by the name ``course_lib.patterns`` uses.
BASELINES = {
    "mandala": mandala,
    "geometric": geometric,
    "gradient": gradient,
    "noise": noise,
    "spiral": spiral,
}
