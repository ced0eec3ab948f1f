"""Pure functions from a snapshot to component trees and figures (no database, no service).

A map is drawn over boundaries it is handed: the callback asks :func:`map_area` which ones, fetches
them through the app context and passes them to :func:`chart_figure`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from dash import html

from dashboard.core import domain
from dashboard.core.i18n import fmt_datetime, t
from dashboard.core.metrics import METRICS
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState, to_query
from dashboard.present import figures, panels
from layouts.components import empty_state, kpi_tile, simple_table

GeoJSON = dict[str, Any]  # a FeatureCollection of unit boundaries
MapArea = tuple[str, str | None]  # (unit level, parent unit code or None)

KPI_SETS: dict[str, list[str]] = {
    "overview": list(METRICS),
    # The backlog's headline: what is open, how much is late, and how fast it is being cleared.
    "backlog": ["backlog", "overdue_open", "supervised_open", "on_time_rate", "mean_hours_to_close"],
    "patrol": ["patrol_coverage_today", "patrol_coverage_24h", "patrol_on_duty", "video_online_rate"],
    "wall": [
        "reported",
        "closed",
        "backlog",
        "overdue_open",
        "on_time_rate",
        "satisfaction_rate",
        "video_online_rate",
        "patrol_on_duty",
        "supervised_open",
        "patrol_coverage_today",
        "close_rate",
        "calls_110_yoy",
    ],
}


def render_key(snap: Snapshot, view: ViewState) -> str:
    """Changes when the figures can have changed: new data, a new minute (ageing), another view, a
    note on the timeline added, changed or deleted."""
    key = f"{snap.data_version}|{snap.now[:16]}|{to_query(view, wall=True)}"
    if snap.annotations:
        notes = "|".join(
            f"{n.get('id')}@{n.get('updated_at') or n.get('created_at')}" for n in snap.annotations
        )
        key += "|notes=" + hashlib.sha256(notes.encode()).hexdigest()[:16]
    return key


def age_seconds(computed_at: str | None) -> float:
    if not computed_at:
        return 0.0
    moment = dt.datetime.fromisoformat(computed_at)
    return max((dt.datetime.now(dt.UTC) - moment).total_seconds(), 0.0)


def kpi_tiles(snap: Snapshot, keys: list[str], lang: str) -> list[html.Div]:
    return [
        kpi_tile(
            METRICS[key],
            snap.kpis[key],
            lang,
            tile_id=f"kpi-{key}",
            town_figure=panels.shows_town_figure(snap, key),
        )
        for key in keys
        if key in snap.kpis and key in METRICS
    ]


def table_component(spec: panels.TableSpec) -> Any:
    if not spec.rows:
        return html.Div(spec.empty_text or "—", className="empty")
    return simple_table(
        spec.columns, spec.rows, numeric_from=spec.numeric_from, row_ids=spec.row_codes or None
    )


def ticker_items(snap: Snapshot, lang: str, *, wall: bool) -> list[Any]:
    items: list[Any] = []
    for ev in snap.ticker:
        tags = []
        if ev.get("priority") in {"URGENT", "MAJOR"}:
            label = domain.PRIORITIES[ev["priority"]]
            tags.append(
                html.Span(
                    label.en if lang == "en" else label.zh, className=f"tag tag-{ev['priority'].lower()}"
                )
            )
        if ev.get("supervised"):
            tags.append(html.Span("Supervised" if lang == "en" else "督办", className="tag tag-supervised"))
        town = ev.get("town_en" if lang == "en" else "town_zh") or ev.get("town_code", "")
        category = ev.get("category_en" if lang == "en" else "category_zh") or ev.get("category", "")
        when = fmt_datetime(ev.get("reported_at"), lang)
        title = (ev.get("title_en") if lang == "en" else None) or ev.get("title", "")
        if wall:
            items.append(
                html.Span(
                    [*tags, f"{when} {town} · {category} · {title}"],
                    className="wall-ticker-item",
                )
            )
        else:
            items.append(
                html.Div(
                    [
                        html.Span(when),
                        html.Span(town),
                        html.Span([*tags, category]),
                        html.Span(title),
                    ],
                    className="ticker-item",
                )
            )
    return items or [empty_state(lang)]


def crumbs(snap: Snapshot, view: ViewState) -> list[Any]:
    """Breadcrumb district › town › village › grid; every level but the last is a button going up."""
    chain = panels.breadcrumb_steps(snap, view.lang)
    out: list[Any] = []
    for i, (_, code, name) in enumerate(chain):
        if i:
            out.append(html.Span("›", className="sep"))
        if i == len(chain) - 1:
            out.append(html.Span(name, className="crumb-current"))
        else:
            target = "" if code == domain.DISTRICT_CODE else code
            out.append(html.Button(name, id={"type": "crumb", "code": target}, className="crumb", n_clicks=0))
    return out


def render_panel(
    kind: str, key: str, snap: Snapshot, view: ViewState, variant: str, *, scale: float = 1.0
) -> Any:
    """The component property value for one panel of a page (maps: :func:`chart_figure`, with their
    boundaries)."""
    lang = view.lang
    if kind == "kpis":
        return kpi_tiles(snap, KPI_SETS[key], lang)
    if kind == "ticker":
        return ticker_items(snap, lang, wall=variant == "wall")
    if kind == "crumbs":
        return crumbs(snap, view)
    if kind == "title":  # a title that names the units shown (镇街排名 / 村社排名 …)
        return spec_title(snap, key, lang)
    if kind == "table":
        return table_component(panels.table(snap, key, lang))
    return chart_figure(panels.chart(snap, key, lang), variant, lang, scale=scale)


def map_area(spec: panels.ChartSpec) -> MapArea:
    """Which boundaries a map draws: the unit level and the parent unit (None: the whole district)."""
    return spec.map_level or "town", spec.map_parent


def chart_figure(
    spec: panels.ChartSpec, variant: str, lang: str, *, scale: float = 1.0, geojson: GeoJSON | None = None
) -> Any:
    """The figure of a chart, or of a map over the boundaries ``geojson`` of its :func:`map_area`.

    Raises ValueError for a map without its boundaries: it would draw an empty frame.
    """
    if spec.kind == "map" and geojson is None:
        raise ValueError(f"{spec.key}: a map is drawn over its boundaries (see map_area)")
    return figures.from_spec(spec, figures.scaled(variant, scale), geojson=geojson, lang=lang)


def wall_panel(
    kind: str,
    key: str,
    snap: Snapshot,
    view: ViewState,
    *,
    scale: float,
    limit: int | None,
    both_ends: bool = False,
) -> tuple[Any, str]:
    """A wall chart or table cut to what fits it (``limit`` bars or rows), and its title, which says so
    when bars were left out (``按类别 · 前5``). Maps: :func:`chart_figure`, with their boundaries."""
    lang = view.lang
    if kind == "table":
        table = panels.table(snap, key, lang)
        title = table.title(lang)
        return table_component(panels.fit_rows(table, limit, both_ends=both_ends) if limit else table), title
    spec = panels.chart(snap, key, lang)
    title = spec.title(lang)
    if limit and spec.kind != "map" and len(spec.categories) > limit:
        spec = panels.trim(spec, limit)
        word = "lowest_n" if key in panels.LOWEST_FIRST else "first_n"
        title = f"{title} · {t(word, lang, n=limit)}"
    return chart_figure(spec, "wall", lang, scale=scale), title


def panel_title(key: str, lang: str) -> str:
    builder = panels.TITLES.get(key)
    return (builder[1] if lang == "en" else builder[0]) if builder else key


def spec_title(snap: Snapshot, key: str, lang: str) -> str:
    """A panel's title as its spec gives it for this snapshot (a ranking names the units it ranks)."""
    if key in panels.TABLE_BUILDERS:
        return panels.table(snap, key, lang).title(lang)
    if key in panels.CHART_BUILDERS:
        return panels.chart(snap, key, lang).title(lang)
    return panel_title(key, lang)


def place_name(
    view: ViewState, lang: str, snap: Snapshot | None = None, *, most: int = 99, unit: str | None = None
) -> str | None:
    """The place a view shows, narrowest first: a grid or village (named by the snapshot's breadcrumb,
    or ``unit``, its name where no snapshot is at hand), its towns; None for the whole district, or for
    more than ``most`` towns."""
    if snap is not None and (view.village or view.grid):
        chain = panels.breadcrumb_steps(snap, lang)
        if chain:
            return chain[-1][2]
    if unit and (view.village or view.grid):
        return unit
    towns = domain.town_by_code()
    names = [(towns[c].name_en if lang == "en" else towns[c].name_zh) for c in view.towns if c in towns]
    if not names or len(names) > most:
        return None
    return "、".join(names) if lang == "zh" else ", ".join(names)


TITLE_TOWNS = (
    2  # more towns than this and a title would not fit: it says the district, the scope line lists them
)


def scope_title(
    key: str, view: ViewState, lang: str, snap: Snapshot | None = None, unit: str | None = None
) -> str:
    """The app's or the wall's title (``app_title`` / ``wall_title``) naming the place it shows (a
    village's or grid's name from ``snap`` or ``unit``; see :func:`place_name`)."""
    place = place_name(view, lang, snap, most=TITLE_TOWNS, unit=unit)
    return t(f"{key}_place", lang, place=place) if place else t(key, lang)


def scope_label(snap: Snapshot, view: ViewState) -> str:
    """The line beside the wall's title: what the title does not say. ``本月`` when the title names the
    place (a town, two, a village or a grid), else ``全区 · 本月`` or the towns with the period.

    Saying the place twice cost the header its room: a village's English name ("Community 003,
    Chengxiang Jiedao") in both pushed the period off the wall and squeezed the clock into a column."""
    lang = view.lang
    period = t(view.period, lang)
    if place_name(view, lang, snap, most=TITLE_TOWNS):
        return period
    return f"{place_name(view, lang, snap) or t('district', lang)} · {period}"


def _chip_data(count: int, template: str) -> dict[str, Any]:
    """The last alert chip's count and wording, for the browser's fitting of the row (30-wall.js)."""
    return {"data-count": str(count), "data-template": template}


WALL_ALERTS, WIDE_WALL_ALERTS = 3, 5  # chips in the wall's one alert row (16:9, wide); more are counted


def popup_alerts(snap: Snapshot, lang: str) -> list[dict[str, Any]]:
    """The board's red alerts for the wall's pop-up (31-wall-popup.js): the browser shows the ones it has
    not shown before, by ``key`` (the lifecycle's alert id, or rule, unit and opening time without one),
    over the stage for a few seconds, with a chime. Amber alerts stay in the chip row only."""
    from dashboard.core.metrics import ALERT_RULES

    out = []
    for alert in snap.alerts:
        if alert.get("severity") != "bad":
            continue
        kind, unit = str(alert.get("kind", "")), str(alert.get("unit_code", ""))
        rule = ALERT_RULES.get(kind)
        key = alert.get("alert_id") or f"{kind}:{unit}:{alert.get('opened_at') or snap.now[:13]}"
        out.append(
            {
                "key": str(key),
                "unit": unit,
                "rule": (rule.en if lang == "en" else rule.zh) if rule else kind,
                "text": alert.get("text_en" if lang == "en" else "text_zh") or "",
                "count": alert.get("count"),
                "title": t("popup_title", lang),
                "more": t("popup_more", lang, n="{n}"),
            }
        )
    return out


def alerts(snap: Snapshot, lang: str, *, wide: bool = False) -> list[Any]:
    """The wall's alert chips, the worst first (as the query sorts them), in one row.

    Why a cap: a second row of chips takes its height from every panel below. The chips left out are
    counted in a last chip; the browser pages and the API list them all.
    """
    limit = WIDE_WALL_ALERTS if wide else WALL_ALERTS
    out = []
    for alert in snap.alerts[:limit]:
        text = alert.get("text_en" if lang == "en" else "text_zh") or alert.get("text", "")
        classes = "wall-alert" + (" bad" if alert.get("severity") == "bad" else "")
        if alert.get("taken_on"):  # someone answers it (认领): say so, and stop the pulse
            text, classes = f"{text} · {t('alert_taken_on', lang)}", classes + " acked"
        out.append(html.Div(text, className=classes))
    left_out = max(0, len(snap.alerts) - limit)
    if out:
        # Always there when there are alerts, hidden while it counts none: the browser hides the chips
        # that do not fit the row (an English chip is twice as long) and counts them here (30-wall.js).
        out.append(
            html.Div(
                t("more_alerts", lang, n=left_out),
                className="wall-alert more",
                hidden=left_out == 0,
                **_chip_data(left_out, t("more_alerts", lang, n="{n}")),
            )
        )
    return out
