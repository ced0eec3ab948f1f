"""Is each source stream still arriving? Live, late or stopped, judged against what is expected by now.

The source is fed by four streams: the reports (``event``), their lifecycle steps (``event_action``), the
patrols and the video platform's heartbeats. A frozen feed must never pass for a live one, and a quiet
night must never pass for a frozen feed. So a stream's age alone is not enough (at 01:30 a district may
go twenty minutes without a report): a stream is judged by how many rows the same stretch of time
brought in past weeks.

* Age at most the stream's cadence (``DASHBOARD_STREAM_CADENCE``, minutes): **live**.
* Otherwise the expected rows are the mean count of the same window one to four weeks earlier (the same
  weekday and hour): ``[newest + half a cadence, now)`` (:func:`history_window`). Nothing arrived where
  at least :data:`STOPPED_EXPECTED` rows were expected: **stopped** (by chance with probability e⁻¹⁰ ≈ 0.005 %); at least :data:`LATE_EXPECTED`:
  **late** (e⁻³ ≈ 5 %, so amber, not red); fewer: **live**, a quiet hour.
* A stream with a fixed beat (the video heartbeats) has no history to ask: it is late after two beats and
  stopped after :data:`BEATS_STOPPED`.
* Past :data:`STOPPED_HOURS` without a row, any stream is stopped, history or not.
* A stream without a single row is **absent**: not fed to this source at all (a deployment whose video
  platform sends no heartbeats), which says nothing about the feed. Absent streams are not shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dashboard.core.i18n import fmt_age, t

LIVE, LATE, STOPPED, ABSENT = "live", "late", "stopped", "absent"
LATE_EXPECTED = 3.0
STOPPED_EXPECTED = 10.0
BEATS_LATE = 2.0
BEATS_STOPPED = 4.0
STOPPED_HOURS = 24.0
HISTORY_WEEKS = 4
HISTORY_GRACE = 0.5  # of a stream's cadence, after its newest row, left out of the window history is asked


@dataclass(frozen=True)
class Stream:
    """One source stream: its key, its names and whether it beats at a fixed rate."""

    key: str
    name_zh: str
    name_en: str
    heartbeat: bool = False

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" else self.name_zh


STREAMS: tuple[Stream, ...] = (
    Stream("events", "事件上报", "Reports"),
    Stream("actions", "事件办理", "Case handling"),
    Stream("patrols", "巡查", "Patrols"),
    Stream("video", "视频监控", "Video", heartbeat=True),
)
STREAM_KEYS = tuple(s.key for s in STREAMS)
DEFAULT_CADENCE = "events=10,actions=10,patrols=30,video=5"


@dataclass(frozen=True)
class StreamState:
    """How one stream stands at ``checked_at``: its newest row, that row's age and the verdict."""

    stream: str
    newest: dt.datetime | None
    age_seconds: float | None
    expected: float | None  # rows the same window brought in past weeks (None: not asked)
    state: str

    def to_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "newest": self.newest.isoformat() if self.newest else None,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "expected_rows": None if self.expected is None else round(self.expected, 2),
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> StreamState:
        newest, age, expected = data.get("newest"), data.get("age_seconds"), data.get("expected_rows")
        return cls(
            stream=str(data["stream"]),
            newest=dt.datetime.fromisoformat(newest) if isinstance(newest, str) else None,
            age_seconds=float(age) if isinstance(age, int | float) else None,
            expected=float(expected) if isinstance(expected, int | float) else None,
            state=str(data["state"]),
        )


def parse_cadence(text: str) -> dict[str, float]:
    """``events=10,video=5`` → minutes per stream; every stream named, every value a positive number."""
    cadence: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, minutes = part.partition("=")
        key = key.strip()
        if not sep or key not in STREAM_KEYS:
            raise ValueError(
                f"stream cadence {part!r}: expected stream=minutes with a stream of {STREAM_KEYS}"
            )
        try:
            value = float(minutes)
        except ValueError:
            raise ValueError(
                f"stream cadence {part!r}: {minutes.strip()!r} is not a number of minutes"
            ) from None
        if value <= 0:
            raise ValueError(f"stream cadence {part!r}: minutes must be positive")
        cadence[key] = value
    missing = [k for k in STREAM_KEYS if k not in cadence]
    if missing:
        raise ValueError(f"stream cadence {text!r} names no cadence for {', '.join(missing)}")
    return cadence


def history_window(
    newest: dt.datetime, now: dt.datetime, cadence_minutes: float
) -> tuple[dt.datetime, dt.datetime]:
    """The stretch of a stream's silence whose rows in past weeks say it is late: from half a cadence
    after its newest row to now.

    Rows come in bursts (the patrols of a shift start within its first hour), and a burst ends a few
    seconds or minutes sooner or later from week to week. The rows another week had just after today's
    newest one are the tail of the same burst, not a gap: counted, three patrols that started 1–2 s
    after today's last shift start, in the sample's one week of history, made the patrols "late" all
    evening. A stream that stops in a burst's middle still meets the rest of the burst in the window."""
    return newest + dt.timedelta(minutes=cadence_minutes * HISTORY_GRACE), now


def judge(
    age_seconds: float | None, cadence_minutes: float, expected: float | None, *, heartbeat: bool
) -> str:
    """The verdict for a stream whose newest row is ``age_seconds`` old (None: it has no rows at all)."""
    if age_seconds is None:
        return ABSENT
    cadence = cadence_minutes * 60.0
    if age_seconds <= cadence:
        return LIVE
    if age_seconds > STOPPED_HOURS * 3600:
        return STOPPED
    if heartbeat:
        if age_seconds > BEATS_STOPPED * cadence:
            return STOPPED
        return LATE if age_seconds > BEATS_LATE * cadence else LIVE
    if expected is None:
        return LIVE
    if expected >= STOPPED_EXPECTED:
        return STOPPED
    return LATE if expected >= LATE_EXPECTED else LIVE


def worst(states: list[StreamState]) -> str:
    """The worst verdict among ``states`` (live when there are none)."""
    verdicts = {s.state for s in states}
    return STOPPED if STOPPED in verdicts else LATE if LATE in verdicts else LIVE


def stream_of(key: str) -> Stream:
    return next(s for s in STREAMS if s.key == key)


def freshness_lines(states: list[StreamState], lang: str) -> list[tuple[str, str]]:
    """(verdict, sentence) for every stream that is not live, the worst first: words a leader reads."""
    order = {STOPPED: 0, LATE: 1}
    shown = sorted((s for s in states if s.state in order), key=lambda s: order[s.state])
    return [
        (
            s.state,
            t(
                f"stream_{s.state}",
                lang,
                name=stream_of(s.stream).name(lang),
                age=fmt_age(s.age_seconds or 0, lang),
            ),
        )
        for s in shown
    ]
