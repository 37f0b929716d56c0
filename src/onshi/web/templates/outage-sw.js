// The outage page's service worker (docs/outage.md, "Offline start"): served by onshi from
// /reception/outage/sw.js with the scope /reception/outage, so that the recording page opens when the server cannot
// be reached, after one earlier visit of the page in this browser.
//
// * Install: cache the page's static assets and its offline form (/reception/outage/offline: the recording form and
//   the browser's queue, no patient's data) in a cache named by the version of this script and the assets.
// * The page itself is asked of the network first; when the network fails (or a proxy answers 502-504, or onshi
//   503 with its database down) the cached offline form is shown instead.  Each page shown online refreshes the
//   cached form (its CSRF token is the session's: the queue syncs with it when the server is back).
// * Activate: every older onshi-outage-* cache is deleted; the open pages are taken over at once.
// The queue itself is /static/outage.js's (localStorage): records typed offline are sent when the server answers.
"use strict";
const VERSION = "__VERSION__";
const CACHE = "onshi-outage-" + VERSION;
const PAGE = "/reception/outage";
const SHELL = "/reception/outage/offline";
const ASSETS = __ASSETS__;

function unreachable(resp) {
  return resp.status === 502 || resp.status === 503 || resp.status === 504;
}

function keepShell() {
  return fetch(SHELL, {credentials: "same-origin", cache: "no-store"}).then(function (resp) {
    if (resp.ok && !resp.redirected) {
      return caches.open(CACHE).then(function (cache) { return cache.put(SHELL, resp); });
    }
    return undefined;
  }).catch(function () { return undefined; });
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE)
    .then(function (cache) { return cache.addAll(ASSETS); })
    .then(keepShell)
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("onshi-outage-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function fromCache(key) {
  return caches.open(CACHE).then(function (cache) { return cache.match(key); }).then(function (resp) {
    return resp || Response.error();
  });
}

self.addEventListener("fetch", function (event) {
  const req = event.request;
  if (req.method !== "GET") { return; }  // the queue's sync and the forms go to the server, always
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (req.mode === "navigate" && (url.pathname === PAGE || url.pathname === SHELL)) {
    event.respondWith(fetch(req).then(function (resp) {
      if (unreachable(resp)) { throw new Error("onshi answered " + resp.status); }
      if (resp.ok && !resp.redirected && url.pathname === PAGE) { event.waitUntil(keepShell()); }
      return resp;
    }).catch(function () { return fromCache(SHELL); }));
    return;
  }
  if (ASSETS.indexOf(url.pathname) >= 0) {
    event.respondWith(fetch(req).then(function (resp) {
      if (unreachable(resp)) { throw new Error("onshi answered " + resp.status); }
      if (resp.ok) {
        const copy = resp.clone();
        event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.put(url.pathname, copy); }));
      }
      return resp;
    }).catch(function () { return fromCache(url.pathname); }));
  }
});
