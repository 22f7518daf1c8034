"""Every widget fix of issue 13 (section 7), driven in a real JupyterLab after Run All.

One test per notebook (one Run All each: they are the slow part), each on a fresh tab of the
module's JupyterLab (``jupyter_lab``): 02's training monitor when the model is loaded, 03's
progress bars and GAN playground buttons, 05's latent sliders (keys, mouse, reset) and
clickable map, 06's pattern designer. The kernels read the shared checkpoints, so every Run
All loads the course's models rather than training them (when they exist).
"""

from __future__ import annotations

import re

from course_lib import recipes

from .lab import (
    IMAGE_PIXELS,
    IMAGE_READY,
    READOUT_IS,
    Lab,
    forget_open_tabs,
    readout,
    run_all,
    wait_image_changed,
)

# Counts the times an <img>'s src changes from now on (one per image the kernel sends).
COUNT_SRC_CHANGES = """img => {
  window.srcChanges = 0;
  new MutationObserver(records => {
    window.srcChanges += records.filter(r => r.attributeName === 'src').length;
  }).observe(img, { attributes: true });
}"""
PIXELS_ARE = """([img, want]) => {
  if (!img.complete || img.naturalWidth === 0) return false;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/png') === want;
}"""
# The centre of the map point farthest from every other one (a click there cannot pick a
# neighbour) and the index of its trace, which is its digit (one trace per label, in order).
LONELY_POINT = """graph => {
  const traces = Array.from(graph.querySelectorAll('.scatterlayer .trace'));
  const points = traces.flatMap((trace, label) =>
    Array.from(trace.querySelectorAll('path.point')).map(p => {
      const box = p.getBoundingClientRect();
      return [box.x + box.width / 2, box.y + box.height / 2, label];
    }));
  let best = null, bestGap = -1;
  for (const a of points) {
    let gap = Infinity;
    for (const b of points) if (a !== b) gap = Math.min(gap, Math.hypot(a[0] - b[0], a[1] - b[1]));
    if (gap > bestGap) { bestGap = gap; best = a; }
  }
  return { x: best[0], y: best[1], label: best[2], gap: bestGap, count: points.length };
}"""


def _widget(page, caption: str):
    """The widget box whose bold caption starts with ``caption`` (course_lib.widgets' titles)."""
    box = page.locator(".widget-vbox", has=page.locator(".widget-html", has_text=caption)).last
    box.scroll_into_view_if_needed()  # JupyterLab skips laying out cells far off screen
    return box


def _ready(page, image) -> None:
    page.wait_for_function(IMAGE_READY, arg=image.element_handle())


def test_02_a_loaded_vae_replays_its_history_in_the_training_monitor(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    forget_open_tabs(jupyter_lab)
    # The case under test is a model trained on an earlier run: make sure there is one (in a
    # fresh checkout, as in CI, this trains it here; the notebook's kernel then loads it).
    recipes.get("vae_mnist5k", progress=False)
    run_all(page, jupyter_lab, "02_variational_autoencoders.ipynb")
    monitor = _widget(page, "TrainingMonitor(")
    status = monitor.locator(".widget-html", has_text="loaded from a checkpoint")
    assert "loaded from a checkpoint" in status.text_content()
    assert "retrain=True" in status.text_content()
    assert "waiting for the first epoch" not in monitor.text_content()
    images = monitor.locator("img.widget-image")
    assert images.count() == 2  # the replayed curves and the loaded model's samples
    for index in range(2):
        _ready(page, images.nth(index))  # a real picture, not a broken-image icon
    plot_size = images.nth(0).evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert plot_size == [400, 208]  # the 5 x 2.6 inch figure at 80 dpi: a plot was drawn
    samples_width = images.nth(1).evaluate("img => img.naturalWidth")
    assert samples_width >= 8 * 28 * 3  # a grid of 16 digits, 3x
    # The caption of the still under it names the last stored epoch of both curves.
    screenshot(page, "lab-02-training-monitor-loaded", full_page=False)
    assert page.js_errors == []


def test_03_progress_bars_name_their_experiment_and_the_gan_playground_steps(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    forget_open_tabs(jupyter_lab)
    run_all(page, jupyter_lab, "03_gans.ipynb")
    # tqdm's widget bar: an HBox of the description, the bar and the counts.
    rows = page.locator(".widget-hbox", has=page.locator(".widget-hprogress"))
    descriptions = [  # tqdm pads with figure spaces (U+2007)
        row.locator(".widget-html").first.text_content().replace("\u2007", " ").strip()
        for row in rows.all()
    ]
    for name in ("GAN, weak detective:", "GAN, too little noise:"):
        shown = [d for d in descriptions if d.startswith(name)]
        assert shown, f"no progress bar labelled {name!r} in {descriptions}"
        assert "100%" in shown[0], f"{name} the bar did not finish"
    assert not [d for d in descriptions if d.startswith("GAN:")], "a bar is labelled just 'GAN:'"
    screenshot(page, "lab-03-progress-bars", full_page=False)

    # The GAN playground: the buttons reach the kernel, which steps the game and redraws.
    widget = _widget(page, "GANPlayground(")
    widget.scroll_into_view_if_needed()
    buttons = widget.locator("button.widget-button")
    assert buttons.all_text_contents() == ["step D", "step G", "train 100 steps", "reset"]
    text = widget.locator(".widget-html").nth(1)
    image = widget.locator("img.widget-image")
    _ready(page, image)
    assert _counts(text) == (0, 0)
    assert "modes covered:" in text.inner_text()
    first_src, first_pixels = image.get_attribute("src"), image.evaluate(IMAGE_PIXELS)
    # One discriminator step: a new picture (D's map moved) and the count says so.
    buttons.filter(has_text="step D").click()
    wait_image_changed(page, image, first_src, "step D was clicked")
    _wait_counts(page, text, (1, 0))
    after_d = image.get_attribute("src")
    assert image.evaluate(IMAGE_PIXELS) != first_pixels
    # 100 rounds of one D and one G step: both counts move by 100.
    buttons.filter(has_text="train 100 steps").click()
    _wait_counts(page, text, (101, 100))
    wait_image_changed(page, image, after_d, "train 100 steps was clicked")
    widget.scroll_into_view_if_needed()
    screenshot(page, "jupyterlab-gan-playground", full_page=False)
    assert page.js_errors == []


PLAYGROUND_COUNTS = re.compile(r"D steps: (\d+) · G steps: (\d+)")


def _counts(text) -> tuple[int, int]:
    found = PLAYGROUND_COUNTS.search(text.inner_text())
    assert found, f"no step counts in the playground's text line: {text.inner_text()!r}"
    return int(found[1]), int(found[2])


def _wait_counts(page, text, want: tuple[int, int]) -> None:
    page.wait_for_function(
        "([el, want]) => el.textContent.includes(want)",
        arg=[text.element_handle(), f"D steps: {want[0]} · G steps: {want[1]}"],
        timeout=30_000,
    )


def test_05_reset_restores_the_code_in_one_redraw_and_the_map_answers_hover_and_click(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    forget_open_tabs(jupyter_lab)
    run_all(page, jupyter_lab, "05_latent_space.ipynb")

    # Latent sliders: move two, press reset, get the very same code and picture back.
    widget = _widget(page, "LatentSliders(")
    sliders = widget.locator(".widget-slider")
    handles = sliders.locator(".noUi-handle")
    image = widget.locator("img.widget-image")
    _ready(page, image)
    start_values = [handles.nth(i).get_attribute("aria-valuenow") for i in range(8)]
    start_readouts = [readout(sliders.nth(i)).text_content() for i in range(8)]
    first_pixels = image.evaluate(IMAGE_PIXELS)
    for number, key in ((0, "End"), (1, "Home")):
        before = image.get_attribute("src")
        handles.nth(number).focus()
        handles.nth(number).press(key)
        wait_image_changed(page, image, before, f"z[{number}] was moved with {key}")
    assert image.evaluate(IMAGE_PIXELS) != first_pixels
    image.evaluate(COUNT_SRC_CHANGES)
    widget.locator("button", has_text="reset").click()
    page.wait_for_function(PIXELS_ARE, arg=[image.element_handle(), first_pixels], timeout=30_000)
    page.wait_for_timeout(1500)  # any further redraw would arrive within this
    assert page.evaluate("window.srcChanges") == 1, "reset should redraw the digit exactly once"
    assert [handles.nth(i).get_attribute("aria-valuenow") for i in range(8)] == start_values
    assert [readout(sliders.nth(i)).text_content() for i in range(8)] == start_readouts
    screenshot(page, "lab-05-latent-sliders-after-reset", full_page=False)

    # Drag z[1]'s handle to the left end with the mouse: the readout and the digit follow.
    second = sliders.nth(1)
    box = second.locator(".noUi-handle").bounding_box()
    track = second.locator(".noUi-base").bounding_box()
    middle = box["y"] + box["height"] / 2
    before = image.get_attribute("src")
    page.mouse.move(box["x"] + box["width"] / 2, middle)
    page.mouse.down()
    page.mouse.move(track["x"] - 10, middle, steps=8)
    page.mouse.up()
    low = float(second.locator(".noUi-handle").get_attribute("aria-valuemin"))
    page.wait_for_function(READOUT_IS, arg=[readout(second), low])
    wait_image_changed(page, image, before, "z[1] was dragged to its left end")
    assert image.evaluate(IMAGE_PIXELS) != first_pixels

    # Every image a widget of this notebook shows is drawn at its own size: not stretched by
    # the flex box around it (a distorted digit), not blown up to the width of the page.
    # (The clickable map's panels stay empty until a hover or a click: tested below.)
    neighbour_map = _widget(page, "NeighbourMap(")
    images = page.locator(".jp-OutputArea-output img.widget-image")
    drawn = [
        images.nth(index)
        for index in range(images.count())
        if not neighbour_map.evaluate(
            "(box, img) => box.contains(img)", images.nth(index).element_handle()
        )
    ]
    assert len(drawn) >= 3  # the sliders' digit, the interpolation frame and its strip
    for index, shown in enumerate(drawn):
        shown.scroll_into_view_if_needed()
        page.wait_for_function(IMAGE_READY, arg=shown.element_handle())
        natural, client = shown.evaluate(
            "img => [[img.naturalWidth, img.naturalHeight], [img.clientWidth, img.clientHeight]]"
        )
        assert client == natural, f"widget image {index} is {natural} pixels but shown {client}"

    # The clickable map: hover a point, then click it.
    clickable = _widget(page, "NeighbourMap(")
    graph = clickable.locator(".js-plotly-plot")
    graph.scroll_into_view_if_needed()
    page.wait_for_function(
        "g => g.querySelectorAll('.scatterlayer path.point').length >= 1000",
        arg=graph.element_handle(),
    )
    point = graph.evaluate(LONELY_POINT)
    assert point["count"] == 1000 and point["gap"] > 6
    hover_label = clickable.locator(".widget-html", has_text="hover over").element_handle()
    page.mouse.move(5, 5)  # outside the map, then straight onto the point: one hover
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function(
        "([el, label]) => new RegExp(`^digit #\\\\d+: a ${label}$`).test(el.textContent.trim())",
        arg=[hover_label, point["label"]],
        timeout=30_000,
    )
    hovered = hover_label.text_content().strip()
    assert hovered.endswith(f"a {point['label']}"), (hovered, point)
    hover_image = clickable.locator("img.widget-image").first
    _ready(page, hover_image)
    assert hover_image.evaluate("img => img.naturalWidth") == 28 * 5
    screenshot(page, "lab-05-map-hover", full_page=False)

    page.mouse.click(point["x"], point["y"])
    index = hovered.split("#")[1].split(":")[0]
    panel_text = clickable.locator(".widget-html", has_text="nearest training digits")
    page.wait_for_function(
        "([el, want]) => el.textContent.includes(want)",
        arg=[panel_text.element_handle(), f"digit #{index} (a {point['label']})"],
        timeout=30_000,
    )
    listed = re.findall(r"#\d+ a \d \(\d+\.\d\d\)", panel_text.text_content())
    assert len(listed) == 8, panel_text.text_content()  # 8 neighbours: label and distance
    panel = clickable.locator("img.widget-image").nth(1)
    _ready(page, panel)
    assert panel.evaluate("img => img.naturalWidth") >= 9 * 28 * 4
    panel.scroll_into_view_if_needed()
    screenshot(page, "lab-05-map-click-neighbours", full_page=False)
    assert page.js_errors == []


def test_06_pattern_designer_at_1100_px_with_the_file_browser_open(
    jupyter_lab: Lab, blank_page, screenshot
):
    page = blank_page
    forget_open_tabs(jupyter_lab)
    run_all(page, jupyter_lab, "06_pattern_generation.ipynb")
    page.set_viewport_size({"width": 1100, "height": 900})
    browser_panel = page.locator("#filebrowser")
    if not browser_panel.is_visible():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='filebrowser']").click()
    browser_panel.wait_for(state="visible")

    designer = _widget(page, "Pattern designer:")
    title = designer.locator(".widget-html").first
    image = designer.locator("img.widget-image")
    message = designer.locator(".widget-html").last

    def field(kind: str, label: str):
        return designer.locator(kind, has=page.locator(".widget-label", has_text=label))

    width = field(".widget-slider", "width")
    handle = width.locator(".noUi-handle")
    before = image.get_attribute("src")
    handle.focus()
    handle.press("Home")  # the notebook's later cells moved the designer: start from 64 px
    page.wait_for_function("el => / 64x\\d+ px/.test(el.textContent)", arg=title.element_handle())
    before = image.get_attribute("src")
    handle.press("End")  # width 512, the widest
    page.wait_for_function("el => / 512x\\d+ px/.test(el.textContent)", arg=title.element_handle())
    wait_image_changed(page, image, before, "width was set to 512")
    designer.scroll_into_view_if_needed()
    screenshot(page, "lab-06-designer-512-file-browser", full_page=False)

    # The picture covers none of the controls, and the width slider can still be dragged.
    picture = image.bounding_box()
    for control in designer.locator(".widget-slider, .widget-text, .widget-dropdown").all():
        box = control.bounding_box()
        overlaps = not (
            box["x"] + box["width"] <= picture["x"]
            or picture["x"] + picture["width"] <= box["x"]
            or box["y"] + box["height"] <= picture["y"]
            or picture["y"] + picture["height"] <= box["y"]
        )
        assert not overlaps, f"the image {picture} covers a control at {box}"
    grip = handle.bounding_box()
    middle_y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, middle_y)
    page.mouse.down()
    page.mouse.move(grip["x"] - 120, middle_y, steps=8)
    page.mouse.up()
    page.wait_for_function("el => parseInt(el.textContent) < 512", arg=readout(width))
    dragged = int(readout(width).text_content())
    page.wait_for_function(
        "([el, w]) => new RegExp(` ${w}x\\\\d+ px`).test(el.textContent)",
        arg=[title.element_handle(), dragged],
    )

    # An invalid seed names its field; the other controls keep working.
    seed = field(".widget-text", "seed").locator("input")
    seed.fill("-5")
    seed.press("Enter")
    page.wait_for_function("el => el.textContent.includes('seed')", arg=message.element_handle())
    assert "seed must be a whole number" in message.text_content()
    before = image.get_attribute("src")
    field(".widget-dropdown", "pattern").locator("select").select_option("geometric")
    page.wait_for_function("el => el.textContent.includes('geometric')", arg=title.element_handle())
    wait_image_changed(page, image, before, "the pattern was changed with a bad seed typed")

    # A typed colour applies on Enter; an unknown one says so.
    primary = field(".widget-text", "primary").locator("input")
    before = image.get_attribute("src")
    primary.fill("#00aa00")
    primary.press("Enter")
    wait_image_changed(page, image, before, "a colour was typed and Enter pressed")
    picker = designer.locator("input[type='color']").first
    page.wait_for_function("el => el.value === '#00aa00'", arg=picker.element_handle())
    primary.fill("blurple")
    primary.press("Enter")
    page.wait_for_function("el => el.textContent.includes('blurple')", arg=message.element_handle())
    assert "primary colour" in message.text_content()
    designer.scroll_into_view_if_needed()
    screenshot(page, "lab-06-designer-messages", full_page=False)
    assert page.js_errors == []
