"""The importer: round trip, idempotence, rejection with precise messages, encodings, header aliases.

The database tests run on SQLite, PostgreSQL and MariaDB (``db_url``); pure parsing tests need none.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard.cli import main
from dashboard.ingest.conversion import parse_datetime
from dashboard.ingest.importer import import_files
from dashboard.ingest.reading import FileProblem, decode_text, normalise_header
from dashboard.ingest.results import ImportFailed, RowError, print_errors
from dashboard.ingest.specs import infer_table
from dashboard.source import schema
from dashboard.source.engines import init_db, make_writer_engine

FIX = Path(__file__).parent / "fixtures"
REFS = [FIX / "admin_units.csv", FIX / "departments.csv", FIX / "grids_gb18030.csv"]
EVENTS = [FIX / "events_zh.csv", FIX / "events_en.xlsx", FIX / "event_actions.csv"]
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def fresh(url: str) -> str:
    init_db(url).dispose()
    return url


def table_rows(url: str, table: Any) -> list[dict[str, Any]]:
    return snapshot(url, [table])[table.name]


def snapshot(url: str, tables: list[Any] = schema.ALL_TABLES) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``tables``, in a stable order, over one connection."""
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: sorted((dict(r._mapping) for r in conn.execute(select(t))), key=repr) for t in tables
            }
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    engine = make_writer_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in schema.ALL_TABLES
            }
    finally:
        engine.dispose()


def events_by_no(url: str) -> dict[str, dict[str, Any]]:
    return {r["event_no"]: r for r in table_rows(url, schema.event)}


# --- Database round trips (three backends) -----------------------------------------------------------


def test_round_trip_reimport_and_update(db_url: str, tmp_path: Path) -> None:
    fresh(db_url)
    # Files given out of dependency order on purpose: the importer sorts them.
    report = import_files(db_url, [*EVENTS, *REFS])
    assert {(f.file, f.inserted) for f in report.files} == {
        ("admin_units.csv", 5),
        ("departments.csv", 2),
        ("grids_gb18030.csv", 2),
        ("events_zh.csv", 3),
        ("events_en.xlsx", 2),
        ("event_actions.csv", 4),
    }

    ev = events_by_no(db_url)
    e1 = ev["XS20261128-000001"]  # Chinese labels, "2026-11-28 09:30" and "2026/11/28 9:45" (+08:00)
    assert (e1["category_l1"], e1["source"], e1["priority"], e1["status"]) == (
        "FIRE",
        "GRID_APP",
        "NORMAL",
        "CLOSED",
    )
    assert e1["reported_at"] == utc(2026, 11, 28, 1, 30)
    assert e1["accepted_at"] == utc(2026, 11, 28, 1, 45)
    assert e1["closed_at"] == utc(2026, 11, 28, 3, 30)
    assert (e1["village_code"], e1["town_code"]) == ("330109001001", "330109001")  # derived from the grid
    assert e1["dispatch_dept_code"] == "D05_FIRE"
    assert e1["address"] == "城厢街道示范社区3幢"
    e2 = ev["XS20261128-000002"]  # codes mixed with labels; an explicit +08:00 offset
    assert (e2["category_l1"], e2["source"], e2["priority"]) == ("WORK_SAFETY", "HOTLINE_12345", "URGENT")
    assert e2["reported_at"] == utc(2026, 11, 28, 0, 5)
    assert ev["XS20261128-000003"]["reported_at"] == utc(2026, 11, 28, 2, 15)  # 2026年11月28日 10:15
    e4 = ev["XS20261128-000004"]  # XLSX, English headers, naive datetime cells, a numeric grid code
    assert e4["grid_code"] == "330109002001001"
    assert e4["reported_at"] == utc(2026, 11, 27, 23, 0)
    assert (e4["priority"], e4["is_supervised"]) == ("URGENT", True)
    assert e4["lng"] == pytest.approx(120.2631, abs=1e-3)  # MariaDB FLOAT keeps 6 digits
    e5 = ev["XS20261128-000005"]
    assert (e5["category_l1"], e5["source"]) == ("CITY_APPEARANCE", "PATROL")
    assert e5["reported_at"] == utc(2026, 11, 27, 23, 50)  # ISO with Z
    assert e5["closed_at"] == utc(2026, 11, 28, 1, 0, 30)

    grids = {g["grid_code"]: g for g in table_rows(db_url, schema.grid)}  # the GB18030 file
    assert grids["330109001001001"]["grid_name"] == "示范社区第一网格"
    assert grids["330109002001001"]["town_code"] == "330109002"  # from the village's parent
    actions = table_rows(db_url, schema.event_action)
    assert len(actions) == 4
    accept_e2 = next(a for a in actions if a["event_id"] == e2["event_id"])
    assert (accept_e2["action"], accept_e2["to_status"]) == ("ACCEPT", "ACCEPTED")  # to_status derived

    # Re-import: nothing changes, and the summary says so.
    before = snapshot(db_url)
    again = import_files(db_url, [*REFS, *EVENTS])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 18)
    assert "0 inserted, 0 updated, 3 unchanged" in again.files[3].summary()
    assert snapshot(db_url) == before

    # A corrected title is an update of that one row, matched on event_no.
    edited = tmp_path / "events_zh.csv"
    edited.write_bytes(
        (FIX / "events_zh.csv").read_bytes().replace("路灯不亮".encode(), "路灯不亮(已核实)".encode())
    )
    changed = import_files(db_url, [edited])
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 2)
    assert events_by_no(db_url)["XS20261128-000003"]["title"] == "路灯不亮(已核实)"
    assert counts(db_url)["event"] == 5


def test_corrupt_files_rejected_and_nothing_written(db_url: str, tmp_path: Path) -> None:
    fresh(db_url)
    import_files(db_url, REFS)
    truncated = tmp_path / "events_truncated.xlsx"
    data = (FIX / "events_en.xlsx").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    before = counts(db_url)

    files = [
        FIX / "events_zh.csv",  # a good file in the same import: must not be written either
        FIX / "events_bad.csv",
        FIX / "events_missing_column.csv",
        FIX / "events_garbage.csv",
        truncated,
    ]
    with pytest.raises(ImportFailed) as caught:
        import_files(db_url, files)

    errors = caught.value.errors
    where = [(e.file, e.line, e.column) for e in errors]
    assert where == [
        # line 2–3 is one record with a two-line description: lines are physical lines
        ("events_bad.csv", 4, "上报时间 (reported_at)"),
        ("events_bad.csv", 5, "一级分类 (category_l1)"),
        ("events_bad.csv", 6, "所属网格 (grid_code)"),
        ("events_bad.csv", 7, "办结时间 (closed_at)"),
        ("events_bad.csv", 7, "办结时间 (closed_at)"),
        ("events_missing_column.csv", 1, "reported_at"),
        ("events_garbage.csv", 2, ""),
        ("events_truncated.xlsx", 0, ""),
    ]
    reasons = [e.reason for e in errors]
    assert "2026-13-45 10:00" in reasons[0]
    assert "外星人入侵" in reasons[1]
    assert "330109999999999" in reasons[2]
    assert "before reported_at" in reasons[3] and "before accepted_at" in reasons[4]
    assert "上报时间" in reasons[5]
    assert "neither UTF-8 nor GB18030" in reasons[6]
    assert "XLSX" in reasons[7]
    assert str(caught.value) == "8 errors, nothing written"
    assert counts(db_url) == before  # the good file and the good row of the bad file were not written


OTHER_TABLES = {
    "staff.csv": "人员编号,姓名,角色,所属网格,所属部门,手机号,在岗\n"
    "101,张三,网格员,330109001001001,,13800000000,是\n"
    "102,李四,处置人员,,D05_FIRE,,否\n",
    "巡查.csv": "巡查人,所属网格,巡查类型,开始时间,结束时间,里程(米),定位点数,打卡次数,有效\n"
    "101,330109001001001,网格员日常巡查,2026-11-28 08:00,2026-11-28 08:45,1800,12,2,是\n",
    "巡查打卡.csv": "巡查人,巡查开始时间,巡检点,打卡方式,打卡时间\n"
    "101,2026-11-28 08:00,CP-001,扫码,2026-11-28 08:10\n"
    "101,2026-11-28 08:00,CP-002,NFC,2026-11-28 08:30\n",
    "video_points.csv": "点位编码,点位名称,点位类别,所属网格,经度,纬度,建设单位,安装时间,在线\n"
    "VP-0001,示范社区东门,一类,330109001001001,120.2491,30.1688,公安,2016-05-01,离线\n",
    "视频状态.csv": "点位编码,在线,变更时间,原因\nVP-0001,否,2026-11-28 07:59,断电\n",
    "evaluations.csv": "事件编号,回访方式,评价结果,速度评分,效果评分,评价时间\n"
    "XS20261128-000001,电话回访,满意,5,4,2026-11-28 15:00\n",
    "警情统计.csv": "统计日期,镇街编码,有效110警情,侵财案件,重大恶性案件\n2026/11/28,330109001,12,3,0\n",
    "重点地区.csv": "编号,名称,所属镇街,突出问题,挂牌日期,摘牌日期\n1,某城中村,330109002,治安乱点,2016-03-01,2016-08-20\n",
    "安全检查.csv": "检查单位,统一社会信用代码,所属网格,检查时间,发现隐患,已整改隐患,整改期限\n"
    "某五金厂,92330109MA2C4F7X1Y,330109002001001,2026-11-27 14:00,3,2,2026-12-05\n",
}


def test_every_other_table_imports_and_reimports(db_url: str, tmp_path: Path) -> None:
    fresh(db_url)
    paths = []
    for name, content in OTHER_TABLES.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(content, encoding="utf-8")
    report = import_files(db_url, [*REFS, FIX / "events_zh.csv", *paths])
    tables = {f.file: f.table for f in report.files}
    assert tables["巡查打卡.csv"] == "patrol_checkin" and tables["视频状态.csv"] == "video_status_change"
    assert report.inserted == 5 + 2 + 2 + 3 + 11  # references, events, then one per data line above
    n = counts(db_url)
    assert (n["staff"], n["patrol"], n["patrol_checkin"], n["video_status_change"]) == (2, 1, 2, 1)

    (patrol,) = table_rows(db_url, schema.patrol)
    assert (patrol["town_code"], patrol["valid"], patrol["started_at"]) == (
        "330109001",
        True,
        utc(2026, 11, 28, 0, 0),
    )
    assert {c["patrol_id"] for c in table_rows(db_url, schema.patrol_checkin)} == {patrol["patrol_id"]}
    (point,) = table_rows(db_url, schema.video_point)
    assert (point["online"], point["point_class"], point["town_code"]) == (False, "一类", "330109001")
    (inspection,) = table_rows(db_url, schema.safety_inspection)
    assert (inspection["town_code"], inspection["rectify_deadline"]) == ("330109002", dt.date(2026, 12, 5))
    assert inspection["unit_code"] == "92330109MA2C4F7X1Y"  # 统一社会信用代码: the unit's key
    staff = {s["staff_id"]: s for s in table_rows(db_url, schema.staff)}
    assert (staff[101]["role"], staff[101]["town_code"], staff[102]["active"]) == (
        "GRID_WORKER",
        "330109001",
        False,
    )

    again = import_files(db_url, [*REFS, FIX / "events_zh.csv", *paths])
    assert (again.inserted, again.updated) == (0, 0)


# --- One backend is enough for the rest ---------------------------------------------------------------


def test_dry_run_checks_everything_and_writes_nothing(sqlite_url: str) -> None:
    fresh(sqlite_url)
    report = import_files(sqlite_url, [*REFS, *EVENTS], dry_run=True)
    assert report.dry_run and report.inserted == 18  # dependencies resolved inside the rolled-back run
    assert sum(counts(sqlite_url).values()) == 0


def test_rules_duplicates_status_and_transitions(sqlite_url: str, tmp_path: Path) -> None:
    fresh(sqlite_url)
    import_files(sqlite_url, [*REFS, FIX / "events_zh.csv"])
    events = tmp_path / "more_events.csv"
    events.write_text(
        "event_no,title,category_l1,source,priority,grid_code,status,reported_at,closed_at\n"
        "XS9,a,FIRE,GRID_APP,NORMAL,330109001001001,REPORTED,2026-11-28 09:00,\n"
        "XS9,b,FIRE,GRID_APP,NORMAL,330109001001001,REPORTED,2026-11-28 09:00,\n"
        "XS10,c,FIRE,GRID_APP,NORMAL,330109001001001,ACCEPTED,2026-11-28 09:00,2026-11-28 10:00\n",
        encoding="utf-8",
    )
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "event_no,action,from_status,to_status,at\n"
        "XS20261128-000001,CLOSE,REPORTED,CLOSED,2026-11-28 11:30\n"
        "XS20261128-000001,催办,,,2026-11-28 11:00\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as caught:
        import_files(sqlite_url, [events, actions])
    found = {(e.file, e.line, e.column.split(" ")[-1]): e.reason for e in caught.value.errors}
    assert "same as line 2" in found[("more_events.csv", 3, "event_no")]
    assert "not closed" in found[("more_events.csv", 4, "status")]
    assert ("more_events.csv", 4, "accepted_at") not in found  # an intermediate time: a note, not an error
    assert "cannot move REPORTED → CLOSED" in found[("actions.csv", 2, "to_status")]
    assert "several states" in found[("actions.csv", 3, "to_status")]


def test_forced_table_and_english_aliases(sqlite_url: str, tmp_path: Path) -> None:
    fresh(sqlite_url)
    import_files(sqlite_url, REFS)
    stats = tmp_path / "export_2026.csv"  # a name that says nothing: --table decides
    stats.write_text(
        "Stat Date,Town Code,有效110警情,侵财案件,重大恶性案件\n2026-11-28,330109001,12,3,0\n",
        encoding="utf-8",
    )
    report = import_files(sqlite_url, [stats], table="police_call_stat")
    assert report.files[0].table == "police_call_stat" and report.inserted == 1
    (row,) = table_rows(sqlite_url, schema.police_call_stat)
    assert row == {
        "stat_date": dt.date(2026, 11, 28),
        "town_code": "330109001",
        "effective_110_calls": 12,
        "property_crime_cases": 3,
        "major_violent_cases": 0,
    }
    assert import_files(sqlite_url, [stats], table="警情统计").unchanged == 1


def test_cli_exit_codes(sqlite_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fresh(sqlite_url)
    base = ["import", "--database-url", sqlite_url, "--no-progress"]
    assert main([*base, *map(str, REFS)]) == 0
    assert "admin_units.csv → admin_unit: 5 rows, 5 inserted" in capsys.readouterr().out
    assert main([*base, str(FIX / "events_bad.csv")]) == 1
    err = capsys.readouterr().err
    assert "events_bad.csv:4: 上报时间 (reported_at):" in err and "5 errors, nothing written" in err
    assert main([*base, "--table", "nonsense", str(FIX / "events_zh.csv")]) == 2
    assert main([*base, "--dry-run", str(FIX / "events_zh.csv")]) == 0
    assert "dry run" in capsys.readouterr().out
    assert counts(sqlite_url)["event"] == 0


# --- Parsing (no database) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28 09:30", utc(2026, 11, 28, 1, 30)),
        ("2026/11/28 9:30", utc(2026, 11, 28, 1, 30)),
        ("2026-11-28T09:30:15.5", utc(2026, 11, 28, 1, 30, 15, 500000)),
        ("2026-11-28T01:30:00Z", utc(2026, 11, 28, 1, 30)),
        ("2026-11-28 09:30+0900", utc(2026, 11, 28, 0, 30)),
        ("2026年11月28日 9时30分", utc(2026, 11, 28, 1, 30)),
        ("2026-11-28", utc(2026, 11, 27, 16, 0)),
    ],
)
def test_parse_datetime_defaults_to_shanghai(text: str, expected: dt.datetime) -> None:
    assert parse_datetime(text) == expected


def test_parse_datetime_rejects_nonsense() -> None:
    for bad in ("28/11/2026 09:30", "2026-02-30 10:00", "yesterday"):
        with pytest.raises(ValueError):
            parse_datetime(bad)


def test_encodings() -> None:
    text = "网格编码,网格名称\n"
    assert decode_text(text.encode("gb18030")) == text
    assert decode_text(b"\xef\xbb\xbf" + text.encode()) == text
    assert decode_text(text.encode("utf-16")) == text
    # UTF-8 Chinese, then bytes that happen to be valid GB18030: a damaged UTF-8 file, not GB18030 mojibake.
    with pytest.raises(FileProblem) as caught:
        decode_text(text.encode() + b"1,2\n3,\xb0\xa1\n")
    assert caught.value.line == 3 and "neither UTF-8 nor GB18030" in caught.value.reason


def test_headers_and_table_inference() -> None:
    assert normalise_header("\ufeffEvent No") == "event_no"
    assert normalise_header("上报时间（北京时间）") == "上报时间"
    zh = ["事件编号", "标题", "一级分类", "来源", "紧急程度", "所属网格", "状态", "上报时间"]
    assert infer_table(zh, "anything.csv") == "event"
    assert infer_table(["事件编号", "操作", "操作时间"], "log.csv") == "event_action"
    assert infer_table(["点位编码", "在线", "时间"], "video_status_change.csv") == "video_status_change"
    with pytest.raises(ValueError, match="--table"):
        infer_table(["foo", "bar"], "data.csv")


def test_error_report_is_capped() -> None:
    errors = [RowError("f.csv", i, "c", "bad") for i in range(1, 251)]
    out = io.StringIO()
    print_errors(errors, out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 201 and lines[0] == "f.csv:1: c: bad" and lines[-1] == "… and 50 more errors"
