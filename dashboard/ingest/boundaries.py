"""Real boundaries: a GeoJSON FeatureCollection or a shapefile (zipped or not), keyed by unit code.

Each feature's code names a town or village (``admin_unit.code``) or a grid (``grid.grid_code``); its
geometry replaces that unit's ``boundary_geojson`` in the same transaction as the rest of the import.
On the way the rings are checked (polygons only, valid by shapely's rules; a self-touching ring that
``make_valid`` repairs without changing the area by more than 1 % is accepted with a warning), the
coordinates are converted to WGS 84 (:mod:`dashboard.ingest.coords`) and simplified for the screens with a
tolerance per level. Shapes written by the sample generator carry ``"illustrative": true``; an imported
shape does not, so a map whose units all have imported shapes drops the 示意 note.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapefile
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from sqlalchemy import Connection, select, update

from dashboard.core.progress import Progress
from dashboard.ingest.coords import WGS84, Transform, parse_crs, to_wgs84
from dashboard.ingest.results import RowError
from dashboard.source import schema

SUFFIXES = frozenset({".geojson", ".json", ".zip", ".shp"})
# Property names that hold a unit's code in the exports seen: ours, the Chinese headers, and the
# field names of the national standards for administrative divisions (XZQDM …) and grids (WGBM).
CODE_FIELDS = (
    "code",
    "unit_code",
    "grid_code",
    "区划代码",
    "网格编码",
    "编码",
    "XZQDM",
    "XZQHDM",
    "WGBM",
    "WGDM",
)
# Simplification per level, in degrees (≈ 30 m, 10 m and 3 m at Xiaoshan's latitude): invisible at the
# size a unit is drawn on a wall, and it keeps the maps' payload small.
TOLERANCE = {"town": 3e-4, "village": 1e-4, "grid": 3e-5}
MAX_REPAIR = 0.01  # a repaired shape may differ from the given one by this share of its area
LISTED = 12  # units named in a report line before "and N more"


@dataclass
class BoundaryReport:
    """What one boundary file did (or would do, in a dry run)."""

    file: str
    features: int = 0
    updated: dict[str, int] = field(default_factory=dict)  # level → units whose shape changed
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)  # codes with no unit
    warnings: list[str] = field(default_factory=list)
    generated_left: dict[str, list[str]] = field(
        default_factory=dict
    )  # level → codes with a generated or no shape

    def summary(self) -> str:
        levels = ", ".join(f"{n} {level}s" for level, n in self.updated.items() if n) or "no unit"
        text = f"{self.file} → boundaries: {self.features} features, {levels} updated, {self.unchanged} unchanged"
        if self.unknown:
            text += f"; no such unit: {_listed(self.unknown)}"
        lines = [text, *(f"  warning: {w}" for w in self.warnings)]
        for level, codes in self.generated_left.items():
            if codes:
                lines.append(f"  still without an imported shape: {len(codes)} {level}s: {_listed(codes)}")
        return "\n".join(lines)


def _listed(codes: list[str]) -> str:
    more = f" and {len(codes) - LISTED} more" if len(codes) > LISTED else ""
    return ", ".join(codes[:LISTED]) + more


@dataclass
class Feature:
    line: int  # the feature's position in its file (1-based), for errors
    properties: dict[str, Any]
    geometry: dict[str, Any] | None


@dataclass
class Layer:
    """The features of one file, with the coordinate system they declare (None: not said)."""

    features: list[Feature]
    crs: str | None


def is_boundary_file(path: Path) -> bool:
    """True for the files this module reads (by suffix)."""
    return path.suffix.lower() in SUFFIXES


# --- Reading ------------------------------------------------------------------------------------------


def read_layer(path: Path) -> Layer:
    """The features of a GeoJSON file or a shapefile; ValueError with the reason for anything else."""
    suffix = path.suffix.lower()
    if suffix in {".geojson", ".json"}:
        return _geojson_layer(path.read_bytes())
    if suffix == ".shp":
        return _shapefile_layer(
            {
                ext: path.with_suffix(ext).read_bytes()
                for ext in (".shp", ".dbf", ".prj", ".cpg", ".shx")
                if path.with_suffix(ext).exists()
            }
        )
    return _zip_layer(path)


def _geojson_layer(data: bytes) -> Layer:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a GeoJSON file: {exc}") from exc
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    elif kind != "FeatureCollection":
        raise ValueError(f"a GeoJSON FeatureCollection is expected, not {kind or type(doc).__name__}")
    features = [
        Feature(i, dict(f.get("properties") or {}), f.get("geometry"))
        for i, f in enumerate(doc.get("features") or [], start=1)
        if isinstance(f, dict)
    ]
    # GeoJSON 2008's "crs" member (RFC 7946 dropped it, GIS tools still write it), e.g. EPSG::4549.
    named = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    return Layer(features, named.replace("urn:ogc:def:crs:", "").replace("::", ":") if named else None)


def _zip_layer(path: Path) -> Layer:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a zip file: {exc}") from exc
    with archive:
        names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]
        shps = [n for n in names if n.lower().endswith(".shp")]
        if not shps:
            geojsons = [n for n in names if n.lower().endswith((".geojson", ".json"))]
            if len(geojsons) == 1:
                return _geojson_layer(archive.read(geojsons[0]))
            raise ValueError("the zip holds no shapefile (.shp) and no single GeoJSON file")
        if len(shps) > 1:
            raise ValueError(
                f"the zip holds {len(shps)} shapefiles ({', '.join(shps)}): import one at a time"
            )
        stem = shps[0][:-4]
        parts = {
            n[len(stem) :].lower(): archive.read(n)
            for n in names
            if n[:-4] == stem or n.startswith(stem + ".")
        }
        return _shapefile_layer(parts)


def _dbf_encoding(parts: dict[str, bytes]) -> str:
    """The attribute table's encoding: the ``.cpg`` file's word, else UTF-8 if it decodes, else GBK
    (what Chinese desktop GIS writes without saying so)."""
    cpg = parts.get(".cpg", b"").decode("ascii", "ignore").strip().lower()
    if cpg:
        return {"936": "gbk", "cp936": "gbk", "gb2312": "gbk", "65001": "utf-8"}.get(cpg, cpg)
    try:
        parts.get(".dbf", b"").decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gbk"


def _shapefile_layer(parts: dict[str, bytes]) -> Layer:
    if ".shp" not in parts or ".dbf" not in parts:
        raise ValueError("a shapefile needs its .shp and .dbf files side by side")
    try:
        reader = shapefile.Reader(
            shp=io.BytesIO(parts[".shp"]),
            dbf=io.BytesIO(parts[".dbf"]),
            shx=io.BytesIO(parts[".shx"]) if ".shx" in parts else None,
            encoding=_dbf_encoding(parts),
        )
        features = [
            Feature(i, dict(rec.record.as_dict()), rec.shape.__geo_interface__ if rec.shape.points else None)
            for i, rec in enumerate(reader.iterShapeRecords(), start=1)
        ]
    except (shapefile.ShapefileException, UnicodeDecodeError, struct.error) as exc:
        raise ValueError(f"the shapefile cannot be read: {exc}") from exc
    prj = parts.get(".prj", b"").decode("utf-8", "ignore").strip()
    return Layer(features, prj or None)


# --- Checking and converting --------------------------------------------------------------------------


@dataclass
class Units:
    """The units a boundary may belong to: code → (level, stored geometry text)."""

    known: dict[str, tuple[str, str | None]]

    @classmethod
    def load(cls, conn: Connection) -> Units:
        u, g = schema.admin_unit, schema.grid
        known = {
            code: (level, geom)
            for code, level, geom in conn.execute(select(u.c.code, u.c.level, u.c.boundary_geojson))
            if level in TOLERANCE
        }
        known.update(
            {code: ("grid", geom) for code, geom in conn.execute(select(g.c.grid_code, g.c.boundary_geojson))}
        )
        return cls(known)


def feature_code(props: dict[str, Any], code_field: str | None) -> str | None:
    """The unit code a feature names (``code_field`` when given, else the first known field present)."""
    fields = (code_field,) if code_field else CODE_FIELDS
    lowered = {str(k).strip().lower(): v for k, v in props.items()}
    for name in fields:
        value = props.get(name, lowered.get(name.lower()))
        if value not in (None, ""):
            text = str(value).strip()
            return text[:-2] if text.endswith(".0") and text[:-2].isdigit() else text  # a DBF number field
    return None


def _looks_projected(geom: BaseGeometry) -> bool:
    minx, miny, maxx, maxy = geom.bounds
    return max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90


def checked_shape(geometry: dict[str, Any] | None) -> tuple[BaseGeometry, str | None]:
    """A polygonal shapely geometry and a warning (a repair), or ValueError saying what is wrong."""
    if not geometry:
        raise ValueError("no geometry")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise ValueError(f"unreadable geometry: {exc}") from exc
    if geom.geom_type not in {"Polygon", "MultiPolygon"}:
        raise ValueError(f"a Polygon or MultiPolygon is expected, not {geom.geom_type}")
    if geom.is_empty or geom.area == 0:
        raise ValueError("the shape has no area")
    if geom.is_valid:
        return geom, None
    reason = shapely.is_valid_reason(geom)
    repaired = shapely.make_valid(geom)
    if repaired.geom_type == "GeometryCollection":
        repaired = shapely.union_all(
            [g for g in repaired.geoms if g.geom_type in {"Polygon", "MultiPolygon"}]
        )
    if (
        repaired.geom_type not in {"Polygon", "MultiPolygon"}
        or abs(repaired.area - geom.area) > MAX_REPAIR * geom.area
    ):
        raise ValueError(f"invalid rings ({reason}) that cannot be repaired without changing the shape")
    return repaired, f"repaired invalid rings ({reason})"


def converted(geom: BaseGeometry, crs: str, transform: Transform | None) -> BaseGeometry:
    """``geom`` in WGS 84 longitude/latitude through ``transform`` (``to_wgs84(crs)``, made once per file:
    building a pyproj transformer costs milliseconds); ValueError when the coordinates do not fit ``crs``."""
    if crs in {WGS84, "EPSG:4490"} and _looks_projected(geom):
        minx, miny = geom.bounds[:2]
        raise ValueError(
            f"coordinates ({minx:.0f}, {miny:.0f}) are projected, not longitude/latitude: give the system "
            "with --crs, e.g. --crs EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"
        )
    if transform is not None:
        geom = shapely.transform(geom, lambda xy: _stack(transform(xy[:, 0], xy[:, 1])))
    if _looks_projected(geom):
        raise ValueError(f"the converted coordinates are not longitude/latitude ({geom.bounds}): check --crs")
    return geom


def _stack(xy: tuple[Any, Any]) -> Any:
    return np.column_stack(xy)


def screen_geometry(geom: BaseGeometry, level: str) -> str:
    """The stored form: simplified for its level, rounded to 6 decimals (≈ 0.1 m), counter-clockwise outer
    rings (RFC 7946), as GeoJSON text."""
    simple = shapely.set_precision(geom.simplify(TOLERANCE[level], preserve_topology=True), 1e-6)
    if simple.is_empty:
        simple = geom
    oriented = (
        orient(simple, 1.0)
        if simple.geom_type == "Polygon"
        else shapely.MultiPolygon([orient(p, 1.0) for p in simple.geoms])
    )
    return json.dumps(_rounded(mapping(oriented)), separators=(",", ":"))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


# --- Writing ------------------------------------------------------------------------------------------


def import_boundaries(
    conn: Connection,
    path: Path,
    *,
    crs: str | None,
    code_field: str | None,
    errors: list[RowError],
    progress: bool = False,
) -> BoundaryReport | None:
    """Check ``path``'s features and write their shapes on ``conn``; problems go to ``errors``.

    Nothing is written for a file with any error (the caller's transaction rolls the import back)."""
    report = BoundaryReport(path.name)
    try:
        layer = read_layer(path)
        system = parse_crs(crs or layer.crs or "wgs84")
    except (OSError, ValueError) as exc:
        errors.append(RowError(path.name, 0, "", str(exc)))
        return None
    report.features = len(layer.features)
    units = Units.load(conn)
    with Progress(f"check {path.name}", len(layer.features), enabled=progress) as bar:
        shapes = dict(_shapes(path.name, layer, units, system, code_field, report, errors, bar))
    if any(e.file == path.name for e in errors):
        return None
    _write(conn, shapes, units, report)
    return report


def _shapes(
    file: str,
    layer: Layer,
    units: Units,
    crs: str,
    code_field: str | None,
    report: BoundaryReport,
    errors: list[RowError],
    bar: Progress,
) -> Iterator[tuple[str, str]]:
    seen: dict[str, int] = {}
    transform = to_wgs84(crs)
    for f in layer.features:
        bar.advance()
        code = feature_code(f.properties, code_field)
        if code is None:
            fields = code_field or "/".join(CODE_FIELDS[:6])
            errors.append(RowError(file, f.line, fields, "no unit code in this feature's properties"))
            continue
        if code in seen:
            errors.append(RowError(file, f.line, code, f"the same unit as feature {seen[code]}"))
            continue
        seen[code] = f.line
        if code not in units.known:
            report.unknown.append(code)
            continue
        try:
            geom, warning = checked_shape(f.geometry)
            geom = converted(geom, crs, transform)
        except ValueError as exc:
            errors.append(RowError(file, f.line, code, str(exc)))
            continue
        if warning:
            report.warnings.append(f"feature {f.line} ({code}): {warning}")
        yield code, screen_geometry(geom, units.known[code][0])


def _write(conn: Connection, shapes: dict[str, str], units: Units, report: BoundaryReport) -> None:
    u, g = schema.admin_unit, schema.grid
    for code, text in shapes.items():
        level, stored = units.known[code]
        if stored == text:
            report.unchanged += 1
            continue
        if level == "grid":
            conn.execute(update(g).where(g.c.grid_code == code).values(boundary_geojson=text))
        else:
            conn.execute(update(u).where(u.c.code == code).values(boundary_geojson=text))
        report.updated[level] = report.updated.get(level, 0) + 1
        units.known[code] = (level, text)
    for level in TOLERANCE:
        left = sorted(c for c, (lv, geom) in units.known.items() if lv == level and is_illustrative(geom))
        touched = any(units.known[c][0] == level for c in shapes)
        if touched:
            report.generated_left[level] = left


def is_illustrative(geometry_text: str | None) -> bool:
    """True for a shape the sample generator drew (it says so), or none at all."""
    if not geometry_text:
        return True
    return '"illustrative":true' in geometry_text.replace(" ", "")
