"""Who may see what: roles, the viewer behind a request, and the towns in its scope.

Everything below the web layer takes the scope as an argument; only the web layer knows which request
(and so which viewer) it serves. A :class:`Scope` narrows a view to the towns it allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from dashboard.core.viewstate import ViewState, ViewStateError, parse_query


class ScopeError(ViewStateError, PermissionError):
    """The view asks for towns outside the caller's scope (an API answers 403)."""


@dataclass(frozen=True)
class Scope:
    """Which towns a caller may see: ``None`` is the whole district."""

    towns: frozenset[str] | None = None

    def token(self) -> str:
        return "all" if self.towns is None else ",".join(sorted(self.towns))

    def apply(self, view: ViewState) -> ViewState:
        """``view`` narrowed to the scope; :class:`ScopeError` if nothing of it is inside."""
        if self.towns is None:
            return view
        wanted = set(view.towns) or set(self.towns)
        allowed = tuple(sorted(wanted & self.towns))
        if not allowed:
            raise ScopeError("town", "outside the towns you may see")
        for name, code in (("village", view.village), ("grid", view.grid)):
            if code and code[:9] not in allowed:
                raise ScopeError(name, "outside the towns you may see")
        return replace(view, towns=allowed)


DISTRICT = Scope()  # the whole district: the CLI, the scheduled jobs and a local demo


@dataclass(frozen=True)
class Role:
    code: str
    zh: str
    en: str
    district: bool  # sees the whole district; otherwise only the towns given to the user
    personal: bool  # may see reporters' names, phone numbers and addresses
    manage: bool = False
    alerts: bool = False  # may take alerts on (认领) and close them with a note (处置), in their towns


def may_act_on_alert(role: Role, towns: frozenset[str] | None, town_code: str) -> bool:
    """Whether a viewer with ``role`` and ``towns`` may take on or close an alert of ``town_code``."""
    return role.alerts and (towns is None or town_code in towns)


def may_annotate(role: Role, towns: frozenset[str] | None, note_towns: frozenset[str]) -> bool:
    """Whether a viewer with ``role`` and ``towns`` may add, change or delete a note on the timeline
    about ``note_towns`` (empty: the whole district). The roles that answer alerts write notes; a town's
    staff only about their own towns, never district-wide (their note would show in every town)."""
    if not role.alerts:
        return False
    return towns is None or (bool(note_towns) and note_towns <= towns)


ROLES: dict[str, Role] = {
    r.code: r
    for r in (
        Role("admin", "管理员", "Administrator", district=True, personal=True, manage=True, alerts=True),
        Role("leader", "领导", "Leader", district=True, personal=False),
        # Town command-centre handlers call reporters back, so they see their towns' personal data.
        # Town staff and handlers answer their towns' alerts; leaders watch them, walls only show them.
        Role("handler", "镇街处置员", "Town handler", district=False, personal=True, alerts=True),
        Role("staff", "镇街工作人员", "Town staff", district=False, personal=False, alerts=True),
    )
}
KIOSK_ROLE = Role("kiosk", "大屏", "Wall screen", district=False, personal=False)
LOCAL_ROLE = Role("local", "本地演示", "Local demo", district=True, personal=False)


class Unauthorized(PermissionError):
    """The request has no valid viewer: not signed in, or a revoked or unknown kiosk token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    """The person or screen behind a request."""

    name: str
    role: Role
    towns: frozenset[str] | None  # None: the whole district
    kind: str = "user"  # user | kiosk | local

    @property
    def scope(self) -> Scope:
        return Scope(self.towns)

    @property
    def personal(self) -> bool:
        return self.role.personal

    def label(self) -> str:
        return f"{self.kind}:{self.name}"


LOCAL_VIEWER = Viewer("local", LOCAL_ROLE, None, kind="local")


def parse_towns(text: str | None) -> frozenset[str] | None:
    """Town names or codes, comma-separated, → codes; empty or ``all`` → None (whole district)."""
    if text is None or text.strip().lower() in {"", "all", "全区"}:
        return None
    try:
        codes = parse_query({"town": [text]}).towns
    except ViewStateError as exc:
        raise ValueError(f"towns: {exc.reason}") from None
    return frozenset(codes)


def towns_text(towns: Iterable[str] | None) -> str:
    return "" if towns is None else ",".join(sorted(towns))
