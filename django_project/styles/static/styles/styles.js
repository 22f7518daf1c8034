// Style studio: poll a training style's status; save variations to the gallery without a reload.
(function () {
  const training = document.querySelector("[data-status-url]");
  if (training) {
    const bar = training.querySelector("[data-progress-bar]");
    const text = training.querySelector("[data-status-text]");
    const badge = document.querySelector("[data-status-badge]");
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
          // The badge follows the job, as the progress bar does (not "Queued" at 78 %).
          badge.dataset.status = data.status;
          badge.textContent = data.label;
          if (data.status === "running") text.textContent = "Training the style model…";
        }
      } catch (err) {
        // The server may be restarting: try again on the next tick.
      }
      window.setTimeout(poll, 1500);
    };
    window.setTimeout(poll, 1000);
  }

  document.querySelectorAll("[data-save-form]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button");
      const message = form.querySelector("[data-save-message]");
      button.disabled = true;
      const result = await window.courseSite.postJSON(form.action, new FormData(form));
      message.replaceChildren();
      if (result.ok && result.data.success) {
        const link = document.createElement("a");
        link.href = result.data.gallery_url;
        link.textContent = "saved to the gallery";
        message.append(link);
        message.className = "small text-success";
      } else {
        message.textContent = result.data.error || "Could not save it.";
        message.className = "small text-danger";
        button.disabled = false;
      }
    });
  });
})();
