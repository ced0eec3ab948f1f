"""Cell values to typed column values, with the reason a bad value is refused.

Times without an offset are Shanghai time (+08:00); every instant comes back as aware UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

from dashboard.core import domain
from dashboard.ingest.specs import FieldSpec

SHANGHAI = ZoneInfo(domain.TZ_NAME)
UTC = dt.UTC
YES = ("1", "Y", "YES", "TRUE", "T", "是", "有", "在线", "ONLINE", "有效", "在岗")
NO = ("0", "N", "NO", "FALSE", "F", "否", "无", "离线", "OFFLINE", "无效", "不在岗")

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
    """A date from ISO text, ``2026/11/28``, ``2026年11月28日`` or an XLSX cell."""
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
    """True for an empty cell (None or only spaces)."""
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
