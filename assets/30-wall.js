// Clientside pieces of the wall: they keep running even when the server cannot be reached.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  wall: {
    // Show the next page of the rotation; pages not in the wall's URL are never shown.
    rotate: function (n, pages, ids) {
      var wanted = (pages && pages.length) ? pages : ids.map(function (i) { return i.page; });
      var active = wanted[(n || 0) % wanted.length];
      return ids.map(function (i) { return i.page === active ? "wall-page active" : "wall-page"; });
    },
    // Asia/Shanghai wall clock, whatever the wall PC's own time zone is.
    clock: function (n, query) {
      var en = /(^|&)lang=en(&|$)/.test(query || "");
      var fmt = new Intl.DateTimeFormat(en ? "en-GB" : "zh-CN", {
        timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
        weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
      });
      return fmt.format(new Date());
    },
    // Figures scale their type with the screen: 1 at 1920x1080 CSS pixels, 2 at 3840x2160 at scale 1.
    scale: function () {
      return Math.max(1, Math.min(window.innerWidth / 1920, window.innerHeight / 1080));
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
