// onshi — a little progressive enhancement; every page works without it.
(function () {
  "use strict";
  // demo card chips fill the card serial field (the stand-in for the reader)
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-fill]");
    if (!t) return;
    var input = t.form ? t.form.elements[t.dataset.fill] : document.querySelector("[name='" + t.dataset.fill + "']");
    if (input) { input.value = t.dataset.value; input.focus(); }
  });
  // accesskeys the same in every browser: Alt+key (Firefox would want Alt+Shift); fields get the focus,
  // links and buttons are activated.  Handled here once, so the browser's own handling is not repeated.
  document.addEventListener("keydown", function (ev) {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey || !ev.key || ev.key.length !== 1) return;
    var el = document.querySelector("[accesskey='" + ev.key.toLowerCase() + "']");
    if (!el || el.offsetParent === null) return;
    ev.preventDefault();
    if (el.matches("input, select, textarea")) { el.focus(); if (el.select) el.select(); } else { el.click(); }
  });
  // Esc on the reception screen: start over with the next patient
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && location.pathname.indexOf("/reception") === 0 && !ev.target.closest("dialog")) {
      location.href = "/reception";
    }
  });
  // mailing-run progress
  var live = document.getElementById("live");
  if (live && live.dataset.progressUrl) {
    var wasRunning = false;
    var tick = function () {
      fetch(live.dataset.progressUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (runs) {
        var running = false;
        runs.forEach(function (p) {
          var el = live.querySelector("[data-run='" + p.run + "']");
          if (!el) return;
          var bar = el.querySelector("progress");
          bar.max = p.total || 1; bar.value = p.done;
          el.querySelector(".pct").textContent = p.done + "/" + p.total;
          el.querySelector(".state").textContent = { running: "実行中", done: "完了", failed: "失敗" }[p.state];
          el.querySelector(".msg").textContent = p.message;
          if (p.state === "running") running = true;
        });
        if (running) { wasRunning = true; setTimeout(tick, 1000); }
        else if (wasRunning) { location.reload(); }  // the run ended: show its record (完了, documents) in the history
      }).catch(function () {});
    };
    if (live.querySelector("[data-run]")) tick();
  }
})();
