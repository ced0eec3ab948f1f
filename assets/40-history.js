// Keep Dash's undo history short, so a tab left open for days does not grow without end.
//
// Why: dash-renderer records every change of a callback input made in the browser (not by a callback's
// answer) in its undo history (store.history.past), and never drops any. Each dcc.Interval tick is such a
// change: the wall's refresh, clock and rotation add about two entries a second, 170,000 a day, and every
// new entry copies the whole array. Nothing here offers undo (no show_undo_redo), so only the last few
// entries are kept. The history is trimmed in place: dash-renderer builds the next array from this one,
// and no reducer but undo and redo reads it.
(function () {
  var KEEP = 20;
  window.setInterval(function () {
    var store = window.store;  // dash-renderer's redux store (it exposes it as window.store)
    var history = store && store.getState ? store.getState().history : null;
    if (history && history.past && history.past.length > KEEP) {
      history.past.splice(0, history.past.length - KEEP);
    }
  }, 10000);
})();
