// Figures in a narrow panel (a phone, a narrow column of a wall) keep their legends off what they explain.
// A figure is built once for every screen size (dashboard/present/figures.py), and only the browser
// knows the panel's width, so after each draw:
// * a map whose colour legend reaches into the map's frame gets a narrower frame, left of the legend;
// * an axis whose tick labels meet keeps every other one;
// * a donut whose legend beside it leaves the ring too small to carry its labels gets the legend below,
//   one entry a row, and its panel grows downwards to hold it (a phone's page scrolls down anyway).
// Each change is a relayout, made once per draw and only when it changes something (no loop).
(function () {
  var GAP = 8;  // px between the map's frame and its legend
  var NARROW = 520;  // px: a donut narrower than this puts its legend below
  var ENTRY = 24;  // px: one legend entry's row

  function box(el) { return el.getBoundingClientRect(); }

  function fitMap(gd) {
    var frame = gd.querySelector(".geo .layer.bg rect");
    var legend = gd.querySelector(".colorbar");
    if (!frame || !legend || !gd._fullLayout || !gd._fullLayout.geo) { return null; }
    var f = box(frame), l = box(legend), plot = box(gd);
    if (f.right <= l.left - GAP || plot.width <= 0) { return null; }
    var size = gd._fullLayout._size;
    var room = (l.left - GAP - plot.left - size.l) / size.w;  // the share of the plot area left of the legend
    var current = gd._fullLayout.geo.domain.x[1];
    if (room <= 0.3 || Math.abs(room - current) < 0.01) { return null; }
    return { "geo.domain.x": [0, Math.min(room, current)] };
  }

  function fitDonut(gd) {
    var layout = gd._fullLayout;
    if (!layout || !layout.showlegend || !gd.data || !gd.data.length || gd.data[0].type !== "pie") { return null; }
    var width = box(gd).width;
    if (layout.legend.y < 0 || width >= NARROW) { return null; }
    var entries = (gd.data[0].labels || []).length;
    var height = Math.round(width * 0.8 + entries * ENTRY);
    var outer = gd.closest(".dash-graph") || gd;
    outer.style.height = height + "px";
    return { "height": height, "legend.x": 0, "legend.xanchor": "left", "legend.y": -0.04,
             "legend.yanchor": "top" };
  }

  // An axis whose tick labels meet (a short wall panel at a large type: "100" on "120") keeps every
  // other one: Plotly thins ticks by their count, not by the labels' height. Axes of listed ticks
  // (dates, names) are thinned where they are made (dashboard/present/figures.py).
  function fitTicks(gd) {
    var layout = gd._fullLayout;
    if (!layout) { return null; }
    var change = null;
    [["y", "ytick", "yaxis"], ["x", "xtick", "xaxis"]].forEach(function (axis) {
      var full = layout[axis[2]];
      if (!full || full.tickmode === "array") { return; }
      var boxes = Array.prototype.map.call(gd.querySelectorAll("." + axis[1] + " text"), box)
        .filter(function (b) { return b.width > 0 && b.height > 0; });
      if (boxes.length < 3) { return; }
      var vertical = axis[0] === "y";
      boxes.sort(function (a, b) { return vertical ? a.top - b.top : a.left - b.left; });
      for (var i = 1; i < boxes.length; i++) {
        var gap = vertical ? boxes[i].top - boxes[i - 1].bottom : boxes[i].left - boxes[i - 1].right;
        if (gap < 4) {
          change = change || {};
          change[axis[2] + ".nticks"] = Math.max(2, Math.floor(boxes.length / 2));
          return;
        }
      }
    });
    return change;
  }

  function fit(gd) {
    if (gd.__fitting || !window.Plotly) { return; }
    var change = fitMap(gd) || fitDonut(gd) || fitTicks(gd);
    if (!change) { return; }
    gd.__fitting = true;
    window.Plotly.relayout(gd, change).then(
      function () { gd.__fitting = false; },
      function () { gd.__fitting = false; }
    );
  }

  function hook(gd) {
    if (gd.__narrowFit || typeof gd.on !== "function") { return; }
    gd.__narrowFit = true;
    gd.on("plotly_afterplot", function () { fit(gd); });
    fit(gd);
  }

  var queued = false;
  function scan() {
    queued = false;
    document.querySelectorAll(".js-plotly-plot").forEach(hook);
  }
  var observer = new MutationObserver(function () {
    if (!queued) { queued = true; window.requestAnimationFrame(scan); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    observer.observe(document.body, { childList: true, subtree: true });
  });
})();
