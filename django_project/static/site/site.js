// Shared helpers for the gallery's pages: POST with Django's CSRF token, read JSON back.
window.courseSite = {
  csrfToken() {
    const input = document.querySelector("[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  },
  async postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": this.csrfToken(), "Accept": "application/json" },
      credentials: "same-origin",
    });
    let data = {};
    try { data = await response.json(); } catch (err) { data = { error: "The server sent no JSON." }; }
    return { ok: response.ok, status: response.status, data: data };
  },
};
