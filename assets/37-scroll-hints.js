// On a phone the page links and the filters are each one row that scrolls sideways (10-base.css): the
// links or fields past the edge would look cut off with nothing saying the row goes on. Each such row
// carries `more-left` / `more-right` while content lies past that edge, and the CSS fades that edge.
// Why a script: CSS alone cannot tell a row's scroll position, and the fields' opaque boxes hide the
// background-only "scroll shadow" trick. Checked on load, on any scroll (capture: scroll does not
// bubble), on resize and when Dash redraws the page (the rows are created after load).
(function () {
  var ROWS = ".nav, .filters";
  var pending = false;

  function mark(row) {
    var max = row.scrollWidth - row.clientWidth;
    row.classList.toggle("more-left", max > 1 && row.scrollLeft > 1);
    row.classList.toggle("more-right", max > 1 && row.scrollLeft < max - 1);
  }

  function check() {
    pending = false;
    document.querySelectorAll(ROWS).forEach(mark);
  }

  function soon() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(check);
    }
  }

  document.addEventListener("scroll", soon, true);
  window.addEventListener("resize", soon);
  document.addEventListener("DOMContentLoaded", function () {
    new MutationObserver(soon).observe(document.body, { childList: true, subtree: true });
    soon();
  });
})();
