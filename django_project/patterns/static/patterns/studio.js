// Pattern studio: redraw the 150x150 preview shortly after the recipe changes.
(function () {
  const form = document.getElementById("pattern-form");
  if (!form) return;

  const image = document.getElementById("preview-image");
  const spinner = document.getElementById("preview-spinner");
  const message = document.getElementById("preview-message");
  const shuffle = document.getElementById("preview-shuffle");
  const previewFields = ["pattern_type", "primary_color", "secondary_color"];
  const DEBOUNCE_MS = 250;

  // One seed per visit keeps random patterns steady while colours change; Shuffle picks anew.
  const newSeed = () => Math.floor(Math.random() * 2 ** 31);
  let seed = newSeed();
  let timer = null;
  let latest = 0; // only the newest request may update the preview

  function showMessage(text, isError) {
    message.textContent = text;
    message.classList.toggle("text-danger", Boolean(isError));
    message.classList.toggle("text-secondary", !isError);
  }

  function errorText(data, status) {
    if (data.errors) {
      return Object.values(data.errors).flat().join(" ");
    }
    if (status === 403) return "Your session expired: reload the page to keep previewing.";
    return data.error || `The preview failed (HTTP ${status}).`;
  }

  async function refresh() {
    const request = ++latest;
    const body = new FormData();
    previewFields.forEach((name) => body.append(name, form.elements[name].value));
    body.append("seed", seed);
    spinner.classList.remove("d-none");
    try {
      const { ok, status, data } = await window.courseSite.postJSON(form.dataset.previewUrl, body);
      if (request !== latest) return;
      if (ok && data.success) {
        image.src = data.image_data;
        image.classList.remove("d-none");
        showMessage("Preview at 150×150; the stored image uses your width and height.", false);
      } else {
        showMessage(errorText(data, status), true);
      }
    } catch (err) {
      if (request === latest) showMessage("Could not reach the server for a preview.", true);
    } finally {
      if (request === latest) spinner.classList.add("d-none");
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }

  form.addEventListener("input", (event) => {
    if (previewFields.includes(event.target.name)) schedule();
  });
  form.addEventListener("change", (event) => {
    if (previewFields.includes(event.target.name)) schedule();
  });
  shuffle.addEventListener("click", () => {
    seed = newSeed();
    schedule();
  });
  refresh();
})();
