"""The canonical 一张网 schema (SQLAlchemy 2 Core): units, grids, people, cases, patrols, video, campaigns.

Written for a DBA who maps an existing 一张网 database onto it with views: every table and column says
what it holds and its Chinese term. Timestamps are stored as UTC without an offset (the same bytes on
SQLite, PostgreSQL and MariaDB) and come back timezone-aware through :class:`UTCDateTime`; screens
show them in Asia/Shanghai. ``dashboard/source/README.md`` → "Schema" is the table-by-table guide, with a
view per table for mapping an existing database (a test keeps its column tables in step with this module).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect

UTC = dt.UTC


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware instant stored as naive UTC.

    Why not ``DateTime(timezone=True)``: MariaDB's DATETIME and SQLite have no offset, and PostgreSQL's
    timestamptz would then differ from them. Storing naive UTC everywhere makes the same SQL (date
    bucketing with a fixed +8 h for Asia/Shanghai, which has no DST) give the same answer on all three.
    Naive datetimes passed in are rejected: an instant without a zone is a bug waiting to happen.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            from sqlalchemy.dialects.mysql import DATETIME

            return dialect.type_descriptor(DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware instant")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite may hand back text
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


metadata = MetaData()


def _code(length: int = 15) -> String:
    return String(length)


# --- Administrative units and grids -------------------------------------------------------------------

admin_unit = Table(
    "admin_unit",
    metadata,
    Column(
        "code", _code(), primary_key=True, comment="行政区划代码: 6 (district), 9 (镇街) or 12 (村社) digits"
    ),
    Column("name_zh", String(64), nullable=False, comment="名称"),
    Column("name_en", String(96), nullable=False, comment="pinyin / English name"),
    Column("level", String(12), nullable=False, comment="district | town | village"),
    Column("unit_type", String(12), nullable=False, comment="区 | 街道 | 镇 | 村 | 社区 | zone(功能区)"),
    Column("parent_code", _code(), nullable=True, comment="上级区划代码"),
    Column("valid_from", Date, nullable=False, comment="生效日期"),
    Column("valid_to", Date, nullable=True, comment="失效日期 (NULL = still valid)"),
    Column("managed_by", String(64), nullable=True, comment="托管单位, e.g. 大江东产业集聚区 in 2016"),
    Column("lng", Double, nullable=True, comment="label point longitude"),
    Column("lat", Double, nullable=True, comment="label point latitude"),
    Column("population", Integer, nullable=True, comment="常住人口 (approximate)"),
    Column("households", Integer, nullable=True, comment="户数"),
    Column("area_km2", Double, nullable=True, comment="面积"),
    Column(
        "boundary_geojson",
        Text,
        nullable=True,
        comment="边界 (GeoJSON geometry, WGS 84; a generated shape is marked illustrative)",
    ),
    comment="行政区划 / 功能区: district → 镇街 → 村社",
)
Index("ix_admin_unit_parent", admin_unit.c.parent_code, admin_unit.c.level)

grid = Table(
    "grid",
    metadata,
    Column(
        "grid_code", _code(), primary_key=True, comment="网格编码 = 12-digit village code + 3-digit serial"
    ),
    Column("grid_name", String(64), nullable=False, comment="网格名称"),
    Column("village_code", _code(), ForeignKey("admin_unit.code"), nullable=False, comment="所属村社"),
    Column(
        "town_code", _code(), ForeignKey("admin_unit.code"), nullable=False, comment="所属镇街 (denormalised)"
    ),
    Column("grid_type", String(12), nullable=False, comment="基础网格 | 专属网格"),
    Column("households", Integer, nullable=True, comment="户数"),
    Column(
        "population_registered",
        Integer,
        nullable=True,
        comment="户籍人口 (unknown: per-1,000 figures show —)",
    ),
    Column("population_floating", Integer, nullable=True, comment="流动人口"),
    Column("leader_staff_id", Integer, nullable=True, comment="网格长"),
    Column("worker_staff_id", Integer, nullable=True, comment="专职网格员"),
    Column("center_lng", Double, nullable=True, comment="centre (import: the boundary's when not given)"),
    Column("center_lat", Double, nullable=True),
    Column(
        "boundary_geojson",
        Text,
        nullable=True,
        comment="边界 (GeoJSON geometry, WGS 84; a generated shape is marked illustrative)",
    ),
    Column("status", String(12), nullable=False, default="ACTIVE", comment="ACTIVE | RETIRED"),
    comment="网格 (基础网格 / 专属网格)",
)
Index("ix_grid_village", grid.c.village_code)
Index("ix_grid_town", grid.c.town_code)

# --- People and departments ---------------------------------------------------------------------------

department = Table(
    "department",
    metadata,
    Column("dept_code", String(24), primary_key=True, comment="部门编码"),
    Column("name_zh", String(64), nullable=False, comment="部门名称"),
    Column("name_en", String(96), nullable=False),
    Column("level", String(12), nullable=False, comment="district | town_platform | team"),
    Column("parent_code", String(24), nullable=True),
    comment="职能部门 / 处置单位",
)

staff = Table(
    "staff",
    metadata,
    Column("staff_id", Integer, primary_key=True, autoincrement=False, comment="人员编号"),
    Column("name", String(32), nullable=False, comment="姓名 (personal data: masked on screen)"),
    Column(
        "role",
        String(24),
        nullable=False,
        comment="GRID_LEADER 网格长 | GRID_WORKER 网格员 | GRID_ASSISTANT 网格助理 | DISPATCHER 坐席 | "
        "HANDLER 处置人员 | PATROL_FULL 专职巡防 | PATROL_PART 兼职巡防 | VOLUNTEER 红袖章",
    ),
    Column("grid_code", _code(), nullable=True, comment="所属网格 (NULL for department staff)"),
    Column("town_code", _code(), nullable=True, comment="所属镇街"),
    Column("dept_code", String(24), nullable=True, comment="所属部门"),
    Column("phone", String(20), nullable=True, comment="手机号 (personal data: masked on screen)"),
    Column("device_id", String(24), nullable=True, comment="平安e通 handset"),
    Column("active", Boolean, nullable=False, default=True),
    comment="网格人员、巡防力量及处置人员",
)
Index("ix_staff_role_town", staff.c.role, staff.c.town_code)

# --- Events and their lifecycle -----------------------------------------------------------------------

event = Table(
    "event",
    metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_no", String(24), nullable=False, unique=True, comment="事件编号, e.g. XS20160712-000123"),
    Column("title", String(128), nullable=False, comment="标题"),
    Column("description", Text, nullable=True, comment="描述"),
    Column("category_l1", String(24), nullable=False, comment="一级分类 (a code of domain.CATEGORIES)"),
    Column("category_l2", String(32), nullable=True, comment="二级分类"),
    Column("source", String(24), nullable=False, comment="来源 (a code of domain.SOURCES)"),
    Column("priority", String(12), nullable=False, comment="NORMAL 一般 | URGENT 紧急 | MAJOR 重大"),
    Column("grid_code", _code(), nullable=True, comment="网格 (NULL: a town-level case, 未落网格)"),
    Column("village_code", _code(), nullable=True, comment="村社 (denormalised; NULL: town-level only)"),
    Column("town_code", _code(), nullable=False, comment="镇街 (denormalised)"),
    Column("lng", Double, nullable=True),
    Column("lat", Double, nullable=True),
    Column("address", String(128), nullable=True, comment="地址 (personal data)"),
    Column("reporter_type", String(16), nullable=True, comment="上报人类型"),
    Column("reporter_id", Integer, nullable=True),
    Column("reporter_name", String(32), nullable=True, comment="上报人 (personal data)"),
    Column("reporter_phone", String(20), nullable=True, comment="联系电话 (personal data)"),
    Column("status", String(16), nullable=False, comment="当前状态 (a code of domain.STATUSES)"),
    Column("reported_at", UTCDateTime, nullable=False, comment="上报时间"),
    Column("accepted_at", UTCDateTime, nullable=True, comment="受理时间 (SLA clock starts)"),
    Column("rejected_at", UTCDateTime, nullable=True, comment="不予受理时间"),
    Column("dispatched_at", UTCDateTime, nullable=True, comment="(最近一次) 派单时间"),
    Column("dispatch_dept_code", String(24), nullable=True, comment="承办部门"),
    Column("dispatch_count", SmallInteger, nullable=False, default=0, comment="派单次数"),
    Column("signed_at", UTCDateTime, nullable=True, comment="签收时间"),
    Column("handled_at", UTCDateTime, nullable=True, comment="处置完成时间"),
    Column("closed_at", UTCDateTime, nullable=True, comment="办结时间 (set = 已办结)"),
    Column("verified_at", UTCDateTime, nullable=True, comment="核查时间"),
    Column("verify_result", String(8), nullable=True, comment="PASS | FAIL"),
    Column("archived_at", UTCDateTime, nullable=True, comment="归档时间"),
    Column("deadline_at", UTCDateTime, nullable=True, comment="办理时限"),
    Column("extended_deadline_at", UTCDateTime, nullable=True, comment="延期后时限"),
    Column("extension_count", SmallInteger, nullable=False, default=0, comment="延期次数"),
    Column("returned_count", SmallInteger, nullable=False, default=0, comment="退回次数"),
    Column("reopened_count", SmallInteger, nullable=False, default=0, comment="返工次数"),
    Column("is_supervised", Boolean, nullable=False, default=False, comment="督办"),
    Column("supervised_at", UTCDateTime, nullable=True, comment="督办时间"),
    Column("supervision_level", String(12), nullable=True, comment="督办级别: 镇街 | 区"),
    Column("satisfaction", String(12), nullable=True, comment="满意 | 基本满意 | 不满意 | 未评价"),
    Column(
        "level_of_handling", String(12), nullable=True, comment="办结层级: GRID | VILLAGE | TOWN | DISTRICT"
    ),
    comment="事件 / 案件 / 工单 (GB/T 33358 工单). The current row; the action log is the history.",
)
Index("ix_event_reported", event.c.reported_at)
Index("ix_event_town_reported", event.c.town_code, event.c.reported_at)
Index("ix_event_closed", event.c.closed_at)
Index("ix_event_open_grid", event.c.status, event.c.grid_code)
Index("ix_event_deadline", event.c.deadline_at)
Index("ix_event_grid_reported", event.c.grid_code, event.c.reported_at)

event_action = Table(
    "event_action",
    metadata,
    Column("action_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "event_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("event.event_id"), nullable=False
    ),
    Column(
        "action",
        String(20),
        nullable=False,
        comment="REPORT ACCEPT REJECT DISPATCH SIGN RETURN HANDLE REQUEST_EXTENSION APPROVE_EXTENSION "
        "SUPERVISE URGE CLOSE VERIFY_PASS VERIFY_FAIL EVALUATE ARCHIVE",
    ),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor_staff_id", Integer, nullable=True, comment="操作人"),
    Column("actor_dept_code", String(24), nullable=True),
    Column("target_dept_code", String(24), nullable=True, comment="派往部门"),
    Column("comment", String(200), nullable=True, comment="处理意见"),
    Column("at", UTCDateTime, nullable=False, comment="操作时间"),
    Column("duration_seconds", Integer, nullable=True, comment="与上一环节的间隔"),
    comment="流转记录 / 操作日志: append-only; the truth of the lifecycle",
)
Index("ix_action_event", event_action.c.event_id, event_action.c.at)
Index("ix_action_at", event_action.c.at)

evaluation = Table(
    "evaluation",
    metadata,
    Column(
        "evaluation_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "event_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("event.event_id"), nullable=False
    ),
    Column("channel", String(12), nullable=False, comment="电话回访 | APP"),
    Column("result", String(12), nullable=False, comment="满意 | 基本满意 | 不满意"),
    Column("speed_score", SmallInteger, nullable=True, comment="1–5"),
    Column("effect_score", SmallInteger, nullable=True, comment="1–5"),
    Column("at", UTCDateTime, nullable=False),
    comment="回访 / 评价",
)
Index("ix_evaluation_at", evaluation.c.at)
Index("ix_evaluation_event", evaluation.c.event_id)

# --- Patrols ------------------------------------------------------------------------------------------

patrol = Table(
    "patrol",
    metadata,
    Column("patrol_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("staff_id", Integer, nullable=False, comment="巡查人"),
    Column("grid_code", _code(), nullable=False),
    Column("town_code", _code(), nullable=False),
    Column(
        "patrol_type",
        String(16),
        nullable=False,
        comment="GRID 网格员日常巡查 | FULL_TIME 专职巡防 | PART_TIME 兼职巡防 | VOLUNTEER 红袖章 | DEPT 部门巡查",
    ),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True, comment="NULL while the patrol is under way"),
    Column("distance_m", Integer, nullable=True),
    Column("gps_fix_count", Integer, nullable=False, default=0, comment="GPS fixes inside the grid"),
    Column("checkin_count", Integer, nullable=False, default=0, comment="打卡次数"),
    Column("events_reported", Integer, nullable=False, default=0),
    Column("valid", Boolean, nullable=False, default=False, comment="有效巡查: ≥30 min, ≥3 fixes, ≥1 打卡"),
    comment="巡查 / 巡防记录",
)
Index("ix_patrol_grid_started", patrol.c.grid_code, patrol.c.started_at)
Index("ix_patrol_started", patrol.c.started_at)

patrol_checkin = Table(
    "patrol_checkin",
    metadata,
    Column("checkin_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "patrol_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("patrol.patrol_id"),
        nullable=False,
    ),
    Column("checkpoint_code", String(24), nullable=False, comment="巡检点"),
    Column("method", String(8), nullable=False, comment="QR 扫码 | GPS 定位 | NFC 智点 | PHOTO 拍照"),
    Column("at", UTCDateTime, nullable=False),
    Column("lng", Double, nullable=True),
    Column("lat", Double, nullable=True),
    comment="巡查打卡",
)
Index("ix_checkin_patrol", patrol_checkin.c.patrol_id)
Index("ix_checkin_at", patrol_checkin.c.at)

# --- Video --------------------------------------------------------------------------------------------

video_point = Table(
    "video_point",
    metadata,
    Column("point_code", String(24), primary_key=True, comment="点位编码"),
    Column("name", String(64), nullable=False),
    Column("point_class", String(8), nullable=False, comment="一类 | 二类 | 三类"),
    Column("grid_code", _code(), nullable=False),
    Column("town_code", _code(), nullable=False),
    Column("lng", Double, nullable=False),
    Column("lat", Double, nullable=False),
    Column("owner", String(12), nullable=False, comment="公安 | 综治 | 社会面"),
    Column("installed_at", UTCDateTime, nullable=False),
    Column("online", Boolean, nullable=False, comment="current state; history in video_status_change"),
    Column("last_heartbeat_at", UTCDateTime, nullable=True),
    Column("fault_since", UTCDateTime, nullable=True, comment="离线开始时间"),
    comment="视频监控点位",
)
Index("ix_video_town", video_point.c.town_code)

video_status_change = Table(
    "video_status_change",
    metadata,
    Column("change_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("point_code", String(24), ForeignKey("video_point.point_code"), nullable=False),
    Column("online", Boolean, nullable=False, comment="state after the change"),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", String(32), nullable=True, comment="断电 | 网络 | 设备故障 | 维护 | 恢复"),
    comment="视频点位状态变更 (append-only)",
)
# A point's state at an instant is one backward step of this index; with change_id (the tie-break) and
# online in the key the step reads no table row (the video tile probes every point at three instants).
Index(
    "ix_video_change_point_at",
    video_status_change.c.point_code,
    video_status_change.c.at,
    video_status_change.c.change_id,
    video_status_change.c.online,
)
Index("ix_video_change_at", video_status_change.c.at)

# --- Aggregates and campaigns -------------------------------------------------------------------------

police_call_stat = Table(
    "police_call_stat",
    metadata,
    Column("stat_date", Date, primary_key=True, comment="统计日 (Asia/Shanghai)"),
    Column("town_code", _code(), primary_key=True),
    Column("effective_110_calls", Integer, nullable=False, comment="有效110警情"),
    Column("property_crime_cases", Integer, nullable=False, comment="侵财案件"),
    Column("major_violent_cases", Integer, nullable=False, comment="重大恶性案件"),
    comment="110 警情日统计 (三降)",
)
# The data version counts and sums the statistics (imports correct them in place): from this narrow
# covering index the engines count and sum without reading a table row (SQLite: ~15 → ~6 ms a view on
# the 141,778 rows of the `make run` sample).
Index("ix_police_calls", police_call_stat.c.effective_110_calls)

key_area = Table(
    "key_area",
    metadata,
    Column("area_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False, comment="挂牌整治重点地区"),
    Column("town_code", _code(), nullable=False),
    Column("issue", String(64), nullable=True, comment="突出问题"),
    Column("listed_at", Date, nullable=False, comment="挂牌日期"),
    Column("delisted_at", Date, nullable=True, comment="摘牌日期"),
    comment="挂牌整治重点地区",
)

safety_inspection = Table(
    "safety_inspection",
    metadata,
    Column(
        "inspection_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("unit_name", String(64), nullable=False, comment="检查单位"),
    # Optional: a unit's own key (统一社会信用代码 or the system's unit code), so a unit inspected twice
    # counts once among the units inspected; without it the unit is told apart by town and name.
    Column("unit_code", String(32), nullable=True, comment="单位编码（统一社会信用代码）"),
    Column("town_code", _code(), nullable=False),
    Column("grid_code", _code(), nullable=True),
    Column("inspected_at", UTCDateTime, nullable=False, comment="检查时间"),
    Column("hazards_found", Integer, nullable=False, comment="发现隐患"),
    Column("hazards_rectified", Integer, nullable=False, comment="已整改隐患"),
    Column("rectify_deadline", Date, nullable=True, comment="整改期限"),
    comment="安全检查",
)
# The hazard tile sums found and rectified hazards and counts the distinct units over a year of
# inspections by time and place: with them in the key it reads no table row (10 M-event district on
# SQLite: 56 → 33 ms, the rest is the spark line's grouping by local day). The deadline too: the colour
# is judged on the hazards due (without it, a heap fetch per inspection: 0.1–0.4 s of a cold view at 10 M
# events on PostgreSQL).
Index(
    "ix_inspection_at",
    safety_inspection.c.inspected_at,
    safety_inspection.c.town_code,
    safety_inspection.c.grid_code,
    safety_inspection.c.hazards_found,
    safety_inspection.c.hazards_rectified,
    safety_inspection.c.rectify_deadline,
    safety_inspection.c.unit_code,
    safety_inspection.c.unit_name,
)

ALL_TABLES = list(metadata.sorted_tables)
