"""``python -m dashboard import``: load CSV/XLSX exports of a 一张网 system into the canonical tables.

The contract, in short (README → "Import" has the full file format):

* CSV in UTF-8 (with or without BOM), GB18030 (Excel on Chinese Windows) or UTF-16 (Excel "Unicode
  text"); XLSX (first sheet). Headers in English (the canonical column names) or Chinese (aliases below).
* Which table: ``--table``, else inferred from the headers (and the file name when the headers fit
  several tables).
* Every value is converted and checked; every bad row is reported with file, line, column and reason.
  One transaction for the whole import: any error anywhere means nothing is written.
* Re-importing a file changes nothing: rows are matched on natural keys, then inserted, updated or
  left alone. The upsert is plain SELECT/INSERT/UPDATE so it behaves the same on every backend.

Files are processed in dependency order inside the transaction (units before grids before events
before actions), so an import may carry its own reference rows; ``--dry-run`` runs the same work and
rolls it back.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import datetime as dt
import io
import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    SmallInteger,
    String,
    Table,
    and_,
    inspect,
)
from sqlalchemy import select as sa_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from dashboard.cli.initdb import add_database_argument, database_url
from dashboard.core import domain
from dashboard.core.progress import Progress
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine

SHANGHAI = ZoneInfo(domain.TZ_NAME)
UTC = dt.UTC
CHUNK = 500  # keys per SELECT … IN (…): well under every backend's parameter limit
MAX_REPORTED_ERRORS = 200

# --- Public result types ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in an import file. ``line`` is the physical CSV line or the XLSX row (0 = whole file)."""

    file: str
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


class ImportFailed(Exception):
    """The import was rejected; nothing was written. ``errors`` holds every problem found."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error{'s' if len(errors) != 1 else ''}, nothing written")


@dataclass
class FileReport:
    """What one file did (or would do, in a dry run)."""

    file: str
    table: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.file} → {self.table}: {self.rows} rows, {self.inserted} inserted, "
            f"{self.updated} updated, {self.unchanged} unchanged"
        )
        if self.ignored_columns:
            text += f" (ignored columns: {', '.join(self.ignored_columns)})"
        return text


@dataclass
class ImportReport:
    files: list[FileReport]
    dry_run: bool

    @property
    def inserted(self) -> int:
        return sum(f.inserted for f in self.files)

    @property
    def updated(self) -> int:
        return sum(f.updated for f in self.files)

    @property
    def unchanged(self) -> int:
        return sum(f.unchanged for f in self.files)


# --- Field and table specifications -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One importable column: its type, whether it is required, its enum, its accepted headers."""

    name: str
    kind: str  # str | int | float | bool | date | datetime
    required: bool
    aliases: tuple[str, ...] = ()
    max_len: int | None = None
    max_int: int | None = None
    enum: dict[str, str] | None = None  # normalised token → code
    default: Any = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    zh: str
    table: Table
    fields: dict[str, FieldSpec]
    key: tuple[str, ...]  # natural key, as table columns
    append_only: bool = False
    file_hints: tuple[str, ...] = ()

    def header_map(self) -> dict[str, str]:
        """Normalised header → field name (canonical names, English spellings and Chinese aliases)."""
        out: dict[str, str] = {}
        for f in self.fields.values():
            for alias in (f.name, *f.aliases):
                out.setdefault(normalise_header(alias), f.name)
        return out

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.required]


def normalise_header(text: str) -> str:
    """``Event No`` → ``event_no``; ``上报时间（北京时间）`` → ``上报时间``; BOM and spaces dropped."""
    text = text.replace("\ufeff", "").strip()
    text = re.sub(r"[（(][^）)]*[）)]\s*$", "", text).strip()
    return re.sub(r"[\s\-./]+", "_", text).lower()


def _labels(labels: dict[str, domain.Label]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, lab in labels.items():
        for token in (code, lab.zh, lab.en):
            out[token.upper()] = code
    return out


def _values(pairs: Iterable[tuple[str, ...]]) -> dict[str, str]:
    """Enum from (code, synonym, …) tuples."""
    return {token.upper(): group[0] for group in pairs for token in group}


YES = ("1", "Y", "YES", "TRUE", "T", "是", "有", "在线", "ONLINE", "有效", "在岗")
NO = ("0", "N", "NO", "FALSE", "F", "否", "无", "离线", "OFFLINE", "无效", "不在岗")

ACTION_ZH = {
    "REPORT": "上报",
    "ACCEPT": "受理",
    "REJECT": "不予受理",
    "DISPATCH": "派单",
    "SIGN": "签收",
    "RETURN": "退回",
    "HANDLE": "处置",
    "REQUEST_EXTENSION": "申请延期",
    "APPROVE_EXTENSION": "批准延期",
    "SUPERVISE": "督办",
    "URGE": "催办",
    "CLOSE": "办结",
    "VERIFY_PASS": "核查通过",
    "VERIFY_FAIL": "核查不通过",
    "EVALUATE": "评价",
    "ARCHIVE": "归档",
}

ENUMS: dict[str, dict[str, str]] = {
    "category": _labels(domain.CATEGORIES),
    "source": _labels(domain.SOURCES),
    "priority": _labels(domain.PRIORITIES),
    "status": _labels(domain.STATUSES),
    "handling_level": _labels(domain.HANDLING_LEVELS),
    "action": _values((a, zh) for a, zh in ACTION_ZH.items()),
    "satisfaction": _values((s,) for s in domain.SATISFACTION),
    "satisfaction_eval": _values([*((s,) for s in domain.SATISFACTION), ("未评价",)]),
    "verify_result": _values([("PASS", "通过", "合格"), ("FAIL", "不通过", "不合格")]),
    "supervision_level": _values([("镇街", "TOWN"), ("区", "DISTRICT")]),
    "unit_level": _values([("district", "区", "区县"), ("town", "镇街", "乡镇"), ("village", "村社")]),
    "unit_type": _values([("区",), ("街道",), ("镇",), ("村",), ("社区",), ("zone", "功能区")]),
    "grid_type": _values([("基础网格", "BASIC"), ("专属网格", "SPECIAL")]),
    "grid_status": _values([("ACTIVE", "启用", "在用"), ("RETIRED", "停用", "撤销")]),
    "dept_level": _values([("district", "区级"), ("town_platform", "镇街平台"), ("team", "中队")]),
    "role": _values(
        [
            ("GRID_LEADER", "网格长"),
            ("GRID_WORKER", "网格员", "专职网格员"),
            ("GRID_ASSISTANT", "网格助理"),
            ("DISPATCHER", "坐席", "受理员", "派单员"),
            ("HANDLER", "处置人员"),
            ("PATROL_FULL", "专职巡防"),
            ("PATROL_PART", "兼职巡防"),
            ("VOLUNTEER", "红袖章", "志愿者"),
        ]
    ),
    "patrol_type": _values(
        [
            ("GRID", "网格员日常巡查", "网格员巡查"),
            ("FULL_TIME", "专职巡防"),
            ("PART_TIME", "兼职巡防"),
            ("VOLUNTEER", "红袖章"),
            ("DEPT", "部门巡查"),
        ]
    ),
    "checkin_method": _values([("QR", "扫码"), ("GPS", "定位"), ("NFC", "智点"), ("PHOTO", "拍照")]),
    "point_class": _values([("一类", "1", "I"), ("二类", "2", "II"), ("三类", "3", "III")]),
    "owner": _values([("公安",), ("综治",), ("社会面",)]),
    "channel": _values([("电话回访", "电话", "PHONE"), ("APP",)]),
}

# table → column → (enum name or None, aliases). Columns not listed keep their canonical name only.
COLUMNS: dict[str, dict[str, tuple[str | None, tuple[str, ...]]]] = {
    "admin_unit": {
        "code": (None, ("区划代码", "行政区划代码", "代码", "编码")),
        "name_zh": (None, ("名称", "中文名称", "区划名称")),
        "name_en": (None, ("英文名称", "拼音", "name_pinyin")),
        "level": ("unit_level", ("层级", "级别")),
        "unit_type": ("unit_type", ("类型", "区划类型")),
        "parent_code": (None, ("上级代码", "上级区划代码", "上级编码")),
        "valid_from": (None, ("生效日期",)),
        "valid_to": (None, ("失效日期",)),
        "managed_by": (None, ("托管单位",)),
        "lng": (None, ("经度", "longitude")),
        "lat": (None, ("纬度", "latitude")),
        "population": (None, ("人口", "常住人口")),
        "households": (None, ("户数",)),
        "area_km2": (None, ("面积",)),
        "boundary_geojson": (None, ("边界",)),
    },
    "grid": {
        "grid_code": (None, ("网格编码", "网格编号", "网格代码")),
        "grid_name": (None, ("网格名称", "名称")),
        "village_code": (None, ("所属村社", "村社编码", "村社代码")),
        "town_code": (None, ("所属镇街", "镇街编码", "镇街代码")),
        "grid_type": ("grid_type", ("网格类型",)),
        "households": (None, ("户数",)),
        "population_registered": (None, ("户籍人口",)),
        "population_floating": (None, ("流动人口",)),
        "leader_staff_id": (None, ("网格长", "网格长编号")),
        "worker_staff_id": (None, ("专职网格员", "网格员编号")),
        "center_lng": (None, ("中心经度", "经度", "lng")),
        "center_lat": (None, ("中心纬度", "纬度", "lat")),
        "boundary_geojson": (None, ("边界",)),
        "status": ("grid_status", ("状态",)),
    },
    "department": {
        "dept_code": (None, ("部门编码", "部门代码", "单位编码")),
        "name_zh": (None, ("部门名称", "名称")),
        "name_en": (None, ("英文名称",)),
        "level": ("dept_level", ("层级", "级别")),
        "parent_code": (None, ("上级部门", "上级部门编码")),
    },
    "staff": {
        "staff_id": (None, ("人员编号", "工号")),
        "name": (None, ("姓名",)),
        "role": ("role", ("角色", "岗位")),
        "grid_code": (None, ("所属网格", "网格编码")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "dept_code": (None, ("所属部门", "部门编码")),
        "phone": (None, ("手机号", "联系电话", "电话")),
        "device_id": (None, ("设备编号", "终端编号")),
        "active": (None, ("在岗", "是否在岗")),
    },
    "event": {
        "event_no": (None, ("事件编号", "案件编号", "工单编号", "受理编号")),
        "title": (None, ("标题", "事件标题")),
        "description": (None, ("描述", "事件描述", "内容")),
        "category_l1": ("category", ("一级分类", "事件大类", "大类")),
        "category_l2": (None, ("二级分类", "事件小类", "小类")),
        "source": ("source", ("来源", "事件来源")),
        "priority": ("priority", ("紧急程度", "优先级")),
        "grid_code": (None, ("所属网格", "网格编码", "网格")),
        "village_code": (None, ("所属村社", "村社编码")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "lng": (None, ("经度",)),
        "lat": (None, ("纬度",)),
        "address": (None, ("地址", "事发地址")),
        "reporter_type": (None, ("上报人类型",)),
        "reporter_id": (None, ("上报人编号",)),
        "reporter_name": (None, ("上报人",)),
        "reporter_phone": (None, ("联系电话", "上报人电话")),
        "status": ("status", ("状态", "事件状态", "当前状态")),
        "reported_at": (None, ("上报时间",)),
        "accepted_at": (None, ("受理时间",)),
        "rejected_at": (None, ("不予受理时间",)),
        "dispatched_at": (None, ("派单时间",)),
        "dispatch_dept_code": (None, ("承办部门", "承办部门编码")),
        "dispatch_count": (None, ("派单次数",)),
        "signed_at": (None, ("签收时间",)),
        "handled_at": (None, ("处置时间", "处置完成时间")),
        "closed_at": (None, ("办结时间", "结案时间")),
        "verified_at": (None, ("核查时间",)),
        "verify_result": ("verify_result", ("核查结果",)),
        "archived_at": (None, ("归档时间",)),
        "deadline_at": (None, ("办理时限", "时限")),
        "extended_deadline_at": (None, ("延期后时限",)),
        "extension_count": (None, ("延期次数",)),
        "returned_count": (None, ("退回次数",)),
        "reopened_count": (None, ("返工次数",)),
        "is_supervised": (None, ("督办", "是否督办")),
        "supervised_at": (None, ("督办时间",)),
        "supervision_level": ("supervision_level", ("督办级别",)),
        "satisfaction": ("satisfaction_eval", ("满意度", "评价结果")),
        "level_of_handling": ("handling_level", ("办结层级",)),
    },
    "event_action": {
        "event_no": (None, ("事件编号", "案件编号", "工单编号")),
        "action": ("action", ("操作", "动作", "环节")),
        "from_status": ("status", ("原状态", "操作前状态")),
        "to_status": ("status", ("新状态", "操作后状态")),
        "actor_staff_id": (None, ("操作人", "操作人编号")),
        "actor_dept_code": (None, ("操作部门",)),
        "target_dept_code": (None, ("派往部门", "目标部门")),
        "comment": (None, ("处理意见", "意见", "备注")),
        "at": (None, ("操作时间", "时间")),
        "duration_seconds": (None, ("耗时", "间隔秒数")),
    },
    "evaluation": {
        "event_no": (None, ("事件编号", "案件编号", "工单编号")),
        "channel": ("channel", ("回访方式", "渠道")),
        "result": ("satisfaction", ("评价结果", "满意度")),
        "speed_score": (None, ("速度评分", "时效评分")),
        "effect_score": (None, ("效果评分",)),
        "at": (None, ("评价时间", "回访时间")),
    },
    "patrol": {
        "staff_id": (None, ("巡查人", "巡查人编号", "人员编号")),
        "grid_code": (None, ("所属网格", "网格编码")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "patrol_type": ("patrol_type", ("巡查类型", "巡防类型")),
        "started_at": (None, ("开始时间",)),
        "ended_at": (None, ("结束时间",)),
        "distance_m": (None, ("里程", "里程米")),
        "gps_fix_count": (None, ("定位点数",)),
        "checkin_count": (None, ("打卡次数",)),
        "events_reported": (None, ("上报事件数",)),
        "valid": (None, ("有效", "是否有效")),
    },
    "patrol_checkin": {
        "patrol_id": (None, ("巡查记录编号", "巡查编号")),
        "staff_id": (None, ("巡查人", "巡查人编号")),
        "patrol_started_at": (None, ("巡查开始时间",)),
        "checkpoint_code": (None, ("巡检点", "巡检点编码")),
        "method": ("checkin_method", ("打卡方式",)),
        "at": (None, ("打卡时间",)),
        "lng": (None, ("经度",)),
        "lat": (None, ("纬度",)),
    },
    "video_point": {
        "point_code": (None, ("点位编码", "点位编号")),
        "name": (None, ("点位名称", "名称")),
        "point_class": ("point_class", ("点位类别", "类别")),
        "grid_code": (None, ("所属网格", "网格编码")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "lng": (None, ("经度",)),
        "lat": (None, ("纬度",)),
        "owner": ("owner", ("建设单位", "权属")),
        "installed_at": (None, ("安装时间", "建设时间")),
        "online": (None, ("在线", "是否在线", "在线状态")),
        "last_heartbeat_at": (None, ("最后心跳时间",)),
        "fault_since": (None, ("离线开始时间", "故障开始时间")),
    },
    "video_status_change": {
        "point_code": (None, ("点位编码", "点位编号")),
        "online": (None, ("在线", "在线状态", "状态")),
        "at": (None, ("变更时间", "时间")),
        "reason": (None, ("原因",)),
    },
    "police_call_stat": {
        "stat_date": (None, ("统计日期", "日期")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "effective_110_calls": (None, ("有效110警情", "有效警情")),
        "property_crime_cases": (None, ("侵财案件",)),
        "major_violent_cases": (None, ("重大恶性案件",)),
    },
    "key_area": {
        "area_id": (None, ("编号", "重点地区编号")),
        "name": (None, ("名称", "重点地区", "地区名称")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "issue": (None, ("突出问题",)),
        "listed_at": (None, ("挂牌日期",)),
        "delisted_at": (None, ("摘牌日期",)),
    },
    "safety_inspection": {
        "unit_name": (None, ("检查单位", "单位名称")),
        "town_code": (None, ("所属镇街", "镇街编码")),
        "grid_code": (None, ("所属网格", "网格编码")),
        "inspected_at": (None, ("检查时间", "检查日期")),
        "hazards_found": (None, ("发现隐患", "隐患数")),
        "hazards_rectified": (None, ("已整改隐患", "整改数")),
        "rectify_deadline": (None, ("整改期限",)),
    },
}

# Virtual columns: read from the file, resolved to a table column by the table's resolver.
VIRTUAL: dict[str, dict[str, tuple[str, bool]]] = {  # table → field → (kind, required)
    "event_action": {"event_no": ("str", True)},
    "evaluation": {"event_no": ("str", True)},
    "patrol_checkin": {"staff_id": ("int", False), "patrol_started_at": ("datetime", False)},
}
# Required in the schema but derived when the file leaves them out.
DERIVED: dict[str, set[str]] = {
    "grid": {"town_code"},
    "event": {"village_code", "town_code"},
    "event_action": {"to_status"},
    "patrol": {"town_code"},
    "patrol_checkin": {"patrol_id"},
    "video_point": {"town_code"},
    "safety_inspection": {"town_code"},
}
KEYS: dict[str, tuple[str, ...]] = {
    "admin_unit": ("code",),
    "grid": ("grid_code",),
    "department": ("dept_code",),
    "staff": ("staff_id",),
    "event": ("event_no",),
    "event_action": ("event_id", "action", "at"),
    "evaluation": ("event_id", "channel", "at"),
    "patrol": ("staff_id", "started_at"),
    "patrol_checkin": ("patrol_id", "checkpoint_code", "at"),
    "video_point": ("point_code",),
    "video_status_change": ("point_code", "at"),
    "police_call_stat": ("stat_date", "town_code"),
    "key_area": ("area_id",),
    "safety_inspection": ("unit_name", "inspected_at"),
}
APPEND_ONLY = {"event_action", "evaluation", "patrol_checkin", "video_status_change"}
TABLE_ZH: dict[str, tuple[str, ...]] = {
    "admin_unit": ("行政区划", "区划"),
    "grid": ("网格",),
    "department": ("部门", "职能部门"),
    "staff": ("人员", "网格员"),
    "event": ("事件", "案件", "工单"),
    "event_action": ("流转记录", "操作日志", "流转"),
    "evaluation": ("评价", "回访"),
    "patrol": ("巡查", "巡防"),
    "patrol_checkin": ("打卡", "巡查打卡"),
    "video_point": ("视频点位", "监控点位"),
    "video_status_change": ("点位状态变更", "视频状态"),
    "police_call_stat": ("警情统计", "警情"),
    "key_area": ("重点地区", "挂牌整治"),
    "safety_inspection": ("安全检查",),
}
# Processing order inside the one transaction: referenced tables first.
ORDER = list(COLUMNS)


def _kind(col_type: Any) -> str:
    if isinstance(col_type, schema.UTCDateTime):
        return "datetime"
    if isinstance(col_type, Date):
        return "date"
    if isinstance(col_type, Boolean):
        return "bool"
    if isinstance(col_type, Float):
        return "float"
    if isinstance(col_type, Integer):
        return "int"
    return "str"


def _column_field(table: Table, name: str, enum: str | None, aliases: tuple[str, ...]) -> FieldSpec:
    col = table.c[name]
    default = col.default.arg if isinstance(col.default, ScalarElementColumnDefault) else None
    required = not col.nullable and default is None and name not in DERIVED.get(table.name, set())
    length = getattr(col.type, "length", None) if isinstance(col.type, String) else None
    max_int = 32767 if isinstance(col.type, SmallInteger) else 2**31 - 1
    return FieldSpec(
        name=name,
        kind=_kind(col.type),
        required=required,
        aliases=aliases,
        max_len=length,
        max_int=max_int,
        enum=ENUMS[enum] if enum else None,
        default=default,
    )


def _build_spec(name: str) -> TableSpec:
    table = schema.metadata.tables[name]
    virtual = VIRTUAL.get(name, {})
    fields: dict[str, FieldSpec] = {}
    for col_name, (enum, aliases) in COLUMNS[name].items():
        if col_name in virtual:
            kind, required = virtual[col_name]
            max_len = 24 if kind == "str" else None
            fields[col_name] = FieldSpec(col_name, kind, required, aliases, max_len, 2**31 - 1)
        else:
            fields[col_name] = _column_field(table, col_name, enum, aliases)
    return TableSpec(
        name=name,
        zh=TABLE_ZH[name][0],
        table=table,
        fields=fields,
        key=KEYS[name],
        append_only=name in APPEND_ONLY,
        file_hints=(name, name + "s", *TABLE_ZH[name]),
    )


SPECS: dict[str, TableSpec] = {name: _build_spec(name) for name in ORDER}


# --- Reading files ------------------------------------------------------------------------------------


class FileProblem(Exception):
    """The file itself cannot be read (encoding, truncation): reported as one error."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


@dataclass
class RawTable:
    headers: list[str]
    header_line: int
    rows: list[tuple[int, list[Any]]]  # (physical line or XLSX row, cells)


def _failure_offset(data: bytes, encoding: str) -> int | None:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM optional), UTF-16 with BOM, else GB18030; undecodable bytes name their line."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise FileProblem(0, f"invalid UTF-16 text: {exc.reason}") from exc
    utf8_bad = _failure_offset(data, "utf-8-sig")
    if utf8_bad is None:
        return data.decode("utf-8-sig")
    # Multi-byte UTF-8 before the bad byte means the file is UTF-8 with a corrupt spot; a GB18030
    # reading would "succeed" with mojibake and hide where the damage is.
    utf8_confirmed = data.startswith(codecs.BOM_UTF8) or not data[:utf8_bad].isascii()
    if not utf8_confirmed:
        gb_bad = _failure_offset(data, "gb18030")
        if gb_bad is None:
            return data.decode("gb18030")
        # The encoding that read further is most likely the file's; its failure is the real problem.
        utf8_bad = max(utf8_bad, gb_bad)
    line = data[:utf8_bad].count(b"\n") + 1
    snippet = data[utf8_bad : utf8_bad + 4].hex(" ")
    raise FileProblem(line, f"undecodable bytes ({snippet}): the file is neither UTF-8 nor GB18030 text")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def read_csv(path: Path) -> RawTable:
    text = decode_text(path.read_bytes())
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FileProblem(line, "binary data (NUL byte): not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    rows: list[tuple[int, list[Any]]] = []
    headers: list[str] | None = None
    header_line = 1
    last = 0
    try:
        for record in reader:
            start, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if headers is None:
                headers, header_line = record, start
            else:
                rows.append((start, record))
    except csv.Error as exc:
        raise FileProblem(reader.line_num, f"malformed CSV: {exc}") from exc
    if headers is None:
        raise FileProblem(0, "the file is empty (no header row)")
    return RawTable(headers, header_line, rows)


def read_xlsx(path: Path) -> RawTable:
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it cannot read; data is fine
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                cells = [list(r) for r in sheet.iter_rows(values_only=True)]
            finally:
                book.close()
    except Exception as exc:  # any failure to parse an untrusted workbook is a problem of the file
        raise FileProblem(0, f"not a readable XLSX workbook (truncated or corrupt?): {exc}") from exc
    headers: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, list[Any]]] = []
    for number, record in enumerate(cells, start=1):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
            continue
        if headers is None:
            while record and record[-1] is None:
                record.pop()
            headers, header_line = ["" if c is None else str(c) for c in record], number
        else:
            rows.append((number, record))
    if headers is None:
        raise FileProblem(0, "the first sheet is empty (no header row)")
    return RawTable(headers, header_line, rows)


def read_file(path: Path) -> RawTable:
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm"}:
        return read_xlsx(path)
    if suffix in {".csv", ".txt", ".tsv"}:
        return read_csv(path)
    raise ValueError(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")


# --- Values -------------------------------------------------------------------------------------------

_DATETIME_RE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})(?:\.(\d{1,6}))?秒?|分)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(value: Any) -> dt.datetime:
    """An aware UTC instant from ISO text, ``2026/11/28 9:30`` or an XLSX cell; no offset = +08:00."""
    if isinstance(value, dt.datetime):
        local = value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
        return local.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), SHANGHAI).astimezone(UTC)
    m = _DATETIME_RE.match(str(value).strip())
    if not m:
        raise ValueError(f"not a date/time: {value!r} (use 2026-11-28 09:30 or ISO 8601)")
    y, mo, d, h, mi, s, frac, off = m.groups()
    tz: dt.tzinfo = SHANGHAI
    if off:
        tz = UTC if off == "Z" else dt.datetime.strptime(off.replace(":", ""), "%z").tzinfo or UTC
    micro = int((frac or "0").ljust(6, "0"))
    try:
        local = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), micro, tz)
    except ValueError as exc:
        raise ValueError(f"not a valid date/time: {value!r} ({exc})") from exc
    return local.astimezone(UTC)


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    m = _DATETIME_RE.match(str(value).strip())
    if not m or m.group(4):
        raise ValueError(f"not a date: {value!r} (use 2026-11-28)")
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise ValueError(f"not a valid date: {value!r} ({exc})") from exc


def _parse_int(value: Any, f: FieldSpec) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip().replace(",", "")
        if not re.fullmatch(r"[+-]?\d+(\.0+)?", text):
            raise ValueError(f"not an integer: {value!r}")
        number = int(float(text)) if "." in text else int(text)
    if number < 0 or number > (f.max_int or 2**31 - 1):
        raise ValueError(f"{number} is out of range (0 … {f.max_int})")
    return number


def _parse_float(value: Any, f: FieldSpec) -> float:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        number = (
            float(value) if isinstance(value, int | float) else float(str(value).strip().replace(",", ""))
        )
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a number: {value!r}")
    limit = 90 if f.name.endswith("lat") else 180 if f.name.endswith("lng") else None
    if limit is not None and abs(number) > limit:
        raise ValueError(f"{number} is not a {'latitude' if limit == 90 else 'longitude'} (±{limit})")
    return number


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    token = str(int(value) if isinstance(value, float) and value.is_integer() else value).strip().upper()
    if token in YES:
        return True
    if token in NO:
        return False
    raise ValueError(f"not a yes/no value: {value!r} (use 是/否, 1/0, true/false)")


def _parse_str(value: Any, f: FieldSpec) -> str:
    # Excel turns long codes into numbers: 330109001001001.0 → "330109001001001".
    integral = isinstance(value, float) and value.is_integer()
    text = str(int(value)) if integral else str(value).strip()
    if f.enum is not None:
        code = f.enum.get(text.upper())
        if code is None:
            allowed = sorted(set(f.enum.values()))
            shown = ", ".join(allowed[:12]) + (" …" if len(allowed) > 12 else "")
            raise ValueError(f"unknown value {text!r} (expected one of: {shown}, or their Chinese names)")
        return code
    if f.max_len and len(text) > f.max_len:
        raise ValueError(f"too long: {len(text)} characters, at most {f.max_len}")
    return text


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(value: Any, f: FieldSpec) -> Any:
    """Cell → typed value (``None`` for blank); raises ValueError with a user-facing reason."""
    if is_blank(value):
        if f.required:
            raise ValueError("required value is missing")
        return f.default
    if f.kind == "datetime":
        return parse_datetime(value)
    if f.kind == "date":
        return parse_date(value)
    if f.kind == "int":
        return _parse_int(value, f)
    if f.kind == "float":
        return _parse_float(value, f)
    if f.kind == "bool":
        return _parse_bool(value)
    return _parse_str(value, f)


# --- Per-file validation state ------------------------------------------------------------------------


@dataclass
class Row:
    line: int
    values: dict[str, Any]
    ok: bool = True


@dataclass
class FileJob:
    path: Path
    spec: TableSpec
    raw: RawTable
    columns: dict[int, str]  # cell index → field name
    labels: dict[str, str]  # field name → header text, for messages
    errors: list[RowError]
    rows: list[Row] = field(default_factory=list)
    report: FileReport | None = None
    n_errors: int = 0

    def error(self, line: int, fieldname: str, reason: str, *, column: str | None = None) -> None:
        column = self.label(fieldname) if column is None else column
        self.errors.append(RowError(self.path.name, line, column, reason))
        self.n_errors += 1

    def label(self, fieldname: str) -> str:
        if not fieldname:
            return ""
        header = self.labels.get(fieldname)
        return f"{header} ({fieldname})" if header and header != fieldname else fieldname

    def bad(self, row: Row, fieldname: str, reason: str) -> None:
        row.ok = False
        self.error(row.line, fieldname, reason)


def infer_table(headers: Sequence[str], filename: str) -> str:
    """The table whose headers fit best; the file name breaks ties. ValueError when it cannot tell."""
    normalised = {normalise_header(h) for h in headers if h}
    scores: dict[str, int] = {}
    for name, spec in SPECS.items():
        hmap = spec.header_map()
        known = {hmap[h] for h in normalised if h in hmap}
        if all(r in known for r in spec.required):
            scores[name] = len(known)
    hinted = _table_from_filename(filename)
    if hinted in scores:
        return hinted
    if scores:
        best = max(scores.values())
        winners = [n for n, s in scores.items() if s == best]
        if len(winners) == 1:
            return winners[0]
        raise ValueError(f"{filename}: headers fit several tables ({', '.join(winners)}): pass --table")
    if hinted:
        return hinted
    raise ValueError(f"{filename}: cannot tell which table the headers belong to: pass --table")


def _table_from_filename(filename: str) -> str | None:
    stem = Path(filename).stem.lower()
    best: tuple[int, str] | None = None
    for name, spec in SPECS.items():
        for hint in spec.file_hints:
            if hint.lower() in stem and (best is None or len(hint) > best[0]):
                best = (len(hint), name)
    return best[1] if best else None


def resolve_table_name(name: str) -> str:
    for table, spec in SPECS.items():
        if name == table or name in spec.file_hints:
            return table
    raise ValueError(f"unknown table {name!r}: expected one of {', '.join(SPECS)}")


def map_headers(job: FileJob) -> None:
    """Match header cells to fields; report missing required columns and duplicates."""
    hmap = job.spec.header_map()
    ignored: list[str] = []
    for index, header in enumerate(job.raw.headers):
        name = hmap.get(normalise_header(header))
        if name is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if name in job.labels:
            job.error(job.raw.header_line, name, f"column given twice (also as {job.labels[name]!r})")
            continue
        job.columns[index] = name
        job.labels[name] = header.strip().replace("\ufeff", "")
    for name in job.spec.required:
        if name not in job.labels:
            f = job.spec.fields[name]
            accepted = ", ".join((name, *f.aliases))
            job.error(job.raw.header_line, name, f"required column is missing ({accepted})", column=name)
    assert job.report is not None
    job.report.ignored_columns = ignored


def convert_rows(job: FileJob, bar: Progress) -> None:
    width = len(job.raw.headers)
    fields = [job.spec.fields[n] for n in job.columns.values()]
    for line, cells in job.raw.rows:
        row = Row(line, {})
        extra = cells[width:]
        if any(not is_blank(c) for c in extra):
            job.bad(row, "", f"{len(cells)} values but the header has {width} columns")
        elif len(cells) < width and job.path.suffix.lower() != ".xlsx":
            job.bad(row, "", f"only {len(cells)} values but the header has {width} columns (truncated line?)")
        else:
            for (index, _name), f in zip(job.columns.items(), fields, strict=True):
                cell = cells[index] if index < len(cells) else None
                try:
                    row.values[f.name] = convert(cell, f)
                except ValueError as exc:
                    job.bad(row, f.name, str(exc))
        job.rows.append(row)
        bar.advance()


# --- References, derived columns and sanity rules ----------------------------------------------------


def lookup(conn: Connection, table: Table, key: str, values: Iterable[Any], cols: Sequence[str]) -> dict:
    """``{key value: row}`` for the given key values, read in chunks."""
    wanted = sorted({v for v in values if v is not None}, key=str)
    found: dict[Any, Any] = {}
    columns = [table.c[key], *(table.c[c] for c in cols)]
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for row in conn.execute(sa_select(*columns).where(table.c[key].in_(chunk))):
            found[row[0]] = row
    return found


def _check_refs(
    job: FileJob, conn: Connection, fieldname: str, table: Table, key: str, what: str, *, self_key: str = ""
) -> dict:
    """Report rows whose ``fieldname`` names no row of ``table`` (nor of this file, for self references)."""
    rows = [r for r in job.rows if r.values.get(fieldname) is not None]
    found = lookup(conn, table, key, (r.values[fieldname] for r in rows), ())
    local = {r.values.get(self_key) for r in job.rows} if self_key else set()
    for r in rows:
        value = r.values[fieldname]
        if value not in found and value not in local:
            job.bad(r, fieldname, f"unknown {what} {value!r} (not in the database nor in this import)")
    return found


def _grid_places(job: FileJob, conn: Connection, *, village: bool) -> None:
    """Check grid_code exists; fill (and cross-check) town_code / village_code from the grid."""
    grids = lookup(
        conn,
        schema.grid,
        "grid_code",
        (r.values.get("grid_code") for r in job.rows),
        ("village_code", "town_code"),
    )
    targets = ("village_code", "town_code") if village else ("town_code",)
    for r in job.rows:
        code = r.values.get("grid_code")
        if code is None:
            continue
        g = grids.get(code)
        if g is None:
            job.bad(r, "grid_code", f"unknown grid {code!r} (not in the grid table nor in this import)")
            continue
        for col in targets:
            expected = g._mapping[col]
            given = r.values.get(col)
            if given is None:
                r.values[col] = expected
            elif given != expected:
                job.bad(r, col, f"{given!r} does not match grid {code}'s {col} {expected!r}")


def _missing_derived(job: FileJob, cols: Sequence[str], why: str) -> None:
    for r in job.rows:
        for col in cols:
            if r.ok and r.values.get(col) is None:
                job.bad(r, col, f"required value is missing ({why})")


def _towns(job: FileJob, conn: Connection) -> None:
    _check_refs(job, conn, "town_code", schema.admin_unit, "code", "town")


def resolve_admin_unit(job: FileJob, conn: Connection) -> None:
    _check_refs(job, conn, "parent_code", schema.admin_unit, "code", "parent unit", self_key="code")
    _ordered(job, "valid_from", "valid_to")


def resolve_grid(job: FileJob, conn: Connection) -> None:
    villages = _check_refs(job, conn, "village_code", schema.admin_unit, "code", "village")
    parents = lookup(conn, schema.admin_unit, "code", villages, ("parent_code",))
    for r in job.rows:
        village = r.values.get("village_code")
        if r.values.get("town_code") is None and village in parents:
            r.values["town_code"] = parents[village]._mapping["parent_code"]
    _towns(job, conn)
    _missing_derived(job, ["town_code"], "and the village has no parent town")


def resolve_department(job: FileJob, conn: Connection) -> None:
    _check_refs(
        job, conn, "parent_code", schema.department, "dept_code", "parent department", self_key="dept_code"
    )


def resolve_staff(job: FileJob, conn: Connection) -> None:
    _grid_places(job, conn, village=False)
    _towns(job, conn)
    _check_refs(job, conn, "dept_code", schema.department, "dept_code", "department")


def resolve_event(job: FileJob, conn: Connection) -> None:
    _grid_places(job, conn, village=True)
    _check_refs(job, conn, "dispatch_dept_code", schema.department, "dept_code", "department")
    for r in job.rows:
        if r.ok:
            check_event_lifecycle(job, r)


EVENT_TIMES = (
    "accepted_at",
    "rejected_at",
    "dispatched_at",
    "signed_at",
    "handled_at",
    "closed_at",
    "verified_at",
    "archived_at",
)


def check_event_lifecycle(job: FileJob, r: Row) -> None:
    """Timestamps in order and a status that agrees with them (DOMAIN §4.3)."""
    v = r.values
    reported = v.get("reported_at")
    for col in EVENT_TIMES:
        at = v.get(col)
        if at is not None and reported is not None and at < reported:
            job.bad(r, col, f"{_local(at)} is before reported_at {_local(reported)}")
    accepted, closed = v.get("accepted_at"), v.get("closed_at")
    if accepted is not None and closed is not None and closed < accepted:
        job.bad(r, "closed_at", f"{_local(closed)} is before accepted_at {_local(accepted)}")
    status = v.get("status")
    if status in domain.CLOSED_STATUSES and closed is None:
        job.bad(r, "closed_at", f"status {status} needs a closed_at (办结时间)")
    if status not in domain.CLOSED_STATUSES and status is not None and closed is not None:
        job.bad(r, "status", f"status {status} is not closed, but closed_at is set")
    if status not in ("REPORTED", "REJECTED", None) and accepted is None:
        job.bad(r, "accepted_at", f"status {status} needs an accepted_at (受理时间)")
    if status == "REJECTED" and accepted is not None:
        job.bad(r, "status", "a rejected (不予受理) event cannot have accepted_at")
    if status == "DISPATCHED" and v.get("dispatched_at") is None:
        job.bad(r, "dispatched_at", "status DISPATCHED needs a dispatched_at (派单时间)")


def _local(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + " (+08:00)"


def _ordered(job: FileJob, first: str, then: str) -> None:
    for r in job.rows:
        a, b = r.values.get(first), r.values.get(then)
        if a is not None and b is not None and b < a:
            job.bad(r, then, f"{b} is before {first} {a}")


def _event_ids(job: FileJob, conn: Connection) -> None:
    events = lookup(
        conn, schema.event, "event_no", (r.values.get("event_no") for r in job.rows), ("event_id",)
    )
    for r in job.rows:
        no = r.values.get("event_no")
        if no is None:
            continue
        if no in events:
            r.values["event_id"] = events[no]._mapping["event_id"]
        else:
            job.bad(r, "event_no", f"unknown event {no!r} (not in the database nor in this import)")


def resolve_event_action(job: FileJob, conn: Connection) -> None:
    _event_ids(job, conn)
    for r in job.rows:
        action, before, after = (r.values.get(k) for k in ("action", "from_status", "to_status"))
        allowed = domain.TRANSITIONS.get(action or "", set())
        if after is None:
            targets = {t for _, t in allowed}
            if len(targets) == 1:
                r.values["to_status"] = after = targets.pop()
            elif r.ok:
                job.bad(r, "to_status", f"required for action {action} (it can lead to several states)")
                continue
        if before is not None and after is not None and (before, after) not in allowed:
            job.bad(r, "to_status", f"action {action} cannot move {before} → {after}")


def resolve_evaluation(job: FileJob, conn: Connection) -> None:
    _event_ids(job, conn)
    for r in job.rows:
        for col in ("speed_score", "effect_score"):
            score = r.values.get(col)
            if score is not None and not 1 <= score <= 5:
                job.bad(r, col, f"score {score} is outside 1–5")


def resolve_patrol(job: FileJob, conn: Connection) -> None:
    _grid_places(job, conn, village=False)
    _ordered(job, "started_at", "ended_at")


def resolve_patrol_checkin(job: FileJob, conn: Connection) -> None:
    _check_refs(job, conn, "patrol_id", schema.patrol, "patrol_id", "patrol")
    pending = [r for r in job.rows if r.values.get("patrol_id") is None]
    patrols = _patrols_by_staff(conn, {r.values.get("staff_id") for r in pending})
    for r in pending:
        staff_id, started = r.values.get("staff_id"), r.values.get("patrol_started_at")
        if staff_id is None or started is None:
            if r.ok:
                job.bad(r, "patrol_id", "give patrol_id, or staff_id and patrol_started_at")
        elif (staff_id, started) in patrols:
            r.values["patrol_id"] = patrols[(staff_id, started)]
        else:
            job.bad(r, "patrol_started_at", f"no patrol by staff {staff_id} started at {_local(started)}")


def _patrols_by_staff(conn: Connection, staff_ids: set[Any]) -> dict[tuple[int, dt.datetime], int]:
    """(staff_id, started_at) → patrol_id for the given staff, read in chunks."""
    p = schema.patrol
    wanted = sorted(s for s in staff_ids if s is not None)
    found: dict[tuple[int, dt.datetime], int] = {}
    for start in range(0, len(wanted), CHUNK):
        query = sa_select(p.c.staff_id, p.c.started_at, p.c.patrol_id).where(
            p.c.staff_id.in_(wanted[start : start + CHUNK])
        )
        for staff_id, started, patrol_id in conn.execute(query):
            found[(staff_id, started)] = patrol_id
    return found


def resolve_video_point(job: FileJob, conn: Connection) -> None:
    _grid_places(job, conn, village=False)


def resolve_video_status_change(job: FileJob, conn: Connection) -> None:
    _check_refs(job, conn, "point_code", schema.video_point, "point_code", "video point")


def resolve_key_area(job: FileJob, conn: Connection) -> None:
    _towns(job, conn)
    _ordered(job, "listed_at", "delisted_at")


def resolve_safety_inspection(job: FileJob, conn: Connection) -> None:
    _grid_places(job, conn, village=False)
    _towns(job, conn)
    _missing_derived(job, ["town_code"], "give town_code or grid_code")
    for r in job.rows:
        found, fixed = r.values.get("hazards_found"), r.values.get("hazards_rectified")
        if found is not None and fixed is not None and fixed > found:
            job.bad(r, "hazards_rectified", f"{fixed} rectified is more than the {found} found")


RESOLVERS: dict[str, Callable[[FileJob, Connection], None]] = {
    "admin_unit": resolve_admin_unit,
    "grid": resolve_grid,
    "department": resolve_department,
    "staff": resolve_staff,
    "event": resolve_event,
    "event_action": resolve_event_action,
    "evaluation": resolve_evaluation,
    "patrol": resolve_patrol,
    "patrol_checkin": resolve_patrol_checkin,
    "video_point": resolve_video_point,
    "video_status_change": resolve_video_status_change,
    "police_call_stat": _towns,
    "key_area": resolve_key_area,
    "safety_inspection": resolve_safety_inspection,
}


def check_duplicates(job: FileJob) -> None:
    """Two rows of one file with the same natural key: ambiguous, so an error rather than last-wins."""
    seen: dict[tuple, int] = {}
    for r in job.rows:
        if not r.ok:
            continue
        key = tuple(r.values.get(k) for k in job.spec.key)
        if key in seen:
            names = ", ".join(job.spec.key)
            job.bad(r, job.spec.key[-1], f"duplicate key ({names}) — same as line {seen[key]}")
        else:
            seen[key] = r.line


# --- Writing ------------------------------------------------------------------------------------------


def same(a: Any, b: Any, *, float_digits: int | None = None) -> bool:
    """Equality for change detection. ``float_digits``: significant digits the backend keeps."""
    if isinstance(a, float) and isinstance(b, float | int):
        if float_digits:  # MariaDB FLOAT is single precision and comes back with 6 digits
            a = float(f"{a:.{float_digits}g}")
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return bool(a == b)


def _existing(conn: Connection, spec: TableSpec, rows: list[dict], cols: list[str]) -> dict[tuple, Any]:
    """Stored rows matching the file's keys. Chunked IN on the first key column, exact match in Python."""
    table, first = spec.table, spec.key[0]
    wanted = sorted({r[first] for r in rows}, key=str)
    selected = [table.c[c] for c in dict.fromkeys([*spec.key, *cols])]
    found: dict[tuple, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        query = sa_select(*selected).where(table.c[first].in_(wanted[start : start + CHUNK]))
        for row in conn.execute(query):
            found[tuple(row._mapping[k] for k in spec.key)] = row._mapping
    return found


def upsert(conn: Connection, spec: TableSpec, rows: list[dict], report: FileReport, bar: Progress) -> None:
    """Insert new keys, update changed rows (not for append-only tables), count the unchanged."""
    if not rows:
        return
    cols = [c for c in rows[0] if c in spec.table.c]
    existing = _existing(conn, spec, rows, cols)
    digits = None  # coordinates are DOUBLE on every backend: exact comparison (with a relative epsilon)
    inserts: list[dict] = []
    for values in rows:
        key = tuple(values[k] for k in spec.key)
        stored = existing.get(key)
        if stored is None:
            inserts.append(values)
            continue
        changes = {
            c: values[c]
            for c in cols
            if c not in spec.key and not same(values[c], stored[c], float_digits=digits)
        }
        if not changes or spec.append_only:
            report.unchanged += 1
        else:
            where = and_(*(spec.table.c[k] == values[k] for k in spec.key))
            conn.execute(spec.table.update().where(where).values(**changes))
            report.updated += 1
        bar.advance()
    for start in range(0, len(inserts), CHUNK):
        batch = inserts[start : start + CHUNK]
        conn.execute(spec.table.insert(), batch)
        report.inserted += len(batch)
        bar.advance(len(batch))


def table_values(job: FileJob) -> list[dict]:
    """Rows as table columns, every row with the same keys (derived columns may be set on only some)."""
    columns = [c.name for c in job.spec.table.columns]
    present = {k for r in job.rows for k in r.values}
    keys = [c for c in columns if c in present]
    return [{k: r.values.get(k) for k in keys} for r in job.rows]


# --- Orchestration ------------------------------------------------------------------------------------


def _open_job(path: Path, table: str | None, errors: list[RowError]) -> FileJob | None:
    """Read and map one file; a file that cannot be read becomes an error, not an exception."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        raw = read_file(path)
    except FileProblem as exc:
        errors.append(RowError(path.name, exc.line, "", exc.reason))
        return None
    try:
        name = resolve_table_name(table) if table else infer_table(raw.headers, path.name)
    except ValueError as exc:
        errors.append(RowError(path.name, raw.header_line, "", str(exc).removeprefix(f"{path.name}: ")))
        return None
    spec = SPECS[name]
    job = FileJob(path, spec, raw, {}, {}, errors, report=FileReport(path.name, name, rows=len(raw.rows)))
    map_headers(job)
    return job


def _process(job: FileJob, conn: Connection, *, progress: bool) -> None:
    if job.n_errors:  # no point converting rows under a broken header
        return
    with Progress(f"check {job.path.name}", len(job.raw.rows), enabled=progress) as bar:
        convert_rows(job, bar)
        RESOLVERS[job.spec.name](job, conn)
        check_duplicates(job)
    if job.n_errors:
        return  # this file is rejected; keep checking the others for a complete report
    assert job.report is not None
    with Progress(f"write {job.path.name}", len(job.rows), enabled=progress) as bar:
        try:
            upsert(conn, job.spec, table_values(job), job.report, bar)
        except DBAPIError as exc:
            # Checks should prevent this (e.g. keys differing only in case on a case-insensitive
            # MariaDB collation); report it like any other error rather than crash.
            job.error(0, "", f"the database refused the rows: {exc.orig}")
            raise ImportFailed(job.errors) from exc


def _check_tables(engine: Engine, jobs: Sequence[FileJob]) -> None:
    inspector = inspect(engine)
    for name in dict.fromkeys(j.spec.name for j in jobs):
        if not inspector.has_table(name):
            raise ValueError(f"table {name!r} does not exist on this database: run init-db first")


def import_files(
    url: str,
    paths: list[Path],
    *,
    table: str | None = None,
    dry_run: bool = False,
    progress: bool = False,
) -> ImportReport:
    """Import ``paths`` in one transaction; raise :class:`ImportFailed` (nothing written) on any error."""
    errors: list[RowError] = []
    jobs = [job for p in paths if (job := _open_job(Path(p), table, errors)) is not None]
    jobs.sort(key=lambda j: ORDER.index(j.spec.name))  # stable: same-table files keep their order
    if table:
        resolve_table_name(table)  # a typo in --table is a usage error, not a file error
    engine = make_writer_engine(url)
    try:
        _check_tables(engine, jobs)
        with engine.connect() as conn:
            trans = conn.begin()
            try:
                for job in jobs:
                    _process(job, conn, progress=progress)
                if errors:
                    raise ImportFailed(sorted(errors, key=_error_order(paths)))
            except BaseException:
                trans.rollback()
                raise
            if dry_run:
                trans.rollback()
            else:
                trans.commit()
    finally:
        engine.dispose()
    return ImportReport([j.report for j in jobs if j.report is not None], dry_run)


def _error_order(paths: Sequence[Path]) -> Callable[[RowError], tuple]:
    position = {Path(p).name: i for i, p in enumerate(paths)}
    return lambda e: (position.get(e.file, 0), e.line)


# --- Command line -------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="CSV or XLSX files")
    add_database_argument(parser)
    parser.add_argument(
        "--table",
        default=None,
        help=f"target table (default: inferred from headers and file name): {', '.join(SPECS)}",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def print_errors(errors: Sequence[RowError], stream: Any = None) -> None:
    stream = stream or sys.stderr
    for e in errors[:MAX_REPORTED_ERRORS]:
        print(e, file=stream)
    if len(errors) > MAX_REPORTED_ERRORS:
        print(f"… and {len(errors) - MAX_REPORTED_ERRORS} more errors", file=stream)


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        report = import_files(
            database_url(args), list(args.paths), table=args.table, dry_run=args.dry_run, progress=progress
        )
    except ImportFailed as exc:
        print_errors(exc.errors)
        print(f"import rejected: {exc}", file=sys.stderr)
        return 1
    for f in report.files:
        print(f.summary())
    if report.dry_run:
        print("dry run: checked, nothing written")
    return 0


def iter_specs() -> Iterator[TableSpec]:
    """Every importable table, in processing order (used by the docs)."""
    yield from SPECS.values()
