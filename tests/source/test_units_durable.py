"""Boundaries outlive an outage: a directory with a durable store answers from it when the source is
down (a wall reloaded during an outage draws its map, not an empty panel)."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.source.units import UnitDirectory


class Store:
    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.kept.get(key)

    def set(self, key: str, value: Any, ttl: int) -> None:
        assert ttl > 24 * 3600  # days, not minutes: boundaries change with re-districting only
        self.kept[key] = value


class Source:
    """An engine that answers until it is cut."""

    def __init__(self) -> None:
        self.up = True

    def connect(self) -> Any:
        if not self.up:
            raise ConnectionError("source down")
        raise AssertionError("not used: _load_geojson is replaced in these tests")


def test_a_fresh_process_draws_the_kept_boundaries_while_the_source_is_down() -> None:
    store, source = Store(), Source()
    towns = {"type": "FeatureCollection", "features": [{"properties": {"code": "330109113"}}]}
    first = UnitDirectory(source, durable=store)  # type: ignore[arg-type]
    first._load_geojson = lambda level, parent: towns  # type: ignore[method-assign]
    assert first.geojson("town") == towns
    source.up = False
    restarted = UnitDirectory(source, durable=store)  # type: ignore[arg-type]
    assert restarted.geojson("town") == towns  # from the durable copy
    with pytest.raises(ConnectionError):
        restarted.geojson("village", "330109113")  # never read: the outage is said, not hidden
    bare = UnitDirectory(source)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        bare.geojson("town")
