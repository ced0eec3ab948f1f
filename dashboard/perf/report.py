"""The benchmark's report: the one-line comparisons, the Markdown tables, and the files they go to."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from dashboard.perf.config import SUPERSET, Config
from dashboard.perf.targets import evaluate_targets, measured_at_10m, passes_note, targets_markdown


def machine() -> dict[str, Any]:
    """The CPUs, Python, platform and load average the run saw."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def ratios(report: dict[str, Any]) -> list[str]:
    """The one-line comparisons printed at the end and listed in the Markdown report."""
    lines = []
    lo_cold, hi_cold = SUPERSET["cache_off_s"]
    lo_warm, hi_warm = SUPERSET["warm_cache_s"]
    for d in report["datasets"]:
        tag = f"{d['backend']} {d['events']:,} events"
        snap = d.get("snapshot", {})
        if "error" in snap:
            lines.append(f"{tag}: snapshot section failed: {snap['error']}")
        for label in ("district", "town"):
            if label in snap:
                cold = snap[label]["cold_s"]["median"]
                warm = snap[label]["warm_s"]["median"]
                lines.append(
                    f"{tag}, {label}: cold {cold:.3f} s ({cold / hi_cold:.2f}–{cold / lo_cold:.2f}× Superset "
                    f"cache-off {lo_cold}–{hi_cold} s at 1M), warm {warm * 1000:.2f} ms "
                    f"({lo_warm / max(warm, 1e-6):.0f}–{hi_warm / max(warm, 1e-6):.0f}× faster than Superset "
                    f"warm {lo_warm}–{hi_warm} s); cold/warm {snap[label]['cold_over_warm']:g}×"
                )
        ru = d.get("rollups", {})
        if "error" in ru:
            lines.append(f"{tag}: rollups section failed: {ru['error']}")
        for label in ("district", "town"):
            if label in ru:
                cold = ru[label]["cold_s"]["median"]
                direct = snap.get(label, {}).get("cold_s", {}).get("median")
                versus = (
                    f", {direct / cold:.0f}× faster than build_snapshot ({direct:.3f} s)" if direct else ""
                )
                plain = d.get("pandas_vs_sql", {}).get("sql", {}).get("seconds")
                if plain and label == "district":
                    versus += f", {plain / cold:.1f}× faster than plain SQL aggregates ({plain:.3f} s)"
                lines.append(
                    f"{tag}, {label}: cold through the rollups {cold:.3f} s (sync included, median "
                    f"{ru[label]['sync_s']['median']:.3f} s; fast path used: {ru[label]['fast_path']}){versus}"
                )
        cov = d.get("coverage", {})
        if "error" in cov:
            lines.append(f"{tag}: coverage section failed: {cov['error']}")
        elif "views" in cov:
            lines.append(
                f"{tag}: coverage, {cov['views']} views cold through the rollups: max {cov['max_s']:.3f} s, "
                f"median {cov['median_s']:.3f} s, {len(cov['over_max_target'])} over 0.5 s, "
                f"{len(cov['fallbacks'])} fallbacks" + passes_note(cov)
            )
        pv = d.get("pandas_vs_sql", {})
        if "error" in pv:
            lines.append(f"{tag}: pandas/SQL section failed: {pv['error']}")
        elif "pandas_over_sql_time" in pv:
            lines.append(
                f"{tag}: pandas read_sql+groupby {pv['pandas']['seconds']:.2f} s / {pv['pandas']['peak_rss_mb']:.0f} MB"
                f" vs plain SQL {pv['sql']['seconds']:.2f} s / {pv['sql']['peak_rss_mb']:.0f} MB "
                f"({pv['pandas_over_sql_time']:g}× time, {pv['pandas_over_sql_rss']:g}× RSS; same answers: "
                f"{pv['same_answers']})"
            )
        elif "pandas" not in pv and "seconds" in pv.get("sql", {}):  # section "sql": plain SQL alone
            lines.append(
                f"{tag}: plain SQL per refresh {pv['sql']['seconds']:.2f} s / {pv['sql']['peak_rss_mb']:.0f} MB"
            )
        elif pv:
            lines.append(
                f"{tag}: pandas {pv.get('pandas', {}).get('error', 'skipped')}; SQL {pv['sql'].get('error', 'ok')}"
            )
        for lv in d.get("http", {}).get("levels", []):
            answers = lv["ok"] + lv.get("screen_updates", {}).get("ok", 0)  # the screens' views build too
            per = lv["snapshot_builds"] / max(answers, 1)
            lines.append(
                f"{tag}, {lv['clients']} clients: p50 {lv['p50_ms']} ms p95 {lv['p95_ms']} ms p99 {lv['p99_ms']} ms, "
                f"{lv['errors']} errors; build_snapshot ran {lv['snapshot_builds']}× for {answers} answers "
                f"({per:.3f} per answer) and {lv['distinct_keys_seen']} distinct (view, data version, minute) keys"
            )
        if "error" in d.get("http", {}):
            lines.append(f"{tag}: HTTP section failed: {d['http']['error']}")
        rss = d.get("http", {}).get("rss")
        if rss:
            lines.append(f"{tag}: peak RSS above idle per gunicorn worker ≤ {rss['max_above_idle_mb']} MB")
        fl = d.get("http", {}).get("feed_latency")
        if fl:
            lines.append(
                f"{tag}: feed write → API median {fl['median_s']} s, max {fl['max_s']} s ({fl['bound_s']})"
            )
        for lv in d.get("dev", {}).get("levels", []):
            w = lv.get("screen_updates")
            lines.append(
                f"{tag}, make run's development server, {lv['clients']} API clients every {lv['period_s']} s: "
                f"p95 {lv['p95_ms']} ms"
                + (
                    f"; {lv['clients']} screens' updates p95 {w['p95_ms']} ms (page opens {w.get('open_p95_ms', '–')})"
                    if w
                    else ""
                )
                + f", {lv['errors'] + (w['errors'] if w else 0)} errors"
            )
        if "error" in d.get("dev", {}):
            lines.append(f"{tag}: dev section failed: {d['dev']['error']}")
        ex = d.get("export")
        if ex and "seconds_first" in ex:
            again = f" ({ex['seconds_again']:.1f} s again)" if ex.get("seconds_again") else ""
            lines.append(f"{tag}: full PPTX deck {ex['seconds_first']:.1f} s{again}")
    return lines + firststart_summary(report)


def markdown(report: dict[str, Any]) -> str:
    """The Markdown report: the summary lines and one table per section."""
    out = [f"# Benchmark ({report['mode']})", ""]
    m = report["machine"]
    out += [
        f"{report['started_at']} → {report['finished_at']} ({report['seconds']} s); {m['cpus']} CPUs, "
        f"Python {m['python']}, load average at start {m['load_average_at_start']}.",
        "",
        f"Command: `{report.get('command') or 'run_bench(Config.for_mode(' + repr(report['mode']) + '))'}`",
        "",
        *(
            [
                f"Targets judged again on {report['retargeted_at']} (`--retarget`); the figures are the run's.",
                "",
            ]
            if report.get("retargeted_at")
            else []
        ),
        "Superset 6.1 chart-data API (fixed reference from the issue, 1M events): cache off "
        f"{SUPERSET['cache_off_s'][0]}–{SUPERSET['cache_off_s'][1]} s, warm cache "
        f"{SUPERSET['warm_cache_s'][0]}–{SUPERSET['warm_cache_s'][1]} s.",
        "",
        "## Summary",
        "",
        *[f"* {line}" for line in report["ratios"]],
        "",
        *targets_markdown(report, report.get("targets") or evaluate_targets(report)),
        "",
        "## Snapshots (seconds; cold = build_snapshot on the source, warm = through the service and cache)",
        "",
        "| backend | events | scope | cold median | cold min–max | first via service | warm median | warm max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        for label, s in d.get("snapshot", {}).items():
            if not isinstance(s, dict):
                continue
            out.append(
                f"| {d['backend']} | {d['events']:,} | {label} | {s['cold_s']['median']:.3f} | "
                f"{s['cold_s']['min']:.3f}–{s['cold_s']['max']:.3f} | {s['first_through_service_s']:.3f} | "
                f"{s['warm_s']['median'] * 1000:.2f} ms | {s['warm_s']['max'] * 1000:.2f} ms |"
            )
    out += [
        "",
        "## Snapshots through the rollups (seconds; cold = sync the rollups + build_snapshot_fast)",
        "",
        "| backend | events | scope | cold median | cold min–max | sync median | fast path | rollup build |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        ru = d.get("rollups", {})
        built = ru.get("build_s")
        for label in ("district", "town"):
            r = ru.get(label)
            if isinstance(r, dict):
                out.append(
                    f"| {d['backend']} | {d['events']:,} | {label} | {r['cold_s']['median']:.3f} | "
                    f"{r['cold_s']['min']:.3f}–{r['cold_s']['max']:.3f} | {r['sync_s']['median']:.3f} | "
                    f"{r['fast_path']} | {f'{built} s' if built else 'reused'} |"
                )
    out += [
        "",
        "## Coverage: every filter alone and in pairs × every period, cold through the rollups (seconds)",
        "",
        "Target: every view ≤ 0.5 s, median ≤ 0.25 s, no fallback to the direct queries. Each view is timed "
        "once per pass over the whole matrix, and its figure is the median of the passes (`passes` in the "
        "JSON); the first pass's own max and views over 0.5 s are in the last column.",
        "",
        "| backend | events | views | max | median | p90 | over 0.5 s | fallbacks | slowest | first pass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        cov = d.get("coverage")
        if isinstance(cov, dict) and "views" in cov:
            slowest = "; ".join(f"{r['view']} {r['seconds']:.3f}" for r in cov["slowest"][:3])
            out.append(
                f"| {d['backend']} | {d['events']:,} | {cov['views']} | {cov['max_s']:.3f} | {cov['median_s']:.3f} | "
                f"{cov['p90_s']:.3f} | {len(cov['over_max_target'])} | "
                f"{', '.join(cov['fallbacks']) or 'none'} | {slowest} | {_first_pass_cell(cov)} |"
            )
    out += ["", "## HTTP /api/v1/snapshot under gunicorn (open-loop clients at the refresh interval)", ""]
    out += [
        "| backend | events | clients | requests | errors | stale | p50 ms | p95 ms | p99 ms | max ms | builds | keys seen | feed writes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in report["datasets"]:
        for lv in d.get("http", {}).get("levels", []):
            out.append(
                f"| {d['backend']} | {d['events']:,} | {lv['clients']} | {lv['requests']} | {lv['errors']} | "
                f"{lv['stale_answers']} | {lv['p50_ms']} | {lv['p95_ms']} | {lv['p99_ms']} | {lv['max_ms']} | "
                f"{lv['snapshot_builds']} | {lv['distinct_keys_seen']} | {lv['feed_writes']} |"
            )
    screens = [
        (d, lv)
        for d in report["datasets"]
        for lv in d.get("http", {}).get("levels", [])
        if "screen_updates" in lv
    ]
    if screens:
        out += [
            "",
            "## The screens' update requests (/_dash-update-component) at the same time, one screen per API "
            "client (every other one a wall, the others browser pages)",
            "",
            "| backend | events | screens | requests | errors | answers (200 redrawn, 204 nothing new) "
            "| p50 ms | p95 ms | wall p95 ms | pages p95 ms | p99 ms | max ms | page opens p50 ms | page opens p95 ms "
            "| worker CPU ms per answer |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d, lv in screens:
            w = lv["screen_updates"]
            answers = ", ".join(f"{k}: {v}" for k, v in w["statuses"].items())
            out.append(
                f"| {d['backend']} | {d['events']:,} | {lv['clients']} | {w['requests']} | {w['errors']} | "
                f"{answers} | {w['p50_ms']} | {w['p95_ms']} | {w.get('wall_p95_ms', '–')} | {w.get('page_p95_ms', '–')} | "
                f"{w['p99_ms']} | {w['max_ms']} | {w.get('open_p50_ms', '–')} | {w.get('open_p95_ms', '–')} | "
                f"{lv.get('worker_cpu_ms_per_answer', '–')} |"
            )
        out += [
            "",
            "As in the hall, the screens open their pages before the level (one refresh interval, open-loop; "
            "a page's first answer is its whole board, drawn if no screen showed it yet: *page opens*) and "
            "then run: p50 to max are their update requests during the level. Worker CPU: the CPU time of "
            "gunicorn's workers and its builder process during the level over every answer (API and "
            "screens), which load from other processes does not inflate.",
        ]
        out += screens_in_workers(screens)
    out += dev_section(report)
    out += firststart_section(report)
    out += ["", "## Memory, feed latency, export, pandas", ""]
    for d in report["datasets"]:
        tag = f"**{d['backend']}, {d['events']:,} events**"
        h = d.get("http", {})
        if "rss" in h:
            per = ", ".join(f"{w['idle_mb']}→{w['peak_mb']} MB" for w in h["rss"]["workers"])
            b = h["rss"].get("builder")
            built = f"; builder {b['idle_mb']}→{b['peak_mb']} MB" if b else ""
            out.append(f"* {tag}: gunicorn workers idle→peak RSS: {per}{built}")
        if "feed_latency" in h:
            fl = h["feed_latency"]
            out.append(f"* {tag}: feed write → API: {[r.get('seconds_to_api') for r in fl['rounds']]} s")
        if "export" in d:
            out.append(f"* {tag}: export {json.dumps(d['export'], ensure_ascii=False)}")
        pv = d.get("pandas_vs_sql")
        if pv and "error" not in pv:
            for kind in ("pandas", "sql"):
                if kind not in pv:  # section "sql" alone
                    continue
                p = pv[kind]
                if "error" in p:
                    out.append(f"* {tag}: {kind}: {p['error']}")
                else:
                    out.append(
                        f"* {tag}: {kind}: {p['seconds']:.3f} s, peak RSS {p['peak_rss_mb']} MB "
                        f"({p['above_baseline_mb']} MB above its baseline), {p['rows_read']:,} rows read"
                    )
        for what, why in d.get("skipped", {}).items():
            out.append(f"* {tag}: {what} not measured here: {why}")
    for s in report["skipped"]:
        out.append(f"* skipped {s['what']}: {s['why']}")
    return "\n".join(out) + "\n"


def write_pair(json_path: Path, report: dict[str, Any]) -> None:
    """The report as JSON at ``json_path`` and as Markdown beside it (``.md``)."""
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    json_path.with_suffix(".md").write_text(markdown(report), encoding="utf-8")


def write_reports(cfg: Config, report: dict[str, Any]) -> None:
    """Write the JSON and Markdown reports (timestamped and latest-<mode>); note their paths."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = cfg.data_dir / f"bench-{cfg.mode}-{stamp}"
    latest = [f"latest-{cfg.mode}"]
    if measured_at_10m(report):  # the report a later run below 10 M cites (Config.large_report)
        latest.append(f"latest-{cfg.mode}-10m")
    for name in (base.name, *latest):
        write_pair(cfg.data_dir / f"{name}.json", report)
    report["files"] = [str(base.with_suffix(".json")), str(base.with_suffix(".md"))]


def dev_section(report: dict[str, Any]) -> list[str]:
    """The development server of ``make run`` (section dev): its API and screens' latencies."""
    rows = [(d, lv) for d in report["datasets"] for lv in d.get("dev", {}).get("levels", [])]
    failed = [d for d in report["datasets"] if "error" in d.get("dev", {})]
    if not rows and not failed:
        return []
    out = [
        "",
        "## The development server of `make run` (werkzeug, one process, on-disk cache; the feed writing)",
        "",
        "| backend | events | API clients | polling every | API p50 ms | API p95 ms | API p99 ms | errors | "
        "screens | screens' updates p95 ms | page opens p95 ms | CPU ms per answer |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d, lv in rows:
        w = lv.get("screen_updates")
        screens = (lv["clients"], w["p95_ms"], w.get("open_p95_ms", "–")) if w else (0, "–", "–")
        out.append(
            f"| {d['backend']} | {d['events']:,} | {lv['clients']} | {lv['period_s']} s | {lv['p50_ms']} | "
            f"{lv['p95_ms']} | {lv['p99_ms']} | {lv['errors'] + (w['errors'] if w else 0)} | {screens[0]} | "
            f"{screens[1]} | {screens[2]} | {lv.get('worker_cpu_ms_per_answer', '–')} |"
        )
    out += [f"* dev section failed on {d['backend']}: {d['dev']['error']}" for d in failed]
    return out


def firststart_summary(report: dict[str, Any]) -> list[str]:
    """The summary line of section firststart: make run on empty data until the wall shows its board."""
    fs = report.get("firststart")
    if not fs:
        return []
    if "seconds_to_page" not in fs:
        return [f"make run's first start on empty data failed: {fs.get('error', 'no page')}"]
    verdict = "within" if fs["seconds_to_page"] <= fs["limit_s"] else "over"
    return [
        f"make run's first start on empty data ({fs['events']:,} events seeded, rollups on: {fs['rollups_on']}): "
        f"/health after {fs['seconds_to_health']:.0f} s, the wall's board after {fs['seconds_to_page']:.0f} s, "
        f"{verdict} the {fs['limit_s']} s target"
        if fs.get("events") is not None
        else f"make run's first start: the wall's board after {fs['seconds_to_page']:.0f} s ({verdict} {fs['limit_s']} s)"
    ]


def firststart_section(report: dict[str, Any]) -> list[str]:
    """Section firststart: the seconds to /health and to the wall's board, and the phases between."""
    fs = report.get("firststart")
    if not fs:
        return []
    out = [
        "",
        f"## First start of `make run` on empty data (target: the first page within {fs.get('limit_s', 300)} s)",
        "",
    ]
    if "error" in fs:
        out.append(f"* failed: {fs['error']}")
    if "seconds_to_page" in fs:
        out.append(
            f"* /health answered after {fs['seconds_to_health']} s; the wall's board after "
            f"{fs['seconds_to_page']} s; rollups on: {fs['rollups_on']}; {fs.get('events') or 0:,} events seeded; "
            f"the server's CPU {fs.get('server_cpu_s', '–')} s; load average at start {fs.get('load_average_at_start')}"
        )
    phases = fs.get("phases") or {}
    if phases:
        out.append("* phases (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in phases.items()))
    return out


def screens_in_workers(screens: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str]:
    """The workers' own timing of the same answers (dashboard.perf.server.timing_screens): the server's
    share of the clients' figures and, of that, the CPU the answering thread used."""
    rows = [
        (d, lv, kind, fig)
        for d, lv in screens
        for kind, fig in lv["screen_updates"].get("server", {}).items()
    ]
    if not rows:
        return []
    out = [
        "",
        "In the workers (from the request's arrival in a worker to its last byte; CPU: the answering thread's):",
        "",
        "| backend | screens | answers | count | p50 ms | p95 ms | max ms | thread CPU p50 ms | thread CPU p95 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d, lv, kind, fig in rows:
        out.append(
            f"| {d['backend']} | {lv['clients']} | {'first' if kind == 'first' else 'ticks'} | {fig['answers']} | "
            f"{fig['p50_ms']} | {fig['p95_ms']} | {fig['max_ms']} | {fig['cpu_p50_ms']} | {fig['cpu_p95_ms']} |"
        )
    return out


def _first_pass_cell(cov: dict[str, Any]) -> str:
    once = cov.get("first_pass")
    if not once or cov.get("passes", 1) < 2:
        return "–"
    over = ", ".join(once["over_max_target"][:4]) or "none over 0.5 s"
    return f"max {once['max_s']:.3f}; {over}"
