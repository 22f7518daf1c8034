// Model workshop: draw loss curves as inline SVG; follow a training's status until it ends.
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#0d6efd", "#d63384", "#198754", "#fd7e14"];
  const W = 320, H = 140, LEFT = 44, RIGHT = 8, TOP = 18, BOTTOM = 22;

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attrs).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmt(value) {
    return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
  }

  // One line per key of the per-epoch history (the lesson's training_history), shared scales.
  function drawChart(svg, history, keys) {
    svg.replaceChildren();
    const rows = (history || []).filter((row) => keys.some((key) => Number.isFinite(row[key])));
    if (!rows.length) return;
    const values = rows.flatMap((row) => keys.map((key) => row[key]).filter(Number.isFinite));
    let low = Math.min(...values), high = Math.max(...values);
    if (high - low < 1e-9) { low -= 1; high += 1; }
    const last = rows.length > 1 ? rows.length - 1 : 1;
    const x = (i) => LEFT + (i / last) * (W - LEFT - RIGHT);
    const y = (v) => TOP + (1 - (v - low) / (high - low)) * (H - TOP - BOTTOM);
    svg.append(el("line", { x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM, class: "axis" }));
    svg.append(el("line", { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, class: "axis" }));
    svg.append(el("text", { x: LEFT - 4, y: TOP + 4, "text-anchor": "end" }, fmt(high)));
    svg.append(el("text", { x: LEFT - 4, y: H - BOTTOM, "text-anchor": "end" }, fmt(low)));
    svg.append(el("text", { x: LEFT, y: H - 6 }, `epoch ${rows[0].epoch ?? 1}`));
    svg.append(el("text", { x: W - RIGHT, y: H - 6, "text-anchor": "end" }, `epoch ${rows[rows.length - 1].epoch ?? rows.length}`));
    keys.forEach((key, k) => {
      const colour = COLOURS[k % COLOURS.length];
      const points = rows.map((row, i) => [x(i), y(row[key])]).filter((p) => Number.isFinite(p[1]));
      if (points.length === 1) {
        svg.append(el("circle", { cx: points[0][0], cy: points[0][1], r: 3, fill: colour }));
      } else {
        svg.append(el("polyline", { points: points.map((p) => p.join(",")).join(" "), stroke: colour, class: "curve" }));
      }
      svg.append(el("text", { x: W - RIGHT - 70 * (keys.length - 1 - k), y: 11, "text-anchor": "end", style: `fill: ${colour}` }, key));
    });
  }

  document.querySelectorAll("[data-loss-chart]").forEach((svg) => {
    const data = document.getElementById(svg.dataset.historyId);
    if (data) drawChart(svg, JSON.parse(data.textContent), svg.dataset.keys.split(","));
  });

  const training = document.querySelector("[data-status-url]");
  if (!training) return;
  const bar = training.querySelector("[data-progress-bar]");
  const text = training.querySelector("[data-status-text]");
  const chart = training.querySelector("[data-live-chart]");
  const caption = training.querySelector("[data-live-caption]");
  const keys = training.dataset.keys.split(",");
  const poll = async () => {
    try {
      const response = await fetch(training.dataset.statusUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const data = await response.json();
        if (data.status === "done" || data.status === "failed") {
          window.location.reload();
          return;
        }
        const percent = Math.round(100 * data.progress);
        bar.style.width = percent + "%";
        bar.textContent = percent + "%";
        bar.parentElement.setAttribute("aria-valuenow", percent);
        const epochs = data.training_history.length;
        if (data.status === "running") {
          document.querySelectorAll("[data-status-badge]").forEach((badge) => {
            badge.textContent = "Training";
            badge.classList.replace("text-bg-secondary", "text-bg-primary");
          });
          text.textContent = epochs ? `Training: epoch ${epochs} of ${training.dataset.epochs} done.` : "Training…";
        }
        if (epochs) {
          drawChart(chart, data.training_history, keys);
          const lastRow = data.training_history[epochs - 1];
          caption.textContent = "Loss per epoch so far: " + keys.map((key) => `${key} ${fmt(lastRow[key])}`).join(", ");
        }
      }
    } catch (err) {
      // The server may be restarting: try again on the next tick.
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 500);
})();
