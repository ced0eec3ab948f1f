"""A realistic export imported as it is: a 四平台 case export through the shipped example profile.

Chinese headers the importer does not know by itself, units and departments given by name, no English
names, unit types, populations or titles, one dispatched case without its 派单时间 (the action log has
it), three 12345 hotline cases that name only their town (or their town's village) and no grid, then the
figures of the month checked against answers worked out by hand below, on the direct and the fast path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect, select

from dashboard.cli import main
from dashboard.core.scope import LOCAL_VIEWER
from dashboard.core.viewstate import ViewState
from dashboard.ingest.derive import DEFAULT_VALID_FROM, english_name
from dashboard.ingest.importer import import_files
from dashboard.ingest.profiles import EXAMPLES, load_profile
from dashboard.ingest.results import ImportFailed
from dashboard.ingest.specs import SPECS
from dashboard.rollups.read import build_snapshot_fast
from dashboard.rollups.store import RollupStore
from dashboard.source import schema
from dashboard.source.engines import init_db, make_source_engine, make_writer_engine, not_null_columns
from dashboard.source.eventlist import fetch_page
from dashboard.source.queries.snapshot import build_snapshot
from tests.rollups.test_rollups import differences, figures
from tests.support.factories import sh

PROFILE = EXAMPLES / "sipingtai.toml"
NOW = sh(2026, 11, 30, 18, 0)  # the export's moment: the evening of the month's last day

UNITS = """区划代码,名称,上级区划代码
330109,萧山区,
330109001,城厢街道,萧山区
330109002,北干街道,萧山区
330109001001,示范社区,城厢街道
330109002001,新城村,北干街道
"""
GRIDS = """网格编码,网格名称,所属村社
330109001001001,示范社区第一网格,示范社区
330109002001001,新城村第一网格,新城村
"""
DEPARTMENTS = """部门编码,部门名称,层级
CGJ,区综合行政执法局,区级
ZJJ,区住建局,区级
"""
# The platform's own words: 事件类型 消防隐患 → FIRE, 办理状态 办理中 → IN_PROGRESS, 12345 → HOTLINE_12345 …
# SP-006 … SP-008 are 12345 hotline cases without a grid (未落网格): SP-006 and SP-007 name only their
# town (城厢街道), SP-008 its town and village (北干街道, 新城村), all by name.
EVENTS = """事件编号,事件类型,事件子类,事件来源,紧急程度,所属网格,所属街道,所属社区,发生地址,上报时间,受理时间,交办时间,承办单位,办理期限,办理状态,结案时间
SP-001,消防隐患,楼道堆物,基层治理四平台,普通,330109001001001,,,城河街12号,2026-11-03 09:00,2026-11-03 09:10,2026-11-03 09:30,区综合行政执法局,2026-11-06 09:10,已办结,2026-11-04 15:00
SP-002,违法建筑,,12345,加急,330109001001001,,,,2026-11-10 14:00,2026-11-10 14:20,2026-11-10 15:00,区住建局,2026-11-13 14:20,已办结,2026-11-15 10:00
SP-003,城市管理,占道经营,基层治理四平台,普通,330109002001001,,,市心路8号,2026-11-20 08:00,2026-11-20 08:05,,区综合行政执法局,2026-11-23 08:05,已交办,
SP-004,社会治安,,110联动,普通,330109002001001,,,新城路1号,2026-11-28 20:00,2026-11-28 20:30,2026-11-28 21:00,区综合行政执法局,2026-11-29 20:30,办理中,
SP-005,矛盾纠纷,邻里纠纷,基层治理四平台,普通,330109001001001,,,,2026-11-30 10:00,,,,,待受理,
SP-006,城市管理,噪音扰民,12345政务热线,普通,,城厢街道,,,2026-11-12 10:00,2026-11-12 10:30,2026-11-12 11:00,区综合行政执法局,2026-11-19 10:30,办理中,
SP-007,违法建筑,,12345政务热线,普通,,城厢街道,,,2026-11-18 09:00,2026-11-18 09:20,2026-11-18 09:40,区住建局,2026-11-25 09:20,已办结,2026-11-24 16:00
SP-008,社会治安,,12345政务热线,普通,,北干街道,新城村,,2026-11-29 08:00,2026-11-29 08:10,2026-11-29 08:30,区综合行政执法局,2026-12-02 08:10,已交办,
"""
ACTIONS = """事件编号,环节名称,办理时间,办理意见
SP-003,受理,2026-11-20 08:05,
SP-003,交办,2026-11-20 08:40,派执法中队
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture
def export(tmp_path: Path) -> list[Path]:
    return [
        write(tmp_path, "行政区划.csv", UNITS),
        write(tmp_path, "网格.csv", GRIDS, encoding="gb18030"),
        write(tmp_path, "部门.csv", DEPARTMENTS),
        write(tmp_path, "事件导出.csv", EVENTS),
        write(tmp_path, "流转记录.csv", ACTIONS),
    ]


def test_a_four_platform_export_imports_as_it_is_and_its_figures_are_right(
    db_url: str, export: list[Path]
) -> None:
    init_db(db_url).dispose()
    report = import_files(db_url, export, profile=PROFILE)
    by_table = {f.table: f for f in report.files}
    assert {t: f.inserted for t, f in by_table.items()} == {
        "admin_unit": 5,
        "grid": 2,
        "department": 2,
        "event": 8,
        "event_action": 2,
    }
    notes = by_table["event"].summary()
    assert "title written from the category and the address: lines 2, 3, 4, 5, 6, 7, 8, 9" in notes
    assert "status DISPATCHED without 交办时间 (dispatched_at): accepted; taken from the action log" in notes
    assert by_table["event"].derived == {"dispatched_at from the action log": 1}
    assert "codes given by name" in by_table["grid"].summary()

    engine = make_writer_engine(db_url)
    try:
        with engine.connect() as conn:
            u, e, g = schema.admin_unit, schema.event, schema.grid
            units = {r.code: r for r in conn.execute(select(u))}
            events = {r.event_no: r for r in conn.execute(select(e))}
            grids = {r.grid_code: r for r in conn.execute(select(g))}
    finally:
        engine.dispose()
    # Reference columns derived: level from the code, type from the name, pinyin names, parents by name.
    assert (units["330109001"].level, units["330109001"].unit_type, units["330109001"].name_en) == (
        "town",
        "街道",
        "Chengxiang Jiedao",
    )
    assert (units["330109002001"].level, units["330109002001"].unit_type, units["330109002001"].name_en) == (
        "village",
        "村",
        "Xincheng Cun",
    )
    assert (
        units["330109001001"].parent_code == "330109001" and units["330109"].valid_from == DEFAULT_VALID_FROM
    )
    assert (
        grids["330109002001001"].town_code == "330109002"
        and grids["330109002001001"].population_registered is None
    )
    # Values through the profile; titles written; the missing 派单时间 taken from the action log.
    sp3 = events["SP-003"]
    assert (sp3.category_l1, sp3.source, sp3.status, sp3.dispatch_dept_code) == (
        "CITY_APPEARANCE",
        "GRID_APP",
        "DISPATCHED",
        "CGJ",
    )
    assert (
        sp3.title == "占道经营（市心路8号）" and events["SP-002"].title == "违章搭建"
    )  # the category's own label
    assert sp3.dispatched_at.replace(tzinfo=dt.UTC) == sh(2026, 11, 20, 8, 40)
    assert (events["SP-002"].source, events["SP-002"].priority) == ("HOTLINE_12345", "URGENT")
    assert events["SP-004"].source == "POLICE_110_LINKAGE"
    # Town-level cases: the town (and village) by name, no grid; the 12345 word through the profile.
    sp6, sp8 = events["SP-006"], events["SP-008"]
    assert (sp6.source, sp6.town_code, sp6.village_code, sp6.grid_code) == (
        "HOTLINE_12345",
        "330109001",
        None,
        None,
    )
    assert (sp8.town_code, sp8.village_code, sp8.grid_code) == ("330109002", "330109002001", None)

    # The month's figures, worked by hand from the eight rows above (now: 30 Nov 18:00):
    #   reported 8; closed 3 (SP-001, SP-002, SP-007); open 5 (SP-003, SP-004, SP-005, SP-006, SP-008);
    #   overdue open 3 (SP-003: deadline 23 Nov, SP-004: 29 Nov 20:30, SP-006: 19 Nov); SP-005 has no
    #   deadline yet, SP-008's is 2 Dec;
    #   按期办结率 = closed by the deadline / due in the period: due in November are SP-001 (6th), SP-002
    #   (13th), SP-006 (19th), SP-003 (23rd), SP-007 (25th) and SP-004 (29th); SP-001 and SP-007 closed
    #   by their deadlines: 2 / 6 = 33.33 %.
    # 城厢街道 (330109001): open SP-005 (示范社区's grid) and SP-006 (town only: 未落网格), reported 5
    #   (SP-001, 002, 005, 006, 007); 北干街道: open SP-003, SP-004 (新城村's grid), SP-008 (新城村, no grid).
    cx, bg, village = "330109001", "330109002", "330109002001"
    views = {
        "district": ViewState(period="month"),
        "chengxiang": ViewState(period="month", towns=(cx,)),
        "beigan": ViewState(period="month", towns=(bg,)),
        "xincheng": ViewState(period="month", towns=(bg,), village=village),
        "shifan": ViewState(period="month", towns=(cx,), village="330109001001"),
    }
    source = make_source_engine(db_url)
    try:
        with source.connect() as conn:
            snaps = {name: build_snapshot(conn, view, NOW) for name, view in views.items()}
            listed = fetch_page(conn, views["chengxiang"], NOW, limit=10, viewer=LOCAL_VIEWER)
    finally:
        source.dispose()
    k = snaps["district"].kpis
    assert (k["reported"].value, k["closed"].value, k["backlog"].value, k["overdue_open"].value) == (
        8,
        3,
        5,
        3,
    )
    assert k["on_time_rate"].value == pytest.approx(100 * 2 / 6)
    towns = {r["code"]: r for r in snaps["district"].backlog["units"]}
    assert (towns[cx]["backlog"], towns[bg]["backlog"]) == (2, 3)
    # No population in the export: the per-1,000 figure is unknown, not zero.
    assert towns[cx]["per_1000"] is None
    ranked_towns = {r.code: r.values for r in snaps["district"].rankings["towns"]}
    assert (ranked_towns[cx]["reported"], ranked_towns[cx]["overdue"], ranked_towns[cx]["due"]) == (5, 1, 4)
    # The town's own view: its figures hold the town-level cases; its villages' list has a 未落网格 row.
    town = snaps["chengxiang"]
    assert (town.kpis["reported"].value, town.kpis["backlog"].value, town.kpis["overdue_open"].value) == (
        5,
        2,
        1,
    )
    rows = town.backlog["units"]
    assert [(r["code"], r["name_zh"], r["backlog"], r["overdue"], r["rank"]) for r in rows] == [
        ("330109001001", "示范社区", 1, 0, 1),
        ("", "未落网格", 1, 1, None),
    ]
    assert [(r.code, r.values["rank"]) for r in town.rankings["units"]][-1] == ("", None)
    assert {r.code: r.values["reported"] for r in town.rankings["towns"]} == {cx: 5}
    # A case with a village but no grid: in its village in the town's list, 未落网格 in the village's.
    beigan = {r["code"]: r["backlog"] for r in snaps["beigan"].backlog["units"]}
    assert beigan == {village: 3}
    xincheng = [(r["code"], r["backlog"], r["rank"]) for r in snaps["xincheng"].backlog["units"]]
    assert xincheng == [("330109002001001", 2, 1), ("", 1, None)]
    assert snaps["xincheng"].kpis["backlog"].value == 3
    # A village's view holds no case of its town that names no village.
    assert snaps["shifan"].kpis["backlog"].value == 1
    assert [r["code"] for r in snaps["shifan"].backlog["units"]] == ["330109001001001"]
    # The top grids are grids: no 未落网格 among them, on either path.
    assert [g["grid_code"] for g in snaps["district"].backlog["top_grids"]] == ["330109002001001"]
    # The event list names the town-level case's missing grid.
    assert {r["event_no"]: r["grid_code"] for r in listed}["SP-006"] == "未落网格"
    # The fast path (rollups) gives the same figures for every one of these views.
    store = RollupStore(make_writer_engine(db_url))
    reader = make_source_engine(db_url)
    try:
        with reader.connect() as conn:
            store.sync(conn)
            for name, view in views.items():
                quick = figures(build_snapshot_fast(conn, store, view, NOW))
                diff = differences(figures(snaps[name]), quick)
                assert not diff, f"{name}: {diff[:10]}"
    finally:
        store.engine.dispose()
        reader.dispose()


def test_the_example_profile_is_valid_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    columns = {n: set(s.fields) for n, s in SPECS.items()}
    profile = load_profile(PROFILE, columns)
    assert (
        profile.header_map("event")["办理状态"] == "status"
        and profile.value("status", "办理中") == "IN_PROGRESS"
    )
    bad = write(tmp_path, "bad.toml", '[headers.event]\n"办理状态" = "state"\n')
    with pytest.raises(ValueError, match="'state' is not an importable column"):
        load_profile(bad, columns)
    with pytest.raises(ValueError, match="not valid TOML"):
        load_profile(write(tmp_path, "broken.toml", "[headers\n"), columns)


def test_an_ambiguous_name_is_an_error_that_names_the_codes(sqlite_url: str, tmp_path: Path) -> None:
    init_db(sqlite_url).dispose()
    twins = UNITS + "330109001002,新城村,城厢街道\n"  # two villages called 新城村, in two towns
    import_files(sqlite_url, [write(tmp_path, "行政区划.csv", twins)])
    grids = write(tmp_path, "网格.csv", "网格编码,网格名称,所属村社\n330109001002001,第一网格,新城村\n")
    with pytest.raises(ImportFailed) as caught:
        import_files(sqlite_url, [grids])
    reasons = [str(e) for e in caught.value.errors]
    assert (
        "网格.csv:2: 所属村社 (village_code): the name '新城村' is shared by 330109001002, 330109002001: give the code"
        in reasons
    )


def test_pinyin_names_follow_the_district_convention() -> None:
    assert english_name("瓜沥镇") == "Guali Zhen"
    assert english_name("城厢街道") == "Chengxiang Jiedao"
    assert english_name("湘湖社区") == "Xianghu Shequ"


def test_the_command_line_takes_a_profile(
    sqlite_url: str, export: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    init_db(sqlite_url).dispose()
    args = [
        "import",
        *map(str, export),
        "--database-url",
        sqlite_url,
        "--profile",
        str(PROFILE),
        "--no-rollups",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "事件导出.csv → event: 8 rows, 8 inserted" in out
        and "dispatched_at from the action log: 1 row" in out
    )
    assert main([*args[:-3], "--profile", str(export[0].parent / "missing.toml")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_a_grid_with_a_boundary_and_no_centre_gets_one_inside_it(sqlite_url: str, tmp_path: Path) -> None:
    init_db(sqlite_url).dispose()
    import_files(sqlite_url, [write(tmp_path, "行政区划.csv", UNITS)])
    # An L-shaped grid: its bounding-box centre (0.5, 0.5 of the box) lies outside the shape.
    ring = "[[120.20,30.10],[120.22,30.10],[120.22,30.11],[120.21,30.11],[120.21,30.12],[120.20,30.12],[120.20,30.10]]"
    shape = '"{""type"":""Polygon"",""coordinates"":[' + ring + ']}"'
    grids = write(
        tmp_path, "网格.csv", f"网格编码,网格名称,所属村社,边界\n330109001001001,第一网格,示范社区,{shape}\n"
    )
    report = import_files(sqlite_url, [grids])
    assert "the boundary's centre" in report.files[0].summary()
    engine = make_writer_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            lng, lat = conn.execute(select(schema.grid.c.center_lng, schema.grid.c.center_lat)).one()
    finally:
        engine.dispose()
    import json

    from shapely.geometry import Point, Polygon

    assert Polygon(json.loads(ring)).contains(Point(lng, lat))


def test_a_case_that_names_no_place_is_refused_with_its_line(sqlite_url: str, tmp_path: Path) -> None:
    init_db(sqlite_url).dispose()
    import_files(sqlite_url, [write(tmp_path, "行政区划.csv", UNITS)])
    head = EVENTS.splitlines()[0]
    rows = [
        "SP-101,城市管理,,12345,普通,,,,,2026-11-12 10:00,,,,,待受理,",  # no grid, village nor town
        "SP-102,城市管理,,12345,普通,,城厢街道,新城村,,2026-11-12 10:00,,,,,待受理,",  # 新城村 is 北干's
        "SP-103,城市管理,,12345,普通,,,新城村,,2026-11-12 10:00,,,,,待受理,",  # the town from the village
        "SP-104,城市管理,,12345,普通,,示范社区,,,2026-11-12 10:00,,,,,待受理,",  # a village as its town
    ]
    events = write(tmp_path, "事件导出.csv", "\n".join([head, *rows]) + "\n")
    with pytest.raises(ImportFailed) as caught:
        import_files(sqlite_url, [events], profile=PROFILE)
    reasons = [str(e) for e in caught.value.errors]
    assert reasons == [
        "事件导出.csv:2: 所属街道 (town_code): required value is missing "
        "(give the grid, the village or at least the town)",
        "事件导出.csv:3: 所属街道 (town_code): '330109001' does not match village 330109002001's town '330109002'",
        "事件导出.csv:5: 所属街道 (town_code): '330109001001' is a village, not a town",
    ]
    events = write(tmp_path, "事件导出.csv", "\n".join([head, rows[2]]) + "\n")
    assert import_files(sqlite_url, [events], profile=PROFILE).files[0].inserted == 1


def old_schema() -> MetaData:
    """The canonical schema as init-db made it before town-level cases: every case needs a grid."""
    old = MetaData()
    for table in schema.metadata.sorted_tables:
        copy = table.to_metadata(old)
        if table.name == "event":
            copy.c.grid_code.nullable = copy.c.village_code.nullable = False
    return old


def test_init_db_upgrades_a_database_made_when_every_case_needed_a_grid(db_url: str, tmp_path: Path) -> None:
    engine = make_writer_engine(db_url)
    try:
        old_schema().create_all(engine)
        assert not_null_columns(engine, "event") == ["grid_code", "village_code"]
        references = (("行政区划.csv", UNITS), ("网格.csv", GRIDS), ("部门.csv", DEPARTMENTS))
        import_files(db_url, [write(tmp_path, name, text) for name, text in references])
        town_only = "\n".join([EVENTS.splitlines()[0], *EVENTS.splitlines()[1:2], EVENTS.splitlines()[6]])
        events = write(tmp_path, "事件导出.csv", town_only + "\n")
        # The old table cannot hold a case without a grid: each such row says how to upgrade.
        with pytest.raises(ImportFailed) as caught:
            import_files(db_url, [events], profile=PROFILE)
        assert [str(e).split(": ", 1)[0] for e in caught.value.errors] == ["事件导出.csv:3"] * 2
        assert "run init-db again" in str(caught.value.errors[0])
        gridded = write(tmp_path, "事件导出一.csv", "\n".join(town_only.splitlines()[:2]) + "\n")
        import_files(db_url, [gridded], profile=PROFILE)
        init_db(db_url).dispose()  # the upgrade: the columns relaxed, the rows and indexes kept
        assert not_null_columns(engine, "event") == []
        columns = {c["name"]: c for c in inspect(engine).get_columns("event")}
        if engine.dialect.name != "sqlite":  # SQLite keeps no comments
            assert columns["grid_code"]["comment"] == schema.event.c.grid_code.comment
        indexes = {i["name"] for i in inspect(engine).get_indexes("event")}
        assert {i.name for i in schema.event.indexes} <= indexes
        with engine.connect() as conn:
            assert conn.execute(select(schema.event.c.event_no)).scalars().all() == ["SP-001"]
        assert import_files(db_url, [events], profile=PROFILE).files[0].inserted == 1
        init_db(db_url).dispose()  # idempotent
    finally:
        engine.dispose()
