"""Real boundaries: GeoJSON and shapefiles keyed by unit code, converted to WGS 84, checked and simplified.

The round trip runs on SQLite, PostgreSQL and MariaDB (``db_url``); the rest on SQLite.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapefile
from pyproj import CRS, Transformer
from shapely.geometry import Polygon, shape
from sqlalchemy import select

from dashboard.cli import main
from dashboard.ingest.boundaries import TOLERANCE, checked_shape, screen_geometry
from dashboard.ingest.coords import gcj02_to_wgs84, parse_crs, wgs84_to_gcj02
from dashboard.ingest.importer import import_files
from dashboard.ingest.results import ImportFailed
from dashboard.present import figures
from dashboard.present.panels import ChartSpec, Series
from dashboard.source import schema
from dashboard.source.engines import init_db, make_writer_engine
from dashboard.source.units import UnitDirectory

FIX = Path(__file__).parent / "fixtures"
REFS = [FIX / "admin_units.csv", FIX / "grids_gb18030.csv"]
TOWNS = {"330109001": (120.2484, 30.1673), "330109002": (120.2613, 30.1921)}  # label points of the fixture
VILLAGES = {"330109001001": (120.2484, 30.1673), "330109002001": (120.2613, 30.1921)}


def square(centre: tuple[float, float], half: float = 0.01) -> list[list[float]]:
    """A counter-clockwise closed square ring around ``centre`` (lng, lat)."""
    x, y = centre
    return [
        [x - half, y - half],
        [x + half, y - half],
        [x + half, y + half],
        [x - half, y + half],
        [x - half, y - half],
    ]


def collection(shapes: dict[str, list[list[float]]], code_key: str = "code", **extra: Any) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        **extra,
        "features": [
            {
                "type": "Feature",
                "properties": {code_key: code},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
            for code, ring in shapes.items()
        ],
    }


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def stored(url: str) -> dict[str, str | None]:
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            u, g = schema.admin_unit, schema.grid
            rows = dict(conn.execute(select(u.c.code, u.c.boundary_geojson)).all())
            rows.update(dict(conn.execute(select(g.c.grid_code, g.c.boundary_geojson)).all()))
            return rows
    finally:
        engine.dispose()


def near(text: str | None, ring: Any, tolerance: float = 2e-6) -> bool:
    """The stored shape is ``ring`` to within ``tolerance`` degrees (whatever vertex it starts at)."""
    assert text
    return bool(shape(json.loads(text)).hausdorff_distance(Polygon(ring)) < tolerance)


@pytest.fixture
def units_db(sqlite_url: str) -> str:
    init_db(sqlite_url).dispose()
    import_files(sqlite_url, REFS)
    return sqlite_url


def test_geojson_boundaries_replace_the_shapes_and_the_map_drops_the_note(
    db_url: str, tmp_path: Path
) -> None:
    init_db(db_url).dispose()
    import_files(db_url, REFS)
    towns = write_json(tmp_path / "镇街边界.geojson", collection({c: square(p) for c, p in TOWNS.items()}))

    report = import_files(db_url, [towns])
    (b,) = report.boundaries
    assert (b.features, b.updated, b.unchanged, b.unknown) == (2, {"town": 2}, 0, [])
    assert b.generated_left == {"town": []}
    shapes = stored(db_url)
    assert near(shapes["330109001"], square(TOWNS["330109001"]))
    assert json.loads(shapes["330109001"])["type"] == "Polygon"

    engine = make_writer_engine(db_url)
    try:
        fc = UnitDirectory(engine).geojson("town")
    finally:
        engine.dispose()
    assert {f["properties"]["code"] for f in fc["features"]} == set(TOWNS)
    assert fc["properties"] == {"illustrative": False, "note": None}

    again = import_files(db_url, [towns]).boundaries[0]
    assert (again.updated, again.unchanged) == ({}, 2)  # re-importing the same file changes nothing


def test_a_partial_import_names_the_units_left_with_generated_shapes(units_db: str, tmp_path: Path) -> None:
    generated = json.dumps(
        {"type": "Polygon", "coordinates": [square((120.26, 30.19))], "illustrative": True}
    )
    engine = make_writer_engine(units_db)
    with engine.begin() as conn:
        conn.execute(schema.admin_unit.update().values(boundary_geojson=generated))
    one = write_json(
        tmp_path / "villages.geojson", collection({"330109001001": square(VILLAGES["330109001001"], 0.004)})
    )

    (b,) = import_files(units_db, [one]).boundaries
    assert b.updated == {"village": 1}
    assert b.generated_left == {"village": ["330109002001"]}
    assert "still without an imported shape: 1 villages: 330109002001" in b.summary()
    try:
        villages = UnitDirectory(engine).geojson("village")
    finally:
        engine.dispose()
    # One village still drawn from a generated shape: the map keeps its 示意 note.
    assert villages["properties"]["illustrative"] is True
    assert {f["properties"]["code"]: f["properties"]["illustrative"] for f in villages["features"]} == {
        "330109001001": False,
        "330109002001": True,
    }


def test_gcj02_coordinates_are_brought_back_to_wgs84(units_db: str, tmp_path: Path) -> None:
    ring = np.array(square(TOWNS["330109001"]))
    g_lng, g_lat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
    assert 300 < abs(g_lng[0] - ring[0, 0]) * 96_000 < 700  # Mars coordinates sit a few hundred metres off
    mars = write_json(
        tmp_path / "amap.geojson", collection({"330109001": np.column_stack([g_lng, g_lat]).tolist()})
    )

    import_files(units_db, [mars], crs=parse_crs("GCJ-02"))
    assert near(stored(units_db)["330109001"], ring)
    back = np.column_stack(gcj02_to_wgs84(g_lng, g_lat))
    assert np.allclose(back, ring, atol=1e-7)


def _zipped_shapefile(tmp_path: Path, shapes: dict[str, list[list[float]]], wkt: str, encoding: str) -> Path:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON, encoding=encoding) as w:
        w.field("区划代码", "C", size=20)
        w.field("名称", "C", size=40)
        for code, ring in shapes.items():
            w.poly([ring[::-1]])  # shapefiles store outer rings clockwise
            w.record(code, "镇街" + code[-3:])
    path = tmp_path / "towns.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("towns/towns.shp", shp.getvalue())
        z.writestr("towns/towns.shx", shx.getvalue())
        z.writestr("towns/towns.dbf", dbf.getvalue())
        z.writestr("towns/towns.prj", wkt)
    return path


def test_a_zipped_projected_shapefile_with_gbk_attributes(units_db: str, tmp_path: Path) -> None:
    gk = CRS.from_epsg(4549)  # CGCS2000 / 3-degree Gauss-Kruger CM 120E, what district GIS offices export
    to_gk = Transformer.from_crs("EPSG:4326", gk, always_xy=True)
    wgs = {c: square(p) for c, p in TOWNS.items()}
    projected = {c: [list(to_gk.transform(x, y)) for x, y in ring] for c, ring in wgs.items()}
    path = _zipped_shapefile(tmp_path, projected, gk.to_wkt("WKT1_ESRI"), encoding="gbk")

    (b,) = import_files(units_db, [path]).boundaries  # the .prj says the system: no --crs needed
    assert b.updated == {"town": 2}
    for code, ring in wgs.items():
        assert near(stored(units_db)[code], ring)


def test_projected_coordinates_without_a_system_are_refused_with_a_hint(
    units_db: str, tmp_path: Path
) -> None:
    before = stored(units_db)
    metres = write_json(
        tmp_path / "towns.geojson", collection({"330109001": square((40_500_000.0, 3_340_000.0), 500)})
    )
    with pytest.raises(ImportFailed) as caught:
        import_files(units_db, [metres])
    (error,) = caught.value.errors
    assert (error.file, error.line, error.column) == ("towns.geojson", 1, "330109001")
    assert "--crs" in error.reason and "EPSG:4549" in error.reason
    assert stored(units_db) == before


def test_bad_rings_and_missing_codes_reject_the_whole_import(units_db: str, tmp_path: Path) -> None:
    before = stored(units_db)
    x, y = TOWNS["330109002"]
    bowtie = [[x, y], [x + 0.02, y + 0.02], [x + 0.02, y], [x, y + 0.02], [x, y]]
    doc = collection(
        {"330109001": square(TOWNS["330109001"]), "330109002": bowtie, "999999999": square((120.3, 30.2))}
    )
    doc["features"].append(
        {"type": "Feature", "properties": {"名称": "无编码"}, "geometry": doc["features"][0]["geometry"]}
    )
    path = write_json(tmp_path / "towns.geojson", doc)
    with pytest.raises(ImportFailed) as caught:
        import_files(units_db, [path])
    reasons = {(e.line, e.column): e.reason for e in caught.value.errors}
    assert set(reasons) == {(2, "330109002"), (4, "code/unit_code/grid_code/区划代码/网格编码/编码")}
    assert "invalid rings" in reasons[(2, "330109002")] or "no area" in reasons[(2, "330109002")]
    assert stored(units_db) == before  # the valid town in the same file is not written either


def test_a_ring_that_only_touches_itself_is_repaired_with_a_warning() -> None:
    # An outer ring that passes through one of its own vertices (a common digitising slip).
    ring = [[0, 0], [40, 0], [40, 40], [20, 40], [20, 38], [21, 39], [20, 40], [0, 40], [0, 0]]
    geom, warning = checked_shape({"type": "Polygon", "coordinates": [ring]})
    assert geom.is_valid and warning and "repaired" in warning


def test_simplification_keeps_a_town_light_and_its_area() -> None:
    theta = np.linspace(0, 2 * np.pi, 2001)
    ring = np.column_stack([120.26 + 0.05 * np.cos(theta), 30.18 + 0.04 * np.sin(theta)])
    ring[-1] = ring[0]
    geom, _ = checked_shape({"type": "Polygon", "coordinates": [ring.tolist()]})
    text = screen_geometry(geom, "town")
    simple = json.loads(text)
    assert len(simple["coordinates"][0]) < 200 < 2001
    assert abs(shape(simple).area - geom.area) / geom.area < 0.01  # 30 m off a 5 km town's edge
    assert TOLERANCE["grid"] < TOLERANCE["village"] < TOLERANCE["town"]


def test_the_map_note_follows_the_boundaries() -> None:
    spec = ChartSpec(
        "backlog_map",
        "每千人在办件",
        "Open cases per 1,000",
        "map",
        categories=["城厢街道"],
        codes=["330109001"],
        series=[Series("每千人", [1.5])],
        map_level="town",
        note="示意边界，非法定界线",
    )
    feature = {
        "type": "Feature",
        "properties": {"code": "330109001"},
        "geometry": {"type": "Polygon", "coordinates": [square(TOWNS["330109001"])[::-1]]},
    }

    def notes(illustrative: bool) -> str:
        fc = {
            "type": "FeatureCollection",
            "features": [feature],
            "properties": {"illustrative": illustrative},
        }
        fig = figures.from_spec(spec, "browser", geojson=fc)
        return " ".join(a.get("text") or "" for a in fig["layout"].get("annotations", []))

    assert "示意边界" in notes(True)
    assert "示意边界" not in notes(False) and "分位" in notes(False)


def test_the_command_line_refuses_an_unknown_system_and_reports_an_import(
    units_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    towns = write_json(tmp_path / "towns.geojson", collection({c: square(p) for c, p in TOWNS.items()}))
    assert main(["import", str(towns), "--database-url", units_db, "--crs", "mars"]) == 2
    assert "wgs84, cgcs2000, gcj02 or EPSG:<code>" in capsys.readouterr().err
    assert main(["import", str(towns), "--database-url", units_db, "--crs", "cgcs2000", "--no-rollups"]) == 0
    out = capsys.readouterr().out
    assert "towns.geojson → boundaries: 2 features, 2 towns updated, 0 unchanged" in out
