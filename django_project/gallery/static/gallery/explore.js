// Explore page: fit the latent map to a phone, and say that a first t-SNE map takes a while.
(function () {
  "use strict";

  // On a narrow screen the legend would take half the width and squeeze the plot to a strip,
  // and plotly's toolbar would sit on the title: put the legend under the map, wrap the title
  // below the toolbar, and give the plot the height it lost. Wider again, the original returns.
  const plot = document.getElementById("latent-scatter");
  if (plot && window.Plotly && plot.layout) {
    const phone = window.matchMedia("(max-width: 575.98px)");
    const copy = (value) => JSON.parse(JSON.stringify(value ?? {}));
    const wide = {
      legend: copy(plot.layout.legend),
      margin: copy(plot.layout.margin),
      title: copy(plot.layout.title),
      height: plot.layout.height,
    };
    const narrow = {
      // Five digits a row under the x axis, in the bottom margin kept free for it.
      legend: {
        ...wide.legend,
        title: { ...(wide.legend.title || {}), side: "top" },
        orientation: "h",
        entrywidth: 0.2,
        entrywidthmode: "fraction",
        x: 0,
        xanchor: "left",
        y: 0,
        yanchor: "bottom",
        yref: "container",
      },
      margin: { l: 44, r: 8, t: 100, b: 150 },
      title: {
        ...wide.title,
        text: (wide.title.text || "").replace(" (", "<br>("),
        font: { size: 14 },
        x: 0,
        xanchor: "left",
        xref: "container",
        y: 1,
        yanchor: "top",
        yref: "container",
        pad: { t: 48, l: 8 },
      },
      height: 700,
    };
    // plotly's HTML sizes a wrapper div (the plot fills it): that box must grow with the figure.
    const box = plot.parentElement;
    const wideHeight = box.style.height;
    const fit = () => {
      box.style.height = phone.matches ? `${narrow.height}px` : wideHeight;
      window.Plotly.relayout(plot, phone.matches ? narrow : wide);
    };
    if (phone.matches) fit();
    phone.addEventListener("change", fit);
  }

  // The server draws the map before it answers: a t-SNE map takes a while the first time (it
  // is kept for later visits), so say so while the browser waits.
  const form = document.getElementById("projection-form");
  if (form) {
    const spinner = form.querySelector("[data-map-spinner]");
    const button = form.querySelector("button[type=submit]");
    const status = document.querySelector("[data-map-status]");
    const waiting = (busy, text) => {
      spinner.classList.toggle("d-none", !busy);
      button.disabled = busy;
      status.textContent = text;
    };
    form.addEventListener("submit", () => {
      waiting(true, form.elements.method.value === "tsne"
        ? "Drawing the t-SNE map… the first one takes a while; later visits reuse it."
        : "Drawing the PCA map…");
    });
    // Back to this page from the browser's cache: it is not waiting for anything any more.
    window.addEventListener("pageshow", (event) => { if (event.persisted) waiting(false, ""); });
  }
})();
