"""jsontext writes what the standard library wrote (the API's text and the boards' keys depend on it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dashboard.core import jsontext


def stdlib(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, sort_keys=sort_keys)


@dataclasses.dataclass
class Marked:
    unit: str


SHANGHAI = dt.timezone(dt.timedelta(hours=8))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()
    | st.sampled_from(["城厢街道", "瓜沥镇 grid 4", "\u2028", '\\"', "\x00"])
    | st.datetimes(timezones=st.just(SHANGHAI))
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=5)
    ),
    max_leaves=30,
)


@given(values)
def test_the_same_text_as_the_standard_library(value: Any) -> None:
    assert jsontext.dumps(value) == stdlib(value)
    assert jsontext.loads(jsontext.dump_bytes(value)) == json.loads(stdlib(value))


@given(st.dictionaries(st.text(max_size=8), scalars, max_size=8))
def test_sorted_keys_as_the_standard_library(value: dict[str, Any]) -> None:
    assert jsontext.dumps(value, sort_keys=True) == stdlib(value, sort_keys=True)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_keep_their_value(number: float) -> None:
    assert jsontext.loads(jsontext.dumps(number)) == json.loads(stdlib(number))


def test_dataclasses_and_moments_go_through_default_as_before() -> None:
    value = {"at": dt.datetime(2026, 12, 3, 1, 30, tzinfo=SHANGHAI), "who": Marked("城厢"), 3: "三"}
    assert (
        jsontext.dumps(value) == '{"at":"2026-12-03 01:30:00+08:00","who":"Marked(unit=\'城厢\')","3":"三"}'
    )


def test_nan_is_written_as_null_which_readers_accept() -> None:
    assert jsontext.dumps([math.nan, 1.0]) == "[null,1.0]"
