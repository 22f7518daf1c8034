// The gallery's pages: like buttons, "pick two to morph", and creating artworks without a reload.
(function () {
  "use strict";

  // --- like buttons (index): POST with the CSRF header, show the count the server returns ---
  // One like per visitor: once the server has it (now, or from another tab), the button stays
  // pressed and off. Only a failed request turns it back on, to try again.
  document.querySelectorAll("[data-like-url]").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const result = await window.courseSite
        .postJSON(button.dataset.likeUrl, new FormData())
        .catch((err) => ({ ok: false, status: 0, data: { error: "The server could not be reached: " + err } }));
      if (result.ok && result.data.success) {
        button.querySelector("[data-likes]").textContent = result.data.likes;
        button.setAttribute("aria-pressed", "true");
      } else {
        button.disabled = false;
        button.title = result.data.error || "Could not like this artwork (" + result.status + ").";
      }
    });
  });

  // --- pick two artworks of the same method, then go to their interpolation strip ---
  const pickBar = document.getElementById("pick-bar");
  if (pickBar) {
    const go = pickBar.querySelector("[data-pick-go]");
    const status = pickBar.querySelector("[data-pick-status]");
    const boxes = Array.from(document.querySelectorAll("[data-pick]"));
    const picked = () => boxes.filter((box) => box.checked);
    const update = () => {
      const chosen = picked();
      const sameMethod = chosen.length === 2 && chosen[0].dataset.method === chosen[1].dataset.method;
      go.disabled = !sameMethod;
      if (chosen.length === 2 && !sameMethod) {
        status.textContent = "These two come from different models; pick two of the same method.";
      } else {
        status.textContent = `Picked ${chosen.length} of 2 (same method) to morph one into the other.`;
      }
      boxes.forEach((box) => { box.disabled = chosen.length >= 2 && !box.checked; });
    };
    boxes.forEach((box) => box.addEventListener("change", update));
    go.addEventListener("click", () => {
      const [first, second] = picked();
      const query = new URLSearchParams({ first: first.value, second: second.value });
      window.location.href = `${pickBar.dataset.pickUrl}?${query}`;
    });
  }

  // --- create page: live slider value, POST the form, show the new artwork in place ---
  const form = document.getElementById("create-form");
  if (form) {
    const slider = form.querySelector("input[name=creativity]");
    const output = document.getElementById("creativity-value");
    const showValue = () => { output.textContent = Number(slider.value).toFixed(1); };
    slider.addEventListener("input", showValue);
    showValue();

    // Live preview: GET /generate/<METHOD>.png with the form's creativity and a seed; the same
    // seed goes with the POST, so "Generate" keeps exactly the image shown.
    const preview = document.getElementById("preview");
    const previewBox = form.querySelector("[data-preview]");
    const previewError = form.querySelector("[data-preview-error]");
    const previewSpinner = form.querySelector("[data-preview-spinner]");
    const seedInput = form.querySelector("input[name=seed]");
    const methodInput = form.querySelector("select[name=method]");
    const modelInput = form.querySelector("select[name=model]");
    const digitInput = form.querySelector("select[name=digit]");
    const conditional = (form.dataset.conditionalMethods || "").split(" ");
    const newSeed = () => { seedInput.value = String(Math.floor(Math.random() * 2 ** 32)); };
    // Offer only the chosen method's models, and the digit choice only where a model can
    // draw a chosen digit (a disabled select is not sent: "any digit").
    const syncChoices = () => {
      const method = methodInput.value;
      Array.from(modelInput.options).forEach((option) => {
        const other = option.dataset.method && option.dataset.method !== method;
        option.hidden = other;
        option.disabled = other;
        if (other && option.selected) modelInput.value = "";
      });
      const canChoose = conditional.includes(method);
      digitInput.disabled = !canChoose;
      if (!canChoose) digitInput.value = "";
    };
    syncChoices();
    let latestPreview = 0;  // slider moves fire many requests: show only the newest answer
    const showPreview = async () => {
      const id = ++latestPreview;
      const url = previewBox.dataset.previewUrl.replace("METHOD", encodeURIComponent(methodInput.value));
      const query = new URLSearchParams({ creativity: slider.value, seed: seedInput.value });
      if (modelInput.value) query.set("model", modelInput.value);
      if (!digitInput.disabled && digitInput.value) query.set("digit", digitInput.value);
      previewSpinner.classList.remove("d-none");
      previewBox.setAttribute("aria-busy", "true");
      try {
        const response = await fetch(`${url}?${query}`);
        if (id !== latestPreview) return;
        if (!response.ok) {
          const data = await response.json().catch(() => ({}));
          previewError.textContent = data.error || `The server answered ${response.status}.`;
          return;
        }
        const blob = await response.blob();
        if (id !== latestPreview) return;
        const old = preview.src;
        preview.src = URL.createObjectURL(blob);
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        await preview.decode().catch(() => {});  // the spinner stays until the image is shown
        previewError.textContent = "";
      } catch (err) {
        previewError.textContent = "The server could not be reached: " + err;
      } finally {
        if (id === latestPreview) {
          previewSpinner.classList.add("d-none");
          previewBox.removeAttribute("aria-busy");
        }
      }
    };
    slider.addEventListener("input", showPreview);
    methodInput.addEventListener("change", () => { syncChoices(); showPreview(); });
    modelInput.addEventListener("change", showPreview);
    digitInput.addEventListener("change", showPreview);
    seedInput.addEventListener("change", showPreview);  // a seed chosen elsewhere (candidates)
    form.querySelector("[data-new-seed]").addEventListener("click", () => { newSeed(); showPreview(); });
    newSeed();
    showPreview();

    const created = document.getElementById("created");
    const formError = form.querySelector("[data-form-error]");
    const spinner = form.querySelector("[data-spinner]");
    const submit = form.querySelector("button[type=submit]");

    const clearErrors = () => {
      form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
      formError.classList.add("d-none");
      formError.textContent = "";
    };
    const showErrors = (data, status) => {
      const errors = data.errors || {};
      Object.entries(errors).forEach(([field, messages]) => {
        const slot = form.querySelector(`[data-error-for="${field}"]`);
        if (slot) { slot.textContent = messages.join(" "); } else { formError.textContent += messages.join(" "); }
      });
      if (data.error) formError.textContent = data.error;
      if (!Object.keys(errors).length && !data.error) formError.textContent = `The server answered ${status}.`;
      if (formError.textContent) formError.classList.remove("d-none");
    };
    const addCard = (data) => {
      const col = document.createElement("div");
      col.className = "col";
      const card = document.createElement("article");
      card.className = "card art-card just-created h-100";
      card.id = `artwork-${data.artwork_id}`;
      const img = document.createElement("img");
      img.className = "card-img-top pixelated bg-black";
      img.src = data.image_url;
      img.width = 224;
      img.height = 224;
      img.alt = data.title;
      const body = document.createElement("div");
      body.className = "card-body p-2";
      const title = document.createElement("div");
      title.className = "small text-truncate";
      title.title = data.title;
      title.textContent = data.title;
      const badge = document.createElement("span");
      badge.className = `badge method-badge method-${data.method.toLowerCase()}`;
      badge.title = data.method_label;
      badge.textContent = data.method;
      body.append(title, badge);
      card.append(img, body);
      col.append(card);
      created.prepend(col);
      const empty = document.querySelector("[data-created-empty]");
      if (empty) empty.classList.add("d-none");
    };

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors();
      submit.disabled = true;
      spinner.classList.remove("d-none");
      try {
        const result = await window.courseSite.postJSON(form.action, new FormData(form));
        if (result.ok && result.data.success) {
          addCard(result.data);
          newSeed();  // the kept image is in the list; show the next one
          showPreview();
        } else {
          showErrors(result.data, result.status);
        }
      } catch (err) {
        showErrors({ error: "The server could not be reached: " + err }, 0);
      } finally {
        submit.disabled = false;
        spinner.classList.add("d-none");
      }
    });
  }
})();
