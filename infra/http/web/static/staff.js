// councilcrm staff web: reloads each live part of the page ([data-live="URL"]) when the server
// says the data changed (server-sent events from /staff/live). Without script, the pages work
// as they are; a reload shows the news.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  if (!parts.length || !window.EventSource || !window.fetch) { return; }
  var status = document.querySelector("[data-live-status]");
  var busy = false, again = false;

  function say(text) { if (status) { status.textContent = text; } }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    var loads = Array.prototype.map.call(parts, function (part) {
      return fetch(part.getAttribute("data-live"), { credentials: "same-origin",
                                                     headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.text();
        })
        .then(function (html) {
          if (part.contains(document.activeElement) && document.activeElement !== document.body) { return; }
          part.innerHTML = html;
        });
    });
    Promise.all(loads).then(function () {
      say("Updated " + new Date().toLocaleTimeString());
      document.documentElement.setAttribute("data-live-updated", String(Date.now()));
    }).catch(function () {
      say("Could not update just now; the page will try again.");
    }).then(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }

  var mark = document.body.getAttribute("data-mark");
  var events = new EventSource("/staff/live" + (mark ? "?since=" + encodeURIComponent(mark) : ""));
  events.addEventListener("ready", function () {
    document.documentElement.setAttribute("data-live-ready", "true");
  });
  events.addEventListener("change", refresh);
  events.onerror = function () { say("Live updates paused; reconnecting…"); };
  window.addEventListener("pagehide", function () { events.close(); });
})();
