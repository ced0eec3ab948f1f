"""A time budget for the work done on behalf of one request: a deadline the source queries obey.

The web layer opens a budget around every Dash callback (``DASHBOARD_CALLBACK_BUDGET_MS``); the source
engines (:mod:`dashboard.source.engines`) read it before each statement they run in that thread and
give the statement only what is left of it as its timeout, so a callback can never hold a server
thread for longer than its budget, however many queries it runs. Past the deadline the next statement
is not started and a cancelled one is reported as :class:`BudgetExceeded`.

The deadline lives in a context variable: each request thread has its own, and the background threads
(the refresher) have none, so their queries keep the engine's ordinary statement timeout. It carries
no request state (who asks, which towns): only a point in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

SLACK_MS = 5.0  # a statement cancelled this close to the deadline was cancelled by the budget


@dataclass(frozen=True)
class Budget:
    """``ms`` milliseconds from the moment it was opened, up to ``deadline`` (time.monotonic())."""

    ms: int
    deadline: float


class BudgetExceeded(TimeoutError):
    """The work of a request ran out of its time budget (its last query was cancelled or not started)."""

    def __init__(self, budget_ms: int) -> None:
        super().__init__(f"took longer than its time budget of {budget_ms} ms")
        self.budget_ms = budget_ms


_current: ContextVar[Budget | None] = ContextVar("dashboard_time_budget", default=None)


def open_budget(ms: int) -> Token[Budget | None]:
    """Start a budget of ``ms`` milliseconds in this context; give the token to :func:`close_budget`."""
    return _current.set(Budget(ms, time.monotonic() + ms / 1000))


def close_budget(token: Token[Budget | None]) -> None:
    """End the budget :func:`open_budget` started (the context's earlier one, if any, applies again)."""
    _current.reset(token)


@contextmanager
def time_budget(ms: int) -> Iterator[Budget]:
    """The block's work gets ``ms`` milliseconds of source queries at most."""
    token = open_budget(ms)
    try:
        budget = _current.get()
        assert budget is not None
        yield budget
    finally:
        close_budget(token)


def current_budget() -> Budget | None:
    """The budget in force in this context, or None."""
    return _current.get()


def remaining_ms() -> float | None:
    """Milliseconds left of the budget in force (≤ 0 when spent), or None without a budget."""
    budget = _current.get()
    return None if budget is None else (budget.deadline - time.monotonic()) * 1000


def statement_timeout_ms(ceiling_ms: int) -> int | None:
    """The timeout for the next statement: what is left of the budget, at most ``ceiling_ms`` (the
    engine's own timeout); None without a budget. Raises :class:`BudgetExceeded` when none is left."""
    left = remaining_ms()
    if left is None:
        return None
    if left <= 0:
        raise BudgetExceeded(_spent())
    return max(1, min(math.ceil(left), ceiling_ms))


def spent() -> bool:
    """Whether a budget is in force and (all but) used up: a failure now is the budget's doing."""
    left = remaining_ms()
    return left is not None and left <= SLACK_MS


def _spent() -> int:
    budget = _current.get()
    return budget.ms if budget is not None else 0
