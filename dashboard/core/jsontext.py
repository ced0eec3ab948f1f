"""JSON text in and out through orjson, the encoder Plotly and Dash use when it is installed.

A wall's board or a district snapshot is about a megabyte of JSON, written or read on every screen's first
answer and every API answer: the standard library took 20–80 ms for one (orjson: 3–5 ms to write,
about half to read). The text is what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
default=str)`` wrote: dates and dataclasses go through ``default`` as before (not orjson's own ISO
form), integer keys become strings. Two differences, both of the form, not the value: a small float's
exponent loses its zero (``1e-7``, not ``1e-07``), and NaN is written ``null`` (the standard library
wrote ``NaN``, which JSON readers refuse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

_AS_BEFORE = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dump_bytes(value: Any, default: Callable[[Any], Any] | None = str, *, sort_keys: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON; what JSON cannot hold goes through ``default`` (``str``)."""
    option = _AS_BEFORE | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(value, default=default, option=option)


def dumps(value: Any, default: Callable[[Any], Any] | None = str, *, sort_keys: bool = False) -> str:
    """``value`` as compact JSON text (see :func:`dump_bytes`)."""
    return dump_bytes(value, default, sort_keys=sort_keys).decode("utf-8")


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text``."""
    return orjson.loads(text)
