"""The view-state grammar: round trips, canonical form, and a named rejection for every parameter."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from dashboard.core import domain
from dashboard.core.viewstate import (
    EASTERN,
    LANGS,
    PERIODS,
    SHANGHAI,
    WALL_PAGES,
    ViewState,
    ViewStateError,
    add_view_arguments,
    parse_query,
    to_params,
    to_query,
    view_from_args,
)

NOW = dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)
TOWN_CODES = sorted(t.code for t in domain.towns())


def _sorted_subset(options: list[str]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(options), unique=True, max_size=4).map(lambda xs: tuple(sorted(xs)))


@st.composite
def views(draw: st.DrawFn, wall: bool = False) -> ViewState:
    towns = draw(_sorted_subset(TOWN_CODES))
    prefix = draw(st.sampled_from(towns)) if towns else draw(st.sampled_from(TOWN_CODES))
    village = draw(st.none() | st.from_regex(r"\A\d{3}\Z").map(lambda s: prefix + s))
    grid = None
    if draw(st.booleans()):
        base = village or prefix + draw(st.from_regex(r"\A\d{3}\Z"))
        grid = base + draw(st.from_regex(r"\A\d{3}\Z"))
    period = draw(st.sampled_from(PERIODS))
    date_from = date_to = None
    if period == "custom":
        date_from = draw(st.dates(dt.date(2010, 1, 1), dt.date(2030, 12, 31)))
        date_to = date_from + dt.timedelta(days=draw(st.integers(0, 3 * 365 - 1)))
    as_of = draw(
        st.none()
        | st.datetimes(
            dt.datetime(2010, 1, 1),
            dt.datetime(2026, 1, 1),
            timezones=st.sampled_from([dt.UTC, SHANGHAI, dt.timezone(dt.timedelta(hours=-5))]),
        )
    )
    return ViewState(
        towns=towns,
        village=village,
        grid=grid,
        categories=draw(_sorted_subset(sorted(domain.CATEGORIES))),
        sources=draw(_sorted_subset(sorted(domain.SOURCES))),
        depts=draw(_sorted_subset(sorted(domain.DEPARTMENTS))),
        period=period,
        date_from=date_from,
        date_to=date_to,
        as_of=as_of,
        lang=draw(st.sampled_from(LANGS)),
        eastern=draw(st.sampled_from(EASTERN)),
        pages=tuple(draw(st.lists(st.sampled_from(WALL_PAGES), unique=True, min_size=1)))
        if wall
        else WALL_PAGES,
        rotate=draw(st.integers(5, 3600)) if wall else 30,
    )


@settings(max_examples=300, deadline=None, database=None)
@given(views())
def test_round_trip(view: ViewState) -> None:
    query = to_query(view)
    assert parse_query(query, now=NOW) == view
    assert to_query(parse_query(query)) == query
    assert parse_query(to_params(view)) == view


@settings(max_examples=150, deadline=None, database=None)
@given(views(wall=True))
def test_round_trip_wall(view: ViewState) -> None:
    query = to_query(view, wall=True)
    assert parse_query(query, wall=True) == view
    assert to_query(parse_query(query, wall=True), wall=True) == query


def test_default_view_is_the_empty_query() -> None:
    assert to_query(ViewState()) == ""
    assert parse_query("") == ViewState()
    assert parse_query("?") == ViewState()


def test_canonical_form_sorts_dedupes_and_names_towns() -> None:
    view = parse_query("town=瓜沥镇&town=Chengxiang Jiedao,城厢,330109001&category=fire,FIRE&lang=EN")
    assert view.towns == ("330109001", "330109113")
    assert to_query(view) == "town=330109001,330109113&category=FIRE&lang=en"


def test_town_names_accept_short_and_pinyin_forms() -> None:
    for spelling in ("瓜沥", "瓜沥镇", "guali", "Guali Zhen", "guali-zhen", "330109113"):
        assert parse_query({"town": spelling}).towns == ("330109113",)


def test_as_of_defaults_to_shanghai_and_survives_a_raw_plus() -> None:
    expected = dt.datetime(2024, 5, 1, 4, 0, tzinfo=dt.UTC)
    for raw in (
        "2024-05-01T12:00",
        "2024-05-01T12:00 08:00",
        "2024-05-01T12:00%2B08:00",
        "2024-05-01T04:00Z",
    ):
        assert parse_query(f"as_of={raw}").as_of == expected
    assert to_query(ViewState(as_of=expected)) == "as_of=2024-05-01T12:00:00%2B08:00"


def test_multidict_and_cli_go_through_the_same_grammar() -> None:
    args = MultiDict([("town", "城厢"), ("town", "北干"), ("period", "week")])
    assert parse_query(args) == ViewState(towns=("330109001", "330109002"), period="week")
    parser = argparse.ArgumentParser()
    add_view_arguments(parser)
    ns = parser.parse_args(["--town", "城厢", "--town", "北干", "--period", "week", "--as-of", "2024-05-01"])
    view = view_from_args(ns)
    assert view.towns == ("330109001", "330109002")
    assert view.as_of == dt.datetime(2024, 5, 1, tzinfo=SHANGHAI)
    with pytest.raises(ViewStateError) as err:
        view_from_args(parser.parse_args(["--lang", "fr"]))
    assert err.value.param == "lang"


BAD_QUERIES = [
    ("colour=red", "colour"),
    ("town=东京", "town"),
    ("town=330109999", "town"),
    ("village=33010900100", "village"),
    ("town=330109001&village=330109002001", "village"),
    ("grid=12345", "grid"),
    ("village=330109001001&grid=330109001002003", "grid"),
    ("category=NOPE", "category"),
    ("source=TWITTER", "source"),
    ("dept=D99", "dept"),
    ("period=fortnight", "period"),
    ("period=custom&from=2024-01-01", "to"),
    ("period=custom&to=2024-01-01", "from"),
    ("period=custom&from=2024-13-01&to=2024-12-31", "from"),
    ("period=custom&from=2024/01/01&to=2024-12-31", "from"),
    ("period=custom&from=2024-02-01&to=2024-01-31", "to"),
    ("period=custom&from=2020-01-01&to=2023-01-01", "to"),
    ("period=month&from=2024-01-01", "from"),
    ("to=2024-01-01", "to"),
    ("as_of=yesterday", "as_of"),
    ("as_of=2024-05-01T25:00", "as_of"),
    ("as_of=2099-01-01T00:00%2B08:00", "as_of"),
    ("lang=fr", "lang"),
    ("lang=zh&lang=en", "lang"),
    ("eastern=maybe", "eastern"),
    ("pages=overview", "pages"),  # wall-only parameter outside the wall
    ("rotate=30", "rotate"),
]


@pytest.mark.parametrize(("query", "param"), BAD_QUERIES)
def test_malformed_input_names_the_parameter(query: str, param: str) -> None:
    with pytest.raises(ViewStateError) as err:
        parse_query(query, now=NOW)
    assert err.value.param == param
    assert str(err.value).startswith(f"{param}: ")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("pages=overview,map", "pages"),
        ("rotate=4", "rotate"),
        ("rotate=3601", "rotate"),
        ("rotate=1e2", "rotate"),
    ],
)
def test_wall_parameters_are_checked(query: str, param: str) -> None:
    with pytest.raises(ViewStateError) as err:
        parse_query(query, wall=True)
    assert err.value.param == param


def test_wall_pages_keep_their_rotation_order() -> None:
    view = parse_query("pages=trends,overview,trends&rotate=15", wall=True)
    assert view.pages == ("trends", "overview")
    assert to_query(view, wall=True) == "pages=trends,overview&rotate=15"
    assert to_query(view) == ""  # presentation settings are not part of the data view


def test_custom_period_may_span_exactly_three_years() -> None:
    view = parse_query("period=custom&from=2020-01-01&to=2022-12-31")
    assert (view.date_from, view.date_to) == (dt.date(2020, 1, 1), dt.date(2022, 12, 31))


def test_blank_values_mean_no_filter() -> None:
    assert parse_query("town=&category=,&lang=") == ViewState()
