"""The wall in a browser for thousands of refresh cycles: does the tab's memory stay flat?

A wall PC keeps one tab open for days. This drives headless Chromium (selenium and chromedriver, the
DevTools protocol through ``execute_cdp_cmd``) on ``/wall`` at a short refresh interval while the pages
rotate and the live feed moves the board, and every ``sample_every`` cycles forces a garbage collection
(``HeapProfiler.collectGarbage``) and reads ``Performance.getMetrics``: the JS heap in use
(``JSHeapUsedSize``), the DOM nodes (``Nodes``) and the event listeners (``JSEventListeners``). With them
go what would show the usual leaks by name: the live ``setInterval`` timers (counted by a probe that the
page gets before its own scripts), the length of Dash's undo history (``window.store``) and the bytes in
local storage.

A cycle is one refresh interval of wall time. The targets: the heap, the nodes and the listeners after
the last cycle within ``max_growth_pct`` (10 %) of their values after ``baseline_cycle`` (500), each value
the median of ``window`` samples ending at that cycle (one sample can catch a redraw in flight). A smaller
value passes: only growth is a leak.

The server is the caller's (``python -m dashboard soak`` starts gunicorn and the feed): this module only
needs its address. ``selenium`` is a dev dependency, imported when a run starts.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard.perf.screenshots import HEADLESS_ARGS, chromedriver, chromium

# Given to the page before its own scripts: counts the setInterval timers alive, so intervals stacking up
# (a timer started per redraw and never cleared) show as a number, not only as heap.
INTERVAL_PROBE = """
(function () {
  var live = new Set(), set = window.setInterval, clearI = window.clearInterval, clearT = window.clearTimeout;
  window.setInterval = function () { var id = set.apply(window, arguments); live.add(id); return id; };
  window.clearInterval = function (id) { live.delete(id); return clearI.call(window, id); };
  window.clearTimeout = function (id) { live.delete(id); return clearT.call(window, id); };
  window.__soakIntervals = function () { return live.size; };
})();
"""
# What the page itself can say about the suspects: live timers, Dash's undo history, local storage.
PAGE_PROBE = """
var bytes = 0;
for (var i = 0; i < localStorage.length; i++) {
  var k = localStorage.key(i); bytes += k.length + (localStorage.getItem(k) || '').length;
}
var store = window.store && window.store.getState ? window.store.getState() : null;
return {
  intervals: window.__soakIntervals ? window.__soakIntervals() : -1,
  dash_history: store && store.history ? store.history.past.length : -1,
  local_storage_kb: Math.round(bytes / 102.4) / 10,
  local_storage_keys: localStorage.length,
  active_page: (document.querySelector('.wall-page.active') || {dataset: {}}).dataset.page || ''
};
"""
METRICS = {
    "JSHeapUsedSize": "heap_mb",
    "Nodes": "nodes",
    "JSEventListeners": "listeners",
    "Documents": "documents",
}
TARGETS = ("heap_mb", "nodes", "listeners")


@dataclass
class WallSoakConfig:
    """One browser soak: how long, how often to sample, and the bound on growth."""

    cycles: int = 5000
    refresh_seconds: int = 1
    sample_every: int = 50
    baseline_cycle: int = 500
    window: int = 5  # samples whose median is the value at a cycle
    max_growth_pct: float = 10.0
    rotate_seconds: int = 5  # the wall's shortest rotation: every page comes round every 25 s
    query: str = ""  # more wall URL parameters, e.g. "town=瓜沥镇"
    width: int = 1920
    height: int = 1080
    progress_every: float = 300.0  # seconds between progress lines
    control_cycles: int = 180  # then a fresh tab for this long, to compare (0: none)
    samples_file: Path | None = None  # each sample appended as a JSON line as it is taken (watch a long run)
    quiet: bool = False
    each_cycle: Callable[[Any, int], None] | None = field(default=None, repr=False)  # tests: a hook per cycle

    def url(self, base: str) -> str:
        extra = f"&{self.query}" if self.query else ""
        return f"{base.rstrip('/')}/wall?rotate={self.rotate_seconds}{extra}"

    def baseline_at(self) -> int:
        """The baseline cycle, moved to the middle of a run too short to reach it."""
        return min(self.baseline_cycle, max(self.sample_every, self.cycles // 2))


class WallTab:
    """One headless Chromium tab on the wall, with the console and network logs drained as it runs."""

    def __init__(self, width: int, height: int) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium()
        for arg in (
            *HEADLESS_ARGS,
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--window-size={width},{height}",
            f"--user-data-dir={tempfile.mkdtemp(prefix='wallsoak-')}",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(chromedriver()), options=opts)
        self.driver.set_page_load_timeout(120)
        self.updates: dict[int, int] = {}  # status of /_dash-update-component answers → count
        self.console_errors: list[str] = []
        self.hosts: set[str] = set()

    def open(self, url: str, timeout: float = 120.0) -> None:
        """Load the wall and wait for its KPI tiles (the first board drawn)."""
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": INTERVAL_PROBE})
        self.driver.execute_cdp_cmd("Performance.enable", {})
        self.driver.get(url)
        deadline = time.monotonic() + timeout
        while not self.driver.find_elements("css selector", "#wall-kpis .kpi .kpi-value"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the wall drew no KPI tiles within {timeout:.0f} s")
            time.sleep(0.5)
        self.drain()

    def sample(self) -> dict[str, Any]:
        """The metrics after a forced garbage collection, and what the page says about the suspects."""
        self.driver.execute_cdp_cmd("HeapProfiler.collectGarbage", {})
        found = self.driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
        values = {METRICS[m["name"]]: m["value"] for m in found if m["name"] in METRICS}
        values["heap_mb"] = round(values.get("heap_mb", 0.0) / 2**20, 2)
        for name in ("nodes", "listeners", "documents"):
            values[name] = int(values.get(name, 0))
        values.update(self.driver.execute_script(PAGE_PROBE))
        return values

    def drain(self) -> None:
        """Move the browser's console and network logs into counters (Chromium's buffers are bounded)."""
        from urllib.parse import urlsplit

        for entry in self.driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                self.console_errors.append(str(entry["message"])[:300])
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.responseReceived":
                response = params["response"]
                if "_dash-update-component" in response["url"]:
                    status = int(response["status"])
                    self.updates[status] = self.updates.get(status, 0) + 1
            elif message.get("method") == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if url.startswith(("http://", "https://", "ws://", "wss://")):
                    self.hosts.add(urlsplit(url).hostname or "")

    def close(self) -> None:
        self.driver.quit()


def value_at(samples: list[dict[str, Any]], name: str, cycle: int, window: int) -> float | None:
    """The median of the last ``window`` samples taken at or before ``cycle``."""
    values = [s[name] for s in samples if s["cycle"] <= cycle][-window:]
    return float(statistics.median(values)) if values else None


def growth(
    samples: list[dict[str, Any]], name: str, base: int, window: int, limit_pct: float
) -> dict[str, Any]:
    """One target: the value after ``base`` cycles, after the last sample, the growth in % and pass/fail."""
    if not samples:
        return {"baseline": None, "end": None, "growth_pct": None, "pass": False}
    start = value_at(samples, name, base, window)
    end = value_at(samples, name, samples[-1]["cycle"], window)
    if start is None or end is None or start <= 0:
        return {"baseline": start, "end": end, "growth_pct": None, "pass": False}
    pct = round(100.0 * (end - start) / start, 2)
    after = [s for s in samples if s["cycle"] >= base]
    peak = max(s[name] for s in after)
    return {"baseline": round(start, 2), "end": round(end, 2), "growth_pct": pct, "peak": peak,
            "trend_per_1000": trend(after, name), "limit_pct": limit_pct, "pass": pct <= limit_pct}  # fmt: skip


def trend(samples: list[dict[str, Any]], name: str) -> float | None:
    """The least-squares slope per 1,000 cycles: a leak climbs steadily, a board that changes wanders."""
    if len(samples) < 3 or len({s["cycle"] for s in samples}) < 2:
        return None
    fit = statistics.linear_regression(
        [float(s["cycle"]) for s in samples], [float(s[name]) for s in samples]
    )
    return round(fit.slope * 1000, 3)


def judge(samples: list[dict[str, Any]], cfg: WallSoakConfig) -> dict[str, dict[str, Any]]:
    """Pass or fail per target (heap, DOM nodes, listeners) from the samples."""
    base = cfg.baseline_at()
    return {name: growth(samples, name, base, cfg.window, cfg.max_growth_pct) for name in TARGETS}


def say(cfg: WallSoakConfig, message: str) -> None:
    if not cfg.quiet:
        print(message, file=sys.stderr, flush=True)


def keep(cfg: WallSoakConfig, found: dict[str, Any]) -> None:
    """Append a sample to ``cfg.samples_file``: a run of hours can be watched, and a crash keeps them."""
    if cfg.samples_file is not None:
        with open(cfg.samples_file, "a", encoding="utf-8") as out:
            out.write(json.dumps(found) + "\n")


def run_wall_soak(base_url: str, cfg: WallSoakConfig) -> dict[str, Any]:
    """Open the wall, keep it running for ``cfg.cycles`` refresh cycles, sample it, and judge the growth;
    then the same wall in a fresh tab for ``cfg.control_cycles``, to tell a leak from a board that grew."""
    tab = WallTab(cfg.width, cfg.height)
    try:
        tab.open(cfg.url(base_url))
        started = time.monotonic()
        samples = keep_running(tab, cfg, cfg.cycles, cfg.sample_every, hook=cfg.each_cycle)
        tab.drain()
        elapsed = time.monotonic() - started
    finally:
        tab.close()
    report = {
        "config": config_of(cfg),
        "url": cfg.url(base_url),
        "seconds": round(elapsed, 1),
        "cycles": cfg.cycles,
        "baseline_cycle": cfg.baseline_at(),
        "samples": samples,
        "pages_seen": sorted({s["active_page"] for s in samples} - {""}),
        "updates": {str(k): v for k, v in sorted(tab.updates.items())},
        "console_errors": tab.console_errors[:20],
        "hosts": sorted(tab.hosts),
        "targets": judge(samples, cfg),
    }
    if cfg.control_cycles:
        report["control"] = fresh_tab_control(base_url, cfg, samples)
    return report


def keep_running(
    tab: WallTab,
    cfg: WallSoakConfig,
    cycles: int,
    every: int,
    hook: Callable[[Any, int], None] | None = None,
    label: str = "wall",
) -> list[dict[str, Any]]:
    """Let the open tab run ``cycles`` refresh intervals, sampling it every ``every`` cycles and at the end."""
    samples = [{"cycle": 0, "t": 0.0, **tab.sample()}]
    keep(cfg, {"tab": label, **samples[0]})
    started = last_said = time.monotonic()
    for cycle in range(1, cycles + 1):
        # Keep the wall's own cadence whatever sampling costs: a cycle is a refresh interval of time.
        time.sleep(max(0.0, started + cycle * cfg.refresh_seconds - time.monotonic()))
        if hook is not None:
            hook(tab.driver, cycle)
        if cycle % every and cycle != cycles:
            continue
        tab.drain()
        found = {"cycle": cycle, "t": round(time.monotonic() - started, 1), **tab.sample()}
        samples.append(found)
        keep(cfg, {"tab": label, **found})
        if time.monotonic() - last_said >= cfg.progress_every:
            last_said = time.monotonic()
            say(cfg, f"  {label} cycle {cycle}/{cycles}: heap {found['heap_mb']} MB, nodes {found['nodes']}, "
                     f"listeners {found['listeners']}, intervals {found['intervals']}, "
                     f"updates {tab.updates}")  # fmt: skip
    return samples


def fresh_tab_control(base_url: str, cfg: WallSoakConfig, long_run: list[dict[str, Any]]) -> dict[str, Any]:
    """The same wall in a new tab, on the same server and data, against the long-running tab's end.

    Why: the board itself changes over a run (the feed adds the day's reports, alerts come and go), so a
    heap that grew from cycle 500 may be the data, not a leak. A fresh tab shows the same board without
    the hours behind it: the long tab well above it is a leak; the two alike mean the board grew.
    """
    every = max(1, cfg.control_cycles // 15)
    tab = WallTab(cfg.width, cfg.height)
    try:
        tab.open(cfg.url(base_url))
        samples = keep_running(tab, cfg, cfg.control_cycles, every, label="fresh tab")
    finally:
        tab.close()
    out: dict[str, Any] = {"cycles": cfg.control_cycles, "samples": samples}
    for name in TARGETS:
        long_end = value_at(long_run, name, long_run[-1]["cycle"], cfg.window)
        fresh = value_at(samples, name, samples[-1]["cycle"], cfg.window)
        pct = round(100.0 * (long_end - fresh) / fresh, 2) if long_end is not None and fresh else None
        out[name] = {"long_tab_end": long_end, "fresh_tab": fresh, "long_above_fresh_pct": pct}
    return out


def config_of(cfg: WallSoakConfig) -> dict[str, Any]:
    """The settings as JSON values (the per-cycle hook left out)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(cfg).items() if k != "each_cycle"}


def wall_problems(wall: dict[str, Any]) -> list[str]:
    """What failed in the browser section (empty: it passed)."""
    problems = []
    for name, target in wall["targets"].items():
        if not target["pass"]:
            problems.append(
                f"wall {name} {target['baseline']} → {target['end']} ({target['growth_pct']} %, "
                f"limit {target.get('limit_pct')} %)"
            )
    failed = {k: v for k, v in wall["updates"].items() if int(k) >= 500}
    if failed:
        problems.append(f"wall callbacks failed: {failed}")
    answered = sum(v for k, v in wall["updates"].items() if int(k) < 400)
    if answered < wall["cycles"] // 2:
        problems.append(f"the wall refreshed only {answered} times in {wall['cycles']} cycles")
    if wall["console_errors"]:
        problems.append(f"{len(wall['console_errors'])} console errors: {wall['console_errors'][:2]}")
    return problems


def describe_wall(wall: dict[str, Any]) -> list[str]:
    """The browser section in a few lines."""
    t = wall["targets"]
    lines = [
        f"wall tab: {wall['cycles']} cycles of {wall['config']['refresh_seconds']} s in {wall['seconds']} s, "
        f"pages {', '.join(wall['pages_seen'])}; dash updates by status {wall['updates']}",
    ]
    for name, label in (("heap_mb", "JS heap MB"), ("nodes", "DOM nodes"), ("listeners", "listeners")):
        g = t[name]
        lines.append(
            f"  {label}: {g['baseline']} after cycle {wall['baseline_cycle']} → {g['end']} after "
            f"{wall['cycles']} ({g['growth_pct']} %, limit {g.get('limit_pct')} %): "
            + ("pass" if g["pass"] else "FAIL")
        )
    control = wall.get("control")
    if control:
        lines.append(
            f"  a fresh tab after {control['cycles']} cycles, against the long tab's end: "
            + ", ".join(
                f"{name} {control[name]['fresh_tab']} vs {control[name]['long_tab_end']} "
                f"({control[name]['long_above_fresh_pct']} %)"
                for name in TARGETS
            )
        )
    last = wall["samples"][-1] if wall["samples"] else {}
    lines.append(
        f"  at the end: {last.get('intervals')} live intervals, Dash history {last.get('dash_history')} "
        f"entries, local storage {last.get('local_storage_kb')} kB in {last.get('local_storage_keys')} keys"
    )
    return lines


def wall_markdown(wall: dict[str, Any], rows: int = 25) -> list[str]:
    """The browser section of the soak report: the targets, then the samples (thinned to ``rows``)."""
    cfg = wall["config"]
    lines = [
        "## The wall tab in Chromium",
        "",
        f"`{wall['url']}` for {wall['cycles']} refresh cycles of {cfg['refresh_seconds']} s "
        f"({wall['seconds']} s), {cfg['width']}×{cfg['height']}, pages rotating every {cfg['rotate_seconds']} s "
        f"(seen: {', '.join(wall['pages_seen'])}). Sampled every {cfg['sample_every']} cycles after "
        "`HeapProfiler.collectGarbage`, from `Performance.getMetrics`; each value is the median of the "
        f"{cfg['window']} samples ending at its cycle. Dash update answers by status: {wall['updates']}.",
        "",
        f"| target | after cycle {wall['baseline_cycle']} | after cycle {wall['cycles']} | growth | limit | "
        "trend per 1,000 cycles (least squares) | peak | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"heap_mb": "JS heap (MB)", "nodes": "DOM nodes", "listeners": "event listeners"}
    for name, target in wall["targets"].items():
        lines.append(
            f"| {names.get(name, name)} | {target['baseline']} | {target['end']} | {target['growth_pct']} % "
            f"| {target.get('limit_pct')} % | {target.get('trend_per_1000')} | {target.get('peak')} "
            f"| {'pass' if target['pass'] else '**FAIL**'} |"
        )
    lines += [
        "",
        "| cycle | s | JS heap MB | nodes | listeners | intervals | Dash history | local storage kB | page |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    taken = wall["samples"]
    step = max(1, len(taken) // rows)
    shown = taken[::step] + ([taken[-1]] if taken and (len(taken) - 1) % step else [])
    for s in shown:
        lines.append(
            f"| {s['cycle']} | {s['t']} | {s['heap_mb']} | {s['nodes']} | {s['listeners']} | {s['intervals']} "
            f"| {s['dash_history']} | {s['local_storage_kb']} | {s['active_page']} |"
        )
    control = wall.get("control")
    if control:
        lines += [
            "",
            f"A fresh tab on the same server and data, sampled the same way for {control['cycles']} cycles "
            "right after, tells a leak (the long tab well above it) from a board that grew (the two alike)"
            + (f" ({control['note']})" if control.get("note") else "")
            + ":",
            "",
            "| | long tab, end | fresh tab | long tab above fresh |",
            "|---|---|---|---|",
        ]
        for name in TARGETS:
            c = control[name]
            lines.append(
                f"| {names[name]} | {c['long_tab_end']} | {c['fresh_tab']} | {c['long_above_fresh_pct']} % |"
            )
    rss = wall.get("server_rss", {}).get("workers", [])
    if rss:
        lines += ["", "Server workers' RSS (MB), second tenth of the run → last tenth: "
                  + ", ".join(f"{w['baseline_mb']} → {w['end_mb']}" for w in rss) + "."]  # fmt: skip
    if wall["console_errors"]:
        lines += ["", f"Console errors: {wall['console_errors']}"]
    return lines
