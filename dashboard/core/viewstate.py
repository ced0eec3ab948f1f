"""The view state: one grammar for URL query strings, the API, CLI flags and exports.

``ViewState`` is the single value that every screen, API answer and export is computed from. It is
parsed from and serialised to a query string by :func:`parse_query` / :func:`to_query`, which are the
only parser and serializer in the product. ``dashboard/core/README.md`` → "View state" documents the
grammar.

Canonical form (what :func:`to_query` writes): parameters in the order of :data:`PARAM_ORDER`,
defaults omitted, list values sorted, de-duplicated and comma-joined, ``as_of`` in +08:00.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import parse_qsl, quote

PERIODS = ("day", "week", "month", "quarter", "year", "custom")
LANGS = ("zh", "en")
EASTERN = ("include", "exclude")
WALL_PAGES = ("overview", "backlog", "patrol", "trends", "rankings")

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991: fixed offset is exact
MAX_CUSTOM_YEARS = 3
ROTATE_RANGE = (5, 3600)

# Canonical parameter order; the wall-only ones come last.
PARAM_ORDER = (
    "town",
    "village",
    "grid",
    "category",
    "source",
    "dept",
    "period",
    "from",
    "to",
    "as_of",
    "lang",
    "eastern",
)
WALL_PARAMS = ("pages", "rotate")
LIST_PARAMS = frozenset({"town", "category", "source", "dept", "pages"})

_TOWN_CODE = re.compile(r"^\d{9}$")
_VILLAGE_CODE = re.compile(r"^\d{12}$")
_GRID_CODE = re.compile(r"^\d{15}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A raw "+" in a query string decodes to a space: "2024-05-01T12:00 08:00" really meant +08:00.
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


class ViewStateError(ValueError):
    """A malformed or unknown parameter; ``param`` names it so a 400 can say which."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param
        self.reason = reason


@dataclass(frozen=True)
class ViewState:
    """What to show. Empty tuples mean "no filter" (the whole district, every category ...)."""

    towns: tuple[str, ...] = ()  # 9-digit 镇街 codes, sorted
    village: str | None = None  # 12-digit 村社 code
    grid: str | None = None  # 15-digit 网格 code
    categories: tuple[str, ...] = ()  # category_l1 codes
    sources: tuple[str, ...] = ()
    depts: tuple[str, ...] = ()
    period: str = "month"
    date_from: dt.date | None = None  # only with period=custom (inclusive, Asia/Shanghai days)
    date_to: dt.date | None = None
    as_of: dt.datetime | None = None  # timezone-aware; None = live
    lang: str = "zh"
    eastern: str = "include"
    # Wall only
    pages: tuple[str, ...] = field(default=WALL_PAGES)
    rotate: int = 30

    @property
    def is_live(self) -> bool:
        return self.as_of is None


_DEFAULT = ViewState()
Params = Mapping[str, str | Sequence[str]] | str


# --- lookups ------------------------------------------------------------------------------------


def _squash(name: str) -> str:
    """Lower-case and drop spaces, hyphens and underscores, so "Chengxiang Jiedao" = "chengxiang-jiedao"."""
    return re.sub(r"[\s\-_]+", "", name).lower()


@cache
def _town_names() -> dict[str, str]:
    """Every accepted spelling of a town → its code: code, 城厢街道, 城厢, Chengxiang Jiedao, chengxiang."""
    from dashboard.core.domain import towns

    names: dict[str, str] = {}
    ambiguous: set[str] = set()
    for t in towns():
        short_zh = re.sub(r"(街道|镇)$", "", t.name_zh)
        short_en = re.sub(r"\s+(Jiedao|Zhen)$", "", t.name_en)
        for spelling in {t.code, t.name_zh, short_zh, _squash(t.name_en), _squash(short_en)}:
            if names.get(spelling, t.code) != t.code:
                ambiguous.add(spelling)  # never guess between two towns
            names[spelling] = t.code
    return {k: v for k, v in names.items() if k not in ambiguous}


@cache
def _label_lookup(kind: str) -> dict[str, str]:
    """Code (any case), Chinese label or English label → code, for categories, sources or departments."""
    from dashboard.core import domain

    labels = {"category": domain.CATEGORIES, "source": domain.SOURCES, "dept": domain.DEPARTMENTS}[kind]
    lookup: dict[str, str] = {}
    for label in labels.values():
        for spelling in (label.code, label.zh, label.en):
            lookup[spelling.lower()] = label.code
    return lookup


# --- parsing ------------------------------------------------------------------------------------


def _as_multidict(params: Params) -> dict[str, list[str]]:
    if isinstance(params, str):
        out: dict[str, list[str]] = {}
        for key, value in parse_qsl(params.lstrip("?"), keep_blank_values=True):
            out.setdefault(key, []).append(value)
        return out
    getlist = getattr(params, "getlist", None)
    if getlist is not None:  # a werkzeug MultiDict (request.args): keep repeated parameters
        return {k: list(getlist(k)) for k in params}
    return {k: [v] if isinstance(v, str) else [str(x) for x in v] for k, v in params.items()}


def _items(values: list[str]) -> list[str]:
    """Split repeated and comma-separated values; blanks are ignored (an emptied filter box)."""
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _single(name: str, values: list[str]) -> str | None:
    present = [v.strip() for v in values if v.strip()]
    if len(present) > 1:
        raise ViewStateError(name, "given more than once; it takes a single value")
    return present[0] if present else None


def _choice(name: str, value: str | None, allowed: Sequence[str], default: str) -> str:
    if value is None:
        return default
    if value.lower() not in allowed:
        raise ViewStateError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return value.lower()


def _parse_towns(items: list[str]) -> tuple[str, ...]:
    lookup = _town_names()
    codes = set()
    for item in items:
        code = lookup.get(item) or lookup.get(_squash(item))
        if code is None:
            what = "town code" if _TOWN_CODE.match(item) else "town name"
            raise ViewStateError("town", f"unknown {what} {item!r} (镇街 of 萧山区: 9-digit code or name)")
        codes.add(code)
    return tuple(sorted(codes))


def _parse_labels(name: str, items: list[str]) -> tuple[str, ...]:
    lookup = _label_lookup(name)
    codes = set()
    for item in items:
        code = lookup.get(item.lower())
        if code is None:
            raise ViewStateError(name, f"unknown {name} {item!r}")
        codes.add(code)
    return tuple(sorted(codes))


def _parse_code(name: str, value: str | None, pattern: re.Pattern[str], digits: int) -> str | None:
    if value is not None and not pattern.match(value):
        raise ViewStateError(name, f"{value!r} is not a {digits}-digit code")
    return value


def _check_hierarchy(towns: tuple[str, ...], village: str | None, grid: str | None) -> None:
    """A village must lie in the chosen town(s), a grid in the chosen village (codes nest by prefix)."""
    if village and towns and village[:9] not in towns:
        raise ViewStateError("village", f"{village} does not belong to town {','.join(towns)}")
    if grid and village and not grid.startswith(village):
        raise ViewStateError("grid", f"{grid} does not belong to village {village}")
    if grid and towns and grid[:9] not in towns:
        raise ViewStateError("grid", f"{grid} does not belong to town {','.join(towns)}")


def _parse_date(name: str, value: str | None) -> dt.date | None:
    if value is None:
        return None
    if not _DATE.match(value):
        raise ViewStateError(name, f"{value!r} is not a date in YYYY-MM-DD form")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ViewStateError(name, f"{value!r} is not a valid date ({exc})") from None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _check_period(period: str, date_from: dt.date | None, date_to: dt.date | None) -> None:
    if period != "custom":
        for name, value in (("from", date_from), ("to", date_to)):
            if value is not None:
                raise ViewStateError(name, "only allowed with period=custom")
        return
    if date_from is None:
        raise ViewStateError("from", "required with period=custom")
    if date_to is None:
        raise ViewStateError("to", "required with period=custom")
    if date_from > date_to:
        raise ViewStateError("to", f"{date_to} is before from={date_from}")
    if date_to >= _add_years(date_from, MAX_CUSTOM_YEARS):
        raise ViewStateError("to", f"a custom period spans at most {MAX_CUSTOM_YEARS} years")


def parse_instant(value: str, *, param: str = "as_of") -> dt.datetime:
    """An ISO 8601 instant; without an offset it is Asia/Shanghai time. Returned in +08:00."""
    text = _SPACE_OFFSET.sub(r"\1+\2", value.strip())
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    if not re.match(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?([+-]\d{2}:?\d{2})?$", text):
        raise ViewStateError(param, f"{value!r} is not an ISO 8601 time such as 2024-05-01T12:00+08:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ViewStateError(param, f"{value!r} is not a valid time ({exc})") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def _parse_as_of(value: str | None, now: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    moment = parse_instant(value)
    if now is not None and moment > now:
        raise ViewStateError("as_of", f"{value!r} is in the future; omit as_of for the live view")
    return moment


def _parse_pages(items: list[str]) -> tuple[str, ...]:
    unknown = [p for p in items if p not in WALL_PAGES]
    if unknown:
        raise ViewStateError("pages", f"unknown page {unknown[0]!r}; choose from {', '.join(WALL_PAGES)}")
    pages = tuple(dict.fromkeys(items))  # the order is the rotation order: keep it, drop repeats
    return pages or WALL_PAGES


def _parse_rotate(value: str | None) -> int:
    if value is None:
        return _DEFAULT.rotate
    low, high = ROTATE_RANGE
    if not re.match(r"^\d+$", value) or not low <= int(value) <= high:
        raise ViewStateError("rotate", f"{value!r} must be whole seconds between {low} and {high}")
    return int(value)


def parse_query(params: Params, *, wall: bool = False, now: dt.datetime | None = None) -> ViewState:
    """Parse a query string (or a mapping of parameter → value(s)) into a :class:`ViewState`.

    ``wall`` allows the wall-only parameters ``pages`` and ``rotate``. ``now`` (aware) rejects an
    ``as_of`` in the future. Raises :class:`ViewStateError` naming the first bad parameter.
    """
    raw = _as_multidict(params)
    allowed = PARAM_ORDER + (WALL_PARAMS if wall else ())
    for name in raw:
        if name not in allowed:
            reason = "only allowed on the wall" if name in WALL_PARAMS else "unknown parameter"
            raise ViewStateError(name, reason)
    for name, values in raw.items():
        if name not in LIST_PARAMS:
            _single(name, values)  # reject repeats up front, whatever the order of checks below
    one = {name: _single(name, values) for name, values in raw.items() if name not in LIST_PARAMS}
    many = {name: _items(values) for name, values in raw.items() if name in LIST_PARAMS}

    towns = _parse_towns(many.get("town", []))
    village = _parse_code("village", one.get("village"), _VILLAGE_CODE, 12)
    grid = _parse_code("grid", one.get("grid"), _GRID_CODE, 15)
    _check_hierarchy(towns, village, grid)
    period = _choice("period", one.get("period"), PERIODS, _DEFAULT.period)
    date_from = _parse_date("from", one.get("from"))
    date_to = _parse_date("to", one.get("to"))
    _check_period(period, date_from, date_to)
    return ViewState(
        towns=towns,
        village=village,
        grid=grid,
        categories=_parse_labels("category", many.get("category", [])),
        sources=_parse_labels("source", many.get("source", [])),
        depts=_parse_labels("dept", many.get("dept", [])),
        period=period,
        date_from=date_from,
        date_to=date_to,
        as_of=_parse_as_of(one.get("as_of"), now),
        lang=_choice("lang", one.get("lang"), LANGS, _DEFAULT.lang),
        eastern=_choice("eastern", one.get("eastern"), EASTERN, _DEFAULT.eastern),
        pages=_parse_pages(many.get("pages", [])) if wall else WALL_PAGES,
        rotate=_parse_rotate(one.get("rotate")) if wall else _DEFAULT.rotate,
    )


# --- serialising --------------------------------------------------------------------------------


def format_instant(moment: dt.datetime) -> str:
    """ISO 8601 in +08:00, seconds always shown, microseconds only when present."""
    return moment.astimezone(SHANGHAI).isoformat(timespec="microseconds" if moment.microsecond else "seconds")


def to_params(view: ViewState, *, wall: bool = False) -> dict[str, list[str]]:
    """The non-default parameters of ``view`` in canonical order, each as a list of single values."""
    out: dict[str, list[str]] = {}

    def put(name: str, values: Iterable[str]) -> None:
        listed = list(values)
        if listed:
            out[name] = listed

    put("town", sorted(set(view.towns)))
    put("village", [view.village] if view.village else [])
    put("grid", [view.grid] if view.grid else [])
    put("category", sorted(set(view.categories)))
    put("source", sorted(set(view.sources)))
    put("dept", sorted(set(view.depts)))
    put("period", [view.period] if view.period != _DEFAULT.period else [])
    put("from", [view.date_from.isoformat()] if view.date_from else [])
    put("to", [view.date_to.isoformat()] if view.date_to else [])
    put("as_of", [format_instant(view.as_of)] if view.as_of else [])
    put("lang", [view.lang] if view.lang != _DEFAULT.lang else [])
    put("eastern", [view.eastern] if view.eastern != _DEFAULT.eastern else [])
    if wall:
        put("pages", list(view.pages) if view.pages != WALL_PAGES else [])
        put("rotate", [str(view.rotate)] if view.rotate != _DEFAULT.rotate else [])
    return out


def to_query(view: ViewState, *, wall: bool = False) -> str:
    """The canonical, minimal query string of ``view`` (no leading "?"; "" for the default view)."""
    return "&".join(
        f"{name}={quote(','.join(values), safe=',:')}" for name, values in to_params(view, wall=wall).items()
    )


def view_key(view: ViewState) -> str:
    """The cache identity of a view: its canonical query, without wall-only presentation settings."""
    return to_query(view)


# --- command line -------------------------------------------------------------------------------

_CLI_FLAGS = (
    ("--town", "town", "镇街 code or name (repeatable, or comma-separated); default: whole district"),
    ("--village", "village", "12-digit 村社 code"),
    ("--grid", "grid", "15-digit 网格 code"),
    ("--category", "category", "event category code (repeatable)"),
    ("--source", "source", "event source code (repeatable)"),
    ("--dept", "dept", "department code (repeatable)"),
    ("--period", "period", f"one of {', '.join(PERIODS)} (default month)"),
    ("--from", "from", "first day of a custom period, YYYY-MM-DD"),
    ("--to", "to", "last day of a custom period, YYYY-MM-DD"),
    ("--as-of", "as_of", "show the situation at this past instant (ISO 8601, default +08:00)"),
    ("--lang", "lang", "zh or en"),
    ("--eastern", "eastern", "include or exclude the 大江东 streets"),
)


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the view-state flags; :func:`view_from_args` parses them with the same grammar as URLs."""
    group = parser.add_argument_group("view", "what to show (the same grammar as the URL query string)")
    for flag, name, help_text in _CLI_FLAGS:
        dest = "view_" + name
        if name in LIST_PARAMS:
            group.add_argument(flag, dest=dest, action="append", default=[], help=help_text)
        else:
            group.add_argument(flag, dest=dest, default=None, help=help_text)


def view_from_args(args: argparse.Namespace, *, now: dt.datetime | None = None) -> ViewState:
    """The :class:`ViewState` named by the flags of :func:`add_view_arguments`."""
    params: dict[str, list[str]] = {}
    for _flag, name, _help in _CLI_FLAGS:
        value = getattr(args, "view_" + name, None)
        if value:
            params[name] = value if isinstance(value, list) else [value]
    return parse_query(params, now=now)
