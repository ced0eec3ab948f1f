"""Reference data about places: child units for filters and GeoJSON for the maps.

Units and boundaries change only with re-districting, so they are read once per process and kept
for ``TTL_SECONDS`` (an explicit, bounded cache object owned by the service, not a module global).

With a ``durable`` store (the service's shared cache: on disk or Redis, so it outlives a restart), each
read also leaves a copy there for ``DURABLE_SECONDS``; when the source cannot be read, that copy
answers. A wall reloaded during an outage then draws its map over the boundaries it had, under the
stale banner, instead of an empty panel: boundaries do not go stale the way figures do.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from typing import Any, Protocol

from sqlalchemy import Engine, select

from dashboard.source import schema

TTL_SECONDS = 600
DURABLE_SECONDS = 30 * 24 * 3600
ILLUSTRATIVE_NOTE = "示意边界，非法定界线 / Illustrative boundaries, not legal ones"


class DurableStore(Protocol):
    """What the directory needs of a shared cache (``dashboard.service.cache.SharedCache`` has it)."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, ttl: int) -> None: ...


class UnitDirectory:
    """Child units and map geometry of the source, cached for a few minutes (see the module's note on
    ``durable``)."""

    def __init__(self, engine: Engine, durable: DurableStore | None = None) -> None:
        self.engine = engine
        self.durable = durable
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Any]] = {}

    def _cached(self, key: str, compute: Any) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < TTL_SECONDS:
                return hit[1]
        try:
            value = compute()
        except Exception:
            kept = self._durable_copy(key)
            if kept is None:
                raise
            return kept  # not kept in memory: the next call tries the source again
        with self._lock:
            self._cache[key] = (now, value)
        self._keep(key, value)
        return value

    def _durable_copy(self, key: str) -> Any:
        if self.durable is None:
            return None
        try:
            return self.durable.get(f"units:{key}")
        except Exception:  # the cache is away too: the caller's error stands
            return None

    def _keep(self, key: str, value: Any) -> None:
        if self.durable is None:
            return
        # A copy for a later outage is a nicety: this answer stands without it.
        with contextlib.suppress(Exception):
            self.durable.set(f"units:{key}", value, DURABLE_SECONDS)

    def children(self, code: str) -> list[dict[str, str]]:
        """Villages of a town (9 digits) or grids of a village (12 digits), as code/name_zh/name_en."""
        return list(self._cached(f"children:{code}", lambda: self._load_children(code)))

    def _load_children(self, code: str) -> list[dict[str, str]]:
        with self.engine.connect() as conn:
            if len(code) == 12:
                g = schema.grid
                rows = conn.execute(
                    select(g.c.grid_code, g.c.grid_name)
                    .where(g.c.village_code == code)
                    .order_by(g.c.grid_code)
                ).all()
                return [{"code": r[0], "name_zh": r[1], "name_en": f"Grid {r[0][-3:]}"} for r in rows]
            u = schema.admin_unit
            units = conn.execute(
                select(u.c.code, u.c.name_zh, u.c.name_en).where(u.c.parent_code == code).order_by(u.c.code)
            ).all()
            return [{"code": r[0], "name_zh": r[1], "name_en": r[2]} for r in units]

    def geojson(self, level: str, parent: str | None = None) -> dict[str, Any]:
        """A FeatureCollection of towns, of a town's villages, or of a village's (or town's) grids."""
        return dict(self._cached(f"geo:{level}:{parent}", lambda: self._load_geojson(level, parent)))

    def _load_geojson(self, level: str, parent: str | None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            if level == "grid":
                g = schema.grid
                query = select(g.c.grid_code, g.c.grid_name, g.c.boundary_geojson)
                if parent and len(parent) == 12:
                    query = query.where(g.c.village_code == parent)
                elif parent:
                    query = query.where(g.c.town_code == parent)
                rows = conn.execute(query).all()
            else:
                u = schema.admin_unit
                query = select(u.c.code, u.c.name_zh, u.c.boundary_geojson).where(u.c.level == level)
                if parent:
                    query = query.where(u.c.parent_code == parent)
                rows = conn.execute(query).all()
        features = [_feature(code, name, geometry) for code, name, geometry in rows if geometry]
        illustrative = any(f["properties"]["illustrative"] for f in features)
        return {
            "type": "FeatureCollection",
            "features": features,
            "properties": {"illustrative": illustrative, "note": ILLUSTRATIVE_NOTE if illustrative else None},
        }


def _feature(code: str, name: str, geometry_text: str) -> dict[str, Any]:
    """A unit's map feature; ``illustrative`` when its shape was generated (the sample marks its shapes,
    ``dashboard.sample.geo.geometry_json``), not when it was imported from a real boundary file."""
    geometry = json.loads(geometry_text)
    illustrative = bool(geometry.pop("illustrative", False))
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "illustrative": illustrative},
        "geometry": clockwise(geometry),
    }


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring))


def clockwise(geometry: dict[str, Any]) -> dict[str, Any]:
    """Exterior rings clockwise, as plotly's geo (d3-geo, spherical) expects.

    GeoJSON (RFC 7946) stores exterior rings counter-clockwise; d3-geo reads a counter-clockwise ring
    as "the whole globe except this area", and the map comes out empty.
    """

    def fix(polygon: list[list[list[float]]]) -> list[list[list[float]]]:
        outer, *holes = polygon
        if _signed_area(outer) > 0:
            outer = outer[::-1]
        return [outer, *[h if _signed_area(h) > 0 else h[::-1] for h in holes]]

    if geometry.get("type") == "Polygon":
        return {**geometry, "coordinates": fix(geometry["coordinates"])}
    if geometry.get("type") == "MultiPolygon":
        return {**geometry, "coordinates": [fix(p) for p in geometry["coordinates"]]}
    return geometry
