// panic-gateway console: the live board and its countdowns. Hand-written rather than htmx's SSE
// extension: twenty lines that need no second vendored package, and the refresh goes through
// htmx.ajax so the swapped board is processed like any htmx response.
(function () {
  "use strict";
  // Server time minus browser time, from the board's data-now, so countdowns follow the
  // gateway's clock. The thresholds repeat src/domain/countdown.rs, which is the authority.
  var offset = 0;
  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    s = s % 60;
    if (h > 0) return h + "h " + (m < 10 ? "0" : "") + m + "m";
    if (m > 0) return m + "m " + (s < 10 ? "0" : "") + s + "s";
    return s + "s";
  }
  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = +el.dataset.due, left = due - now;
      el.textContent = left < 0 ? span(-left) + " late" : "in " + span(left);
      if (el.dataset.start) {
        var total = Math.max(1, due - el.dataset.start);
        el.classList.remove("risk-ok", "risk-warn", "risk-late");
        el.classList.add(left <= 0 ? "risk-late" : left * 4 <= total ? "risk-warn" : "risk-ok");
      }
    });
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = span(now - el.dataset.since);
    });
  }
  function synced() {
    var live = document.querySelector("[data-now]");
    if (live) offset = +live.dataset.now - Date.now();
    // Times are rendered in UTC; each also shows in the viewer's own zone.
    document.querySelectorAll("time[datetime] .local").forEach(function (el) {
      var at = new Date(el.parentNode.getAttribute("datetime"));
      el.textContent = at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) + " · ";
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    synced();
    setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSwap", synced);
    // Every live part of a page (the board, an incident) names its own fragment URL.
    if (!document.querySelector("[data-live]") || !window.EventSource) return;
    var events = new EventSource("/console/events");
    events.addEventListener("board", function () {
      document.querySelectorAll("[data-live]").forEach(function (el) {
        htmx.ajax("GET", el.dataset.live, { target: "#" + el.id, swap: "outerHTML" });
      });
    });
  });
})();
