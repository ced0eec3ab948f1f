"""Working days in mainland China: official holidays off, and the working weekends (调休) that pay for them.

A case's 办理时限 counts working days ("5 个工作日"). The calendar is the maintained ``chinese-calendar``
package (PyPI ``chinesecalendar``, MIT): the State Council's holiday notices from 2004 up to its last
known year (2026 in release 1.11). A new release follows each notice, usually in November or December.

Past the years it knows, a day is a working day when it is Monday to Friday, and a warning says so once
per year and process (``working days of 2027 are not in chinese-calendar 1.11: weekends only``), so a
deadline near New Year keeps a plausible value until the package is updated.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from importlib.metadata import version

import chinese_calendar

log = logging.getLogger(__name__)
_UNKNOWN_YEARS: set[int] = set()


@lru_cache(maxsize=4096)
def is_working_day(day: dt.date) -> bool:
    """True on a working day: Monday to Friday unless an official holiday, and a 调休 weekend day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package has no notice for
        if day.year not in _UNKNOWN_YEARS:
            _UNKNOWN_YEARS.add(day.year)
            log.warning(
                "working days of %d are not in chinese-calendar %s: weekends only (update the package)",
                day.year,
                version("chinesecalendar"),
            )
        return day.weekday() < 5


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """``start`` plus ``days`` working days, at the same local clock time (``start`` in Asia/Shanghai
    time, naive or aware at +08:00). From a day off, the count starts from the last working day before
    it: accepted on Saturday, one working day later is Monday at the same time."""
    if days <= 0:
        return start
    at = start
    while not is_working_day(at.date()):
        at -= dt.timedelta(days=1)
    while days > 0:
        at += dt.timedelta(days=1)
        if is_working_day(at.date()):
            days -= 1
    return at
