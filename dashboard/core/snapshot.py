"""The snapshot: the whole situation for one view state at one moment, as a typed, JSON-able object.

Screens, the JSON API, the wall and the slide export all render from this one object, so a figure can
never differ between them. ``dashboard.source.queries`` fills it (``build_snapshot``); ``dashboard.service.snapshots``
caches it and keeps the last good one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass
class KpiValue:
    key: str
    value: float | None
    previous: float | None = None  # previous period (上期)
    last_year: float | None = None  # same period last year (同期)
    status: str | None = None  # "good" | "warn" | "bad" (threshold colour) or None
    spark: list[float | None] = field(default_factory=list)  # oldest → newest
    detail: dict[str, Any] = field(default_factory=dict)  # numerator/denominator, per-force figures ...
    # A paced metric's expected-by-now figure (past periods at the same point), which its colour is
    # judged against; None for other metrics or without history.
    expected: float | None = None


@dataclass
class UnitRow:
    """One unit (town, village, grid or department) in a ranking or a backlog table."""

    code: str
    name_zh: str
    name_en: str
    values: dict[str, float | int | None] = field(default_factory=dict)


@dataclass
class Snapshot:
    view: dict[str, Any]  # the view state as its query-string mapping
    now: str  # ISO 8601 (UTC) moment the figures describe: the clock, or as_of
    period_start: str  # ISO 8601 UTC, inclusive
    period_end: str  # ISO 8601 UTC, exclusive (for a running period: the period's nominal end)
    data_version: str  # cheap token that changes whenever the source gets new rows
    newest_data_at: str | None  # newest timestamp in the source (ISO UTC)
    kpis: dict[str, KpiValue] = field(default_factory=dict)  # metric key → value
    rankings: dict[str, list[UnitRow]] = field(default_factory=dict)  # "towns" | "departments"
    backlog: dict[str, Any] = field(default_factory=dict)  # see queries.backlog
    patrol: dict[str, Any] = field(default_factory=dict)  # see queries.patrol
    trends: dict[str, Any] = field(default_factory=dict)  # see queries.trends
    ticker: list[dict[str, Any]] = field(default_factory=list)  # newest events, personal data masked
    alerts: list[dict[str, Any]] = field(default_factory=list)
    # Notes on the timeline within the snapshot's window and the viewer's towns (id, starts_at, ends_at,
    # text, towns), put on by the service when it hands the snapshot out, never cached with it.
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able containers: what ``dataclasses.asdict`` gives, several times faster (it deep-
        copied each of ~150,000 leaves, 40 ms per cached answer on a district snapshot)."""
        return _plain(self)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        data = dict(data)
        data["kpis"] = {k: KpiValue(**v) for k, v in data.get("kpis", {}).items()}
        data["rankings"] = {k: [UnitRow(**r) for r in rows] for k, rows in data.get("rankings", {}).items()}
        return cls(**data)


def _plain(value: Any) -> Any:
    """New dicts, lists and tuples all the way down, dataclasses as dicts; leaves (str, numbers) shared."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value
