"""The snapshot service: the cached facade that every callback, the API and the export call for data.

One :meth:`SnapshotService.snapshot` call answers "what is the situation for this view, now?":

* live views are cached under (canonical view, scope, data version, current minute): new rows change the
  data version, and the minute changes ageing and overdue figures even when no row arrives;
* the data version itself is cached for ``refresh_seconds / 2`` so hundreds of screens don't each ask;
* a view with a past ``as_of`` never changes by the feed, so it is cached for a month under the import
  epoch (:meth:`StateStore.import_epoch`): an import that backfills the past changes the key;
* one process computes a missing key while the others wait (:meth:`SharedCache.single_flight`);
* when the source fails, the last good snapshot (shared cache, then the state store, which survives
  restarts) comes back marked stale with its age and the error: callers never see an exception;
* with ``background=True`` (DASHBOARD_BACKGROUND_REFRESH, on by default) a live view that is due is rebuilt by a
  background thread (:mod:`dashboard.service.refresher`) and requests get the last good snapshot meanwhile, so
  no screen waits for a build; a view with no recent snapshot is still computed on request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from dashboard.core.clock import Clock
from dashboard.core.scope import Scope
from dashboard.core.snapshot import Snapshot
from dashboard.core.viewstate import ViewState, view_key
from dashboard.service.alert_rules import AlertRules
from dashboard.service.alerts import AlertBook
from dashboard.service.annotations import AnnotationBook
from dashboard.service.builder import RemoteRefresher, attached
from dashboard.service.cache import ComputeFailed, FlightTimeout, SharedCache
from dashboard.service.freshness import FreshnessWatch
from dashboard.service.refresher import Refresher
from dashboard.service.state import StateStore

log = logging.getLogger(__name__)

Builder = Callable[[Connection, ViewState, dt.datetime], Snapshot]
Versioner = Callable[[Connection], str]

AS_OF_TTL = 30 * 24 * 3600  # a past moment changes only by an import; a month bounds the cache
AS_OF_SETTLE = dt.timedelta(minutes=2)  # an as_of this recent may still gain late rows: treat as live
NOTES_BEFORE = dt.timedelta(days=91)  # the 90-day trend's window, before the snapshot's moment
LIVE_TTL = 120  # a live key is only asked for during its minute
LAST_GOOD_TTL = 7 * 24 * 3600
DECODED_LAST_GOOD = 16  # views whose last good snapshot a process keeps decoded (the hot ones)
ERROR_MEMORY_SECONDS = 300  # a failed build is remembered until a build succeeds, at most this long
SAVE_EVERY_SECONDS = 60  # write the last good snapshot to the state store at most this often per view


@dataclass(frozen=True)
class ServiceResult:
    """A snapshot and how fresh it is. ``stale`` with ``error`` None: a refresh is under way elsewhere."""

    snapshot: Snapshot | None
    stale: bool
    age_seconds: float | None
    error: str | None
    computed_at: dt.datetime | None

    def meta(self) -> dict[str, Any]:
        """The freshness fields as JSON-able values (for the API and the screens' status line)."""
        return {
            "stale": self.stale,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "error": self.error,
        }


def _digest(text_: str) -> str:
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()[:40]


def _entry(snapshot: Snapshot, computed_at: dt.datetime) -> dict[str, Any]:
    """What the cache holds: plain JSON-able data, so a code upgrade never meets an old pickle."""
    return {"snapshot": snapshot.to_dict(), "computed_at": computed_at.isoformat()}


def _from_entry(entry: Any) -> tuple[Snapshot, dt.datetime] | None:
    try:
        return Snapshot.from_dict(entry["snapshot"]), dt.datetime.fromisoformat(entry["computed_at"])
    except (KeyError, TypeError, ValueError):  # an entry from an older version: treat as a miss
        return None


def describe_error(exc: BaseException) -> str:
    """One line for people: what failed, without the SQL text or a traceback."""
    if isinstance(exc, ComputeFailed):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        origin = getattr(exc, "orig", None) or exc
        first = str(origin).strip().splitlines()[0] if str(origin).strip() else type(origin).__name__
        return f"source database unavailable: {type(origin).__name__}: {first}"[:300]
    if isinstance(exc, FlightTimeout):
        return f"timed out: {exc}"
    return f"could not compute the snapshot: {type(exc).__name__}: {exc}"[:300]


class SnapshotService:
    """Cached, single-flight, failure-tolerant access to snapshots (see the module docstring)."""

    def __init__(
        self,
        source_engine: Engine,
        state: StateStore,
        cache: SharedCache,
        clock: Clock,
        *,
        builder: Builder | None = None,
        versioner: Versioner | None = None,
        refresh_seconds: int = 10,
        wait_seconds: float = 30.0,
        background: bool = False,
        stream_cadence: Mapping[str, float] | None = None,
        alert_book: AlertBook | None = None,
        alert_rules: AlertRules | None = None,
        annotation_book: AnnotationBook | None = None,
    ) -> None:
        self.source_engine = source_engine
        self.state = state
        self.cache = cache
        self.clock = clock
        self._builder = builder
        self._versioner = versioner
        self.refresh_seconds = refresh_seconds
        self.version_ttl = max(1, refresh_seconds // 2)
        self.wait_seconds = wait_seconds
        # Judged every half refresh, like the data version: a stopped stream shows within two refreshes.
        self.freshness = FreshnessWatch(source_engine, cache, clock, stream_cadence, self.version_ttl)
        self.alert_book = alert_book
        self.alert_rules = alert_rules
        self.annotations = annotation_book
        # In process, or (a gunicorn worker of `make serve`) the builder process's, told over its channel.
        self.refresher: Refresher | RemoteRefresher | None = None
        # Called with a view's identity after the background thread rebuilt it (in that thread): the
        # screens draw their boards of it then, so no screen's request waits for a drawing.
        self.refreshed_listeners: list[Callable[[str], None]] = []
        # identity → (stamp, the cached last good entry decoded): see _cached_last_good_parts.
        self._decoded_last_good: dict[str, tuple[str, tuple[dict[str, Any], Snapshot, dt.datetime]]] = {}
        self._decoded_lock = threading.Lock()
        self._announced: dict[str, dt.datetime] = {}  # identity → the build last announced (_announce)
        if background:
            # A view stays hot for two missed polls: a screen that went away costs two extra builds.
            hot = 2 * refresh_seconds + 5
            channel = attached()  # a gunicorn worker of `make serve`: the builder process refreshes
            if channel is not None:
                self.refresher = RemoteRefresher(channel, hot)
            else:
                self.refresher = Refresher(self._refresh_in_background, hot_seconds=hot)

    # --- the real query functions, imported when first needed -----------------------------------

    @property
    def builder(self) -> Builder:
        if self._builder is None:
            from dashboard.source.queries.snapshot import build_snapshot

            self._builder = build_snapshot
        return self._builder

    @property
    def versioner(self) -> Versioner:
        if self._versioner is None:
            from dashboard.source.queries.snapshot import data_version

            self._versioner = data_version
        return self._versioner

    # --- keys ----------------------------------------------------------------------------------

    def identity(self, view: ViewState, scope: Scope) -> str:
        """The view's identity across time: canonical query and scope (also the state-store key)."""
        return f"{view_key(view)}|scope={scope.token()}"

    def _is_settled_past(self, view: ViewState, now: dt.datetime) -> bool:
        return view.as_of is not None and view.as_of <= now - AS_OF_SETTLE

    # --- the facade ----------------------------------------------------------------------------

    def snapshot(self, view: ViewState, scope: Scope, *, watched: bool = True) -> ServiceResult:
        """The snapshot of ``view`` within ``scope``; on failure the last good one, marked stale.

        Raises only :class:`ScopeError` (the view lies outside ``scope``); every failure of the
        source, the cache or the builder comes back as ``ServiceResult.error``. The notes on the
        timeline of the view's window and towns come with it (:meth:`_annotate`). ``watched=False``: a
        read that does not keep the view hot (a drawing after a background rebuild is not a screen).
        """
        view = scope.apply(view)
        return self._annotate(self._snapshot_of(view, scope, watched), view)

    def _annotate(self, result: ServiceResult, view: ViewState) -> ServiceResult:
        """``result`` with the notes on the timeline that its trends span: the period and the 90 days
        before the moment. Read per request, never cached with the snapshot (a note is not data)."""
        snap = result.snapshot
        if self.annotations is None or snap is None:
            return result
        now = dt.datetime.fromisoformat(snap.now)
        start = min(dt.datetime.fromisoformat(snap.period_start), now - NOTES_BEFORE)
        end = max(dt.datetime.fromisoformat(snap.period_end), now)
        try:
            notes = self.annotations.window(start, end, frozenset(view.towns) or None)
        except Exception:  # a note is an aside: the figures still show without it
            log.exception("could not read the annotations")
            return result
        if not notes and not snap.annotations:
            return result
        shown = replace(snap, annotations=[n.to_dict() for n in notes])
        return replace(result, snapshot=shown)

    def _snapshot_of(self, view: ViewState, scope: Scope, watched: bool = True) -> ServiceResult:
        identity = self.identity(view, scope)
        now = self.clock.now()
        live = not self._is_settled_past(view, now)
        if live and watched and self.refresher is not None:
            self.refresher.touch(identity, view)
        recent = self._recent(identity, now) if live else None
        if recent is not None:
            return recent
        if live and self.refresher is not None:
            # While the source is failing, leave the data-version read to the background thread.
            current = None if self._recent_error(identity) else self._current(view, identity, now)
            meanwhile = current or self._meanwhile(identity, now)
            if meanwhile is not None:
                return meanwhile
        busy = f"busy:{_digest(identity)}"
        claimed = live and self._claim(busy, self._busy_ttl(identity))
        if live and not claimed:
            ongoing = self._last_good(identity)
            if ongoing is not None:  # this view is being rebuilt elsewhere: its previous figures meanwhile
                snapshot, computed_at = ongoing
                # If the last build failed, the one under way is most likely hanging on the same dead
                # source: keep saying so, or the wall's banner would blink off and on while it waits.
                error = self._recent_error(identity)
                return ServiceResult(snapshot, True, _age(now, computed_at), error, computed_at)
        try:
            return self._snapshot(view, identity, now)
        finally:
            if claimed:
                self._release(busy)

    def _current(self, view: ViewState, identity: str, now: dt.datetime) -> ServiceResult | None:
        """The snapshot of this data version and minute if one is cached (nothing changed since)."""
        try:
            entry = self.cache.get(self._key(view, identity, now)[0])
        except Exception:  # the source or the cache is away: the fallbacks below answer
            return None
        found = _from_entry(entry) if entry is not None else None
        if found is None:
            return None
        snapshot, computed_at = found
        return ServiceResult(snapshot, False, _age(now, computed_at), None, computed_at)

    def _meanwhile(self, identity: str, now: dt.datetime) -> ServiceResult | None:
        """The last good snapshot while the background thread rebuilds a due view; None when there is
        none recent enough to show (then the request computes, as without background refresh)."""
        assert self.refresher is not None
        last = self._cached_last_good_parts(identity)
        if last is None:
            return None
        entry, snapshot, computed_at = last
        age = _age(now, computed_at)
        if age > self._serve_limit(entry):
            return None  # the refresher is not keeping up (or not running): compute on request
        self.refresher.wake()
        return ServiceResult(snapshot, True, age, self._recent_error(identity), computed_at)

    def _serve_limit(self, entry: dict[str, Any]) -> float:
        """How old a last good snapshot may be and still be shown while its rebuild is under way."""
        return 3.0 * self.refresh_seconds + 2.0 * float(entry.get("compute_seconds") or 0.0)

    def _refresh_in_background(self, view: ViewState, identity: str) -> None:
        """Rebuild ``view`` if it is due and no other process is at it (the refresher's thread).

        A view never built is left to the request that asked for it (it computes on request): the
        thread racing it for the first build made that request wait and answer "stale".
        """
        now = self.clock.now()
        last = self._cached_last_good_parts(identity)
        if last is None:
            return
        if self._recent(identity, now) is not None:
            self._announce(identity, last[2])  # another process may have rebuilt it: say so here too
            return
        busy = f"busy:{_digest(identity)}"
        if not self._claim(busy, self._busy_ttl(identity)):
            return
        try:
            result = self._snapshot(view, identity, now)  # failures are remembered for the requests to tell
        finally:
            self._release(busy)
        if result.error is None and not result.stale and result.computed_at is not None:
            self._announce(identity, result.computed_at)

    def _announce(self, identity: str, computed_at: dt.datetime) -> None:
        """Tell the listeners of this process, once per build, that ``identity`` was rebuilt.

        Why every process and not only the one that rebuilt it: each process draws ahead the boards its
        own screens asked for. Told only in the rebuilding one, the screens whose last tick went to
        another process drew their board (or their step) in their next tick's request: a tenth of
        the screens' answers, most of their slowest.
        """
        with self._decoded_lock:
            if self._announced.get(identity) == computed_at:
                return
            self._announced[identity] = computed_at
            while len(self._announced) > 4 * DECODED_LAST_GOOD:
                del self._announced[next(iter(self._announced))]
        for listener in list(self.refreshed_listeners):
            try:
                listener(identity)
            except Exception:  # a listener's failure must not stop the refresh of the other views
                log.exception("a listener of the refresh of %s failed", identity)

    def _busy_ttl(self, identity: str) -> int:
        """How long a build may hold its view: about twice its last duration, so a build stuck on a
        dead connection blocks the others for seconds, not minutes."""
        entry = self._cached_last_good(identity)
        last = float(entry.get("compute_seconds") or 0.0) if entry else 0.0
        return int(max(2 * self.refresh_seconds, 2 * last + self.refresh_seconds)) + 1

    def _claim(self, busy: str, ttl: int) -> bool:
        """At most one build per view at a time, across processes (a build can outlast its minute)."""
        try:
            return self.cache.add(busy, 1, ttl)
        except Exception:
            return True  # no shared cache: build anyway (single flight still guards the key)

    def _release(self, busy: str) -> None:
        try:
            self.cache.delete(busy)
        except Exception as exc:
            log.warning("could not release %s: %s", busy, exc)

    def _snapshot(self, view: ViewState, identity: str, now: dt.datetime) -> ServiceResult:
        try:
            key, ttl = self._key(view, identity, now)
            flight = self.cache.single_flight(
                key,
                lambda: self._compute(view, identity),
                ttl=ttl,
                wait_seconds=self.wait_seconds,
                stale=lambda: self._cached_last_good(identity),
            )
        except Exception as exc:
            if not isinstance(exc, ComputeFailed):  # the computing worker already logged it
                log.warning("snapshot %s failed: %s", identity, exc, exc_info=True)
            return self._fallback(identity, now, describe_error(exc))
        found = _from_entry(flight.value)
        if found is None:
            return self._fallback(identity, now, "cache held an unreadable entry")
        snapshot, computed_at = found
        return ServiceResult(snapshot, flight.stale, _age(now, computed_at), None, computed_at)

    def _recent(self, identity: str, now: dt.datetime) -> ServiceResult | None:
        """A live snapshot computed so recently that recomputing would only burn the source.

        A feed writes every few seconds, so the data version changes at nearly every refresh. A view
        is recomputed at most once per refresh interval, and never more often than twice its own
        compute time: a slow view on a big history then costs at most half a core, not a core per
        screen. Ageing and overdue figures move by the minute, so this loses nothing a screen shows.
        """
        last = self._cached_last_good_parts(identity)
        if last is None:
            return None
        entry, snapshot, computed_at = last
        age = _age(now, computed_at)
        floor = max(self.refresh_seconds - 1.0, 2.0 * float(entry.get("compute_seconds") or 0.0))
        if age >= floor or computed_at.replace(second=0, microsecond=0) != now.replace(
            second=0, microsecond=0
        ):
            return None  # old enough, or a new minute (ageing moves): compute afresh
        return ServiceResult(snapshot, False, age, None, computed_at)

    def _key(self, view: ViewState, identity: str, now: dt.datetime) -> tuple[str, int]:
        if self._is_settled_past(view, now):
            # Not the data version (a live feed changes it every few seconds, and a feed never writes
            # into the past): the import epoch, which every import that wrote to the source bumps, so a
            # backfill dated before the view's moment is seen, also by a cache that outlived a restart.
            return f"asof:{_digest(f'{identity}|ep={self.import_epoch(now)}')}", AS_OF_TTL
        minute = int(now.timestamp() // 60)
        return f"snap:{_digest(f'{identity}|dv={self.data_version(now)}|m={minute}')}", LIVE_TTL

    def data_version(self, now: dt.datetime | None = None) -> str:
        """The source's data-version token, shared by all processes for ``refresh_seconds / 2``."""
        now = now or self.clock.now()
        bucket = int(now.timestamp() // self.version_ttl)  # from the injected clock: tests control it

        def read() -> str:
            with self.source_engine.connect() as conn:
                return self.versioner(conn)

        flight = self.cache.single_flight(
            f"dv:{bucket}", read, ttl=self.version_ttl * 2, wait_seconds=self.wait_seconds
        )
        return str(flight.value)

    def import_epoch(self, now: dt.datetime | None = None) -> str:
        """The state store's import epoch, shared by all processes for ``refresh_seconds / 2``."""
        now = now or self.clock.now()
        bucket = int(now.timestamp() // self.version_ttl)
        flight = self.cache.single_flight(
            f"ep:{bucket}",
            lambda: str(self.state.import_epoch()),
            ttl=self.version_ttl * 2,
            wait_seconds=self.wait_seconds,
        )
        return str(flight.value)

    def _compute(self, view: ViewState, identity: str) -> dict[str, Any]:
        started = time.monotonic()
        with self.source_engine.connect() as conn, self._alert_thresholds():
            snapshot = self.builder(conn, view, self.clock.now())
        computed_at = self.clock.now()
        if view.as_of is None:  # a past view never moves the lifecycle: it reads the rows instead
            self._advance_alerts(computed_at)
            self._mark_taken_on(snapshot)
        entry = _entry(snapshot, computed_at)
        entry["compute_seconds"] = round(time.monotonic() - started, 3)
        log.info("computed %s in %.3f s", identity, time.monotonic() - started)
        self._remember_last_good(identity, snapshot, computed_at, entry)
        self._remember_error(identity, None)
        return entry

    def _alert_thresholds(self) -> AbstractContextManager[None]:
        """The towns' own alert thresholds for the build about to run (the defaults without rules)."""
        if self.alert_rules is None:
            return nullcontext()
        from dashboard.source.queries.alerts import ScopedThresholds, using_thresholds

        try:
            limits = self.alert_rules.thresholds()
        except Exception:  # the state store is down: the defaults, rather than no snapshot at all
            log.exception("could not read the towns' alert thresholds; using the defaults")
            limits = ScopedThresholds(self.alert_rules.defaults)
        return using_thresholds(limits)

    def _mark_taken_on(self, snapshot: Snapshot) -> None:
        """Mark the snapshot's alerts that someone took on (认领), for the wall's alert row.

        Read at each live build (one small query on the state store), so a step shows on the screens
        with the next build of their view: within a refresh interval while data arrive, else the minute.
        """
        if self.alert_book is None or not snapshot.alerts:
            return
        try:
            taken = self.alert_book.taken_on()
        except Exception:  # the marks are a nicety: never spoil a good snapshot for them
            log.exception("could not read the alerts taken on")
            return
        for alert in snapshot.alerts:
            alert["taken_on"] = (alert.get("kind"), alert.get("unit_code")) in taken
        self._mark_lifecycle_ids(snapshot)

    def _mark_lifecycle_ids(self, snapshot: Snapshot) -> None:
        """Give the snapshot's alerts their lifecycle id (``alert_id``) and ``opened_at``: the wall pops up
        an alert it has not shown before by that id, once, however often the condition is re-evaluated."""
        if self.alert_book is None or not snapshot.alerts:
            return
        try:
            open_now = self.alert_book.alerts(self.clock.now(), status="open")
        except Exception:  # the ids are a nicety: never spoil a good snapshot for them
            log.exception("could not read the open alerts' ids")
            return
        ids = {(a.kind, a.unit_code): a for a in open_now}
        for alert in snapshot.alerts:
            found = ids.get((str(alert.get("kind")), str(alert.get("unit_code"))))
            if found is not None:
                alert["alert_id"] = found.id
                alert["opened_at"] = found.opened_at.isoformat()

    def _advance_alerts(self, now: dt.datetime) -> None:
        """Advance the alert lifecycle once per data version and minute for the whole deployment.

        Every live build would do (whatever its view, it proves the source answers now), so the first
        one of a (data version, minute) claims the step in the shared cache and the others skip it.
        The rules are evaluated over the whole district, not the built view: a town's view does not
        show other towns' alerts, but they have not cleared.
        """
        if self.alert_book is None:
            return
        try:
            step = f"alerts:{_digest(f'{self.data_version(now)}|m={int(now.timestamp() // 60)}')}"
            if not self.cache.add(step, 1, LIVE_TTL):
                return  # another process advanced it for this data version and minute
            with self.source_engine.connect() as conn:
                self.alert_book.advance_from(conn, now)
        except Exception:  # the lifecycle must never spoil a good snapshot
            log.exception("could not advance the alert lifecycle")
        self._push_alerts(now)

    def _push_alerts(self, now: dt.datetime) -> None:
        """Send the alerts' outbox after a lifecycle step: in a thread of this process when screens are
        refreshed in the background, else here (tests, a debugging process)."""
        push = self.alert_book.push if self.alert_book is not None else None
        if push is None or not push.targets:
            return
        if self.refresher is not None:
            push.kick(self.clock.now)
            return
        try:
            push.drain(now)
        except Exception:  # a message is a nicety next to the snapshot: the next step retries
            log.exception("could not send the alerts' outbox")

    def _remember_last_good(
        self, identity: str, snapshot: Snapshot, computed_at: dt.datetime, entry: dict[str, Any]
    ) -> None:
        digest = _digest(identity)
        try:
            self._cache_last_good(identity, entry)
            if not self.cache.add(f"saved:{digest}", 1, SAVE_EVERY_SECONDS):
                return  # another worker saved this view less than a minute ago
            self.state.save_last_good(identity, snapshot, computed_at)
        except Exception:  # keeping a fallback must never spoil a good answer
            log.exception("could not store the last good snapshot of %s", identity)

    def _cached_last_good(self, identity: str) -> dict[str, Any] | None:
        last = self._cached_last_good_parts(identity)
        return last[0] if last is not None else None

    def _cached_last_good_parts(self, identity: str) -> tuple[dict[str, Any], Snapshot, dt.datetime] | None:
        """The cached last good entry with its snapshot and compute time, or None.

        Why the stamp: every answer (API and screens) asks for this entry, often twice, and it is the
        whole snapshot (~100 kB pickled, a millisecond of CPU to fetch and decode: a third of a screen's
        tick). The entry's compute time is stored beside it under a key of a few bytes; while it names
        the entry this process decoded last, that one is used (shared read-only, like the boards).
        """
        digest = _digest(identity)
        try:
            stamp = self.cache.get(f"lastat:{digest}")
            with self._decoded_lock:
                known = self._decoded_last_good.get(identity)
            if stamp is not None and known is not None and known[0] == stamp:
                return known[1]
            entry = self.cache.get(f"last:{digest}")
        except Exception:
            return None
        found = _from_entry(entry) if entry is not None else None
        if entry is None or found is None:
            return None
        parts = (entry, found[0], found[1])
        with self._decoded_lock:
            self._decoded_last_good[identity] = (entry["computed_at"], parts)
            while len(self._decoded_last_good) > DECODED_LAST_GOOD:
                del self._decoded_last_good[next(iter(self._decoded_last_good))]
        return parts

    def _cache_last_good(self, identity: str, entry: dict[str, Any]) -> None:
        """Share ``entry`` as the view's last good snapshot, then its stamp (see above)."""
        digest = _digest(identity)
        self.cache.set(f"last:{digest}", entry, LAST_GOOD_TTL)
        self.cache.set(f"lastat:{digest}", entry["computed_at"], LAST_GOOD_TTL)

    def _last_good(self, identity: str) -> tuple[Snapshot, dt.datetime] | None:
        entry = self._cached_last_good(identity)
        if entry is not None:
            return _from_entry(entry)
        try:
            found = self.state.load_last_good(identity)
        except Exception:
            log.exception("state store unreadable")
            return None
        if found is not None:
            try:  # so the next failure within the week is answered from the cache
                self._cache_last_good(identity, _entry(*found))
            except Exception as exc:
                log.warning("could not cache the last good snapshot: %s", exc)
        return found

    def _recent_error(self, identity: str) -> str | None:
        try:
            found = self.cache.get(f"err:{_digest(identity)}")
        except Exception:
            return None
        return str(found) if found else None

    def _remember_error(self, identity: str, error: str | None) -> None:
        """The last build's failure, until a build succeeds (shared, so every worker tells the same)."""
        key = f"err:{_digest(identity)}"
        try:
            if error is None:
                self.cache.delete(key)
            else:
                self.cache.set(key, error, ERROR_MEMORY_SECONDS)
        except Exception as exc:
            log.warning("could not remember the state of %s: %s", identity, exc)

    def _fallback(self, identity: str, now: dt.datetime, error: str) -> ServiceResult:
        self._remember_error(identity, error)
        found = self._last_good(identity)
        if found is None:
            return ServiceResult(None, True, None, error, None)
        snapshot, computed_at = found
        return ServiceResult(snapshot, True, _age(now, computed_at), error, computed_at)

    # --- health --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Does the source answer, is each of its streams still arriving, does the cache work, the state
        store? A stopped stream makes the answer ``degraded``: the figures no longer follow the present."""
        now = self.clock.now()
        source = self._source_health(now)
        cache = self.cache.health()
        state = self._state_health()
        stopped = [s["stream"] for s in source.get("streams") or [] if s["state"] == "stopped"]
        if not source["ok"]:
            status = "down"
        elif not (cache["ok"] and state["ok"]) or cache["degraded"] or stopped:
            status = "degraded"
        else:
            status = "ok"
        return {
            "status": status,
            "checked_at": now.isoformat(),
            "source": source,
            "cache": cache,
            "state": state,
        }

    def _source_health(self, now: dt.datetime) -> dict[str, Any]:
        started = time.monotonic()
        try:
            with self.source_engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar()
                newest = _newest_data_at(conn, now)
        except Exception as exc:
            return {
                "ok": False,
                "error": describe_error(exc),
                "newest_data_at": None,
                "newest_data_age_seconds": None,
                "streams": None,
            }
        latency = round((time.monotonic() - started) * 1000, 1)
        streams = self.freshness.streams()
        return {
            "ok": True,
            "error": None,
            "latency_ms": latency,
            "newest_data_at": newest.isoformat() if newest else None,
            "newest_data_age_seconds": _age(now, newest) if newest else None,
            "streams": [s.to_dict() for s in streams] if streams is not None else None,
        }

    def _state_health(self) -> dict[str, Any]:
        try:
            return {"ok": self.state.ping(), "error": None}
        except Exception as exc:
            return {"ok": False, "error": describe_error(exc)}


def _newest_data_at(conn: Connection, now: dt.datetime) -> dt.datetime | None:
    """The newest row of any stream (reports, case handling, patrols, video heartbeats), up to ``now``.

    Read here in one statement of index probes, not taken from the streams' verdicts: an import of
    reports without action rows still has an age, and so does a source whose verdicts could not be made.
    """
    from dashboard.source.queries.freshness import stream_newest

    try:
        return max((at for at in stream_newest(conn, now).values() if at is not None), default=None)
    except SQLAlchemyError:  # a source without the canonical tables still answers SELECT 1
        return None


def _age(now: dt.datetime, then: dt.datetime) -> float:
    return max(0.0, (now - then).total_seconds())
