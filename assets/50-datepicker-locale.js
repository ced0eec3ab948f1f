// The date pickers' month and weekday names in the interface's language, not the browser's.
//
// Why: Dash's date pickers format with date-fns and pick the locale from window.dateFns.locale by the
// browser's languages, falling back to the first one listed, and to English when none is. A zh page
// on an English browser (the hall's PCs) showed "Mo Tu We" and "December". The page's language is the
// root element's lang (layouts/shell.py, layouts/wall.py): a zh page lists only this Chinese locale,
// an English page none, so each shows its own language whatever the browser says. Written here, offline:
// date-fns' own locale files would come from a CDN.
(function () {
  var WEEKDAYS = ["日", "一", "二", "三", "四", "五", "六"];
  function month(n) { return String(Number(n) + 1) + "月"; }
  function day(n, options) {
    var width = (options && options.width) || "wide";
    return (width === "wide" ? "星期" : width === "abbreviated" ? "周" : "") + WEEKDAYS[Number(n)];
  }
  function fixed(text) { return function () { return text; }; }
  var ZH = {
    code: "zh-CN",
    localize: {
      ordinalNumber: function (n) { return "第" + n; },
      era: function (n) { return Number(n) === 1 ? "公元" : "公元前"; },
      quarter: function (n) { return "第" + n + "季度"; },
      month: month,
      day: day,
      dayPeriod: function (p) { return p === "pm" ? "下午" : "上午"; }
    },
    formatLong: {
      date: fixed("yyyy年M月d日"),
      time: fixed("HH:mm:ss"),
      dateTime: fixed("{{date}} {{time}}")
    },
    formatDistance: function (token, count) { return String(count); },
    formatRelative: fixed("P"),
    match: {},
    options: { weekStartsOn: 1, firstWeekContainsDate: 4 }
  };
  function pageLang() {
    var root = document.getElementById("root") || document.getElementById("wall-root");
    return (root && root.getAttribute("lang")) || document.documentElement.lang || "zh-CN";
  }
  window.dateFns = window.dateFns || {};
  Object.defineProperty(window.dateFns, "locale", {
    configurable: true,
    get: function () { return pageLang().indexOf("zh") === 0 ? { zhCN: ZH } : {}; }
  });
})();
