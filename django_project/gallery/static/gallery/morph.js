// The morph show on /interpolate/<a>/<b>/: one frame large, play/pause, a scrub slider, and the
// strip's frames as buttons. Playing runs there and back (a loop without a jump) and stops when
// the learner scrubs or picks a frame, so the hand always wins over the timer.
(function () {
  "use strict";

  const player = document.querySelector("[data-morph-player]");
  const strip = document.getElementById("strip");
  if (!player || !strip) return;

  const FRAME_MS = 150;
  const stage = player.querySelector("[data-morph-stage]");
  const play = player.querySelector("[data-morph-play]");
  const scrub = player.querySelector("[data-morph-scrub]");
  const position = player.querySelector("[data-morph-position]");
  const frames = Array.from(strip.querySelectorAll("[data-frame]"));
  const last = frames.length - 1;
  let current = 0;
  let direction = 1;
  let timer = null;

  const show = (index) => {
    current = Math.max(0, Math.min(last, index));
    const image = frames[current].querySelector("img");
    stage.src = image.src;
    stage.alt = image.alt;
    scrub.value = String(current);
    position.textContent = `step ${current + 1} of ${frames.length}`;
    frames.forEach((frame, i) => {
      if (i === current) frame.setAttribute("aria-current", "step");
      else frame.removeAttribute("aria-current");
    });
  };

  const stop = () => {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
    play.textContent = "Play";
    player.removeAttribute("data-playing");
  };

  const start = () => {
    if (last < 1) return;
    timer = window.setInterval(() => {
      if (current + direction > last || current + direction < 0) direction = -direction;
      show(current + direction);
    }, FRAME_MS);
    play.textContent = "Pause";
    player.setAttribute("data-playing", "");
  };

  play.addEventListener("click", () => (timer === null ? start() : stop()));
  scrub.addEventListener("input", () => { stop(); show(Number(scrub.value)); });
  frames.forEach((frame, i) => frame.addEventListener("click", () => { stop(); show(i); }));
  show(0);
})();
