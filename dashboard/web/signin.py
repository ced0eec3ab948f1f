"""Sign-in for the web server: who is behind each request (``DASHBOARD_AUTH``).

* ``none``: the local demo; every request is the local whole-district viewer, personal data masked.
* ``local``: users sign in at /login with a password (hashed in the state store); a signed session
  cookie carries the user name and a stamp of the password, so a changed password or a disabled
  account stops every session at its next request.
* ``proxy``: the government's single sign-on sits in front and names the user in a header
  (``DASHBOARD_PROXY_USER_HEADER``), trusted only from ``DASHBOARD_PROXY_TRUSTED`` addresses; the user
  must be registered (``python -m dashboard users add NAME --role ... --sso``) for a role and towns.

In both signed-in modes a wall screen is enrolled once with ``/wall?kiosk=<token>``: the token is
checked, traded for a cookie and removed from the address (so it does not sit in the address bar,
history or logs), and every later request checks that the token is still live. A revoked screen gets
未授权屏幕: a page load answers that page, and the wall's own refresh clears its data and shows it.

Refusals: pages redirect to /login, JSON endpoints answer 401, a kiosk asking for anything but the wall
answers 403. Sign-in attempts are limited per client address and per user name, and sign-ins, sign-outs,
kiosk enrolments and refused tokens go to the audit log.
"""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, current_app, g, redirect, request, session

from dashboard.core.scope import LOCAL_VIEWER, Viewer
from dashboard.core.settings import Settings
from dashboard.web.accounts import AuthStore
from dashboard.web.audit import audit, client
from dashboard.web.errors import JSON_PREFIXES, json_error
from dashboard.web.security import DASH_UPDATE_PATH, MAX_CALLBACK_BODY
from layouts import ids

log = logging.getLogger(__name__)

AUTH_KEY = "dashboard_auth"
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
PUBLIC_PATHS = frozenset(
    {"/login", "/logout", "/health", "/_favicon.ico", "/favicon.ico", "/api/v1/openapi.json"}
)
# Callbacks a refused viewer may still reach: they say "unauthorised" / "signed out" on screen
# instead of leaving stale data up (callbacks/wall.py, callbacks/pages.py). They never return data.
SAYS_REFUSED = (f"{ids.WALL_KPIS}.children", f"{ids.DATA_AGE}.children")
SIGNIN_FAILURES_PER_NAME = 5  # per user name and client address, per SIGNIN_WINDOW
SIGNIN_FAILURES_PER_CLIENT = 20  # per client address, whatever the names tried
SIGNIN_WINDOW = 15 * 60.0
KIOSK_COOKIE_DAYS = 400  # browsers cap cookie lifetimes at about this; a wall is enrolled for good


def install_auth(app: Any, settings: Settings, store: AuthStore | None) -> None:
    """Resolve the viewer of every request and add /login, /logout and kiosk enrolment."""
    server: Flask = app.server
    mode = settings.AUTH.strip().lower()
    if mode not in {"none", "local", "proxy"}:
        raise ValueError(f"DASHBOARD_AUTH: {settings.AUTH!r} is not one of none, local, proxy")
    server.config.update(
        SESSION_COOKIE_NAME="xsdash_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.COOKIE_SECURE),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=KIOSK_COOKIE_DAYS),
    )
    if mode == "none":
        server.before_request(_local_viewer)
        server.add_url_rule("/login", "login", lambda: redirect("/"))
        server.add_url_rule("/logout", "logout", lambda: redirect("/"), methods=["GET", "POST"])
        return
    if store is None:
        raise ValueError("DASHBOARD_AUTH needs the state store (DASHBOARD_STATE_URL) for users and tokens")
    server.secret_key = settings.SECRET_KEY or store.secret_key()
    if not store.users():
        log.warning(
            "DASHBOARD_AUTH=%s but no users yet: python -m dashboard users add NAME --role admin", mode
        )
    from dashboard.web.limits import make_limiter

    server.extensions[AUTH_KEY] = Gate(
        store,
        mode,
        settings,
        # Shared through Redis when the cache is Redis, so N workers do not allow N times the guesses.
        per_name=make_limiter(
            SIGNIN_FAILURES_PER_NAME, SIGNIN_WINDOW, cache_url=settings.CACHE_URL, name="signin-name"
        ),
        per_client=make_limiter(
            SIGNIN_FAILURES_PER_CLIENT, SIGNIN_WINDOW, cache_url=settings.CACHE_URL, name="signin-client"
        ),
    )
    server.before_request(_authenticate)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])


def _local_viewer() -> None:
    g.dashboard_viewer = LOCAL_VIEWER


class Gate:
    """The sign-in state shared by the request hooks and routes of one app."""

    def __init__(
        self, store: AuthStore, mode: str, settings: Settings, *, per_name: Any, per_client: Any
    ) -> None:
        self.store = store
        self.mode = mode
        self.session_seconds = settings.SESSION_HOURS * 3600
        self.proxy_header = settings.PROXY_USER_HEADER
        self.trusted = _networks(settings.PROXY_TRUSTED)
        self.per_name = per_name
        self.per_client = per_client

    def from_proxy(self) -> tuple[Viewer | None, str | None]:
        name = request.headers.get(self.proxy_header, "").strip()
        if not name:
            return None, None
        if not _address_in(request.remote_addr, self.trusted):
            log.warning("ignored %s from untrusted address %s", self.proxy_header, request.remote_addr)
            return None, "untrusted"
        user = self.store.user(name)
        if user is None or user.disabled:
            return None, "unknown_user"
        if session.get("sso") != name:  # the first request of this SSO session: audit it once
            session["sso"] = name
            session.permanent = True
            audit("sign_in_sso", name, f"from {client()}")
        return user.viewer(), None

    def from_session(self) -> tuple[Viewer | None, str | None]:
        token_id = session.get("k")
        if isinstance(token_id, str):
            token = self.store.token(token_id)
            if token is None or token.revoked_at is not None:
                return None, "revoked"
            return token.viewer(), None
        name = session.get("u")
        if not isinstance(name, str):
            return None, None
        user = self.store.user(name)
        expired = float(session.get("exp", 0)) < time.time()
        if user is None or user.disabled or session.get("ps") != user.password_stamp or expired:
            session.pop("u", None)
            return None, "signed_out"
        return user.viewer(), None


def gate() -> Gate:
    return current_app.extensions[AUTH_KEY]  # type: ignore[no-any-return]


def _authenticate() -> Response | None:
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    current = gate()
    if _is_wall(path) and "kiosk" in request.args:
        return _enrol(current)
    viewer, reason = current.from_session()
    if viewer is None and current.mode == "proxy":
        viewer, reason = current.from_proxy()
    if viewer is not None:
        g.dashboard_viewer = viewer
        return None if viewer.kind != "kiosk" else _kiosk_only(path)
    g.dashboard_denied = reason or "signed_out"
    return _refuse(path, g.dashboard_denied)


def _kiosk_only(path: str) -> Response | None:
    """A wall's cookie opens the wall and nothing else (no staff pages, API, downloads or exports)."""
    if _is_wall(path) or path.startswith("/_dash-"):
        return None
    if path.startswith(JSON_PREFIXES):
        return _json(403, "forbidden", "a wall screen's token opens the wall only")
    return unauthorised_screen(403)


def _refuse(path: str, reason: str) -> Response | None:
    if path == DASH_UPDATE_PATH and _says_refused():
        return None  # the callback answers with the refusal itself (and no data)
    if path.startswith(JSON_PREFIXES):
        return _json(
            401, "unauthorized", "sign in first" if reason != "revoked" else "this screen's token was revoked"
        )
    if _is_wall(path) and (reason == "revoked" or "k" in session):
        return unauthorised_screen(403)
    if gate().mode == "proxy":
        return _proxy_refusal(reason)
    query = request.query_string.decode("utf-8", "replace")  # full_path would be latin-1 for 瓜沥镇
    target = request.path + ("?" + query if query else "")
    return redirect("/login?" + urlencode({"next": target}), code=302)  # type: ignore[return-value]


def _says_refused() -> bool:
    if (request.content_length or 0) > MAX_CALLBACK_BODY:
        return False
    body = request.get_json(silent=True)
    output = body.get("output") if isinstance(body, dict) else None
    return isinstance(output, str) and any(part in output for part in SAYS_REFUSED)


def _enrol(current: Gate) -> Response:
    """Trade ``?kiosk=<token>`` for a cookie, then show the same wall address without the token."""
    text = request.args.get("kiosk", "")
    token = current.store.redeem(text)
    rest = [(k, v) for k, v in parse_qsl(request.query_string.decode("utf-8", "replace")) if k != "kiosk"]
    if token is None:
        session.pop("k", None)
        # Guesses count against the same per-address limit as failed sign-ins; beyond it they are
        # still refused but no longer written to the audit log (no flooding it from outside).
        if current.per_client.take(client()) is None:
            audit("kiosk_refused", f"client:{client()}", "revoked or unknown token")
        return unauthorised_screen(403)
    session.clear()
    session["k"] = token.token_id
    session.permanent = True
    audit("kiosk_enrolled", f"kiosk:{token.token_id}", f"{token.name} from {client()}")
    return redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)  # type: ignore[return-value]


# --- /login and /logout --------------------------------------------------------------------------


def _login() -> Response:
    current = gate()
    lang = "en" if request.args.get("lang") == "en" else "zh"
    target = safe_next(request.values.get("next"))
    if current.mode == "proxy":
        return redirect(target)  # type: ignore[return-value]
    if request.method == "GET":
        return login_page(lang, target)
    if not secrets.compare_digest(str(request.form.get("csrf", "")), str(session.get("csrf", "") or "-")):
        return login_page(lang, target, error=_t(lang, "expired"), status=400)
    name = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")[:1024]
    key = f"{client()}|{name.lower()}"
    wait = current.per_client.take(client()) or current.per_name.take(key)
    if wait:
        audit("sign_in_limited", f"client:{client()}", name)
        page = login_page(
            lang, target, error=_t(lang, "limited", minutes=max(1, round(wait / 60))), status=429
        )
        page.headers["Retry-After"] = str(int(wait + 0.999))
        return page
    user = current.store.verify_password(name, password) if name and password else None
    if user is None:
        audit("sign_in_failed", f"client:{client()}", name)
        return login_page(lang, target, error=_t(lang, "wrong"), status=401)
    current.per_name.give_back(key)  # only failures count against the name
    current.per_client.give_back(client())
    session.clear()
    session.update(u=user.username, ps=user.password_stamp, exp=time.time() + current.session_seconds)
    session.permanent = True
    audit("sign_in", user.username, f"from {client()}")
    return redirect(target, code=303)  # type: ignore[return-value]


def _logout() -> Response:
    name = session.get("u") or session.get("sso")
    if name:
        audit("sign_out", str(name), f"from {client()}")
    session.clear()
    return redirect("/login", code=303)  # type: ignore[return-value]


def safe_next(value: str | None) -> str:
    """Only a path on this site: never ``//host``, a scheme or a backslash trick."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value[:2000]


# --- pages without Dash (no scripts: they work under the strict policy and before sign-in) ------

_TEXT = {
    "title": ("萧山区一张网 · 态势感知", "Xiaoshan Grid Governance Situation"),
    "signin": ("登录", "Sign in"),
    "user": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "wrong": ("用户名或密码错误。", "Wrong user name or password."),
    "expired": ("页面已过期，请重新提交。", "The form expired; please submit it again."),
    "limited": ("尝试次数过多，请 {minutes} 分钟后再试。", "Too many attempts; try again in {minutes} min."),
    "other": ("English", "中文"),
    "denied": ("未授权屏幕", "Unauthorised screen"),
    "denied_text": (
        "此屏幕的授权已撤销或无效，不显示数据。请联系管理员重新授权。",
        "This screen's token was revoked or is not valid, so no data is shown. Ask an administrator.",
    ),
    "sso": ("请通过统一身份认证访问。", "Please come in through the single sign-on."),
    "unknown_user": (
        "您的账号尚未开通本系统，请联系管理员。",
        "Your account has no access to this dashboard yet; ask an administrator.",
    ),
}


def _t(lang: str, key: str, **kw: Any) -> str:
    zh, en = _TEXT[key]
    return (en if lang == "en" else zh).format(**kw)


_STYLE = """
body{margin:0;font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#0b1a2e;color:#e8eef7;
display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#13294a;padding:2.5rem 3rem;border-radius:12px;min-width:22rem;box-shadow:0 8px 30px #0006}
h1{font-size:1.4rem;margin:0 0 1.5rem}label{display:block;margin:.8rem 0 .3rem;color:#9fb3cc}
input{width:100%;box-sizing:border-box;padding:.6rem;border-radius:6px;border:1px solid #36507a;
background:#0b1a2e;color:#fff;font-size:1rem}button{margin-top:1.4rem;width:100%;padding:.7rem;border:0;
border-radius:6px;background:#2f7cf6;color:#fff;font-size:1rem;cursor:pointer}
.error{color:#ff8a80;margin:.8rem 0 0}.lang{display:block;margin-top:1rem;color:#9fb3cc;font-size:.9rem}
.denied{text-align:center}.denied h1{font-size:6vw;color:#ff8a80;margin:0 0 2rem}.denied p{font-size:2vw}
"""


def _page(lang: str, body: str, status: int) -> Response:
    doc = (
        f'<!doctype html><html lang="{"en" if lang == "en" else "zh-CN"}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(_t(lang, 'title'))}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    response = Response(doc, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def login_page(lang: str, target: str, *, error: str | None = None, status: int = 200) -> Response:
    token = session.get("csrf") or secrets.token_urlsafe(24)
    session["csrf"] = token
    other = "zh" if lang == "en" else "en"
    error_html = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f"<main><h1>{html.escape(_t(lang, 'title'))}</h1>"
        f'<form method="post" action="/login?{html.escape(urlencode({"next": target, "lang": lang}))}">'
        f'<input type="hidden" name="csrf" value="{html.escape(token)}">'
        f'<label for="username">{_t(lang, "user")}</label>'
        f'<input id="username" name="username" autocomplete="username" required autofocus>'
        f'<label for="password">{_t(lang, "password")}</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required>'
        f'{error_html}<button type="submit">{_t(lang, "signin")}</button></form>'
        f'<a class="lang" href="/login?{html.escape(urlencode({"next": target, "lang": other}))}">'
        f"{_t(lang, 'other')}</a></main>"
    )
    return _page(lang, body, status)


def unauthorised_screen(status: int = 403) -> Response:
    lang = "en" if request.args.get("lang") == "en" else "zh"
    body = (
        f'<main class="denied" id="unauthorised"><h1>{_t(lang, "denied")}</h1>'
        f"<p>{_t(lang, 'denied_text')}</p></main>"
    )
    return _page(lang, body, status)


def _proxy_refusal(reason: str) -> Response:
    lang = "en" if request.args.get("lang") == "en" else "zh"
    text = _t(lang, "unknown_user" if reason == "unknown_user" else "sso")
    return _page(lang, f"<main><h1>{_t(lang, 'title')}</h1><p>{html.escape(text)}</p></main>", 403)


# --- helpers -------------------------------------------------------------------------------------


def _is_wall(path: str) -> bool:
    return path.rstrip("/") == "/wall"


def _json(status: int, error: str, message: str) -> Response:
    response = json_error(message, status)
    response.headers["X-Dashboard-Auth"] = error
    return response


def _networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                nets.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"DASHBOARD_PROXY_TRUSTED: {part!r} is not an address or network") from None
    return nets


def _address_in(address: str | None, nets: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in nets)


def role_label(viewer: Viewer, lang: str) -> str:
    return viewer.role.en if lang == "en" else viewer.role.zh
