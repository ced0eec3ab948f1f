"""The importable tables: each column's type, whether it is required, its enum and its accepted headers.

Types, lengths and nullability come from :mod:`dashboard.source.schema`; this module adds what the
schema cannot say: the Chinese and English header aliases, the enums with their synonyms, the natural
keys that make a re-import idempotent, and which table a file's headers (or its name) point to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, SmallInteger, String, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from dashboard.core import domain
from dashboard.ingest.reading import normalise_header
from dashboard.source import schema


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
    """One importable table: its fields, natural key and the names a file may use for it."""

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


def _labels(labels: dict[str, domain.Label]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, lab in labels.items():
        for token in (code, lab.zh, lab.en):
            out[token.upper()] = code
    return out


def _values(pairs: Iterable[tuple[str, ...]]) -> dict[str, str]:
    """Enum from (code, synonym, …) tuples."""
    return {token.upper(): group[0] for group in pairs for token in group}


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
        "active": (None, ("在岗", "是否在岗", "on_duty")),
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
        "checkpoint_code": (None, ("巡检点", "巡检点编码", "checkpoint_id")),
        "method": ("checkin_method", ("打卡方式",)),
        "at": (None, ("打卡时间",)),
        "lng": (None, ("经度",)),
        "lat": (None, ("纬度",)),
    },
    "video_point": {
        "point_code": (None, ("点位编码", "点位编号")),
        "name": (None, ("点位名称", "名称")),
        "point_class": ("point_class", ("点位类别", "类别", "class")),
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
        "unit_code": (None, ("单位编码", "统一社会信用代码", "信用代码")),
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
    "admin_unit": {"name_en", "level", "unit_type", "valid_from"},
    "grid": {"town_code", "grid_type"},
    "department": {"name_en"},
    "event": {"town_code", "title"},  # grid_code and village_code may stay empty: a town-level case
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


def infer_table(
    headers: Sequence[str], filename: str, extra: Callable[[str], dict[str, str]] | None = None
) -> str:
    """The table whose headers fit best; the file name breaks ties. ValueError when it cannot tell.

    ``extra`` gives more header names per table (a profile's ``header_map``)."""
    normalised = {normalise_header(h) for h in headers if h}
    scores: dict[str, int] = {}
    for name, spec in SPECS.items():
        hmap = {**spec.header_map(), **(extra(name) if extra else {})}
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
    """The table named by ``--table`` (its name or a hint such as 事件); ValueError if none."""
    for table, spec in SPECS.items():
        if name == table or name in spec.file_hints:
            return table
    raise ValueError(f"unknown table {name!r}: expected one of {', '.join(SPECS)}")


def iter_specs() -> Iterator[TableSpec]:
    """Every importable table, in processing order (used by the docs)."""
    yield from SPECS.values()
