// Figures in a narrow panel (a phone, a narrow column of a wall) keep their legends off what they explain.
// A figure is built once for every screen size (dashboard/present/figures.py), and only the browser
// knows the panel's width, so after each draw:
// * a map whose colour legend reaches into the map's frame gets a narrower frame, left of the legend;
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

  function fit(gd) {
    if (gd.__fitting || !window.Plotly) { return; }
    var change = fitMap(gd) || fitDonut(gd);
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
