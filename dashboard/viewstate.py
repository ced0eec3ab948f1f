"""The view state: one grammar for URL query strings, the API, CLI flags and exports.

``ViewState`` is the single value that every screen, API answer and export is computed from. It is
parsed from and serialised to a query string by :func:`parse_query` / :func:`to_query`, which are the
only parser and serializer in the product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

PERIODS = ("day", "week", "month", "quarter", "year", "custom")
LANGS = ("zh", "en")
EASTERN = ("include", "exclude")
WALL_PAGES = ("overview", "backlog", "patrol", "trends", "rankings")


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
