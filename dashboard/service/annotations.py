"""Annotations: notes staff put on the timeline (亚运会安保, a typhoon, a campaign), kept in the state store.

A note marks a moment (``ends_at`` None) or a period, with a text and a scope: the whole district (no
towns) or some towns. Grafana calls them annotations; here they show on every trend chart (the
browser's, the wall's and the slides'), in the API and in the briefings' summary.

* **Who sees one**: a note is shown to a viewer when it is district-wide or names one of the view's
  towns within the viewer's (:func:`visible`): a town's staff see district notes and their towns'
  notes, never another town's.
* **Who writes one**: the roles that answer alerts, a town's staff only about their own towns
  (:func:`dashboard.core.scope.may_annotate`); the CLI writes as an admin.
* **Audit**: every create, edit and delete is a line of the audit log (``annotation_add``,
  ``annotation_edit``, ``annotation_delete``), with the text it had.

The snapshot service puts the notes of a view's window on each snapshot it hands out
(:meth:`AnnotationBook.window`): they are read per request (a few rows by an index), never cached with
the snapshot, so a new note shows on the next refresh of every screen.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select, update

from dashboard.core.scope import Viewer, may_annotate
from dashboard.service.state import StateStore, annotation_table

log = logging.getLogger(__name__)

N = annotation_table
TEXT_MAX = 200  # characters of a note: a label on a chart, not a report
LIST_LIMIT = 500
ID_LIMIT = 2**63  # ids beyond a signed 64-bit integer (SQLite's, PostgreSQL's bigint) name no note
MEMO_SECONDS = 5.0  # every screen's refresh asks: one read per window and scope every few seconds


class AnnotationNotFound(LookupError):
    """No note has that id."""


class AnnotationRefused(PermissionError):
    """The viewer's role or towns do not allow this step on this note."""


@dataclass(frozen=True)
class Annotation:
    """One note on the timeline, as stored (times in UTC)."""

    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    text: str
    towns: frozenset[str]  # empty: the whole district
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    @property
    def is_moment(self) -> bool:
        return self.ends_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ISO times, towns as a sorted list (empty: the district)."""
        return {
            "id": self.id,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "text": self.text,
            "towns": sorted(self.towns),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


def _towns_text(towns: frozenset[str]) -> str:
    return ",".join(sorted(towns))


def _annotation(row: Any) -> Annotation:
    values = dict(row._mapping)
    values["towns"] = frozenset(t for t in str(values["towns"] or "").split(",") if t)
    return Annotation(**values)


def visible(note_towns: frozenset[str], towns: frozenset[str] | None) -> bool:
    """Whether a note about ``note_towns`` shows in a view of ``towns`` (None: the whole district)."""
    return not note_towns or towns is None or bool(note_towns & towns)


def check_note(text: str, starts_at: dt.datetime, ends_at: dt.datetime | None) -> str:
    """The note's text, stripped; ValueError naming what is wrong."""
    text = " ".join(text.split())
    if not text:
        raise ValueError("text: a note needs a text")
    if len(text) > TEXT_MAX:
        raise ValueError(f"text: longer than {TEXT_MAX} characters")
    if starts_at.tzinfo is None or (ends_at is not None and ends_at.tzinfo is None):
        raise ValueError("starts_at: times need their offset")
    if ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at: a period ends after it starts")
    return text


class AnnotationBook:
    """The notes on the timeline in the state store (see the module docstring)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._memo: dict[tuple[Any, ...], tuple[float, list[Annotation]]] = {}
        self._lock = threading.Lock()

    # --- writing --------------------------------------------------------------------------------

    def add(
        self,
        text: str,
        starts_at: dt.datetime,
        ends_at: dt.datetime | None,
        towns: frozenset[str],
        viewer: Viewer,
        actor: str,
        now: dt.datetime,
    ) -> Annotation:
        """A new note by ``viewer`` (``actor``: how the audit log names them)."""
        text = check_note(text, starts_at, ends_at)
        if not may_annotate(viewer.role, viewer.towns, towns):
            raise AnnotationRefused("your role or towns do not allow a note about these towns")
        row = {
            "starts_at": starts_at,
            "ends_at": ends_at,
            "text": text,
            "towns": _towns_text(towns),
            "created_at": now,
            "created_by": viewer.name[:128],
        }
        with self.state.engine.begin() as conn:
            made = conn.execute(insert(N).values(**row)).inserted_primary_key
        assert made is not None
        note = self.get(int(made[0]))
        self._audit(now, actor, "annotation_add", note)
        self._forget()  # this process shows the change at once (others within MEMO_SECONDS)
        return note

    def edit(
        self,
        note_id: int,
        viewer: Viewer,
        actor: str,
        now: dt.datetime,
        *,
        text: str | None = None,
        starts_at: dt.datetime | None = None,
        ends_at: dt.datetime | bool | None = False,  # False: keep; None: make it a moment
    ) -> Annotation:
        """Change a note's text or times (its towns stay: a note about other towns is a new note)."""
        note = self._writable(note_id, viewer)
        start = starts_at or note.starts_at
        end = note.ends_at if ends_at is False else ends_at
        assert end is None or isinstance(end, dt.datetime)
        new_text = check_note(note.text if text is None else text, start, end)
        with self.state.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.c.id == note_id)
                .values(
                    text=new_text, starts_at=start, ends_at=end, updated_at=now, updated_by=viewer.name[:128]
                )
            )
        changed = self.get(note_id)
        self._audit(now, actor, "annotation_edit", changed, was=note.text)
        self._forget()  # this process shows the change at once (others within MEMO_SECONDS)
        return changed

    def delete(self, note_id: int, viewer: Viewer, actor: str, now: dt.datetime) -> Annotation:
        """Remove a note; the audit line keeps what it said."""
        note = self._writable(note_id, viewer)
        with self.state.engine.begin() as conn:
            conn.execute(delete(N).where(N.c.id == note_id))
        self._audit(now, actor, "annotation_delete", note)
        self._forget()  # this process shows the change at once (others within MEMO_SECONDS)
        return note

    def _writable(self, note_id: int, viewer: Viewer) -> Annotation:
        note = self.get(note_id)
        if not may_annotate(viewer.role, viewer.towns, note.towns):
            raise AnnotationRefused("your role or towns do not allow changing this note")
        return note

    # --- reading --------------------------------------------------------------------------------

    def get(self, note_id: int) -> Annotation:
        if not 0 < note_id < ID_LIMIT:  # a database integer holds no more: no such note, not an error
            raise AnnotationNotFound(f"no annotation {note_id}")
        with self.state.engine.connect() as conn:
            row = conn.execute(select(N).where(N.c.id == note_id)).first()
        if row is None:
            raise AnnotationNotFound(f"no annotation {note_id}")
        return _annotation(row)

    def between(
        self, start: dt.datetime | None, end: dt.datetime | None, towns: frozenset[str] | None
    ) -> list[Annotation]:
        """The notes touching [start, end) that show in a view of ``towns`` (None: all), oldest first."""
        where: list[Any] = []
        if end is not None:
            where.append(N.c.starts_at < end)
        if start is not None:
            where.append(or_(N.c.starts_at >= start, N.c.ends_at > start))
        query = select(N).where(*where).order_by(N.c.starts_at, N.c.id).limit(LIST_LIMIT)
        with self.state.engine.connect() as conn:
            notes = [_annotation(row) for row in conn.execute(query)]
        return [n for n in notes if visible(n.towns, towns)]

    def _forget(self) -> None:
        with self._lock:
            self._memo.clear()

    def window(self, start: dt.datetime, end: dt.datetime, towns: frozenset[str] | None) -> list[Annotation]:
        """:meth:`between`, remembered a few seconds per window and towns (every screen asks each tick)."""
        key = (start, end, towns)
        with self._lock:
            found = self._memo.get(key)
        if found is not None and time.monotonic() - found[0] < MEMO_SECONDS:
            return found[1]
        notes = self.between(start, end, towns)
        with self._lock:
            if len(self._memo) > 256:
                self._memo.clear()
            self._memo[key] = (time.monotonic(), notes)
        return notes

    def _audit(
        self, now: dt.datetime, actor: str, action: str, note: Annotation, was: str | None = None
    ) -> None:
        with self._lock:
            self._memo.clear()  # this process shows the change at once; others within MEMO_SECONDS
        scope = _towns_text(note.towns) or "district"
        span = note.starts_at.isoformat() + (f"/{note.ends_at.isoformat()}" if note.ends_at else "")
        detail = f"annotation {note.id}: [{scope}] {span} {note.text}" + (f" (was: {was})" if was else "")
        try:
            self.state.audit(now, actor[:128], action, detail[:2000])
        except Exception:  # the step is done; a lost audit line is logged, not turned into an error
            log.exception("could not audit %s of annotation %s", action, note.id)
