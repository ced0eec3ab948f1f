"""The targets of issue 16 against a bench run's own figures: met, missed or not measured, and why.

:func:`evaluate_targets` reads the run's report (and the latest ``make soak`` report for the wall tab,
which the bench does not measure) and gives one verdict per target; :func:`targets_markdown` renders
them as the report's "Targets" section, each missed target followed by its profile: the coverage views
answered again instrumented (:mod:`~dashboard.perf.viewprofile`), the sampled server profile of a
missed HTTP level when the run captured one. No figure here is written by hand: a target the run did
not measure says so, with the nearest figure it did measure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dashboard.core.settings import ROOT
from dashboard.perf.coverage import TARGET_MAX_S, TARGET_MEDIAN_S

MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"
MAKE_RUN_SCALE = 1.0  # make run seeds scale 1 (dashboard/sample, `seed --scale` default)
PG_EVENTS = 10_000_000
FIRST_PAGE_S = 300.0
API_P95_MS = 25.0
API_CLIENTS = 50
SCREEN_COUNTS = (50, 200)
WALL_CYCLES, WALL_BASELINE_CYCLE, WALL_GROWTH_PCT = 5000, 500, 10.0
PROFILE_ENTRIES = 8  # of a sampled server profile, in the Markdown

Datasets = list[tuple[int, dict[str, Any]]]


def _target(
    key: str,
    text: str,
    verdict: str,
    measured: str,
    why: str = "",
    profile: str | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One target's verdict; ``profile`` is where in the JSON report its profile is (when over bound)."""
    return {
        "id": key,
        "target": text,
        "verdict": verdict,
        "measured": measured,
        "why": why,
        "profile": profile,
        "figures": figures or {},
    }


def _tag(d: dict[str, Any]) -> str:
    return f"{d['backend']}, scale {d['scale']:g} ({d['events']:,} events)"


def nearest_make_run(runs: Datasets) -> tuple[int, dict[str, Any]] | None:
    """The dataset closest to the make run sample without being smaller (the smallest scale ≥ 1), else
    the largest smaller one."""
    if not runs:
        return None
    at_least = [r for r in runs if r[1]["scale"] >= MAKE_RUN_SCALE]
    if at_least:
        return min(at_least, key=lambda r: r[1]["scale"])
    return max(runs, key=lambda r: r[1]["scale"])


def scale_note(scale: float) -> str:
    """How the measured scale stands to the make run sample's."""
    if scale == MAKE_RUN_SCALE:
        return "the make run sample's scale"
    if scale > MAKE_RUN_SCALE:
        return f"{scale / MAKE_RUN_SCALE:g}× the make run sample's events: a stricter test"
    return f"smaller than the make run sample (scale {MAKE_RUN_SCALE:g}): a weaker test"


def _with(report: dict[str, Any], backend: str, section: str) -> Datasets:
    return [
        (i, d)
        for i, d in enumerate(report.get("datasets", []))
        if d.get("backend") == backend and isinstance(d.get(section), dict)
    ]


def _coverage_failures(cov: dict[str, Any], median: bool, fallbacks: bool) -> list[str]:
    out = []
    over = _slowest_first(cov)
    if cov["max_s"] > TARGET_MAX_S:
        out.append(
            f"{len(over)} view{'' if len(over) == 1 else 's'} over {TARGET_MAX_S} s: "
            + ", ".join(over[:5])
            + (" …" if len(over) > 5 else "")
        )
    if median and cov["median_s"] > TARGET_MEDIAN_S:
        out.append(f"median {cov['median_s']:.3f} s over {TARGET_MEDIAN_S} s")
    if fallbacks and cov["fallbacks"]:
        out.append(f"{len(cov['fallbacks'])} fallbacks: " + ", ".join(cov["fallbacks"][:5]))
    return out


def _slowest_first(cov: dict[str, Any]) -> list[str]:
    """The views over the bound, the slowest first (a reader looks at those), from every view's figure
    when the report has them, else in the matrix's order."""
    timed = [r for r in cov.get("all", []) if r["seconds"] > TARGET_MAX_S]
    if not timed:
        return list(cov["over_max_target"])
    return [r["view"] for r in sorted(timed, key=lambda r: -r["seconds"])]


def _coverage_figures(cov: dict[str, Any]) -> str:
    return (
        f"{cov['views']} views, max {cov['max_s']:.3f} s, median {cov['median_s']:.3f} s, "
        f"{len(cov['fallbacks'])} fallbacks" + passes_note(cov)
    )


def passes_note(cov: dict[str, Any]) -> str:
    """The words on a coverage matrix timed in several passes: what a figure is, and the first pass's own
    max and views over target (empty for a single pass)."""
    once = cov.get("first_pass")
    if not once or cov.get("passes", 1) < 2:
        return ""
    return (
        f" (median of {cov['passes']} passes per view; the first pass alone: max {once['max_s']:.3f} s, "
        f"{len(once['over_max_target'])} over {TARGET_MAX_S} s)"
    )


def _coverage_runs(report: dict[str, Any], backend: str) -> tuple[Datasets, str]:
    """The datasets of ``backend`` whose coverage section ran, and why there is none when so."""
    runs = [(i, d) for i, d in _with(report, backend, "coverage") if "views" in d["coverage"]]
    failed = [
        d["coverage"]["error"] for _, d in _with(report, backend, "coverage") if "error" in d["coverage"]
    ]
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    why = (
        f"the coverage section failed: {failed[0]}"
        if failed
        else f"the run had no {names.get(backend, backend)} coverage section"
    )
    return runs, why


def coverage_sqlite(report: dict[str, Any]) -> dict[str, Any]:
    """Every view of the matrix cold on the make run sample (SQLite): max, median, no fallbacks."""
    text = (
        f"Coverage matrix cold on the `make run` sample (SQLite): every view ≤ {TARGET_MAX_S} s, "
        f"median ≤ {TARGET_MEDIAN_S} s, no fallbacks"
    )
    runs, why = _coverage_runs(report, "sqlite")
    picked = nearest_make_run(runs)
    if picked is None:
        return _target("coverage_sqlite", text, NOT_MEASURED, "–", why)
    i, d = picked
    cov = d["coverage"]
    failures = _coverage_failures(cov, median=True, fallbacks=True)
    measured = f"{_tag(d)}, {scale_note(d['scale'])}: {_coverage_figures(cov)}"
    profile = f"datasets[{i}].coverage.profiles" if cov["max_s"] > TARGET_MAX_S else None
    figures = {"dataset": i, "scale": d["scale"], "events": d["events"], "max_s": cov["max_s"],
               "median_s": cov["median_s"], "fallbacks": len(cov["fallbacks"])}  # fmt: skip
    if failures:
        return _target("coverage_sqlite", text, MISSED, measured, "; ".join(failures), profile, figures)
    if d["scale"] < MAKE_RUN_SCALE:
        why = f"met at scale {d['scale']:g} only: the run had no SQLite dataset of the make run sample's size"
        return _target("coverage_sqlite", text, NOT_MEASURED, measured, why, figures=figures)
    return _target("coverage_sqlite", text, MET, measured, "", figures=figures)


def _largest(runs: Datasets) -> tuple[int, dict[str, Any]] | None:
    """The dataset of ``runs`` with the most events, None without one."""
    return max(runs, key=lambda r: r[1]["events"]) if runs else None


def _largest_coverage(report: dict[str, Any], backend: str) -> tuple[int, dict[str, Any]] | None:
    """The dataset of ``backend`` with the most events whose coverage section ran, None without one."""
    return _largest(_coverage_runs(report, backend)[0])


def coverage_postgresql(report: dict[str, Any], large: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every view of the matrix cold on PostgreSQL at 10 M events (the largest PostgreSQL dataset run).

    A run below 10 M events is judged by ``large`` instead, when given and it measured 10 M: the latest
    run that did (``latest-full-10m.json``, cited as the wall tab cites the latest soak). The 10 M
    dataset and its rollups take hours to make, so the full run at 1 M and the run at 10 M are often
    two runs.
    """
    text = f"Coverage matrix cold on PostgreSQL at 10 M events: every view ≤ {TARGET_MAX_S} s"
    runs, why_none = _coverage_runs(report, "postgresql")
    own = _largest(runs)
    cited = _largest_coverage(large, "postgresql") if large else None
    if (own is None or own[1]["events"] < PG_EVENTS) and cited and cited[1]["events"] >= PG_EVENTS:
        return _cited_coverage(text, large or {}, cited)
    if own is None:
        return _target("coverage_postgresql", text, NOT_MEASURED, "–", why_none)
    i, d = own
    cov = d["coverage"]
    failures = _coverage_failures(cov, median=False, fallbacks=False)
    measured = f"{_tag(d)}: {_coverage_figures(cov)}"
    profile = f"datasets[{i}].coverage.profiles" if cov["max_s"] > TARGET_MAX_S else None
    figures = _coverage_run_figures(i, d)
    if d["events"] < PG_EVENTS:
        why = f"at 10 M: the run's largest PostgreSQL dataset has {d['events']:,} events; at that size " + (
            "; ".join(failures) if failures else "every view within the bound"
        )
        return _target("coverage_postgresql", text, NOT_MEASURED, measured, why, profile, figures)
    if failures:
        return _target("coverage_postgresql", text, MISSED, measured, "; ".join(failures), profile, figures)
    return _target("coverage_postgresql", text, MET, measured, "", figures=figures)


def _coverage_run_figures(i: int, d: dict[str, Any]) -> dict[str, Any]:
    """The JSON figures of a PostgreSQL coverage verdict: which dataset, its size and slowest view."""
    return {"dataset": i, "scale": d["scale"], "events": d["events"], "max_s": d["coverage"]["max_s"]}


def _cited_coverage(text: str, large: dict[str, Any], run: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    """The 10 M target judged by another run's report (its profiles are in that report)."""
    i, d = run
    cov = d["coverage"]
    where = large.get("path", "the 10 M report")
    failures = _coverage_failures(cov, median=False, fallbacks=False)
    measured = f"`make bench` of {large.get('started_at', '?')}, {_tag(d)}: {_coverage_figures(cov)}"
    figures = {"report": where, **_coverage_run_figures(i, d)}
    why = f"measured by the run of {where}, not by this run"
    if failures:
        why = f"{'; '.join(failures)}; {why} (its profiles: datasets[{i}].coverage.profiles)"
        return _target("coverage_postgresql", text, MISSED, measured, why, figures=figures)
    return _target("coverage_postgresql", text, MET, measured, why, figures=figures)


def measured_at_10m(report: dict[str, Any]) -> bool:
    """True when the run measured the PostgreSQL coverage matrix at 10 M events or more."""
    own = _largest_coverage(report, "postgresql")
    return own is not None and own[1]["events"] >= PG_EVENTS


def _firststart(report: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Where the first-start section is (``report.firststart`` or a dataset's), and its figures."""
    if isinstance(report.get("firststart"), dict):
        return "firststart", report["firststart"]
    for i, d in enumerate(report.get("datasets", [])):
        if isinstance(d.get("firststart"), dict):
            return f"datasets[{i}].firststart", d["firststart"]
    return None


def first_start(report: dict[str, Any]) -> dict[str, Any]:
    """A fresh clone's make run (seed and rollups included) serves its first page within 5 minutes."""
    text = (
        f"A fresh clone's `make run` (seed + rollups) serves its first page within {FIRST_PAGE_S / 60:g} min"
    )
    found = _firststart(report)
    if found is None:
        return _target("first_start", text, NOT_MEASURED, "–", "this run had no first-start section")
    where, fs = found
    page, health = fs.get("seconds_to_page"), fs.get("seconds_to_health")
    if not isinstance(page, int | float):
        why = f"the first-start section failed: {fs.get('error', 'no page')}"
        return _target("first_start", text, NOT_MEASURED, "–", why)
    measured = f"the first page (the wall's board) after {page:.0f} s" + (
        f", /health after {health:.0f} s" if isinstance(health, int | float) else ""
    )
    if isinstance(fs.get("events"), int):
        measured += f"; {fs['events']:,} events seeded"
    if "rollups_on" in fs:
        measured += f"; rollups on: {fs['rollups_on']}"
    if where.startswith("datasets["):
        d = report["datasets"][int(where[9 : where.index("]")])]
        measured += f"; beside the {d['backend']} scale {d['scale']:g} dataset"
    figures = {
        "at": where,
        "seconds_to_page": page,
        "seconds_to_health": health,
        "rollups_on": fs.get("rollups_on"),
    }
    failures = [f"{page:.0f} s over {FIRST_PAGE_S:.0f} s"] if page > FIRST_PAGE_S else []
    if fs.get("rollups_on") is False:  # the target's product: the rollups built by the first start
        failures.append("the rollups were not on (not built, or a view answered by the direct queries)")
    if failures:
        profile = f"{where}.phases" if fs.get("phases") else None
        return _target("first_start", text, MISSED, measured, "; ".join(failures), profile, figures)
    return _target("first_start", text, MET, measured, "", figures=figures)


def dev_profile_key(lv: dict[str, Any], profiles: dict[str, Any]) -> str | None:
    """The key of a dev level's profile: the level names it (``profile_key``: the dev levels share their
    client count, so ``api`` and ``api+screens``); else its kind, else its client count."""
    kind = "api+screens" if "screen_updates" in lv else "api"
    for key in (lv.get("profile_key"), kind, str(lv["clients"])):
        if key in profiles:
            return key
    return lv.get("profile_key")


def api_dev(report: dict[str, Any]) -> dict[str, Any]:
    """API p95 with 50 open-loop clients (each polling once a second) under make run's own server."""
    text = f"API p95 ≤ {API_P95_MS:g} ms with {API_CLIENTS} open-loop clients under `make run`"
    runs = [(i, d) for i, d in _with(report, "sqlite", "dev") if d["dev"].get("levels")]
    picked = nearest_make_run(runs)
    if picked is None:
        failed = [d["dev"]["error"] for _, d in _with(report, "sqlite", "dev") if "error" in d["dev"]]
        why = (
            f"the dev section failed: {failed[0]}"
            if failed
            else "the run had no dev section (make run's server)"
        )
        return _target("api_make_run", text, NOT_MEASURED, "–", why)
    i, d = picked
    levels = d["dev"]["levels"]
    api_levels = [lv for lv in levels if lv.get("period_s") == 1 and "screen_updates" not in lv] or levels
    lv = max(api_levels, key=lambda x: x["clients"])
    measured = f"{_tag(d)}, {lv['clients']} clients every {lv['period_s']} s: p95 {lv['p95_ms']} ms, {lv['errors']} errors"
    profiles = d["dev"].get("profiles") or {}
    key = dev_profile_key(lv, profiles)
    profile = f"datasets[{i}].dev.profiles.{key or lv['clients']}" if lv["p95_ms"] > API_P95_MS else None
    figures = {"dataset": i, "clients": lv["clients"], "p95_ms": lv["p95_ms"], "profile_key": key}
    return _latency_verdict(
        "api_make_run", text, measured, lv["p95_ms"], lv["clients"], API_CLIENTS, profile, figures
    )


def _latency_verdict(
    key: str,
    text: str,
    measured: str,
    p95: float,
    clients: int,
    wanted: int,
    profile: str | None,
    figures: dict[str, Any],
) -> dict[str, Any]:
    over = p95 > API_P95_MS
    if clients != wanted:
        at = f"over {API_P95_MS:g} ms" if over else f"within {API_P95_MS:g} ms"
        why = f"at {wanted}: the run's nearest level had {clients} ({at} there)"
        return _target(key, text, NOT_MEASURED, measured, why, profile, figures)
    if over:
        return _target(
            key, text, MISSED, measured, f"p95 {p95} ms over {API_P95_MS:g} ms", profile, figures=figures
        )
    return _target(key, text, MET, measured, "", figures=figures)


def _http_runs(report: dict[str, Any]) -> Datasets:
    return [(i, d) for i, d in enumerate(report.get("datasets", [])) if d.get("http", {}).get("levels")]


def api_serve(report: dict[str, Any]) -> dict[str, Any]:
    """API p95 with 50 open-loop clients under make serve (gunicorn, the http section)."""
    text = f"API p95 ≤ {API_P95_MS:g} ms with {API_CLIENTS} open-loop clients under `make serve`"
    return _http_target(report, "api_make_serve", text, API_CLIENTS, screens=False)


def screens_serve(report: dict[str, Any], count: int) -> dict[str, Any]:
    """The screens' update p95 at ``count`` screens under make serve."""
    text = f"Screens' update p95 ≤ {API_P95_MS:g} ms at {count} screens under `make serve`"
    return _http_target(report, f"screens_{count}", text, count, screens=True)


def _http_target(report: dict[str, Any], key: str, text: str, clients: int, screens: bool) -> dict[str, Any]:
    largest = _largest(_http_runs(report))
    if largest is None:
        failed = [d["http"]["error"] for d in report.get("datasets", []) if "error" in d.get("http", {})]
        why = (
            f"the http section failed: {failed[0]}" if failed else "the run had no http section (make serve)"
        )
        return _target(key, text, NOT_MEASURED, "–", why)
    i, d = largest
    levels = [lv for lv in d["http"]["levels"] if not screens or "screen_updates" in lv]
    if not levels:
        return _target(key, text, NOT_MEASURED, "–", "the http levels measured no screens")
    lv = min(levels, key=lambda x: (abs(x["clients"] - clients), -x["clients"]))  # that level, or the nearest
    if screens:
        w = lv["screen_updates"]
        p95 = w["p95_ms"]
        measured = (
            f"{_tag(d)}, {lv['clients']} screens' update requests: p95 {p95} ms (their page opens before "
            f"the level: p95 {w.get('open_p95_ms', '–')} ms), "
            f"{w['errors']} errors"
        )
    else:
        p95 = lv["p95_ms"]
        measured = f"{_tag(d)}, {lv['clients']} clients: p95 {p95} ms, {lv['errors']} errors"
    profile = f"datasets[{i}].http.profiles.{lv['clients']}" if p95 > API_P95_MS else None
    figures = {"dataset": i, "clients": lv["clients"], "p95_ms": p95}
    return _latency_verdict(key, text, measured, p95, lv["clients"], clients, profile, figures)


def load_report(path: Path | None) -> dict[str, Any] | None:
    """A report another run wrote (the latest ``make soak``, the latest bench at 10 M), None when there is
    none (or it does not read); its ``path`` is where it was read from, relative to the project when
    inside it (a report cites it, and a committed report should not name one machine's folders)."""
    if path is None or not path.exists():
        return None
    try:
        got = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(got, dict):
        resolved = path.resolve()
        shown = resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else path
        got["path"] = str(shown)
        return got
    return None


def wall_tab(soak: dict[str, Any] | None) -> dict[str, Any]:
    """The wall tab's JS heap and DOM nodes after 5,000 cycles within 10 % of their values after 500."""
    text = (
        f"Wall tab: JS heap and DOM nodes after {WALL_CYCLES:,} cycles within {WALL_GROWTH_PCT:g} % of "
        f"their values after cycle {WALL_BASELINE_CYCLE}"
    )
    if soak is None:
        return _target("wall_tab", text, NOT_MEASURED, "–", "measured by `make soak`: no soak report found")
    when = soak.get("started_at", "?")
    wall = soak.get("wall")
    if not isinstance(wall, dict) or "targets" not in wall:
        why = f"the latest `make soak` ({when}) had no wall section" + (
            f": {wall['error']}" if isinstance(wall, dict) and "error" in wall else ""
        )
        return _target("wall_tab", text, NOT_MEASURED, "–", why)
    cycles, base_cycle = wall.get("cycles", 0), wall.get("baseline_cycle")
    parts, growths = [], {}
    for key, label in (("heap_mb", "JS heap"), ("nodes", "DOM nodes")):
        t = wall["targets"][key]
        growth = (t["end"] - t["baseline"]) / t["baseline"] * 100 if t["baseline"] else float("inf")
        growths[key] = round(growth, 2)
        unit = " MB" if key == "heap_mb" else ""
        parts.append(f"{label} {t['baseline']:g}{unit} → {t['end']:g}{unit} ({growth:+.2f} %)")
    measured = (
        f"`make soak` of {when}, {soak.get('source', {}).get('events', '?'):,} events: cycle {base_cycle} → "
        f"{cycles}: " + ", ".join(parts)
        if isinstance(soak.get("source", {}).get("events"), int)
        else f"`make soak` of {when}: cycle {base_cycle} → {cycles}: " + ", ".join(parts)
    )
    figures = {"soak_started_at": when, "cycles": cycles, "baseline_cycle": base_cycle, "growth_pct": growths}
    if cycles < WALL_CYCLES or base_cycle != WALL_BASELINE_CYCLE:
        why = f"the latest soak ran {cycles:,} cycles from cycle {base_cycle}, not {WALL_CYCLES:,} from {WALL_BASELINE_CYCLE}"
        return _target("wall_tab", text, NOT_MEASURED, measured, why, figures=figures)
    grown = [k for k, g in growths.items() if abs(g) > WALL_GROWTH_PCT]
    why = "measured by `make soak`, not by this run"
    if grown:
        where = f"{soak.get('path', 'the soak report')}: wall.samples"
        return _target(
            "wall_tab",
            text,
            MISSED,
            measured,
            f"{', '.join(grown)} beyond {WALL_GROWTH_PCT:g} %; {why}",
            where,
            figures=figures,
        )
    return _target("wall_tab", text, MET, measured, why, figures=figures)


def evaluate_targets(
    report: dict[str, Any], soak: dict[str, Any] | None = None, large: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every target of issue 16 against the run's figures (and the latest soak's, for the wall tab; the
    latest 10 M run's, for PostgreSQL at 10 M when this run did not measure it)."""
    return [
        coverage_sqlite(report),
        coverage_postgresql(report, large),
        first_start(report),
        api_dev(report),
        api_serve(report),
        *(screens_serve(report, n) for n in SCREEN_COUNTS),
        wall_tab(soak),
    ]


# --- Markdown ------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _verdict_cell(t: dict[str, Any]) -> str:
    head = {MET: "**met**", MISSED: "**missed**", NOT_MEASURED: "not measured"}[t["verdict"]]
    if not t["why"]:
        return head
    return _cell(
        f"{head} {t['why']}" if t["why"].startswith("at ") else f"{head}: {t['why']}"
    )  # "not measured at 10 M: …"


def targets_markdown(report: dict[str, Any], targets: list[dict[str, Any]]) -> list[str]:
    """The report's Targets section: one row per target, then the profile of each one over its bound."""
    counts = {v: sum(t["verdict"] == v for t in targets) for v in (MET, MISSED, NOT_MEASURED)}
    out = [
        "## Targets (issue 16)",
        "",
        f"{counts[MET]} met, {counts[MISSED]} missed, {counts[NOT_MEASURED]} not measured; from this run's "
        "figures (the wall tab's from the latest `make soak`; a figure another run measured names that run). "
        "JSON: `targets`.",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    out += [f"| {_cell(t['target'])} | {_cell(t['measured'])} | {_verdict_cell(t)} |" for t in targets]
    profiled = [t for t in targets if t.get("profile")]
    if profiled:
        out += ["", "### Where the time went (targets over their bound)", ""]
        shown: set[str] = set()
        for t in profiled:
            if t["profile"] in shown:  # one load level for two targets (the API's and the screens')
                out += [f"* **{t['target']}** ({t['verdict']}): the profile above, `{t['profile']}`"]
            else:
                out += profile_markdown(report, t)
            shown.add(t["profile"])
    return out


def _at(report: dict[str, Any], pointer: str) -> Any:
    """The value at ``datasets[1].http.profiles.50`` in the report, None when absent."""
    node: Any = report
    for part in pointer.replace("[", ".").replace("]", "").split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def profile_markdown(report: dict[str, Any], t: dict[str, Any]) -> list[str]:
    """One target's profile as a compact sub-list."""
    pointer = t["profile"]
    head = f"* **{t['target']}** ({t['verdict']}; `{pointer}`)"
    if t["id"].startswith("coverage"):
        return [head, *coverage_profile_lines(_at(report, pointer))]
    if t["id"] == "first_start":
        phases = _at(report, pointer) or {}
        return [
            head,
            "  * phases (s): " + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in phases.items()),
        ]
    if t["id"] == "wall_tab":
        return [
            head,
            f"  * the soak's samples (heap, nodes, listeners, timers, Dash history per sample): `{pointer}`",
        ]
    return [head, *sampled_profile_lines(_at(report, pointer))]


def coverage_profile_lines(profiles: Any) -> list[str]:
    """Each profiled view: its statements by table, the slowest three, our functions, the own time."""
    if not profiles:
        return ["  * no profile captured"]
    out = []
    for p in profiles:
        if "error" in p:
            out.append(f"  * profiling failed: {p['error']}")
            continue
        out.append(
            f"  * `{p['view']}`: {p['timed_s']:.3f} s in the matrix, {p['seconds']:.3f} s profiled; "
            f"{p['statement_count']} statements spanning {p['sql_span_s']:.3f} s (executing {p['sql_execute_s']:.3f} s)"
        )
        tables = "; ".join(
            f"{g['engine']} {g['table']}{' [' + ','.join(g['tiers']) + ']' if g['tiers'] else ''} "
            f"{g['statements']}× {g['span_ms']:.0f} ms"
            for g in p["by_table"][:5]
        )
        out.append(f"    * by table: {tables}")
        for s in p["statements"][:3]:
            tiers = f" [{','.join(s['tiers'])}]" if s["tiers"] else ""
            out.append(
                f"    * {s['span_ms']:.0f} ms (executing {s['execute_ms']:.0f}) {s['engine']} "
                f"{','.join(s['tables'][:3])}{tiers}: `{s['sql']}`"
            )
        ours = "; ".join(
            f"{f['function']} ({f['file']}:{f['line']}) {f['cumulative_s']:.3f} s"
            for f in p["functions"][:10]
        )
        out.append(f"    * our code, cumulative: {ours}")
        own = "; ".join(
            f"{f['function']} ×{f['calls']} {f['own_s']:.3f} s" for f in p.get("own_time", [])[:5]
        )
        if own:
            out.append(f"    * own time: {own}")
    return out


def sampled_profile_lines(profile: Any) -> list[str]:
    """A sampled server profile (py-spy): its top entries by cumulative share."""
    if isinstance(profile, dict) and "error" in profile:
        return [f"  * no profile captured: {profile['error']}"]
    if not isinstance(profile, dict) or not profile.get("top"):
        return ["  * no profile captured"]
    out = [
        f"  * {profile.get('tool', '?')}, {profile.get('seconds', '?')} s, {profile.get('samples', '?')} samples "
        "(share of samples: cumulative, own):"
    ]
    for e in profile["top"][:PROFILE_ENTRIES]:
        out.append(
            f"    * {e.get('share', 0) * 100:.1f} %, own {e.get('own', 0) * 100:.1f} %: "
            f"{e.get('function', '?')} ({e.get('file', '?')}:{e.get('line', '?')})"
        )
    own = sorted(profile["top"], key=lambda e: -e.get("own", 0))[:3]
    out.append(
        "    * most own time: "
        + "; ".join(f"{e.get('function', '?')} {e.get('own', 0) * 100:.1f} %" for e in own)
    )
    return out
