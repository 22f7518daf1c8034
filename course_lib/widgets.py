"""Interactive front ends for the notebooks: sliders over latent codes, paths, temperature,
a flow's sampling steps, a clickable latent map, the pattern studio and a live training monitor
(core ipywidgets 8, plus plotly's FigureWidget for the map, so they render in JupyterLab 4
with no extension to install).

Every widget here is a small class that holds its ipywidgets container in ``.widget`` and
offers plain methods (``render``, ``frame``, ``z``...) that work without a browser, so tests and
nbval-checked cells can exercise exactly what the sliders do. Displaying the object shows the
widget; its text form is a deterministic ``repr`` such as
``LatentSliders(VariationalAutoencoder, 8 of 32 dimensions)``.

Speed matters: a slider that lags feels broken. Decoding one 28x28 image with a small MLP and
encoding it as PNG takes about a millisecond, and paths are decoded once and cached, so every
update stays far below the ~50 ms at which a delay becomes noticeable (see ``measure_latency``).
"""

from __future__ import annotations

import html
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from PIL import Image, ImageColor
from torch import nn

from .imaging import make_grid, titled, to_pil, to_png_bytes
from .latent import INTERPOLATION_METHODS, interpolate, neighbour_strip, picked_index
from .patterns import PATTERN_TYPES, create_pattern
from .runtime import use_threads

__all__ = [
    "LatentSliders",
    "InterpolationSlider",
    "NeighbourMap",
    "TemperatureSlider",
    "FlowFilm",
    "PatternDesigner",
    "TrainingMonitor",
    "StyleUploader",
    "latent_sliders",
    "interpolation_slider",
    "neighbour_map",
    "temperature_slider",
    "flow_film",
    "pattern_designer",
    "measure_latency",
]

ImageBatch = Any  # a tensor/array batch (n, C, H, W) in [0, 1], as models' decode() returns


# --- small shared helpers -------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` if it is an integer in [low, high], else raise a clear ValueError."""
    is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return int(value)


def _check_model(model: object, needs_sample: bool = False) -> int:
    """Make sure ``model`` can decode latent codes (and sample, if asked); return latent_dim."""
    name = type(model).__name__
    latent_dim = getattr(model, "latent_dim", None)
    if not callable(getattr(model, "decode", None)) or not isinstance(latent_dim, int):
        raise ValueError(
            f"{name} cannot drive a latent widget: it needs a latent_dim and a decode(z) method "
            "(AutoencoderModel, VariationalAutoencoder or Generator)"
        )
    if needs_sample and not callable(getattr(model, "codes", None)):
        raise ValueError(f"{name} has no codes(n, seed, temperature) method to draw codes")
    return latent_dim


def _as_code(z: Any, latent_dim: int, name: str = "z") -> torch.Tensor:
    """Turn a 1-D tensor/array/list of length ``latent_dim`` into a float32 CPU tensor."""
    if isinstance(z, torch.Tensor):
        code = z.detach().cpu().float()
    else:
        try:
            code = torch.as_tensor(np.asarray(z, dtype=np.float32))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be a vector of numbers: {error}") from None
    if code.dim() == 2 and code.shape[0] == 1:  # a (1, d) batch of one is fine too
        code = code[0]
    if code.dim() != 1 or code.shape[0] != latent_dim:
        raise ValueError(
            f"{name} must be a 1-D code of length {latent_dim} (the model's latent_dim), "
            f"got shape {tuple(code.shape)}"
        )
    if not torch.isfinite(code).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return code.clone()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Use one PyTorch thread for a small batch, then restore the thread count.

    Waking a second thread costs more than decoding a few codes: on a busy 2-core CPU a batch
    of 16 took ~30 ms with 2 threads and ~0.2 ms with one.
    """
    threads = use_threads(1)
    try:
        yield
    finally:
        use_threads(threads)


@contextmanager
def _inference(model: object) -> Iterator[None]:
    """Run in eval mode without gradients, then put the model back the way it was."""
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad(), _one_thread():
            yield
    finally:
        if was_training:
            model.train()


def _decode(model: Any, codes: torch.Tensor) -> torch.Tensor:
    """Decode a batch of codes ``(n, latent_dim)`` to images on the CPU."""
    params = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    if params is not None:
        codes = codes.to(device=params.device, dtype=params.dtype)
    with _inference(model):
        return model.decode(codes).detach().cpu()


def _png(images: ImageBatch, scale: int = 1, nrow: int = 8) -> bytes:
    """PNG bytes of one image, or of a grid when the batch holds several."""
    if len(images) == 1:
        return to_png_bytes(images, scale=scale)
    return to_png_bytes(make_grid(images, nrow=nrow, scale=scale))


def _image(value: bytes = b"") -> w.Image:
    """A PNG image widget shown at its own pixel size.

    Without ``align_self`` the flex box around it stretches it: in an HBox to the height of the
    controls beside it (a digit drawn taller than wide), in a VBox to the full output width.
    """
    return w.Image(value=value, format="png", layout=w.Layout(align_self="flex-start"))


def _title(text: str) -> w.HTML:
    """A bold caption; it comes first in each container so the widget's own text stays stable."""
    return w.HTML(value=f"<b>{html.escape(text, quote=False)}</b>")


class _ShowsWidget:
    """Display the object as its widget, with the deterministic ``repr`` as the text form."""

    widget: w.Widget

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """The widget's view plus our own text/plain (nbval compares that text)."""
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = repr(self)
        return bundle

    def _ipython_display_(self) -> None:
        """Show the widget under the cell (``display(obj)`` or ``obj`` as a cell's last line)."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)


# --- latent sliders -------------------------------------------------------------------------


class LatentSliders(_ShowsWidget):
    """One slider per latent dimension and the decoded image, updated as the sliders move.

    The browser snaps every slider value to its grid ``min + k * step`` and, if that differs
    from the kernel's value, sends the snapped value back (a second redraw, and a code that is
    no longer the one printed). So the sliders use a power-of-two step (1/64) and a range of
    +-(a power of two): every grid value is then exact in binary, the browser's arithmetic
    returns it unchanged, and the sliders start from the code rounded to that grid.
    """

    STEP = 1 / 64  # ~0.016: finer than anything visible, exact in binary

    def __init__(
        self,
        model: Any,
        z: Any = None,
        dims: int = 8,
        value_range: float = 3.0,
        scale: int = 8,
    ) -> None:
        self.latent_dim = _check_model(model)
        _check_int("dims", dims, 1)
        self.scale = _check_int("scale", scale, 1)
        is_number = isinstance(value_range, (int, float)) and not isinstance(value_range, bool)
        if not (is_number and math.isfinite(value_range) and value_range > 0):
            raise ValueError(f"value_range must be a positive number, got {value_range!r}")
        self.model = model
        self.dims = min(dims, self.latent_dim)
        code = torch.zeros(self.latent_dim) if z is None else _as_code(z, self.latent_dim)
        # The starting code as the sliders can hold it: its first dims on the slider grid.
        code[: self.dims] = torch.round(code[: self.dims].double() / self.STEP).float() * self.STEP
        self.base = code
        widest = max(float(value_range), float(code[: self.dims].abs().max()))
        self.limit = float(2 ** math.ceil(math.log2(widest)))  # 3.0 -> 4.0: a power of two

        self.sliders = [
            w.FloatSlider(
                value=float(self.base[i]),
                min=-self.limit,
                max=self.limit,
                step=self.STEP,
                description=f"z[{i}]",
                readout_format=".2f",
            )
            for i in range(self.dims)
        ]
        self.reset_button = w.Button(description="reset", tooltip="back to the starting code")
        self.redraws = 0  # images sent to the browser (reset sends one, not one per slider)
        self.image = _image(self.render(self.base))
        self._holding = False  # True while reset moves all sliders: redraw once at the end
        for slider in self.sliders:
            slider.observe(self._on_change, names="value")
        self.reset_button.on_click(lambda _button: self.reset())
        self.widget = w.VBox(
            [
                _title(repr(self)),
                w.HBox([w.VBox([*self.sliders, self.reset_button]), self.image]),
            ]
        )

    def __repr__(self) -> str:
        name = type(self.model).__name__
        return f"LatentSliders({name}, {self.dims} of {self.latent_dim} dimensions)"

    @property
    def z(self) -> torch.Tensor:
        """The current code: the base code with the first ``dims`` entries set by the sliders."""
        code = self.base.clone()
        code[: self.dims] = torch.tensor([s.value for s in self.sliders], dtype=code.dtype)
        return code

    def frame(self, values: Any = None) -> Image.Image:
        """The decoded image for a full code (the sliders' current code if None), upscaled."""
        code = self.z if values is None else _as_code(values, self.latent_dim, "values")
        return to_pil(_decode(self.model, code[None]), scale=self.scale)

    def render(self, values: Any) -> bytes:
        """PNG bytes of ``model.decode(values)`` for a full code of length ``latent_dim``."""
        return to_png_bytes(self.frame(values))

    def reset(self) -> None:
        """Move every slider back to the starting code and redraw once."""
        self._holding = True
        try:
            for i, slider in enumerate(self.sliders):
                slider.value = float(self.base[i])
        finally:
            self._holding = False
        self._redraw()

    def _redraw(self) -> None:
        self.image.value = self.render(self.z)
        self.redraws += 1

    def _on_change(self, _change: dict[str, Any]) -> None:
        if not self._holding:
            self._redraw()


def latent_sliders(
    model: Any, z: Any = None, dims: int = 8, value_range: float = 3.0, scale: int = 8
) -> LatentSliders:
    """Sliders over the first ``dims`` latent dimensions of ``model``, with a live decoded image."""
    return LatentSliders(model, z=z, dims=dims, value_range=value_range, scale=scale)


# --- interpolation --------------------------------------------------------------------------


class InterpolationSlider(_ShowsWidget):
    """Walk from one code to another with a slider; linear or spherical (slerp) path."""

    STRIP_FRAMES = 8  # frames in the overview strip under the main image

    def __init__(
        self,
        model: Any,
        z_start: Any,
        z_end: Any,
        steps: int = 32,
        method: str = "slerp",
        scale: int = 8,
    ) -> None:
        self.latent_dim = _check_model(model)
        self.steps = _check_int("steps", steps, 2)
        self.scale = _check_int("scale", scale, 1)
        self._check_method(method)
        self.model = model
        self.z_start = _as_code(z_start, self.latent_dim, "z_start")
        self.z_end = _as_code(z_end, self.latent_dim, "z_end")
        self._paths: dict[str, torch.Tensor] = {}  # method -> decoded images, one per step

        self.slider = w.FloatSlider(
            value=0.0,
            min=0.0,
            max=1.0,
            step=1.0 / (self.steps - 1),
            description="t",
            readout_format=".2f",
        )
        self.method_buttons = w.ToggleButtons(options=list(INTERPOLATION_METHODS), value=method)
        self.image = _image(to_png_bytes(self.frame(0.0)))
        self.strip = _image(self._strip_png(method))
        self.slider.observe(self._on_t, names="value")
        self.method_buttons.observe(self._on_method, names="value")
        self.widget = w.VBox(
            [_title(repr(self)), w.HBox([self.slider, self.method_buttons]), self.image, self.strip]
        )

    def __repr__(self) -> str:
        name = type(self.model).__name__
        return f"InterpolationSlider({name}, {self.steps} steps)"

    @staticmethod
    def _check_method(method: str) -> None:
        if method not in INTERPOLATION_METHODS:
            raise ValueError(f"unknown interpolation method {method!r}; choose 'linear' or 'slerp'")

    def decoded_path(self, method: str) -> torch.Tensor:
        """All ``steps`` decoded images along the path; decoded once per method, then cached."""
        self._check_method(method)
        if method not in self._paths:
            path = interpolate(self.z_start, self.z_end, steps=self.steps, method=method)
            self._paths[method] = _decode(self.model, torch.as_tensor(path, dtype=torch.float32))
        return self._paths[method]

    def frame(self, t: float, method: str | None = None) -> Image.Image:
        """The decoded image nearest to position ``t`` in [0, 1] (current method if None)."""
        t = float(t)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be in [0, 1], got {t}")
        index = round(t * (self.steps - 1))
        images = self.decoded_path(method or self.method_buttons.value)
        return to_pil(images[index], scale=self.scale)

    def _strip_png(self, method: str) -> bytes:
        """PNG of a few evenly spaced frames of the whole path, for an overview."""
        count = min(self.STRIP_FRAMES, self.steps)
        picks = np.linspace(0, self.steps - 1, count).round().astype(int)
        return _png(self.decoded_path(method)[picks], scale=max(1, self.scale // 4), nrow=count)

    def _on_t(self, change: dict[str, Any]) -> None:
        self.image.value = to_png_bytes(self.frame(change["new"]))

    def _on_method(self, change: dict[str, Any]) -> None:
        self.strip.value = self._strip_png(change["new"])
        self.image.value = to_png_bytes(self.frame(self.slider.value))


def interpolation_slider(
    model: Any, z_start: Any, z_end: Any, steps: int = 32, method: str = "slerp", scale: int = 8
) -> InterpolationSlider:
    """A slider that moves along the path from ``z_start`` to ``z_end`` and shows each decode."""
    return InterpolationSlider(model, z_start, z_end, steps=steps, method=method, scale=scale)


# --- click a point, see its neighbours ------------------------------------------------------


class NeighbourMap(_ShowsWidget):
    """A clickable latent map: hover a point to see its digit, click it to see the digit and its
    ``k`` nearest reference (training) digits in the full latent space, with their distances.

    The map is ``explorer.figure_2d`` as a plotly ``FigureWidget`` (it needs ``anywidget``);
    the neighbours come from ``reference.find_similar_points`` on the unprojected codes, so
    what the panel shows does not depend on the 2-D picture. Seeing that the nearest training
    digits are other drawings, not the same one, is a memorisation check by eye.
    """

    HOVER_SCALE = 5  # 140 px: the hovered digit, readable at a glance
    SCALE = 4  # 112 px tiles in the neighbours strip

    def __init__(
        self,
        explorer: Any,
        images: ImageBatch,
        reference: Any,
        reference_images: ImageBatch,
        method: str = "tsne",
        k: int = 8,
        seed: int = 0,
    ) -> None:
        for name, collected, pictures in (
            ("explorer", explorer, images),
            ("reference", reference, reference_images),
        ):
            count = len(getattr(collected, "latent_vectors", ()))
            if count == 0:
                raise ValueError(
                    f"{name} has no codes: call its collect_latent_representations() first"
                )
            if len(pictures) != count:
                raise ValueError(
                    f"{name} holds {count} codes but {len(pictures)} images were given: pass "
                    "the images in the order they were collected (a DataLoader without shuffle)"
                )
        dims = explorer.latent_vectors.shape[1], reference.latent_vectors.shape[1]
        if dims[0] != dims[1]:
            raise ValueError(f"the map's codes have {dims[0]} numbers, the reference's {dims[1]}")
        import plotly.graph_objects as go  # FigureWidget needs anywidget: imported on first use

        self.k = _check_int("k", k, 1, len(reference.latent_vectors))
        self.explorer, self.reference = explorer, reference
        self.images, self.reference_images = images, reference_images
        self.method, self.seed = method, seed
        self.figure = go.FigureWidget(explorer.figure_2d(method, seed))
        self.figure.update_layout(
            width=620, height=480, hovermode="closest", margin={"l": 50, "r": 10, "t": 40}
        )
        for trace in self.figure.data:
            trace.on_click(self._on_click)
            trace.on_hover(self._on_hover)
        self.hovered: int | None = None
        self.selected: int | None = None
        self.hover_text = w.HTML(value="hover over a point to see its digit")
        self.hover_image = _image()
        self.text = w.HTML(value="click a point to see its nearest training digits")
        self.image = _image()
        hover_panel = w.VBox([self.hover_text, self.hover_image], layout=w.Layout(width="200px"))
        self.widget = w.VBox(
            [_title(repr(self)), w.HBox([self.figure, hover_panel]), self.text, self.image]
        )

    def __repr__(self) -> str:
        name = {"pca": "PCA", "tsne": "t-SNE"}.get(self.method, self.method)
        return (
            f"NeighbourMap({name} map of {len(self.images)} digits, "
            f"{self.k} nearest of {len(self.reference_images)} training digits)"
        )

    def neighbours(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the ``k`` reference codes nearest to map point ``index``."""
        index = _check_int("index", index, 0, len(self.images) - 1)
        return self.reference.find_similar_points(self.explorer.latent_vectors[index], self.k)

    def describe(self, index: int) -> str:
        """One line naming map point ``index`` and each neighbour's label and distance."""
        found, distances = self.neighbours(index)
        listed = ", ".join(
            f"#{i} a {self.reference.labels[i]} ({d:.2f})"
            for i, d in zip(found, distances, strict=True)
        )
        return (
            f"digit #{index} (a {self.explorer.labels[index]}): its {self.k} nearest training "
            f"digits (distance in the latent space): {listed}"
        )

    def picture(self, index: int) -> Image.Image:
        """Map point ``index`` (left) and its ``k`` nearest training digits, each captioned."""
        found, distances = self.neighbours(index)
        pictures = [self.images[index], *(self.reference_images[int(i)] for i in found)]
        captions = [f"map digit #{index}\na {self.explorer.labels[index]}"] + [
            f"a {self.reference.labels[i]}\nd = {d:.2f}"
            for i, d in zip(found, distances, strict=True)
        ]
        title = (
            f"digit #{index} and its {self.k} nearest training digits (d: latent distance; "
            f"a copy of a training digit would be at d = 0)"
        )
        return neighbour_strip(pictures, captions, title=title, scale=self.SCALE)

    def snapshot(self, index: int) -> Image.Image:
        """A still for readers without a kernel: the static map with point ``index`` ringed,
        above :meth:`picture` of its neighbours (what clicking that point shows)."""
        figure = self.explorer.static_figure_2d(self.method, self.seed)
        axes = figure.axes[0]
        x, y = self.explorer.project_2d(self.method, self.seed)[index]
        axes.scatter([x], [y], s=220, facecolors="none", edgecolors="black", linewidths=2)
        axes.annotate(f"#{index}", (x, y), xytext=(8, 8), textcoords="offset points")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
        parts = [Image.open(buffer).convert("RGB"), self.picture(index)]
        canvas = Image.new(
            "RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white"
        )
        canvas.paste(parts[0], ((canvas.width - parts[0].width) // 2, 0))
        canvas.paste(parts[1], (0, parts[0].height))
        return canvas

    def select(self, index: int) -> None:
        """Show map point ``index`` and its neighbours in the panel, as a click does."""
        picture = self.picture(index)  # first, so a bad index leaves the panel as it was
        self.selected = int(index)
        self.image.value = to_png_bytes(picture)
        self.text.value = html.escape(self.describe(index))

    def hover(self, index: int) -> None:
        """Show map point ``index``'s digit in the side panel, as hovering it does."""
        index = _check_int("index", index, 0, len(self.images) - 1)
        self.hovered = index
        self.hover_image.value = to_png_bytes(self.images[index], scale=self.HOVER_SCALE)
        self.hover_text.value = f"digit #{index}: a {self.explorer.labels[index]}"

    def _on_click(self, trace: Any, points: Any, _state: Any = None) -> None:
        index = picked_index(trace, points)
        if index is not None:  # plotly calls every trace; only the clicked one has points
            self.select(index)

    def _on_hover(self, trace: Any, points: Any, _state: Any = None) -> None:
        index = picked_index(trace, points)
        if index is not None:
            self.hover(index)


def neighbour_map(
    explorer: Any,
    images: ImageBatch,
    reference: Any,
    reference_images: ImageBatch,
    method: str = "tsne",
    k: int = 8,
    seed: int = 0,
) -> NeighbourMap:
    """A clickable map of ``explorer``'s codes showing each point's nearest ``reference`` digits."""
    return NeighbourMap(
        explorer, images, reference, reference_images, method=method, k=k, seed=seed
    )


# --- temperature ----------------------------------------------------------------------------


class TemperatureSlider(_ShowsWidget):
    """A "creativity" slider: the same seeded noise, scaled by the temperature, then decoded."""

    def __init__(
        self,
        model: Any,
        n: int = 16,
        seed: int = 0,
        scale: int = 3,
        max_temperature: float = 2.0,
    ) -> None:
        _check_model(model, needs_sample=True)
        self.n = _check_int("n", n, 1)
        self.seed = _check_int("seed", seed, 0)
        self.scale = _check_int("scale", scale, 1)
        is_number = isinstance(max_temperature, (int, float)) and not isinstance(
            max_temperature, bool
        )
        if not (is_number and 0 < max_temperature <= 2.0):
            raise ValueError(f"max_temperature must be in (0, 2], got {max_temperature!r}")
        self.max_temperature = float(max_temperature)
        self.model = model
        self.slider = w.FloatSlider(
            value=min(1.0, self.max_temperature),
            min=0.0,
            max=self.max_temperature,
            step=0.05 if self.max_temperature <= 1.5 else 0.1,
            description="creativity",
            readout_format=".2f" if self.max_temperature <= 1.5 else ".1f",
        )
        self.image = _image(to_png_bytes(self.render(self.slider.value)))
        self.slider.observe(self._on_change, names="value")
        self.widget = w.VBox([_title(repr(self)), self.slider, self.image])

    def __repr__(self) -> str:
        return f"TemperatureSlider({type(self.model).__name__}, {self.n} samples, seed {self.seed})"

    def samples(self, temperature: float) -> torch.Tensor:
        """The ``n`` images for one temperature (the noise is the same for every temperature)."""
        temperature = round(float(temperature), 6)  # 0.30000000000000004 -> 0.3
        if not 0.0 <= temperature <= self.max_temperature:
            raise ValueError(
                f"temperature must be between 0 and {self.max_temperature:g}, got {temperature}"
            )
        with _inference(self.model):
            codes = self.model.codes(self.n, seed=self.seed, temperature=temperature)
        return _decode(self.model, codes)

    def render(self, temperature: float) -> Image.Image:
        """The grid of samples at ``temperature``, 8 per row."""
        return make_grid(self.samples(temperature), nrow=8, scale=self.scale)

    def change(self, low: float, high: float) -> float:
        """Mean pixel change between two temperatures, in grey levels (0-255): how much moving
        the slider from ``low`` to ``high`` changes what you see."""
        difference = (self.samples(high) - self.samples(low)).abs().mean()
        return float(difference) * 255.0

    def _on_change(self, change: dict[str, Any]) -> None:
        self.image.value = to_png_bytes(self.render(change["new"]))


def temperature_slider(
    model: Any, n: int = 16, seed: int = 0, scale: int = 3, max_temperature: float = 2.0
) -> TemperatureSlider:
    """A slider from temperature 0 (every sample the same) to ``max_temperature`` over fixed
    noise."""
    return TemperatureSlider(model, n=n, seed=seed, scale=scale, max_temperature=max_temperature)


# --- a flow's sampling, step by step ---------------------------------------------------------


class FlowFilm(_ShowsWidget):
    """A slider over a flow's integration steps: the decoded images at each step, from noise
    (step 0) to the finished digits. The path is integrated once, so the slider only picks a
    frame."""

    def __init__(self, model: Any, z: torch.Tensor, steps: int = 20, scale: int = 3) -> None:
        _check_model(model)
        if not callable(getattr(model, "path", None)):
            raise ValueError(
                f"{type(model).__name__} has no path(z, steps): a film needs a flow model"
            )
        self.steps = _check_int("steps", steps, 1)
        self.scale = _check_int("scale", scale, 1)
        self.model = model
        with _inference(model):
            self.frames = model.path(z, steps=self.steps).detach().cpu()  # (steps + 1, n, ...)
        self.slider = w.IntSlider(value=self.steps, min=0, max=self.steps, description="step")
        self.image = _image(to_png_bytes(self.render(self.steps)))
        self.slider.observe(self._on_change, names="value")
        self.widget = w.VBox([_title(repr(self)), self.slider, self.image])

    def __repr__(self) -> str:
        n = self.frames.shape[1]
        return f"FlowFilm({type(self.model).__name__}, {n} samples, {self.steps} steps)"

    def images(self, step: int) -> torch.Tensor:
        """The ``n`` images after ``step`` integration steps (0: the decoded noise)."""
        return self.frames[_check_int("step", step, 0, self.steps)]

    def render(self, step: int) -> Image.Image:
        """The grid the slider shows at ``step``, 8 per row."""
        return make_grid(self.images(step), nrow=8, scale=self.scale)

    def strip(self, steps: Sequence[int]) -> torch.Tensor:
        """A static film: one row per sample, one column per step in ``steps``."""
        if not steps:
            raise ValueError("steps must name at least one step to show")
        columns = torch.stack([self.images(step) for step in steps], dim=1)
        return columns.flatten(0, 1)

    def _on_change(self, change: dict[str, Any]) -> None:
        self.image.value = to_png_bytes(self.render(change["new"]))


def flow_film(model: Any, z: torch.Tensor, steps: int = 20, scale: int = 3) -> FlowFilm:
    """A slider over the ``steps`` integration steps that turn the codes ``z`` into digits."""
    return FlowFilm(model, z, steps=steps, scale=scale)


# --- pattern studio -------------------------------------------------------------------------


def _hex_colour(value: str) -> str:
    """Normalise any CSS colour the picker may send ('red', '#f00', 'rgb(...)') to '#rrggbb'."""
    try:
        rgb = ImageColor.getrgb(value)[:3]
    except (ValueError, AttributeError):
        raise ValueError(
            f"{value!r} is not a colour the pattern studio can use: pick one or type '#RRGGBB'"
        ) from None
    return "#{:02x}{:02x}{:02x}".format(*(min(255, max(0, c)) for c in rgb))


class PatternDesigner(_ShowsWidget):
    """Pick a pattern, two colours, a size and a seed; the pattern redraws as you change them.

    A typed colour applies on Enter (or when the field loses focus); the swatch beside it opens
    the browser's colour picker. A setting the recipes cannot use ("blurple", seed -5) shows a
    message naming the field, and the picture keeps that field's last good value, so every other
    control still works. Wide pictures wrap below the controls and shrink to the output's width
    instead of covering the controls.
    """

    SIZE_RANGE = (64, 512)
    SEED_MAX = 2**32 - 1  # numpy's generators take seeds 0 .. 2**32 - 1

    def __init__(self, size: int = 256) -> None:
        low, high = self.SIZE_RANGE
        self.size = _check_int("size", size, low, high)
        self.pattern = w.Dropdown(
            options=list(PATTERN_TYPES), value="mandala", description="pattern"
        )
        # The typed colour is the value that counts; continuous_update=False sends it on Enter.
        self.primary = w.Text(value="#ff0000", description="primary", continuous_update=False)
        self.secondary = w.Text(value="#0000ff", description="secondary", continuous_update=False)
        self.primary_picker = w.ColorPicker(value="#ff0000", concise=True)
        self.secondary_picker = w.ColorPicker(value="#0000ff", concise=True)
        self.width = w.IntSlider(value=size, min=low, max=high, step=8, description="width")
        self.height = w.IntSlider(value=size, min=low, max=high, step=8, description="height")
        self.seed = w.IntText(value=0, description="seed")
        self.message = w.HTML(value="")
        self.title = _title("")
        self.image = w.Image(
            format="png",
            layout=w.Layout(align_self="flex-start", max_width="100%", height="auto"),
        )
        self._good: dict[str, Any] = {}  # each field's last usable value
        for text, picker in (
            (self.primary, self.primary_picker),
            (self.secondary, self.secondary_picker),
        ):
            picker.observe(lambda change, text=text: setattr(text, "value", change["new"]), "value")
        controls = [self.pattern, self.width, self.height, self.seed]
        for control in (*controls, self.primary, self.secondary):
            control.observe(self._on_change, names="value")
        colour_rows = [
            w.HBox([self.primary, self.primary_picker]),
            w.HBox([self.secondary, self.secondary_picker]),
        ]
        panel = w.VBox(
            [self.pattern, *colour_rows, self.width, self.height, self.seed, self.message],
            layout=w.Layout(flex="0 0 auto", max_width="100%"),
        )
        self.widget = w.VBox(
            [self.title, w.HBox([panel, self.image], layout=w.Layout(flex_flow="row wrap"))]
        )
        self._on_change()

    def __repr__(self) -> str:
        return (
            f"PatternDesigner({len(PATTERN_TYPES)} patterns, starts at {self.size}x{self.size} px)"
        )

    def _field(self, name: str) -> Any:
        """The value of one field, checked; raises ValueError whose message names the field."""
        if name in ("primary", "secondary"):
            try:
                return _hex_colour(getattr(self, name).value.strip())
            except ValueError as error:
                raise ValueError(f"{name} colour: {error}") from None
        if name == "seed":
            value = self.seed.value
            if not 0 <= value <= self.SEED_MAX:
                raise ValueError(
                    f"seed must be a whole number from 0 to {self.SEED_MAX}, got {value}"
                )
            return int(value)
        return getattr(self, name).value

    def render(self) -> Image.Image:
        """The pattern for the current settings; raises ValueError naming an unusable setting."""
        fields = {name: self._field(name) for name in self._FIELDS}
        return self._draw(fields)

    _FIELDS = ("pattern", "width", "height", "primary", "secondary", "seed")

    def _draw(self, fields: dict[str, Any]) -> Image.Image:
        return create_pattern(
            fields["pattern"],
            fields["width"],
            fields["height"],
            fields["primary"],
            fields["secondary"],
            seed=fields["seed"],
        )

    def _on_change(self, _change: dict[str, Any] | None = None) -> None:
        problems = []
        for name in self._FIELDS:
            try:
                self._good[name] = self._field(name)
            except ValueError as error:  # keep this field's last good value, say what is wrong
                problems.append(str(error))
        for name, picker in (
            ("primary", self.primary_picker),
            ("secondary", self.secondary_picker),
        ):
            if name in self._good and picker.value.lower() != self._good[name]:
                picker.value = self._good[name]
        picture = self._draw(self._good)
        self.image.value = to_png_bytes(picture)
        shown = f"{self._good['pattern']}, {picture.width}x{picture.height} px"
        self.title.value = f"<b>Pattern designer: {html.escape(shown)}</b>"
        self.message.value = "".join(
            f'<div style="color:#b00020">{html.escape(problem)}</div>' for problem in problems
        )


def pattern_designer(size: int = 256) -> PatternDesigner:
    """The interactive pattern studio, starting with a ``size`` x ``size`` mandala."""
    return PatternDesigner(size=size)


# --- training monitor -----------------------------------------------------------------------


class TrainingMonitor(_ShowsWidget):
    """A live loss plot (and sample grid) fed by a train_* function's per-epoch ``callback``."""

    def __init__(
        self,
        sample_fn: Callable[[], ImageBatch] | None = None,
        keys: Sequence[str] = ("loss",),
        every: int = 1,
        n_samples: int = 16,
        sample_model: bool = False,
        secondary: Sequence[str] = (),
    ) -> None:
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)
        if not self.keys or not all(isinstance(k, str) for k in self.keys):
            raise ValueError(f"keys must be one or more history keys such as 'loss', got {keys!r}")
        # Keys drawn against their own axis on the right, e.g. a KL term of ~25 nats beside a
        # reconstruction term of ~100: on one shared axis the small one looks flat.
        self.secondary = (secondary,) if isinstance(secondary, str) else tuple(secondary)
        if any(k not in self.keys for k in self.secondary) or len(self.secondary) >= len(self.keys):
            raise ValueError(
                f"secondary must name some, not all, of the keys {list(self.keys)}, "
                f"got {secondary!r}"
            )
        if sample_fn is not None and not callable(sample_fn):
            raise ValueError("sample_fn must be a function with no arguments that returns images")
        self.every = _check_int("every", every, 1)
        self.n_samples = _check_int("n_samples", n_samples, 1)
        self.sample_fn = sample_fn
        # With sample_model=True the grid shows ``model.sample`` of the model being trained,
        # which recipes.get hands over through watch() before training starts.
        self.sample_model = bool(sample_model)
        self.model: Any = None
        self.records: list[dict[str, Any]] = []
        self.redraws = 0
        self.loaded = False  # finish() sets it when the history was replayed, not trained
        self._figure, self._lines = self._make_figure()  # redraws only move the lines
        self.status = w.HTML(value="waiting for the first epoch...")
        self.plot = _image()
        self.samples = _image()
        children = [_title(repr(self)), self.status, self.plot]
        if sample_fn is not None or self.sample_model:
            children.append(self.samples)
        self.widget = w.VBox(children)

    def watch(self, model: Any) -> None:
        """Remember the model being trained, so the sample grid can show what it makes now."""
        self.model = model

    def __repr__(self) -> str:
        # No record count here: a loaded checkpoint skips training, and the text must not change.
        has_samples = self.sample_fn is not None or self.sample_model
        samples = "with samples" if has_samples else "no samples"
        return f"TrainingMonitor(keys={list(self.keys)}, every={self.every}, {samples})"

    def __call__(self, record: dict[str, Any]) -> None:
        """Keep one epoch's record; redraw every ``every`` epochs."""
        missing = [k for k in self.keys if k not in record]
        if missing:
            raise ValueError(f"the training records have no {missing}; they have {sorted(record)}")
        self.records.append(dict(record))
        if len(self.records) % self.every == 0:
            self.redraw()

    def redraw(self) -> None:
        """Redraw the plot, the status line and (with ``sample_fn``) the sample grid now."""
        if not self.records:
            return
        last = self.records[-1]
        values = ", ".join(f"{k} {last[k]:.4g}" for k in self.keys)
        self.status.value = f"epoch {last.get('epoch', len(self.records))}: {values}"
        self.plot.value = self.plot_png()
        images = None
        with torch.no_grad(), _one_thread():
            if self.sample_fn is not None:
                images = self.sample_fn()
            elif self.sample_model and self.model is not None:
                images = self.model.sample(self.n_samples, seed=0)  # same codes every epoch
        if images is not None:
            self.samples.value = _png(images[: self.n_samples], scale=3)
        self.redraws += 1

    def _make_figure(self) -> tuple[Any, dict[str, Any]]:
        """One small figure with an empty line per key (matplotlib's object API, no pyplot)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(5, 2.6), dpi=80)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        right = axes.twinx() if self.secondary else None
        colours = [f"C{i}" for i in range(len(self.keys))]
        lines = {}
        for key, colour in zip(self.keys, colours, strict=True):
            on = right if key in self.secondary else axes
            lines[key] = on.plot([], [], label=key, color=colour)[0]
        axes.set_xlabel("epoch")
        axes.set_ylabel(", ".join(k for k in self.keys if k not in self.secondary))
        axes.grid(alpha=0.3)
        if right is not None:
            right.set_ylabel(", ".join(self.secondary) + " (right axis)")
        axes.legend(list(lines.values()), list(lines), loc="center right")
        figure.tight_layout()
        return figure, lines

    def plot_png(self) -> bytes:
        """PNG of ``keys`` against epoch. Moving the lines of one figure and encoding the pixels
        with fast compression keeps this near 20 ms (``savefig`` from scratch takes ~3x)."""
        epochs = [r.get("epoch", i + 1) for i, r in enumerate(self.records)]
        for key, line in self._lines.items():
            line.set_data(epochs, [r[key] for r in self.records])
        for axes in self._figure.axes:
            axes.relim()
            axes.autoscale_view()
        canvas = self._figure.canvas
        canvas.draw()
        picture = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
        buffer = io.BytesIO()
        picture.convert("RGB").save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue()

    def finish(self, history: Sequence[dict[str, Any]], model: Any = None) -> Image.Image:
        """Call after training or loading; returns (and in a notebook shows) a static picture.

        A model loaded from its checkpoint trains no epochs, so nothing reached the monitor:
        then the stored ``history`` is replayed into the plot, the sample grid shows ``model``,
        and the status line says it was loaded and how to watch it train again. The picture of
        the plot and samples is what a reader sees where widgets do not run (GitHub, nbviewer).
        """
        if model is not None:
            self.model = model
        if not self.records:
            if not history:
                raise ValueError("the history is empty: there is nothing to show")
            for record in history:
                missing = [k for k in self.keys if k not in record]
                if missing:
                    raise ValueError(
                        f"the stored history has no {missing}; it has {sorted(record)}"
                    )
                self.records.append(dict(record))
            self.redraw()  # once, not once per stored epoch
            self.status.value = (
                f"<b>loaded from a checkpoint</b> (trained earlier): the curves replay its "
                f"{len(self.records)} stored epochs and the samples come from the loaded model. "
                "To watch it train live again, pass <code>retrain=True</code> to "
                "<code>recipes.get</code> (it retrains and overwrites the checkpoint)."
            )
            self.loaded = True
        else:
            self.redraw()
            self.loaded = False
        picture = self.snapshot()
        try:
            from IPython import get_ipython
            from IPython.display import Image as IPythonImage
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with ipywidgets
            return picture
        if get_ipython() is not None:
            display(IPythonImage(data=to_png_bytes(picture)))
        return picture

    def snapshot(self) -> Image.Image:
        """The plot and (if any) the sample grid as one picture, captioned with the last epoch."""
        if not self.records:
            raise ValueError("nothing to show yet: no epoch has been recorded or replayed")
        plot = Image.open(io.BytesIO(self.plot_png())).convert("RGB")
        parts = [plot]
        if self.samples.value:
            parts.append(Image.open(io.BytesIO(self.samples.value)).convert("RGB"))
        canvas = Image.new(
            "RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white"
        )
        top = 0
        for part in parts:
            canvas.paste(part, (0, top))
            top += part.height
        last = self.records[-1] if self.records else {}
        values = ", ".join(f"{k} {last[k]:.1f}" for k in self.keys if k in last)
        epoch = last.get("epoch", len(self.records))
        return titled(canvas, f"epoch {epoch}: {values}" if last else "no epochs yet")


# --- the personal style studio (notebook 09) -------------------------------------------------


class StyleUploader(_ShowsWidget):
    """Upload 5-10 images of your style, press the button: the style is learned and shown."""

    def __init__(self, name: str = "style_mine", **settings: Any) -> None:
        self.name = name
        self.settings = {"max_epochs": 50, "time_budget": None, **settings}
        self.result: Any = None
        self.upload = w.FileUpload(accept="image/*", multiple=True, description="Choose images")
        self.button = w.Button(description="Learn my style", button_style="primary")
        self.output = w.Output()
        self.button.on_click(self._clicked)
        self.widget = w.VBox(
            [
                w.HTML("<b>Your style: choose 5 to 10 images, then press the button</b>"),
                w.HBox([self.upload, self.button]),
                self.output,
            ]
        )

    def __repr__(self) -> str:
        epochs = self.settings.get("max_epochs")
        return f"StyleUploader({self.name}, 5-10 images, {epochs} epochs)"

    def files(self) -> dict[str, bytes]:
        """The uploaded files, name -> bytes (empty until the learner chooses some)."""
        return {item["name"]: bytes(item["content"]) for item in self.upload.value}

    def learn(self, files: dict[str, bytes]) -> Any:
        """Validate and load ``files``, then train (or load) their style; returns a StyleResult."""
        from .styles import style_images_from_uploads, train_style_or_load

        images = style_images_from_uploads(files)
        self.result = train_style_or_load(self.name, images, **self.settings)
        return self.result

    @staticmethod
    def show_result(result: Any, *, report: bool = True) -> None:
        """Show a learned style as the button does: the images, ten variations, and (with
        ``report``) the brief written report."""
        from .notebook import show
        from .styles import brief_report, variations

        show(result.originals, nrow=10, scale=3, title="your images")
        show(variations(result.model, 10, seed=0), nrow=10, scale=3, title="variations")
        if report:
            print(brief_report(result.report))

    def _clicked(self, _button: Any = None) -> None:
        """The button's handler: learn from the uploaded files and show the outcome below."""
        self.output.clear_output()
        self.button.disabled = True
        try:
            with self.output:
                try:
                    result = self.learn(self.files())
                except ValueError as err:
                    print(f"Cannot learn a style from these files: {err}")
                    return
                self.show_result(result)
        finally:
            self.button.disabled = False


# --- latency --------------------------------------------------------------------------------


def measure_latency(widget_obj: Any, repeats: int = 50) -> dict[str, float]:
    """Time ``repeats`` slider changes (set in Python) up to the new PNG; p50/p95 in ms.

    The observer runs synchronously when a slider's value is set, so the time measured is the
    whole kernel-side update: decode (or cached frame), PNG encoding, and the image update.
    """
    _check_int("repeats", repeats, 1)
    if isinstance(widget_obj, LatentSliders):
        slider = widget_obj.sliders[0]
    elif isinstance(widget_obj, (InterpolationSlider, TemperatureSlider)):
        slider = widget_obj.slider
    elif isinstance(widget_obj, PatternDesigner):
        slider = widget_obj.width
    else:
        raise ValueError(
            "measure_latency needs a widget from course_lib.widgets, "
            f"got {type(widget_obj).__name__}"
        )
    start_value = slider.value
    low, high = slider.min, slider.max
    times = []
    for i in range(repeats + 3):  # the first 3 changes warm up caches and are not counted
        fraction = (0.13 + 0.618 * i) % 1.0  # jumps around the range; neighbours always differ
        value = low + fraction * (high - low)
        value = round(value) if isinstance(slider, w.IntSlider) else value
        tick = time.perf_counter()
        slider.value = value
        elapsed = time.perf_counter() - tick
        if i >= 3:
            times.append(elapsed * 1000.0)
    slider.value = start_value
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "repeats": repeats,
    }
