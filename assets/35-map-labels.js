// Unit names on the maps never cover one another (dashboard/present/maps.py sends them most important
// first). After every draw, each name in turn keeps its place when its box is free; else it moves to the
// first free spot around its unit (above, below, beside, diagonal), and when none is free it is hidden:
// hover and the ranking beside the map still name that unit. Names stay inside the map's frame and off
// its legend and note. Box sizes are known only in the browser, at the screen's own size and type.
(function () {
  var PAD = 2;  // px between two names

  function box(el) { var r = el.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom }; }
  function hit(a, b) { return a.l < b.r + PAD && b.l < a.r + PAD && a.t < b.b + PAD && b.t < a.b + PAD; }
  function inside(a, f) { return a.l >= f.l - 1 && a.r <= f.r + 1 && a.t >= f.t - 1 && a.b <= f.b + 1; }

  function place(gd) {
    var frameEl = gd.querySelector(".geo .layer.bg rect");
    var labels = gd.querySelectorAll(".scattergeo text");
    if (!frameEl || !labels.length) { return; }
    var frame = box(frameEl);
    var taken = [];
    gd.querySelectorAll(".colorbar, .annotation").forEach(function (el) { taken.push(box(el)); });
    labels.forEach(function (text) {
      // Plotly writes its own transform on each draw; ours is appended to it and undone before measuring.
      var current = text.getAttribute("transform") || "";
      var base = current === text.getAttribute("data-placed") ? text.getAttribute("data-base") || "" : current;
      text.setAttribute("data-base", base);
      text.setAttribute("transform", base);
      text.style.display = "";
      var home = box(text), w = home.r - home.l, h = home.b - home.t;
      // A name's own height (or half its width) away, and the gap: a move of the height alone met the
      // name it moved from (dashboard/present/mapnames.py places server-drawn pictures by the same rule).
      var up = h + PAD, side = w / 2 + PAD;
      var moves = [[0, 0], [0, -up], [0, up], [side, 0], [-side, 0],
                   [side, -up], [-side, -up], [side, up], [-side, up]];
      for (var i = 0; i < moves.length; i++) {
        var dx = moves[i][0], dy = moves[i][1];
        var at = { l: home.l + dx, r: home.r + dx, t: home.t + dy, b: home.b + dy };
        if (inside(at, frame) && !taken.some(function (o) { return hit(at, o); })) {
          var placed = dx || dy ? base + " translate(" + dx + "," + dy + ")" : base;
          text.setAttribute("transform", placed);
          text.setAttribute("data-placed", placed);
          taken.push(at);
          return;
        }
      }
      text.style.display = "none";
      text.setAttribute("data-placed", base);
    });
  }

  function hook(gd) {
    if (gd.__mapLabels || typeof gd.on !== "function") { return; }
    gd.__mapLabels = true;
    gd.on("plotly_afterplot", function () { place(gd); });
    place(gd);
  }

  var queued = false;
  function scan() {
    queued = false;
    document.querySelectorAll(".js-plotly-plot").forEach(function (gd) {
      if (gd.querySelector(".geo")) { hook(gd); }
    });
  }
  var observer = new MutationObserver(function () {
    if (!queued) { queued = true; window.requestAnimationFrame(scan); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    observer.observe(document.body, { childList: true, subtree: true });
  });
})();
