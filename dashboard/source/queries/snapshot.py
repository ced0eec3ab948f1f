"""Assemble the whole :class:`Snapshot` for one view at one moment, and the source's data-version token.

About 30 small statements per snapshot, each a range scan on an index (the families of :mod:`.kpis`
and the panels of :mod:`.rankings`, :mod:`.backlog`, :mod:`.patrol`, :mod:`.trends`, :mod:`.ticker` and
:mod:`.alerts`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import Connection, func, select

from dashboard.core.periods import effective_now, period_bounds
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState, to_params
from dashboard.source import schema
from dashboard.source.queries.alerts import alerts
from dashboard.source.queries.backlog import backlog
from dashboard.source.queries.common import upto
from dashboard.source.queries.kpis import compute_kpis
from dashboard.source.queries.patrol import patrol_panel
from dashboard.source.queries.rankings import rankings
from dashboard.source.queries.scope import Names
from dashboard.source.queries.sqlfuncs import aware_utc
from dashboard.source.queries.ticker import ticker
from dashboard.source.queries.trends import trends


def _version_columns() -> list[Any]:
    """Cheap scalar probes: MAX of each append-only key (an index lookup) and a few tiny aggregates.

    The 110 statistics (a row per town and day since 2012, corrected in place by imports) are counted
    and summed in one pass over a derived table (``_police_totals``): two scalar probes read it twice.
    That pass reads the narrow covering index ``ix_police_calls``, not the table's rows.
    """
    s = schema

    def probe(expr: Any) -> Any:
        return select(expr).scalar_subquery()

    police = _police_totals()
    return [
        probe(func.max(s.event.c.event_id)),
        probe(func.max(s.event_action.c.action_id)),
        probe(func.max(s.event.c.closed_at)),
        probe(func.max(s.evaluation.c.evaluation_id)),
        probe(func.max(s.patrol.c.patrol_id)),
        probe(func.max(s.patrol_checkin.c.checkin_id)),
        probe(func.max(s.video_status_change.c.change_id)),
        probe(func.max(s.safety_inspection.c.inspection_id)),
        police.c.n,
        police.c.total,
        probe(func.count(s.key_area.c.area_id)),
        probe(func.count(s.key_area.c.delisted_at)),
    ]


def _police_totals() -> Any:
    pcs = schema.police_call_stat.c
    return select(func.count().label("n"), func.sum(pcs.effective_110_calls).label("total")).subquery(
        "police_totals"
    )


def data_version(conn: Connection) -> str:
    """A short token that changes whenever the feed or an import writes (one statement)."""
    return _token(conn.execute(select(*_version_columns())).one())


def _newest_columns(now: dt.datetime) -> list[Any]:
    cap = upto(now)
    s = schema
    return [
        select(func.max(s.event.c.reported_at)).where(s.event.c.reported_at < cap).scalar_subquery(),
        select(func.max(s.event_action.c.at)).where(s.event_action.c.at < cap).scalar_subquery(),
        select(func.max(s.patrol.c.started_at)).where(s.patrol.c.started_at < cap).scalar_subquery(),
        select(func.max(s.video_status_change.c.at))
        .where(s.video_status_change.c.at < cap)
        .scalar_subquery(),
    ]


def _newest(values: Any) -> dt.datetime | None:
    present = [v for v in (aware_utc(x) for x in values) if v is not None]
    return max(present) if present else None


def _token(values: Any) -> str:
    raw = "|".join("" if v is None else str(v) for v in values)
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


def newest_data_at(conn: Connection, now: dt.datetime) -> dt.datetime | None:
    """The newest source timestamp at or before ``now`` (index MAX lookups)."""
    return _newest(conn.execute(select(*_newest_columns(now))).one())


def version_and_newest(conn: Connection, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    """``data_version`` and ``newest_data_at`` in one statement."""
    versions = _version_columns()
    row = conn.execute(select(*versions, *_newest_columns(now))).one()
    return _token(row[: len(versions)]), _newest(row[len(versions) :])


def tune_session(conn: Connection) -> None:
    """PostgreSQL: no JIT for this transaction.

    Why: the per-row EXISTS sub-plans inflate cost estimates past ``jit_above_cost``, and compiling took
    about 0.5 s per statement for statements that run in 0.1 s. (Better still: ``jit=off`` in the
    source engine's options.)
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def build_snapshot(conn: Connection, view: ViewState, now: dt.datetime) -> Snapshot:
    """Everything the screens show for ``view`` at ``now`` (the clock; ``view.as_of`` wins when set)."""
    tune_session(conn)
    now = effective_now(view, now)
    period = period_bounds(view, now)
    kpis = compute_kpis(conn, view, now)
    ranked = rankings(conn, view, now)
    town_names = {row.code: (row.name_zh, row.name_en) for row in ranked["towns"]}
    version, newest = version_and_newest(conn, now)
    names: Names = {}
    return Snapshot(
        view=to_params(view),
        now=now.isoformat(),
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        data_version=version,
        newest_data_at=newest.isoformat() if newest else None,
        kpis=kpis,
        rankings=ranked,
        backlog=backlog(conn, view, now, names),
        patrol=patrol_panel(
            conn, view, now, kpis["patrol_on_duty"].detail, names, kpis["video_online_rate"].detail
        ),
        trends=trends(conn, view, now),
        ticker=ticker(conn, view, now, town_names or None),
        alerts=alerts(conn, view, now),
    )
