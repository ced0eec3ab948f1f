// Clientside pieces of the wall: they keep running even when the server cannot be reached.

// The wall's own update requests in flight (the refresh and the local copy both write the wall's key).
// Counted at the fetch, not through Dash's callback graph: a clientside callback that waited on the
// refresh's outputs while the refresh waited on its output could hold both back.
var STUCK_MS = 120000;  // a request this old no longer holds the ticks back
var wallRequests = { pending: 0, since: 0 };
var wallClock = { seen: null, offset: 0 };  // the server's time less the PC's, in ms
// Mends, at every refresh tick and after each rotation, what an earlier fit left wrong (below): on a quiet
// night no new board comes to set the fitting off again, and the wall would keep it until the next change.
var wallMend = function () {};
(function () {
  var fetch0 = window.fetch;
  if (!fetch0) { return; }
  window.fetch = function (url, options) {
    var body = options && typeof options.body === "string" ? options.body : "";
    var mine = String(url).indexOf("_dash-update-component") >= 0 && body.indexOf("wall-key.data") >= 0;
    var answer = fetch0.apply(this, arguments);
    if (!mine) { return answer; }
    wallRequests.pending += 1;
    wallRequests.since = Date.now();
    var done = function () { wallRequests.pending = Math.max(0, wallRequests.pending - 1); };
    answer.then(done, done);
    return answer;
  };
})();
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  wall: {
    // Show the next page of the rotation; pages not in the wall's URL are never shown.
    rotate: function (n, pages, ids) {
      window.setTimeout(wallMend, 1000);  // the page just shown, once it is laid out (a phone's only now)
      var wanted = (pages && pages.length) ? pages : ids.map(function (i) { return i.page; });
      var active = wanted[(n || 0) % wanted.length];
      return ids.map(function (i) { return i.page === active ? "wall-page active" : "wall-page"; });
    },
    // Asia/Shanghai wall clock, whatever the wall PC's own time zone is, on the server's time: the
    // offset from the PC's clock is taken when the server's time arrives (callbacks/wall.py, server_now).
    clock: function (n, query, server) {
      if (server && server.ms && wallClock.seen !== server.ms) {
        wallClock.seen = server.ms;
        wallClock.offset = server.ms - Date.now();
      }
      var en = /(^|&)lang=en(&|$)/.test(query || "");
      var fmt = new Intl.DateTimeFormat(en ? "en-GB" : "zh-CN", {
        timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
        weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
      });
      return fmt.format(new Date(Date.now() + wallClock.offset));
    },
    // Figures scale their type with the screen, as the CSS does: 1 at 1920x1080 CSS pixels, 2 at 3840x2160
    // at scale 1, 0.71 on a 1366x768 laptop; the server keeps it within 0.6-4 (figures.type_scale).
    scale: function () {
      return Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
    },
    // The refresh tick, passed on to the wall's server callbacks only when none of them is on its way.
    // Dash drops an answer once the same callback is asked again: a refresh slower than the tick (a
    // loaded PC or server, a whole board during an outage) was cancelled by the next tick, every time,
    // and the wall showed nothing. A tick skipped here comes again one interval later.
    pulse: function (n) {
      wallMend();
      if (wallRequests.pending > 0 && Date.now() - wallRequests.since < STUCK_MS) {
        return window.dash_clientside.no_update;
      }
      return n || 0;
    },
    // 32:9 and 48:9 walls get the one-row layout (20-wall.css, min-aspect-ratio 3/1): full-height panels.
    wide: function () {
      return window.innerWidth >= 3 * window.innerHeight;
    }
  }
});

// Animate KPI numbers that changed, so a new value catches the eye from ten metres.
(function () {
  var last = {};
  var observer = new MutationObserver(function () {
    document.querySelectorAll(".wall .kpi").forEach(function (tile, i) {
      var valueEl = tile.querySelector(".kpi-value");
      if (!valueEl) { return; }
      var key = (tile.querySelector(".kpi-label") || {}).textContent || String(i);
      var text = valueEl.textContent;
      if (last[key] !== undefined && last[key] !== text) {
        valueEl.classList.remove("changed");
        void valueEl.offsetWidth;  // restart the animation
        valueEl.classList.add("changed");
      }
      last[key] = text;
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  });
})();

// Fit each wall table to its panel. The server sends as many rows as a 16:9 panel holds, but an alert
// row or the stale-data banner takes height from every panel: a row cut in half by the panel's edge is
// worse than a row left out. Rows go from the end, or, in a ranking shown as its first and last units
// around a "⋯" row, from beside the gap, so the top and the bottom of the ranking both stay in sight.
(function () {
  function isGap(row) { return row.cells.length && row.cells[0].textContent === "⋯"; }
  // Rows left out from the end (a ranking short enough to have no gap, or a list) are counted under the
  // table, "⋯ +3" (20-wall.css), so the bottom of a ranking is never dropped without a word. The count is
  // an attribute the observers below do not watch: setting it never sets fitting off again.
  function fit(box) {
    var rows = Array.prototype.slice.call(box.querySelectorAll("tbody tr"));
    rows.forEach(function (r) { r.style.display = ""; });
    box.removeAttribute("data-hidden");
    var gap = rows.findIndex(isGap);
    var before = gap - 1, after = gap + 1, fromHead = true, last = rows.length - 1, fromEnd = 0;
    while (box.scrollHeight > box.clientHeight + 1) {
      var victim = null;
      if (gap >= 0 && (before >= 0 || after <= last)) {
        if ((fromHead && before >= 0) || after > last) { victim = rows[before--]; } else { victim = rows[after++]; }
        fromHead = !fromHead;
      } else if (last > 0 && last !== gap) {  // the first row always stays
        victim = rows[last--];
        fromEnd += 1;
        box.setAttribute("data-hidden", "+" + fromEnd);  // before measuring again: the count takes a line
      }
      if (!victim) { return; }
      victim.style.display = "none";
    }
  }
  // The alert row is one line (render.alerts): the chips that do not fit it are hidden from the end and
  // counted in its last chip, as the server counts the ones it left out. A phone's row wraps instead.
  function fitAlerts(row) {
    var chips = Array.prototype.slice.call(row.children);
    var more = chips.filter(function (c) { return c.classList.contains("more"); })[0];
    var shown = chips.filter(function (c) { return c !== more; });
    shown.forEach(function (c) { c.style.display = ""; });
    if (!more) { return; }
    var count = parseInt(more.getAttribute("data-count") || "0", 10);
    // Measured with inline styles only (not observed below); the text changes once, at the end, and only
    // when it differs, so fitting never sets itself off again.
    more.style.display = count ? "block" : "none";
    if (getComputedStyle(row).flexWrap !== "wrap") {
      while (row.scrollWidth > row.clientWidth + 1 && shown.length > 1) {
        shown.pop().style.display = "none";
        count += 1;
        more.style.display = "block";
      }
    }
    var text = (more.getAttribute("data-template") || "{n}").replace("{n}", String(count));
    if (more.textContent !== text) { more.textContent = text; }
  }
  // The title on one line (20-wall.css): a long one (an English village, "Community 003, Chengxiang
  // Jiedao · Grid Governance Situation" at 1920 px) is set smaller, to 70 % at most, before it ends in "…".
  // The size is an inline style, which the observers below do not watch.
  var TITLE_SMALLEST = 0.7;
  function fitTitle(h1) {
    h1.style.fontSize = "";
    var full = parseFloat(getComputedStyle(h1).fontSize);
    for (var scale = 0.95; h1.scrollWidth > h1.clientWidth + 1 && scale >= TITLE_SMALLEST - 1e-9; scale -= 0.05) {
      h1.style.fontSize = (full * scale).toFixed(1) + "px";
    }
  }
  var queued = false;
  // A panel's room also changes with no change inside the observed parts (the tiles' spark lines going,
  // a font finishing loading, a page laid out late): each table's own box is watched too, or rows hidden
  // in a passing squeeze stayed hidden with room for them (two of nine departments at 1366×768).
  var sized = typeof ResizeObserver === "function" ? new ResizeObserver(function () { later(); }) : null;
  var watched = typeof WeakSet === "function" ? new WeakSet() : null;
  function fitAll() {
    queued = false;
    document.querySelectorAll(".wall .wall-brand h1").forEach(fitTitle);
    document.querySelectorAll(".wall .wall-alerts").forEach(fitAlerts);
    document.querySelectorAll(".wall .wall-table").forEach(function (box) {
      if (sized && watched && !watched.has(box)) { watched.add(box); sized.observe(box); }
      fit(box);
    });
  }
  function later() {
    if (!queued) { queued = true; window.requestAnimationFrame(fitAll); }
  }
  // A figure drawn at one size and never resized to its panel: Plotly resizes a figure when its box's size
  // changes (dcc.Graph's resize detector), and a missed resize would leave it so until new data came.
  // Only a figure shown, drawn, not being drawn and not sized by its own layout is compared with its box.
  var STALE_PX = 2;
  // Axis labels left where an earlier size put them. Plotly (4.1) gives a tick label its offset along
  // the axis's normal (the "y" of an x-axis label) only when the label is first made; a later draw that
  // reuses the label (same tick, same text) moves it along the axis only. A figure first drawn at another
  // height (on a phone, the 450 px default: the labels' y was 432 in a figure 257 px high) and redrawn
  // without its ticks made afresh kept its x labels there: at 4K and on a phone, 185–406 px below its own
  // SVG, over the next panel, through every later refresh, with its frame the right size. Plotly.redraw
  // makes them afresh.
  function labelsAstray(gd) {
    var svg = gd.querySelector(".main-svg");
    if (!svg) { return false; }
    var box = svg.getBoundingClientRect();
    var labels = gd.querySelectorAll(".xtick text, .ytick text");
    for (var i = 0; i < labels.length; i++) {
      var r = labels[i].getBoundingClientRect();
      if (!(r.height > 0)) { continue; }
      if (r.top > box.bottom + r.height || r.bottom < box.top - r.height ||
          r.left > box.right + r.height || r.right < box.left - r.height) { return true; }
    }
    return false;
  }
  function resizeStaleFigures() {
    if (!window.Plotly || !window.Plotly.Plots) { return; }
    document.querySelectorAll(".wall .js-plotly-plot").forEach(function (gd) {
      var layout = gd._fullLayout;
      if (!layout || !gd.layout || (gd.layout.width && gd.layout.height)) { return; }
      if (gd.__fitting || gd.classList.contains("dash-graph--pending")) { return; }
      var style = getComputedStyle(gd);
      if (style.display === "none") { return; }
      var width = parseFloat(style.width), height = parseFloat(style.height);
      if (!(width > 0 && height > 0)) { return; }
      if (Math.abs(width - layout.width) > STALE_PX || Math.abs(height - layout.height) > STALE_PX) {
        window.Plotly.Plots.resize(gd).catch(function () {});
      } else if (window.Plotly.redraw && labelsAstray(gd)) {
        var drawn = window.Plotly.redraw(gd);
        if (drawn && drawn.catch) { drawn.catch(function () {}); }
      }
    });
  }
  // Tables, alerts and the title are fitted afresh (rows hidden in a passing squeeze come back; fitting
  // is done in one frame, so nothing flickers), stale figures are resized and astray labels redrawn.
  wallMend = function () { later(); resizeStaleFigures(); };
  var observer = new MutationObserver(function (mutations) {
    // Tables, alerts and the banner change the room a table has, a new title its own; the clock's ticks
    // do not.
    for (var i = 0; i < mutations.length; i++) {
      var el = mutations[i].target;
      if (el.nodeType !== 1) { el = el.parentElement; }
      if (el && el.closest && el.closest(".wall-table, .wall-alerts, .wall-banner, .wall-kpis, .wall-brand")) { later(); return; }
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    observer.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["hidden"] });
  });
  window.addEventListener("resize", later);
  if (document.fonts && document.fonts.addEventListener) { document.fonts.addEventListener("loadingdone", later); }
})();
