"""A fake snapshot source for service and API tests: counts builds, can be slow, can fail like a dead database."""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from dashboard.core.snapshot import KpiValue, Snapshot
from dashboard.core.viewstate import ViewState, to_params

T0 = dt.datetime(2026, 11, 28, 6, 0, 5, tzinfo=dt.UTC)


class FakeSource:
    """A builder and a versioner that count calls, can be slow, and can fail like a dead database."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.version = "v1"
        self.delay = delay
        self.fail = False
        self.gate: threading.Event | None = None  # when set up, builds wait for it to open
        self._lock = threading.Lock()

    def build(self, conn: Connection, view: ViewState, now: dt.datetime) -> Snapshot:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        if self.gate is not None:
            assert self.gate.wait(20), "the gate never opened"
        if self.fail:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))
        return fake_snapshot(view, now, self.version, float(n))

    def data_version(self, conn: Connection) -> str:
        if self.fail:
            raise OperationalError("SELECT max(action_id)", {}, Exception("connection refused"))
        return self.version


def fake_snapshot(view: ViewState, now: dt.datetime, version: str, value: float) -> Snapshot:
    return Snapshot(
        view=to_params(view),
        now=now.isoformat(),
        period_start=now.isoformat(),
        period_end=now.isoformat(),
        data_version=version,
        newest_data_at=None,
        kpis={"reported_count": KpiValue("reported_count", value)},
    )
