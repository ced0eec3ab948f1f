"""How a metric's named counts combine into its figure: the formula kinds of the metric registry.

A query family (direct SQL or rollups) answers with *named counts* for each range of a view (``cur``,
``prev``, ``ly``) and each spark bucket, e.g. ``{"cohort_closed": 832.0, "collected": 896.0}``. A
formula reads the counts it names and gives the figure; the registry
(:mod:`dashboard.core.metrics`) holds one formula per metric, so both paths combine counts the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

Counts = Mapping[str, Any]  # the named counts of one range or spark bucket (numbers, None where undefined)


def ratio(num: float | None, den: float | None, scale: float = 100.0) -> float | None:
    """num/den × scale, or None when the denominator is zero or missing."""
    if not den or num is None:
        return None
    return num / den * scale


@dataclass(frozen=True)
class Formula:
    """How named counts combine. Subclasses say which counts they read and which of them a tile shows."""

    # False where the figure already compares with last year: it has no "same period last year" of its own.
    compares_last_year: ClassVar[bool] = True

    def value(self, counts: Counts) -> float | None:
        """The figure from one range's (or spark bucket's) counts."""
        raise NotImplementedError

    def shown(self) -> tuple[str, ...]:
        """The counts a tile shows beside the figure (its ``detail``), in order."""
        return ()

    def base(self, counts: Counts) -> float | None:
        """The count the figure stands on (a rate's denominator, a mean's n, last year's count): the
        registry's minimum base is checked against it before the figure is coloured, ranked or compared.
        None: nothing to check."""
        return None

    def beyond_chance(self, counts: Counts, z: float) -> bool:
        """Does the figure differ from its reference by more than chance (``z`` standard deviations)?
        Only a change between two counts can say (:class:`YearOnYear`); any other figure: True."""
        return True


@dataclass(frozen=True)
class Count(Formula):
    """The named count itself (reported, backlog …). Shown without detail: the value is the count."""

    name: str

    def value(self, counts: Counts) -> float | None:
        return float(counts[self.name] or 0)

    def base(self, counts: Counts) -> float | None:
        # A count is its own base: as a comparison base (上期 1 件 → ▲200 %) it needs the minimum too.
        return float(counts.get(self.name) or 0)


@dataclass(frozen=True)
class Rate(Formula):
    """``num / den`` as a percentage (None without a denominator); the tile shows both counts."""

    num: str
    den: str

    def value(self, counts: Counts) -> float | None:
        return ratio(counts[self.num], counts[self.den])

    def shown(self) -> tuple[str, ...]:
        return (self.num, self.den)

    def base(self, counts: Counts) -> float | None:
        return float(counts.get(self.den) or 0)


@dataclass(frozen=True)
class Mean(Formula):
    """``total / n`` (None when n is zero); the tile shows both counts."""

    total: str
    n: str

    def value(self, counts: Counts) -> float | None:
        n = counts[self.n]
        return counts[self.total] / n if n else None

    def shown(self) -> tuple[str, ...]:
        return (self.total, self.n)

    def base(self, counts: Counts) -> float | None:
        return float(counts.get(self.n) or 0)


@dataclass(frozen=True)
class YearOnYear(Formula):
    """``(n − n last year) / n last year`` as a percentage (None when last year had none)."""

    compares_last_year: ClassVar[bool] = False

    n: str
    last_year: str

    def value(self, counts: Counts) -> float | None:
        base = counts[self.last_year]
        return None if not base else (counts[self.n] - base) / base * 100.0

    def shown(self) -> tuple[str, ...]:
        return (self.n, self.last_year)

    def base(self, counts: Counts) -> float | None:
        return float(counts.get(self.last_year) or 0)

    def beyond_chance(self, counts: Counts, z: float) -> bool:
        """Counts of independent incidents (110 calls, crimes) vary by chance about as a Poisson count:
        the difference of two has a standard deviation of about √(n + n last year). A town's day of 12
        calls against 10 is +20 %, and means nothing."""
        n, last = float(counts.get(self.n) or 0), float(counts.get(self.last_year) or 0)
        return abs(n - last) >= z * math.sqrt(n + last)


@dataclass(frozen=True)
class Named(Formula):
    """A value the family works out itself (an exact percentile): taken as it comes, None when absent."""

    name: str
    also_shown: tuple[str, ...] = ()

    def value(self, counts: Counts) -> float | None:
        found = counts[self.name]
        return None if found is None else float(found)

    def shown(self) -> tuple[str, ...]:
        return self.also_shown

    def base(self, counts: Counts) -> float | None:
        return float(counts.get(self.also_shown[0]) or 0) if self.also_shown else None


def count(name: str) -> Count:
    """The count ``name``."""
    return Count(name)


def rate(num: str, den: str) -> Rate:
    """``num / den`` in percent."""
    return Rate(num, den)


def mean(total: str, n: str) -> Mean:
    """``total / n``."""
    return Mean(total, n)


def yoy(n: str, last_year: str) -> YearOnYear:
    """The change of ``n`` against ``last_year``, in percent."""
    return YearOnYear(n, last_year)


def named(name: str, *shown: str) -> Named:
    """The value ``name`` as the family found it; ``shown`` are counts the tile shows beside it."""
    return Named(name, shown)
