"""Time travel: the board as it stood at a past moment equals what was shown at that moment.

The live feed writes into a seeded district while we record snapshots at several moments; then the feed
goes on, and asking for ``as_of`` each of those moments must give the same figures, although many rows
(new events, closes, patrols, camera changes) were written after them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState
from dashboard.sample.seed import seed_database
from dashboard.sample.simulate import Feed, step
from dashboard.source.engines import make_source_engine, make_writer_engine
from dashboard.source.queries.snapshot import build_snapshot

T0 = dt.datetime(2026, 11, 18, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai, a Wednesday
GUALI = "330109113"


def figures(snap: Snapshot) -> dict[str, Any]:
    """Everything a screen shows, minus bookkeeping that legitimately differs (data version, now)."""
    data = snap.to_dict()
    for key in ("view", "data_version", "newest_data_at", "now"):
        data.pop(key)
    return data


def test_as_of_reproduces_what_the_board_showed(sqlite_url: str) -> None:
    seed_database(sqlite_url, days=35, scale=0.15, patrol_days=3, now=T0, progress=False)
    writer = make_writer_engine(sqlite_url)
    reader = make_source_engine(sqlite_url)
    feed = Feed(writer, seed=7, rate=3.0)
    views = [ViewState(period="day"), ViewState(period="month", towns=(GUALI,)), ViewState(period="week")]
    recorded: list[tuple[dt.datetime, ViewState, dict[str, Any]]] = []
    moment = T0
    for minute in range(1, 91):
        moment = T0 + dt.timedelta(minutes=minute)
        step(writer, moment, feed=feed, surge=GUALI if minute == 30 else None)
        if minute in (20, 45, 70):
            with reader.connect() as conn:
                for view in views:
                    recorded.append((moment, view, figures(build_snapshot(conn, view, moment))))
    later = moment + dt.timedelta(minutes=30)
    step(writer, later, feed=feed)
    with reader.connect() as conn:
        live_now = figures(build_snapshot(conn, views[0], later))
        for at, view, then in recorded:
            replayed = figures(build_snapshot(conn, replace(view, as_of=at), later))
            assert replayed == then, f"as_of {at.isoformat()} differs for {view}"
    # The feed really moved the board: the first recorded moment differs from the live one.
    assert recorded[0][2]["kpis"]["reported"]["value"] < live_now["kpis"]["reported"]["value"]
    writer.dispose()
    reader.dispose()
