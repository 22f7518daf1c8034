// "Show 8 candidates" on /create/: eight previews (GET /generate/<METHOD>.png, each with its own
// seed and the form's current settings) to choose from. Choosing one puts its method, settings
// and seed into the create form and tells the form (a "change" on its seed input), whose live
// preview then shows it: what Generate posts is exactly the chosen candidate.
(function () {
  "use strict";

  const box = document.querySelector("[data-candidates]");
  const form = document.getElementById("create-form");
  if (!box || !form) return;

  const COUNT = 8;
  const grid = box.querySelector("[data-candidate-grid]");
  const status = box.querySelector("[data-candidates-status]");
  const showButton = box.querySelector("[data-show-candidates]");
  // The form's fields that shape an image; "digit" only where the form has a digit choice.
  const SETTINGS = ["method", "creativity", "digit"];
  const field = (name) => form.elements.namedItem(name);
  let round = 0;  // a second click replaces the grid: answers of an older round are dropped

  const settings = () => {
    const values = {};
    SETTINGS.forEach((name) => {
      const input = field(name);
      if (input && input.value !== "") values[name] = input.value;
    });
    return values;
  };

  const imageUrl = (values, seed) => {
    const query = new URLSearchParams({ seed: String(seed) });
    Object.entries(values).forEach(([name, value]) => { if (name !== "method") query.set(name, value); });
    return `${box.dataset.previewUrl.replace("METHOD", encodeURIComponent(values.method))}?${query}`;
  };

  const choose = (button, values) => {
    grid.querySelectorAll("[data-seed]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    const changed = [];
    Object.entries(values).forEach(([name, value]) => {
      const input = field(name);
      if (input && input.value !== value) { input.value = value; changed.push(input); }
    });
    field("seed").value = button.dataset.seed;
    changed.forEach((input) => input.dispatchEvent(new Event(input.type === "range" ? "input" : "change", { bubbles: true })));
    field("seed").dispatchEvent(new Event("change", { bubbles: true }));
    status.textContent = `Seed ${button.dataset.seed} is the preview now; press Generate to keep it.`;
    // On a phone the form (preview and Generate) sits above the candidates: bring it into view.
    const preview = document.getElementById("preview");
    const { top, bottom } = preview.getBoundingClientRect();
    if (top < 0 || bottom > window.innerHeight) preview.scrollIntoView({ block: "center" });
  };

  const addCandidate = async (values, seed, id) => {
    const col = document.createElement("div");
    col.className = "col";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "candidate w-100 text-center";
    button.dataset.seed = String(seed);
    button.setAttribute("aria-pressed", "false");
    const img = document.createElement("img");
    img.className = "pixelated bg-black rounded";
    img.width = 84;
    img.height = 84;
    img.alt = "";
    const label = document.createElement("span");
    label.className = "d-block small text-secondary";
    label.innerHTML = `<span class="visually-hidden">Keep </span>seed <span class="text-nowrap">${seed}</span>`;
    button.append(img, label);
    button.addEventListener("click", () => choose(button, values));
    col.append(button);
    grid.append(col);
    const response = await fetch(imageUrl(values, seed));
    if (id !== round) return true;
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      col.remove();
      throw new Error(data.error || `The server answered ${response.status}.`);
    }
    img.src = URL.createObjectURL(await response.blob());
    await img.decode().catch(() => {});
    return true;
  };

  showButton.addEventListener("click", async () => {
    const id = ++round;
    const values = settings();
    grid.querySelectorAll("img").forEach((img) => { if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src); });
    grid.replaceChildren();
    box.setAttribute("aria-busy", "true");
    showButton.disabled = true;
    status.textContent = `Drawing ${COUNT} candidates…`;
    const seeds = new Set();
    while (seeds.size < COUNT) seeds.add(Math.floor(Math.random() * 2 ** 32));
    const results = await Promise.allSettled(Array.from(seeds, (seed) => addCandidate(values, seed, id)));
    if (id !== round) return;
    box.removeAttribute("aria-busy");
    showButton.disabled = false;
    const failed = results.find((result) => result.status === "rejected");
    status.textContent = failed
      ? String(failed.reason.message || failed.reason)
      : `${COUNT} candidates from the ${values.method} at creativity ${Number(values.creativity).toFixed(1)}. Click one to keep it.`;
  });
})();
