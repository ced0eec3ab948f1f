"""Who is looking: roles, users, kiosk tokens and the viewer of the current request.

Everything here lives in the dashboard's own state store (``DASHBOARD_STATE_URL``), never in the
source database: users with hashed passwords (werkzeug's scrypt), kiosk tokens (only a SHA-256 of the
secret is kept), sign-in sessions (only a SHA-256 of the session id is kept) and the key that signs
session cookies, so every worker and machine shares them.

A *viewer* is what the rest of the product needs to know about the person or screen behind a request:
which towns it may see (its :class:`~dashboard.core.scope.Scope`) and whether it may see personal data.
The sign-in layer (:mod:`dashboard.web.signin`) puts the viewer of each request on ``flask.g``;
:func:`current_viewer` reads it back for the app context (:mod:`dashboard.web.context`), which callbacks,
the API and downloads ask for it; they hand its scope to the service and the event list as an argument.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from werkzeug.security import check_password_hash, generate_password_hash

from dashboard.core.scope import (
    KIOSK_ROLE,
    LOCAL_VIEWER,
    ROLES,
    Role,
    Scope,
    Unauthorized,
    Viewer,
    towns_text,
)

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "xsk"
TOKEN_RE = re.compile(r"^xsk_([0-9a-f]{10})_([A-Za-z0-9_-]{32,64})$")
LOOKUP_TTL = 1.0  # seconds a user/token/session lookup is reused within one process (one refresh is ≥ 2 s)
SEEN_EVERY = dt.timedelta(minutes=1)  # last_seen_at of a session is written at most this often


def current_viewer() -> Viewer:
    """The viewer of the current request; outside a request (CLI, tests) the local whole-district one.

    Raises :class:`Unauthorized` when the sign-in layer refused the request but let it reach a
    callback that knows how to say so (the wall's 未授权屏幕).
    """
    from flask import g, has_request_context

    if not has_request_context():
        return LOCAL_VIEWER
    viewer = g.get("dashboard_viewer")
    if viewer is not None:
        return viewer  # type: ignore[no-any-return]
    denied = g.get("dashboard_denied")
    if denied:
        raise Unauthorized(denied)
    return LOCAL_VIEWER


def current_scope() -> Scope:
    return current_viewer().scope


def _towns_from_db(text: str | None) -> frozenset[str] | None:
    return frozenset(t for t in text.split(",") if t) if text else None


# --- the tables ----------------------------------------------------------------------------------

auth_metadata = MetaData()

user_table = Table(
    "dashboard_user",
    auth_metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(128), nullable=True),
    Column("password_hash", String(256), nullable=True),  # NULL: signs in through the SSO proxy only
    Column("role", String(16), nullable=False),
    Column("towns", String(512), nullable=True),  # comma-separated town codes; NULL: whole district
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

kiosk_table = Table(
    "dashboard_kiosk_token",
    auth_metadata,
    Column("token_id", String(10), primary_key=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("name", String(128), nullable=False),
    Column("towns", String(512), nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("last_used_at", DateTime, nullable=True),
)

# One row per signed-in browser. The cookie carries a random session id (signed, so it cannot be
# forged either); the row is what makes a sign-in count, so deleting it ends the session on every
# worker at once: sign-out, a password change, disabling or removing the user, or its expiry.
#
# Why a table of our own rather than Flask-Login or Flask-Session: Flask-Login keeps who is signed in
# in the same client-side cookie and has no server-side record to revoke; Flask-Session stores whole
# sessions server-side, but needs Flask-SQLAlchemy or a Redis we cannot depend on (Redis is optional
# here and its outage must not sign everyone out), and it cannot end every session of one user when
# their password changes. This table lives beside the users, on SQLite, PostgreSQL or MariaDB.
session_table = Table(
    "dashboard_session",
    auth_metadata,
    Column("session_sha256", String(64), primary_key=True),  # of the id in the cookie, never the id
    Column("username", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),  # created_at + DASHBOARD_SESSION_HOURS
    Column("last_seen_at", DateTime, nullable=False),  # updated at most once a minute
    Column("client", String(128), nullable=True),  # the address it signed in from, for people
    Index("ix_dashboard_session_username", "username"),
)

secret_table = Table(
    "dashboard_secret",
    auth_metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(128), nullable=False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    username: str
    display_name: str | None
    role: Role
    towns: frozenset[str] | None
    disabled: bool
    has_password: bool

    def viewer(self) -> Viewer:
        return Viewer(self.username, self.role, None if self.role.district else self.towns)


@dataclass(frozen=True)
class SignInSession:
    """A live sign-in: whose it is and until when (a row of ``dashboard_session``)."""

    username: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_seen_at: dt.datetime

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class KioskToken:
    token_id: str
    name: str
    towns: frozenset[str] | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def viewer(self) -> Viewer:
        return Viewer(self.token_id, KIOSK_ROLE, self.towns, kind="kiosk")


class AuthStore:
    """Users, kiosk tokens and the cookie-signing key, in the state store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()
        for attempt in range(3):  # several workers may start at once: the loser sees the tables next time
            try:
                auth_metadata.create_all(engine)
                break
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 2:
                    raise
                time.sleep(0.2)

    # -- users --

    def add_user(
        self,
        username: str,
        role: str,
        *,
        password: str | None,
        towns: frozenset[str] | None = None,
        display_name: str | None = None,
    ) -> User:
        if not USERNAME.match(username):
            raise ValueError("username: 2–64 letters, digits or _ . @ -")
        role_obj = _role(role)
        _check_towns(role_obj, towns)
        now = _now()
        row = {
            "username": username,
            "display_name": display_name,
            "password_hash": _hash_password(password) if password is not None else None,
            "role": role_obj.code,
            "towns": towns_text(towns) or None,
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(user_table), row)
        except IntegrityError:
            raise ValueError(f"username: {username!r} exists already") from None
        return self._require_user(username)

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        towns: frozenset[str] | str | None = "keep",
        display_name: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
    ) -> User:
        user = self._require_user(username)
        values: dict[str, Any] = {"updated_at": _now()}
        role_obj = _role(role) if role is not None else user.role
        new_towns = user.towns if isinstance(towns, str) else towns
        _check_towns(role_obj, new_towns)
        values["role"] = role_obj.code
        values["towns"] = towns_text(new_towns) or None
        if display_name is not None:
            values["display_name"] = display_name
        if disabled is not None:
            values["disabled"] = disabled
        if password is not None:
            values["password_hash"] = _hash_password(password)
        with self.engine.begin() as conn:
            conn.execute(update(user_table).where(user_table.c.username == username), values)
            if password is not None or disabled:  # a new password or a disabled account: sign them out
                conn.execute(delete(session_table).where(session_table.c.username == username))
        self._forget("user", username)
        self._forget_sessions_of(username)
        return self._require_user(username)

    def remove_user(self, username: str) -> None:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(user_table).where(user_table.c.username == username)).rowcount
            conn.execute(delete(session_table).where(session_table.c.username == username))
        if not gone:
            raise ValueError(f"username: no user {username!r}")
        self._forget("user", username)
        self._forget_sessions_of(username)

    def users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(user_table).order_by(user_table.c.username)).mappings().all()
        return [_user(r) for r in rows]

    def user(self, username: str, *, fresh: bool = False) -> User | None:
        """The user, or None; reused for :data:`LOOKUP_TTL` seconds unless ``fresh``."""
        return self._cached("user", username, fresh, lambda: self._load_user(username))  # type: ignore[no-any-return]

    def verify_password(self, username: str, password: str) -> User | None:
        """The user when the password is right and the account enabled; None otherwise."""
        row = self._user_row(username)
        if row is None or not row["password_hash"]:
            check_password_hash(_DUMMY_HASH, password)  # same work for unknown names: no timing oracle
            return None
        if not check_password_hash(row["password_hash"], password) or row["disabled"]:
            return None
        return _user(row)

    def _user_row(self, username: str) -> Any:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(user_table).where(user_table.c.username == username)).mappings().first()
            )

    def _load_user(self, username: str) -> User | None:
        row = self._user_row(username)
        return _user(row) if row is not None else None

    def _require_user(self, username: str) -> User:
        found = self._load_user(username)
        if found is None:
            raise ValueError(f"username: no user {username!r}")
        return found

    # -- kiosk tokens --

    def create_token(self, name: str, towns: frozenset[str] | None) -> tuple[KioskToken, str]:
        """A new token; the secret text is returned once and only its hash is kept."""
        if not name.strip():
            raise ValueError("name: give the screen a name (e.g. 指挥大厅主屏)")
        token_id = secrets.token_hex(5)
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(kiosk_table),
                {
                    "token_id": token_id,
                    "secret_sha256": _sha256(secret),
                    "name": name.strip()[:128],
                    "towns": towns_text(towns) or None,
                    "created_at": _now(),
                },
            )
        token = self.token(token_id, fresh=True)
        assert token is not None
        return token, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def revoke_token(self, token_id: str) -> KioskToken:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(kiosk_table)
                .where(kiosk_table.c.token_id == token_id, kiosk_table.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            ).rowcount
        token = self.token(token_id, fresh=True)
        if token is None:
            raise ValueError(f"token: no token {token_id!r}")
        if not done:
            raise ValueError(f"token: {token_id} was revoked already")
        return token

    def tokens(self) -> list[KioskToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(kiosk_table).order_by(kiosk_table.c.created_at)).mappings().all()
        return [_token(r) for r in rows]

    def token(self, token_id: str, *, fresh: bool = False) -> KioskToken | None:
        return self._cached("token", token_id, fresh, lambda: self._load_token(token_id))  # type: ignore[no-any-return]

    def redeem(self, text: str) -> KioskToken | None:
        """The live token whose secret is ``text``, or None (malformed, unknown, wrong or revoked)."""
        match = TOKEN_RE.match(text.strip())
        if match is None:
            return None
        token_id, secret = match.groups()
        row = self._token_row(token_id)
        if row is None or not hmac.compare_digest(row["secret_sha256"], _sha256(secret)):
            return None
        if row["revoked_at"] is not None:
            return None
        with self.engine.begin() as conn:
            conn.execute(
                update(kiosk_table).where(kiosk_table.c.token_id == token_id).values(last_used_at=_now())
            )
        self._forget("token", token_id)
        return _token(row)

    def _token_row(self, token_id: str) -> Any:
        with self.engine.connect() as conn:
            query = select(kiosk_table).where(kiosk_table.c.token_id == token_id)
            return conn.execute(query).mappings().first()

    def _load_token(self, token_id: str) -> KioskToken | None:
        row = self._token_row(token_id)
        return _token(row) if row is not None else None

    # -- sign-in sessions --

    def start_session(self, username: str, hours: float, client: str | None = None) -> str:
        """A new session for ``username`` lasting ``hours``; returns its id (for the cookie only)."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(delete(session_table).where(session_table.c.expires_at < now))  # tidy up
            conn.execute(
                insert(session_table),
                {
                    "session_sha256": _sha256(session_id),
                    "username": username,
                    "created_at": now,
                    "expires_at": now + dt.timedelta(hours=hours),
                    "last_seen_at": now,
                    "client": (client or "")[:128] or None,
                },
            )
        return session_id

    def session(self, session_id: str) -> SignInSession | None:
        """The live session with this id, or None (unknown, ended or expired).

        Reused for :data:`LOOKUP_TTL` seconds within a process; ending a session forgets it here at
        once, so other workers see a sign-out within that second.
        """
        key = _sha256(session_id)
        found: SignInSession | None = self._cached("session", key, False, lambda: self._load_session(key))
        if found is None or found.expired(_now()):
            return None
        return found

    def seen(self, session_id: str, found: SignInSession) -> None:
        """Note that the session was used: at most once a minute, since polling pages ask every few
        seconds. Never fails the request: a busy state store only delays the note."""
        now = _now()
        if now - found.last_seen_at < SEEN_EVERY:
            return
        key = _sha256(session_id)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(session_table)
                    .where(session_table.c.session_sha256 == key)
                    .values(last_seen_at=now)
                )
        except OperationalError as exc:
            log.warning("could not note a session's last use: %s", type(exc).__name__)
        self._forget("session", key)

    def end_session(self, session_id: str) -> None:
        """Sign-out: the session stops working on every worker."""
        key = _sha256(session_id)
        with self.engine.begin() as conn:
            conn.execute(delete(session_table).where(session_table.c.session_sha256 == key))
        self._forget("session", key)

    def end_sessions(self, username: str) -> int:
        """End every session of ``username``; the number ended."""
        with self.engine.begin() as conn:
            ended = conn.execute(delete(session_table).where(session_table.c.username == username)).rowcount
        self._forget_sessions_of(username)
        return int(ended or 0)

    def _load_session(self, key: str) -> SignInSession | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(session_table).where(session_table.c.session_sha256 == key))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return SignInSession(row["username"], row["created_at"], row["expires_at"], row["last_seen_at"])

    def _forget_sessions_of(self, username: str) -> None:
        with self._lock:
            for cache_key, (_at, value) in list(self._cache.items()):
                if cache_key[0] == "session" and getattr(value, "username", None) == username:
                    del self._cache[cache_key]

    # -- the cookie-signing key --

    def secret_key(self) -> str:
        """The shared key that signs session cookies: made once, then read by every worker."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(secret_table.c.value).where(secret_table.c.name == "session")
            ).scalar()
        if found:
            return str(found)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(secret_table), {"name": "session", "value": secrets.token_hex(32)})
        except IntegrityError:
            pass  # another worker made it first: use theirs
        with self.engine.connect() as conn:
            return str(
                conn.execute(select(secret_table.c.value).where(secret_table.c.name == "session")).scalar()
            )

    # -- a short per-process cache, so 200 screens polling do not each hit the state store --

    def _cached(self, kind: str, key: str, fresh: bool, load: Any) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((kind, key))
        if hit is not None and not fresh and now - hit[0] < LOOKUP_TTL:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[(kind, key)] = (now, value)
        return value

    def _forget(self, kind: str, key: str) -> None:
        with self._lock:
            self._cache.pop((kind, key), None)


_DUMMY_HASH = generate_password_hash("not a password of anyone")


def _role(code: str) -> Role:
    role = ROLES.get(code)
    if role is None:
        raise ValueError(f"role: {code!r} is not one of {', '.join(ROLES)}")
    return role


def _check_towns(role: Role, towns: frozenset[str] | None) -> None:
    if not role.district and not towns:
        raise ValueError(f"towns: a {role.code} user needs the towns they work for (--towns 瓜沥镇,...)")


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    return generate_password_hash(password)


def _user(row: Any) -> User:
    return User(
        username=row["username"],
        display_name=row["display_name"],
        role=_role(row["role"]),
        towns=_towns_from_db(row["towns"]),
        disabled=bool(row["disabled"]),
        has_password=bool(row["password_hash"]),
    )


def _token(row: Any) -> KioskToken:
    return KioskToken(
        token_id=row["token_id"],
        name=row["name"],
        towns=_towns_from_db(row["towns"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )
