"""Making a briefing and keeping it: one deck (PPTX) and its PDF per kind, period, scope and language.

The archive is a folder (``DASHBOARD_BRIEFINGS_DIR``, default ``data/briefings``)::

    week/2026-W48/330109113-zh.pptx     the deck
    week/2026-W48/330109113-zh.pdf      the same deck as PDF (LibreOffice)
    week/2026-W48/330109113-zh.json     what it is: kind, period, scope, language, when it was made

The scope is ``district`` or the towns' codes joined by ``+``. A run whose files are all there already
is not made again: the same kind, period and scope give the same archived files, whoever asks and
however often (a scheduler that fires twice, two servers, a rerun after an outage).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dashboard.briefings.kinds import briefing_view, covered, kind_of, period_key, period_label
from dashboard.core.domain import DISTRICT_NAME_EN, DISTRICT_NAME_ZH, town_by_code
from dashboard.core.scope import Scope
from dashboard.core.viewstate import ViewState
from dashboard.export.common import GeojsonFor, Progress
from dashboard.export.exporter import SnapshotSource, export_view
from dashboard.present.analysis import analyse

FORMATS = ("pptx", "pdf")


@dataclass(frozen=True)
class Archived:
    """One briefing in the archive."""

    kind: str
    period: str  # period_key: 2026-W48
    first_day: str
    last_day: str
    scope: str  # district, or town codes joined by +
    lang: str
    title: str
    made_at: str  # ISO 8601 UTC
    files: tuple[str, ...]  # names beside the manifest
    summary: tuple[tuple[str, tuple[str, ...]], ...] = ()  # the 要点 as (section, sentences), for messages

    @property
    def towns(self) -> tuple[str, ...]:
        return () if self.scope == "district" else tuple(self.scope.split("+"))


def scope_key(towns: Iterable[str]) -> str:
    codes = sorted(set(towns))
    return "+".join(codes) if codes else "district"


def folder(root: Path, kind: str, period: str) -> Path:
    return root / kind / period


def run_briefing(
    service: SnapshotSource,
    geojson_for: GeojsonFor | None,
    root: Path,
    *,
    kind: str,
    towns: Iterable[str] = (),
    lang: str = "zh",
    now: dt.datetime,
    scope: Scope,
    formats: Iterable[str] = FORMATS,
    progress: Progress | None = None,
    export: Callable[..., tuple[bytes, str, str]] = export_view,
) -> tuple[Archived, bool]:
    """The briefing of ``kind`` for the last whole period before ``now``; (entry, made) where ``made`` is
    False when the archive already held it. ``scope`` narrows the towns like every other entry point."""
    k = kind_of(kind)
    first, last = covered(k.key, now)
    view = scope.apply(briefing_view(k.key, first, tuple(towns), lang))
    key, where = scope_key(view.towns), folder(root, k.key, period_key(k.key, first))
    stem = f"{key}-{lang}"
    wanted = tuple(dict.fromkeys(formats))
    manifest = where / f"{stem}.json"
    if manifest.exists() and all((where / f"{stem}.{fmt}").exists() for fmt in wanted):
        return read_entry(manifest), False
    where.mkdir(parents=True, exist_ok=True)
    named = deck_title(k.key, first, view.towns, lang)
    for fmt in wanted:
        payload, _name, _mime = export(
            service, geojson_for, view, fmt, scope=scope, progress=progress, title=named
        )
        _write_atomically(where / f"{stem}.{fmt}", payload)
    title = named  # the deck's own: its scope, kind and period (a mail's subject, the page's list)
    summary = _summary(service, view, scope, k.key)
    entry = Archived(
        kind=k.key,
        period=period_key(k.key, first),
        first_day=first.isoformat(),
        last_day=last.isoformat(),
        scope=key,
        lang=lang,
        title=title,
        made_at=now.astimezone(dt.UTC).isoformat(),
        files=tuple(f"{stem}.{fmt}" for fmt in wanted),
        summary=summary,
    )
    _write_atomically(manifest, json.dumps(asdict(entry), ensure_ascii=False, indent=1).encode("utf-8"))
    return entry, True


def deck_title(kind: str, first: dt.date, towns: Iterable[str], lang: str) -> str:
    """The deck's own title: its scope, kind and period (瓜沥镇 周汇总 2026年第48周 / Guali Zhen weekly
    summary, week 48 2026)."""
    k = kind_of(kind)
    where = scope_name(towns, lang)
    if lang == "en":
        return f"{where} {k.en[0].lower()}{k.en[1:]}, {_short_period(k.key, first, lang)}"
    return f"{where} {k.zh} {_short_period(k.key, first, lang)}"


def scope_name(towns: Iterable[str], lang: str) -> str:
    """The scope in words: 萧山区, 瓜沥镇, 瓜沥镇、党湾镇 / Xiaoshan District, Guali Zhen, …"""
    names = town_by_code()
    codes = sorted(towns)
    if lang == "en":
        return ", ".join(names[c].name_en if c in names else c for c in codes) or DISTRICT_NAME_EN
    return "、".join(names[c].name_zh if c in names else c for c in codes) or DISTRICT_NAME_ZH


def _short_period(kind: str, first: dt.date, lang: str) -> str:
    if kind == "week":
        year, week, _ = first.isocalendar()
        return f"{year}年第{week}周" if lang == "zh" else f"week {week} {year}"
    if kind == "day":
        return (
            f"{first.year}年{first.month}月{first.day}日" if lang == "zh" else f"{first:%d %b %Y}".lstrip("0")
        )
    return period_label(kind, first, first, lang)  # 2026年11月 / November 2026, 2026年第4季度 / Q4 2026


def _summary(
    service: SnapshotSource | None, view: ViewState, scope: Scope, kind: str
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The deck's 要点 as text for the messages (the same snapshot the deck was made from, from the cache)."""
    if service is None:
        return ()
    snapshot = service.snapshot(view, scope).snapshot
    if snapshot is None:
        return ()
    return tuple(
        (title, tuple(line.text for line in lines))
        for title, lines in analyse(snapshot, view.lang, kind=kind).sections()
    )


def _write_atomically(path: Path, payload: bytes) -> None:
    """Write beside, then rename: a reader (the archive page, a second server) never sees half a file."""
    part = path.with_name(path.name + f".{os.getpid()}.part")
    part.write_bytes(payload)
    part.replace(path)


def read_entry(manifest: Path) -> Archived:
    data: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
    known = {f.name for f in fields(Archived)}
    data = {k: v for k, v in data.items() if k in known}  # deliveries and later additions stay in the file
    data["files"] = tuple(data.get("files") or ())
    data["summary"] = tuple((title, tuple(lines)) for title, lines in data.get("summary") or ())
    return Archived(**data)


def list_archive(
    root: Path, *, towns: Iterable[str] | None = None, kind: str | None = None
) -> list[Archived]:
    """The archive's briefings, newest period first; ``towns`` (a town user's) keeps only those whose
    scope lies within them (a district briefing is not theirs to see)."""
    allowed = set(towns) if towns is not None else None
    found = []
    for manifest in sorted(root.glob("*/*/*.json")):
        entry = read_entry(manifest)
        if kind and entry.kind != kind:
            continue
        if allowed is not None and (not entry.towns or not set(entry.towns) <= allowed):
            continue
        found.append(entry)
    found.sort(key=lambda e: (e.last_day, e.kind, e.scope, e.lang), reverse=True)
    return found
