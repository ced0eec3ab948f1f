"""Values a real export leaves out, derived under a documented policy and counted in the import's report.

* **Admin units**: ``level`` from the code's length (6 district, 9 town, 12 village); ``unit_type`` from
  the name's ending (街道, 镇, 社区, 村; 区 for the district, a zone for a town-level 区); ``name_en`` as the
  pinyin of the name (pypinyin: 城厢街道 → Chengxiang Jiedao); ``valid_from`` as :data:`DEFAULT_VALID_FROM`.
* **Grids**: ``grid_type`` 基础网格 when not given; the centre inside the boundary when the row has one and
  no centre; households and populations may be empty (per-1,000 figures then show "—").
* **Departments**: a missing ``name_en`` is the Chinese name (see :data:`DEPT_NAME_KEPT`).
* **Events**: a missing ``title`` is written from the sub-category (or category) and the address.
* **Intermediate times** (受理 ``accepted_at``, 派单 ``dispatched_at``) that a status implies but the export
  lacks are accepted with a note, then taken from the action log (the latest ACCEPT or DISPATCH action of
  the event, in the database or in the same import) where it has them, and otherwise left empty. The
  terminal time is never invented: a closed status without 办结时间 is still an error.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

import shapely
from pypinyin import lazy_pinyin
from shapely.geometry import shape
from sqlalchemy import Connection, and_, func, select, update

from dashboard.core import domain
from dashboard.ingest.job import FileJob, Row
from dashboard.source import schema

# A unit listed without a start date has existed as long as the district's records: Xiaoshan became a
# district (撤市设区) on this day, the earliest date any of the dashboard's history can ask about.
DEFAULT_VALID_FROM = dt.date(2001, 3, 25)
LEVEL_BY_LENGTH = {6: "district", 9: "town", 12: "village"}
# Name endings → (unit_type, English word), longest first so 社区 wins over 区.
ENDINGS = (
    ("街道", "街道", "Jiedao"),
    ("社区", "社区", "Shequ"),
    ("镇", "镇", "Zhen"),
    ("村", "村", "Cun"),
    ("区", "区", "Qu"),
)
TITLE_DERIVED = "title written from the category and the address"
FROM_ACTION_LOG = "accepted; taken from the action log where it has the step, else left empty"
NAMES_FROM_PINYIN = "derived from the Chinese name (pinyin)"
# A department's name is a phrase pinyin cannot spell usefully (区综合行政执法局 → one 24-letter word): an
# English screen shows the Chinese name until the export gives an English one.
DEPT_NAME_KEPT = "the Chinese name (a department's English name is not derived)"
# The status that implies each intermediate time, and the action that records it.
IMPLIED = {"accepted_at": "ACCEPT", "dispatched_at": "DISPATCH"}


def derive_unit_columns(job: FileJob, r: Row) -> None:
    """Fill an admin unit's level, unit_type, name_en and valid_from when the file leaves them out."""
    v = r.values
    code, name = str(v.get("code") or ""), str(v.get("name_zh") or "")
    if not v.get("level"):
        level = LEVEL_BY_LENGTH.get(len(code))
        if level is None:
            job.bad(
                r, "level", f"required: the code {code!r} has {len(code)} digits (6, 9 or 12 say the level)"
            )
            return
        v["level"] = level
        job.warn(f"{job.label('level')}: derived from the code's length", r.line)
    if not v.get("unit_type"):
        unit_type = unit_type_of(name, v["level"])
        if unit_type is None:
            job.bad(r, "unit_type", f"required: the name {name!r} does not end in 街道, 镇, 社区, 村 or 区")
            return
        v["unit_type"] = unit_type
        job.warn(f"{job.label('unit_type')}: derived from the name's ending", r.line)
    if not v.get("name_en"):
        v["name_en"] = english_name(name)
        job.warn(f"{job.label('name_en')}: {NAMES_FROM_PINYIN}", r.line)
    if v.get("valid_from") is None:
        v["valid_from"] = DEFAULT_VALID_FROM
        job.warn(
            f"{job.label('valid_from')}: taken as {DEFAULT_VALID_FROM} (the district's records begin)", r.line
        )


def unit_type_of(name: str, level: str) -> str | None:
    """The unit type a name's ending says (a town-level 区 is a zone, e.g. 大江东产业集聚区)."""
    for ending, unit_type, _ in ENDINGS:
        if name.endswith(ending):
            return "zone" if unit_type == "区" and level != "district" else unit_type
    return None


def english_name(name: str) -> str:
    """Pinyin without tones, the stem in one word and the ending apart: 城厢街道 → Chengxiang Jiedao."""
    for ending, _, word in ENDINGS:
        if name.endswith(ending) and len(name) > len(ending):
            return f"{_pinyin_word(name[: -len(ending)])} {word}"
    return _pinyin_word(name)


def _pinyin_word(text: str) -> str:
    return "".join(lazy_pinyin(text)).capitalize()


def boundary_centre(geometry_text: str) -> tuple[float, float] | None:
    """A point inside the GeoJSON shape (shapely's representative point: inside even for a crescent),
    rounded to 6 decimals; None for a text that is not a shape."""
    try:
        point = shape(json.loads(geometry_text)).representative_point()
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.GEOSException):
        return None
    return round(point.x, 6), round(point.y, 6)


def event_title(values: dict[str, Any]) -> str:
    """A title for an event the export gives none: what (sub-category, else category) and where."""
    category = domain.CATEGORIES.get(values.get("category_l1") or "")
    what = values.get("category_l2") or (category.zh if category else "事件")
    where = values.get("address")
    return f"{what}（{where}）"[:128] if where else str(what)[:128]


def missing_intermediate_times(status: str | None, values: dict[str, Any]) -> list[str]:
    """The intermediate times ``status`` implies that ``values`` lack (see the module's note)."""
    missing = []
    if status not in ("REPORTED", "REJECTED", None) and values.get("accepted_at") is None:
        missing.append("accepted_at")
    if status == "DISPATCHED" and values.get("dispatched_at") is None:
        missing.append("dispatched_at")
    return missing


def fill_times_from_actions(conn: Connection, event_nos: Iterable[str]) -> dict[str, int]:
    """For the given events, set each missing intermediate time from the latest matching action.

    Returns column → events filled. One UPDATE per column with a correlated subquery: the same statement
    on SQLite, PostgreSQL and MariaDB (MariaDB refuses a subquery on the updated table, not on another)."""
    wanted = sorted(set(event_nos))
    if not wanted:
        return {}
    e, a = schema.event, schema.event_action
    filled: dict[str, int] = {}
    for column, action in IMPLIED.items():
        latest = (
            select(func.max(a.c.at))
            .where(and_(a.c.event_id == e.c.event_id, a.c.action == action))
            .scalar_subquery()
        )
        has_action = (
            select(a.c.action_id).where(and_(a.c.event_id == e.c.event_id, a.c.action == action)).exists()
        )
        count = 0
        for start in range(0, len(wanted), 500):
            result = conn.execute(
                update(e)
                .where(e.c.event_no.in_(wanted[start : start + 500]), e.c[column].is_(None), has_action)
                .values({column: latest})
            )
            count += result.rowcount or 0
        if count:
            filled[column] = count
    return filled
