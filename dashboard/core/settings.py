"""Typed settings read from the environment (prefix ``DASHBOARD_``).

Every setting carries a one-line description; ``tests/test_docs.py`` fails when a setting is not
documented in ``README.md`` → "Settings", so adding one here means documenting it there too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dashboard.core.clock import parse_moment
from dashboard.core.freshness import DEFAULT_CADENCE, parse_cadence

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"
ASSETS_DIR = ROOT / "assets"
PREFIX = "DASHBOARD_"


def _default_sqlite(name: str) -> str:
    return f"sqlite:///{DATA_DIR / name}"


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """All runtime settings. Build with :func:`load_settings`; override fields with ``replace``."""

    DATABASE_URL: str = _setting(
        _default_sqlite("xiaoshan.db"),
        "SQLAlchemy URL of the 一张网 source database, opened read-only by the dashboard.",
    )
    STATE_URL: str = _setting(
        _default_sqlite("state.db"),
        "SQLAlchemy URL of the dashboard's own state store (last good snapshots, rollups, users).",
    )
    CACHE_URL: str = _setting(
        "",
        "Shared cache: empty for an on-disk cache under data/cache, or redis://host:port/db.",
    )
    CACHE_DIR: str = _setting(
        str(DATA_DIR / "cache"),
        "Directory of the on-disk cache (used when CACHE_URL is empty, and as the fallback when Redis is down).",
    )
    REFRESH_SECONDS: int = _setting(10, "How often screens poll for new data, in seconds.")
    BACKGROUND_REFRESH: str = _setting(
        "on",
        "Rebuild the live views screens watch in a background thread, so no request waits for a build: on or off.",
    )
    STREAM_CADENCE: str = _setting(
        DEFAULT_CADENCE,
        "Minutes within which each source stream (events, actions, patrols, video heartbeats) is live without question; past them it is judged against past weeks (see dashboard/core/freshness.py).",
    )
    ROLLUPS: str = _setting(
        "on",
        "Event rollups in the state store for live snapshots: on or off (off = direct queries only, to check one path against the other).",
    )
    AUTH: str = _setting("none", "Sign-in mode: none (local demo), local (passwords) or proxy (SSO header).")
    SECRET_KEY: str = _setting(
        "",
        "Key that signs session cookies; empty: one is made once and kept in the state store (shared by all workers).",
    )
    SESSION_HOURS: int = _setting(
        12, "How long a user's sign-in lasts, in hours (kiosk screens stay enrolled)."
    )
    COOKIE_SECURE: bool = _setting(
        False, "Send the session cookie over HTTPS only (set it behind a TLS proxy)."
    )
    PROXY_USER_HEADER: str = _setting(
        "X-Remote-User", "AUTH=proxy: the header in which the single sign-on proxy names the user."
    )
    PROXY_TRUSTED: str = _setting(
        "127.0.0.1,::1",
        "AUTH=proxy: addresses or networks (comma-separated) the user header is trusted from.",
    )
    STATEMENT_TIMEOUT_MS: int = _setting(
        20000, "Upper bound for one query against the source database, in milliseconds."
    )
    CALLBACK_BUDGET_MS: int = _setting(
        60000,
        "Time budget of one Dash callback, in milliseconds: the source queries it runs share it as their statement timeout.",
    )
    BRIEFINGS_DIR: str = _setting(
        str(DATA_DIR / "briefings"),
        "Archive of the briefings (日报 周汇总 月分析 季评估): one folder per kind and period, PPTX and PDF.",
    )
    BRIEFINGS: str = _setting(
        "",
        "The default briefing when none is defined on the 简报 page: kinds the scheduler makes (day, week, month, quarter; empty: none). See BRIEFING_AT.",
    )
    BRIEFING_SCHEDULER: str = _setting(
        "auto",
        "Whether the servers (make run, make serve) run the briefings' scheduler in the background: auto (when briefings are defined or BRIEFINGS is set), on, off.",
    )
    BRIEFING_AT: str = _setting("08:00", "Local time (Asia/Shanghai, HH:MM) at which the briefings run.")
    BRIEFING_TOWNS: str = _setting(
        "district",
        "Scopes of the scheduled briefings: district, or town codes (comma) per scope, scopes separated by ;.",
    )
    BRIEFING_LANGS: str = _setting("zh", "Languages of the scheduled briefings (zh, en or zh,en).")
    BRIEFING_SMTP: str = _setting(
        "",
        "Mail relay for the briefings: smtp://[user:password@]host[:port][?starttls=1&from=addr] (empty: no mail).",
    )
    BRIEFING_MAIL_TO: str = _setting("", "Recipients of the briefings' mail, comma-separated.")
    BRIEFING_WEBHOOKS: str = _setting(
        "",
        "Webhooks for the briefings, comma-separated: [name=]dingtalk:<url>, wecom:<url> or json:<url>; definitions send to a name.",
    )
    PUBLIC_URL: str = _setting("", "The dashboard's address as people reach it, for links in messages.")
    HOST: str = _setting("127.0.0.1", "Address the development server binds to.")
    PORT: int = _setting(8050, "Port the development server listens on.")
    LANG: str = _setting("zh", "Default interface language when the URL names none (zh or en).")
    START_AT: str = _setting(
        "",
        "Demos, training and screenshots only: the served clock starts at this ISO 8601 moment (e.g. 2026-12-03T01:30+08:00) and runs on from there; empty: this machine's clock.",
    )
    ALERT_MIN_CASES: int = _setting(
        5,
        "District default (a town may have its own). Surge alert: a town or grid needs more than this many reports in the last hour.",
    )
    ALERT_SIGMA: float = _setting(
        3.0, "Surge alert: standard deviations above the usual count for this hour of the week."
    )
    ALERT_WEEKS: int = _setting(8, "Surge alert: how many past weeks give the usual count for this hour.")
    ALERT_OVERDUE_GROWTH: int = _setting(
        5, "Overdue alert: growth of a town's open overdue cases over the window that raises an alert."
    )
    ALERT_OVERDUE_MINUTES: int = _setting(
        60, "Overdue alert: the window the growth is measured over, in minutes."
    )
    ALERT_HOLD_MINUTES: int = _setting(
        30,
        "An open alert closes by itself once its condition has been clear for this many minutes (one alert per rule and unit, kept in the state store).",
    )
    ALERT_WEBHOOKS: str = _setting(
        "",
        "Webhooks told when an alert opens or escalates, comma-separated: dingtalk:<url>, wecom:<url> or json:<url>; a town prefix (瓜沥镇:dingtalk:<url>, name or code) sends only that town's alerts there.",
    )
    ALERT_SMTP: str = _setting(
        "", "Mail relay for the alerts' push (smtp://…); empty: the briefings' relay (BRIEFING_SMTP)."
    )
    ALERT_MAIL_TO: str = _setting(
        "",
        "Recipients of the alerts' mail, comma-separated; a town prefix (瓜沥镇:gl@…) sends only that town's alerts.",
    )
    ALERT_PUSH_SECONDS: int = _setting(
        60,
        "At most one alert message per target per this many seconds; alerts meanwhile go grouped into the next.",
    )

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Name → one-line description of every setting."""
        return {f.name: f.metadata["doc"] for f in fields(cls)}


def _coerce(raw: str, current: Any, name: str) -> Any:
    if isinstance(current, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise ValueError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc
    if isinstance(current, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"{PREFIX}{name} must be an integer, got {raw!r}") from exc
    return raw


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from ``env`` (default: the process environment), then apply ``overrides``."""
    env = dict(os.environ) if env is None else env
    base = Settings()
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(PREFIX + f.name)
        if raw is not None and raw != "":
            values[f.name] = _coerce(raw, getattr(base, f.name), f.name)
    values.update(overrides)
    settings = replace(base, **values)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Reject settings that cannot work, with a message naming the setting."""
    if settings.AUTH not in {"none", "local", "proxy"}:
        raise ValueError(f"{PREFIX}AUTH must be none, local or proxy, got {settings.AUTH!r}")
    if settings.REFRESH_SECONDS < 1:
        raise ValueError(f"{PREFIX}REFRESH_SECONDS must be at least 1, got {settings.REFRESH_SECONDS}")
    if settings.BACKGROUND_REFRESH not in {"on", "off"}:
        raise ValueError(f"{PREFIX}BACKGROUND_REFRESH must be on or off, got {settings.BACKGROUND_REFRESH!r}")
    try:
        parse_cadence(settings.STREAM_CADENCE)
    except ValueError as err:
        raise ValueError(f"{PREFIX}STREAM_CADENCE: {err}") from None
    if settings.ROLLUPS not in {"on", "off"}:
        raise ValueError(f"{PREFIX}ROLLUPS must be on or off, got {settings.ROLLUPS!r}")
    if settings.START_AT:
        try:
            parse_moment(settings.START_AT)
        except ValueError as err:
            raise ValueError(f"{PREFIX}START_AT: {err}") from None
    if settings.LANG not in {"zh", "en"}:
        raise ValueError(f"{PREFIX}LANG must be zh or en, got {settings.LANG!r}")
    if settings.ALERT_MIN_CASES < 0 or settings.ALERT_SIGMA < 0 or settings.ALERT_OVERDUE_GROWTH < 1:
        raise ValueError(f"{PREFIX}ALERT_MIN_CASES and ALERT_SIGMA must be ≥ 0, ALERT_OVERDUE_GROWTH ≥ 1")
    if settings.ALERT_WEEKS < 1 or settings.ALERT_OVERDUE_MINUTES < 1:
        raise ValueError(f"{PREFIX}ALERT_WEEKS and ALERT_OVERDUE_MINUTES must be at least 1")
    if settings.ALERT_HOLD_MINUTES < 0:
        raise ValueError(f"{PREFIX}ALERT_HOLD_MINUTES must be ≥ 0, got {settings.ALERT_HOLD_MINUTES}")
    if settings.CALLBACK_BUDGET_MS < 100:
        raise ValueError(
            f"{PREFIX}CALLBACK_BUDGET_MS must be at least 100, got {settings.CALLBACK_BUDGET_MS}"
        )
    if settings.CACHE_URL and not settings.CACHE_URL.startswith(("redis://", "rediss://")):
        raise ValueError(f"{PREFIX}CACHE_URL must be empty or a redis:// URL, got {settings.CACHE_URL!r}")
