// 一括処理の状況: while a run is running, refresh its row from /office/batch/progress.json every 2 s (no reload, so
// the operator keeps the filter and scroll position); when nothing runs any more, the page reloads once to show the
// final state with its links.
(function () {
  "use strict";
  const table = document.querySelector("[data-testid=batch-runs][data-live]");
  if (!table) return;
  const rows = new Map(Array.from(table.querySelectorAll("tr[data-run]")).map((tr) => [tr.dataset.run, tr]));
  const set = (tr, field, text) => { const el = tr.querySelector(`[data-field=${field}]`); if (el) el.textContent = text; };
  async function tick() {
    let runs;
    try {
      const res = await fetch("/office/batch/progress.json", { credentials: "same-origin", cache: "no-store" });
      if (!res.ok) return setTimeout(tick, 5000);
      runs = await res.json();
    } catch (e) {
      return setTimeout(tick, 5000);  // the server is restarting: try again
    }
    let running = false;
    for (const r of runs) {
      const tr = rows.get(r.run_key);
      if (!tr) continue;
      set(tr, "state", r.state_label);
      set(tr, "progress", `${r.done} / ${r.units}`);
      set(tr, "items", r.count.toLocaleString("ja-JP"));
      const bar = tr.querySelector("[data-field=bar]");
      if (bar) { bar.max = r.units || 1; bar.value = r.done; }
      if (r.state === "running") running = true;
    }
    if (running) setTimeout(tick, 2000); else window.location.reload();
  }
  setTimeout(tick, 2000);
})();
