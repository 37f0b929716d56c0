// The outage page (/reception/outage): records are kept in this browser (localStorage) and sent when the server
// answers — typed while the network is down, they are not lost (docs/outage.md).  A record carries its own id
// (record_key), so a sync retried after a lost answer records it once.
(function () {
  "use strict";
  var root = document.getElementById("outage");
  var form = document.getElementById("outage-form");
  if (!root || !form) { return; }
  var KEY = "onshi.outage.queue";
  var statusEl = root.querySelector("[data-testid=outage-status]");
  var pendingEl = root.querySelector("[data-testid=outage-pending]");
  var listEl = root.querySelector("[data-testid=outage-queue]");
  var FIELDS = ["care_date", "sex", "name", "name_kana", "birth_date", "address", "insurer_number", "symbol",
                "number", "branch"];
  var busy = false;
  var editing = null;  // the id of a refused record taken back into the form

  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(queue) { window.localStorage.setItem(KEY, JSON.stringify(queue)); show(queue); }
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function show(queue) {
    pendingEl.textContent = "未送信 " + queue.length + "件";
    pendingEl.className = queue.length ? "pill ng" : "pill ok";
    listEl.textContent = "";
    queue.forEach(function (r) {
      var li = document.createElement("li");
      li.textContent = r.care_date + " " + r.name + "（" + r.name_kana + "）" +
        (r.errors ? " — 要修正: " + r.errors.join(" / ") + " " : " — 未送信");
      if (r.errors) {  // back into the form to be corrected; recorded again under the same id
        var fix = document.createElement("button");
        fix.type = "button";
        fix.textContent = "修正する";
        fix.addEventListener("click", function () {
          FIELDS.forEach(function (f) { if (form.elements[f]) { form.elements[f].value = r[f] || ""; } });
          editing = r.record_key;
          save(load().filter(function (q) { return q.record_key !== r.record_key; }));
          form.elements.name.focus();
        });
        li.appendChild(fix);
      }
      listEl.appendChild(li);
    });
  }
  function say(text) { statusEl.textContent = text; }

  function sync() {
    var queue = load();
    if (busy || !queue.length) { show(queue); return; }
    var sending = queue.filter(function (r) { return !r.errors; });
    if (!sending.length) { show(queue); return; }
    busy = true;
    var token = form.querySelector("input[name=csrf_token]").value;
    fetch(root.getAttribute("data-sync"), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify({records: sending.map(function (r) {
        var out = {}; FIELDS.concat(["record_key"]).forEach(function (f) { out[f] = r[f]; }); return out; })})
    }).then(function (resp) {
      if (!resp.ok || (resp.headers.get("content-type") || "").indexOf("json") < 0) {
        throw new Error("status " + resp.status);
      }
      return resp.json();
    }).then(function (answer) {
      var byKey = {};
      answer.results.forEach(function (r) { byKey[r.record_key] = r; });
      var left = load().filter(function (r) {
        var a = byKey[r.record_key];
        if (!a) { return true; }
        if (a.errors) { r.errors = a.errors; return true; }
        return false;
      });
      save(left);
      say("サーバーに送信しました（新規 " + answer.added + "件）");
    }).catch(function () {
      say("サーバーにつながりません。この端末に保存しました（復旧すると自動で送信します）");
    }).then(function () { busy = false; show(load()); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var r = {record_key: editing || newKey()};
    editing = null;
    FIELDS.forEach(function (f) { var el = form.elements[f]; r[f] = el ? el.value.trim() : ""; });
    var queue = load();
    queue.push(r);
    save(queue);
    say("この端末に保存しました");
    ["name", "name_kana", "birth_date", "address", "insurer_number", "symbol", "number", "branch"].forEach(
      function (f) { form.elements[f].value = ""; });
    form.elements.sex.value = "";
    form.elements.name.focus();
    sync();
  });
  if (root.querySelector("[data-testid=outage-offline]")) {  // the form kept for offline start, perhaps days old
    var d = new Date(), today = d.getFullYear() + "-" + ("0" + (d.getMonth() + 1)).slice(-2) + "-" +
      ("0" + d.getDate()).slice(-2);
    if (form.elements.care_date.value < today) { form.elements.care_date.value = today; }
  }
  // offline start: the page's service worker keeps this form for when the server cannot be reached
  if (window.isSecureContext && "serviceWorker" in navigator && root.getAttribute("data-sw")) {
    navigator.serviceWorker.register(root.getAttribute("data-sw"), {scope: root.getAttribute("data-sw-scope")})
      .catch(function () { /* no offline start in this browser; the queue works as before */ });
  }
  window.addEventListener("online", sync);
  window.setInterval(sync, 5000);
  show(load());
  sync();
}());
