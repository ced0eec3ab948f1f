// The wall's pop-up of a NEW red alert: over the stage for a few seconds, with a chime.
//
// The server sends the board's red alerts with every board (render.popup_alerts → the wall-popup-data
// store), in the same answer as the map that outlines their units, so the pop-up and the outline come
// up together. This browser remembers the alerts it has shown (their lifecycle ids, in localStorage,
// the last SHOWN_CAP of them), so an alert pops up once per screen, not at each refresh or reload.
// The chime needs Chromium's --autoplay-policy=no-user-gesture-required on a kiosk (README); without it
// the browser refuses to play before a click, and the pop-up shows silently.
(function () {
  var SHOWN_KEY = "wall-popup-shown";
  var SHOWN_CAP = 200;
  var SHOW_MS = 8000;
  var hideTimer = null;

  function shownKeys() {
    try { return JSON.parse(window.localStorage.getItem(SHOWN_KEY) || "[]"); } catch (e) { return []; }
  }
  function remember(keys) {
    var all = shownKeys().concat(keys);
    try { window.localStorage.setItem(SHOWN_KEY, JSON.stringify(all.slice(-SHOWN_CAP))); } catch (e) { /* full: shown again at worst */ }
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  // Outside Dash's tree (React would redraw a node of its own): a fixed box over the stage.
  function show(fresh) {
    var wall = document.querySelector(".wall");
    if (!wall) { return; }
    var old = document.getElementById("wall-popup");
    if (old) { old.remove(); }
    var first = fresh[0];
    var box = el("div", "wall-popup");
    box.id = "wall-popup";
    box.setAttribute("role", "alert");
    box.setAttribute("data-key", first.key);
    box.setAttribute("data-unit", first.unit);
    box.appendChild(el("div", "wall-popup-title", first.title + " · " + first.rule));
    box.appendChild(el("div", "wall-popup-text", first.text));
    if (first.count !== null && first.count !== undefined) {
      box.appendChild(el("div", "wall-popup-count", first.count));
    }
    if (fresh.length > 1) {
      box.appendChild(el("div", "wall-popup-more", first.more.replace("{n}", String(fresh.length - 1))));
    }
    // The unit is outlined on the map: a wall rotating through a page without one (排名) shows the first
    // page that has a map until its next turn.
    var active = document.querySelector(".wall-page.active");
    if (active && !active.querySelector(".geo")) {
      var mapped = Array.prototype.find.call(document.querySelectorAll(".wall-page"), function (p) {
        return p.querySelector(".geo");
      });
      if (mapped) {
        document.querySelectorAll(".wall-page").forEach(function (p) {
          p.classList.toggle("active", p === mapped);
        });
      }
    }
    var stage = document.getElementById("wall-stage");
    var r = stage ? stage.getBoundingClientRect() : { left: 0, top: 0, width: window.innerWidth, height: window.innerHeight };
    // Over the stage's middle where it is in view; a phone scrolls, and there the middle of the screen.
    var x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (y < 0 || y > window.innerHeight) { y = window.innerHeight / 2; }
    if (x < 0 || x > window.innerWidth) { x = window.innerWidth / 2; }
    box.style.left = x + "px";
    box.style.top = y + "px";
    wall.appendChild(box);
    var chime = document.getElementById("wall-chime");
    if (chime && chime.play) {
      try {
        chime.currentTime = 0;
        var playing = chime.play();
        if (playing && playing.catch) { playing.catch(function () { /* no autoplay: silent pop-up */ }); }
      } catch (e) { /* no sound device */ }
    }
    if (hideTimer) { clearTimeout(hideTimer); }
    hideTimer = setTimeout(function () {
      box.classList.add("leaving");
      setTimeout(function () { box.remove(); }, 600);
    }, SHOW_MS);
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    wall_popup: {
      show: function (alerts) {
        if (!alerts || !alerts.length) { return window.dash_clientside.no_update; }
        var seen = shownKeys();
        var fresh = alerts.filter(function (a) { return seen.indexOf(a.key) < 0; });
        if (!fresh.length) { return window.dash_clientside.no_update; }
        remember(fresh.map(function (a) { return a.key; }));
        show(fresh);
        return fresh.map(function (a) { return a.key; });
      }
    }
  });
})();
