"""Sign-in for the web server: who is behind each request (``DASHBOARD_AUTH``).

* ``none``: the local demo; every request is the local whole-district viewer, personal data masked.
* ``local``: users sign in at /login with a password (hashed in the state store). The signed session
  cookie carries only a random session id; the session itself is a row of the state store
  (:meth:`~dashboard.web.accounts.AuthStore.start_session`), so sign-out, a changed password, a
  disabled account or ``DASHBOARD_SESSION_HOURS`` passing end it on every worker at once.
* ``proxy``: the government's single sign-on sits in front and names the user in a header
  (``DASHBOARD_PROXY_USER_HEADER``), trusted only from ``DASHBOARD_PROXY_TRUSTED`` addresses; the user
  must be registered (``python -m dashboard users add NAME --role ... --sso``) for a role and towns.

In both signed-in modes a wall screen is enrolled once with ``/wall?kiosk=<token>``: the token is
checked, traded for a cookie and removed from the address (so it does not sit in the address bar,
history or logs), and every later request checks that the token is still live. A revoked screen gets
未授权屏幕: a page load answers that page, and the wall's own refresh clears its data and shows it.

Refusals: pages redirect to /login, JSON endpoints answer 401, a kiosk asking for anything but the wall
and the wall's own callbacks answers 403. Only real asset files are public. Every form POST (/login,
/logout) carries a CSRF token bound to the session cookie (Flask-WTF); /logout takes POST only.
Sign-in attempts are limited per client address and per user name, and sign-ins, sign-outs, kiosk
enrolments and refused tokens go to the audit log.
"""

from __future__ import annotations

import datetime as dt
import html
import ipaddress
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from flask import Flask, Response, current_app, g, has_request_context, redirect, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.security import safe_join

from dashboard.core.scope import LOCAL_VIEWER, Viewer
from dashboard.core.settings import Settings
from dashboard.web.accounts import AuthStore
from dashboard.web.audit import audit, client
from dashboard.web.errors import JSON_PREFIXES, json_error, wants_json
from dashboard.web.security import DASH_UPDATE_PATH, MAX_CALLBACK_BODY
from layouts import ids
from layouts.wall import wall_layout

log = logging.getLogger(__name__)

AUTH_KEY = "dashboard_auth"
# Open without sign-in, each only as the route the router matched: a path that falls through to Dash's
# page catch-all (`/assets//x`, `/_dash-component-suites/x`, `/favicon.ico`) would be answered with the
# app. Static files only through the routes that serve them, and an asset only when the file exists.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/health", "/_favicon.ico", "/api/v1/openapi.json"})
STATIC_RULES = ("/assets/", "/_dash-component-suites/")
# Callbacks a refused viewer may still reach: they say "unauthorised" / "signed out" on screen
# instead of leaving stale data up (callbacks/wall.py, callbacks/pages.py). They never return data.
SAYS_REFUSED = (f"{ids.WALL_KPIS}.children", f"{ids.DATA_AGE}.children")
# Besides the callbacks that draw only into the wall page's own components, a wall screen runs the
# shared ones every page runs: URL → view sync, the wall/browser frame, the bad-link banner and the
# status line and the stream freshness banner (callbacks/filters.py, callbacks/pages.py,
# callbacks/freshness.py). Each is named by an output it alone owns.
SHARED_WALL_OUTPUTS = frozenset(
    {
        f"{ids.VIEW}.data",
        f"{ids.ROOT}.className",
        f"{ids.BANNER_ERROR}.children",
        f"{ids.DATA_AGE}.children",
        f"{ids.BANNER_FRESH}.children",
    }
)
# Dash Pages' router callback (its output and its location input, named by Dash): a kiosk may call it
# only to draw the wall page.
PAGES_ROUTER = ("_pages_content", "children")
PAGES_LOCATION = ("_pages_location", "pathname")
NEXT_MAX = 2000  # characters of a next= address; longer ones go to /
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
        # A form's token lives as long as the sign-in it belongs to (a page stays open all day).
        WTF_CSRF_TIME_LIMIT=int(settings.SESSION_HOURS * 3600),
    )
    if mode == "none":  # nobody signs in, so there is no session to protect
        server.before_request(_local_viewer)
        server.add_url_rule("/login", "login", lambda: redirect("/"))
        server.add_url_rule("/logout", "logout", _logout_nobody, methods=["GET", "POST"])
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
        app=app,
        # Shared through Redis when the cache is Redis, so N workers do not allow N times the guesses.
        per_name=make_limiter(
            SIGNIN_FAILURES_PER_NAME, SIGNIN_WINDOW, cache_url=settings.CACHE_URL, name="signin-name"
        ),
        per_client=make_limiter(
            SIGNIN_FAILURES_PER_CLIENT, SIGNIN_WINDOW, cache_url=settings.CACHE_URL, name="signin-client"
        ),
    )
    server.before_request(_authenticate)
    install_csrf(server)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    # GET too, only to answer it 405 here: otherwise Dash's page catch-all would serve it the app.
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])


def install_csrf(server: Flask) -> None:
    """Flask-WTF's CSRF check on every form POST (/login, /logout), with Dash's callback endpoint exempt.

    Why that exemption is safe: ``/_dash-update-component`` accepts only ``application/json``
    (dashboard.web.security answers 415 otherwise), which a cross-site form cannot send and a cross-site
    script cannot send without a CORS preflight this server never grants; the session cookie is
    ``SameSite=Lax`` besides, so a cross-site POST does not carry it. The token is bound to the session
    cookie: GET /login sets a pre-session cookie holding the token's secret half.
    """
    csrf = CSRFProtect()
    csrf.init_app(server)
    csrf.exempt(server.view_functions[DASH_UPDATE_PATH])
    server.register_error_handler(CSRFError, _csrf_refused)


def _local_viewer() -> None:
    g.dashboard_viewer = LOCAL_VIEWER


def _logout_nobody() -> Response:
    if request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    return redirect("/", code=303)  # type: ignore[return-value]


class Gate:
    """The sign-in state shared by the request hooks and routes of one app."""

    def __init__(
        self, store: AuthStore, mode: str, settings: Settings, *, app: Any, per_name: Any, per_client: Any
    ) -> None:
        self.store = store
        self.mode = mode
        self.app = app
        self.session_hours = settings.SESSION_HOURS
        self._wall_callbacks: frozenset[str] | None = None
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
            seed_csrf()
            audit("sign_in_sso", name, f"from {client()}")
        return user.viewer(), None

    def from_session(self) -> tuple[Viewer | None, str | None]:
        token_id = session.get("k")
        if isinstance(token_id, str):
            token = self.store.token(token_id)
            if token is None or token.revoked_at is not None:
                return None, "revoked"
            return token.viewer(), None
        session_id = session.get("sid")
        if not isinstance(session_id, str):
            return None, None
        found = self.store.session(session_id)  # None once signed out, expired or ended by a change
        user = self.store.user(found.username) if found is not None else None
        if found is None or user is None or user.disabled:
            session.pop("sid", None)
            return None, "signed_out"
        self.store.seen(session_id, found)
        return user.viewer(), None

    def wall_callbacks(self) -> frozenset[str]:
        """The callbacks (``output`` keys) a kiosk cookie may call, built once from the running app."""
        if self._wall_callbacks is None and self.app.callback_map:  # Dash fills it at the first request
            self._wall_callbacks = wall_callbacks(self.app.callback_map, component_ids(wall_layout()))
        return self._wall_callbacks or frozenset()

    def kiosk_may_call(self, body: Mapping[str, Any]) -> bool:
        """Whether a kiosk cookie may make this callback request: one of the wall's callbacks, or Dash
        Pages' router drawing the wall page (it draws whichever page the pathname names)."""
        output = body.get("output")
        if not isinstance(output, str):
            return False
        if output in self.wall_callbacks():
            return True
        return output_names(output)[:1] == [PAGES_ROUTER] and _is_wall(_input_value(body, PAGES_LOCATION))

    def is_public(self) -> bool:
        """Open without sign-in: the sign-in pages, /health, and real static files."""
        rule = request.url_rule
        if rule is None:
            return False
        if rule.rule in PUBLIC_PATHS:
            return True
        if not rule.rule.startswith(STATIC_RULES):
            return False
        if rule.rule.startswith("/assets/"):
            name = str((request.view_args or {}).get("filename", ""))
            path = safe_join(str(self.app.config.assets_folder), name)  # None for "/x", "../x"
            return path is not None and os.path.isfile(path)
        return True


def gate() -> Gate:
    return current_app.extensions[AUTH_KEY]  # type: ignore[no-any-return]


def _authenticate() -> Response | None:
    path = request.path
    current = gate()
    if current.is_public():
        return None
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
    """A wall's cookie opens the wall and its callbacks, nothing else (no staff pages or their
    callbacks, API, downloads or exports)."""
    if path == DASH_UPDATE_PATH:
        if gate().kiosk_may_call(_callback_body()):
            return None
        return _json(403, "forbidden", "a wall screen's token calls the wall's callbacks only")
    if _is_wall(path) or path.startswith("/_dash-"):  # the layout and dependencies Dash loads the page with
        return None
    if path.startswith(JSON_PREFIXES):
        return _json(403, "forbidden", "a wall screen's token opens the wall only")
    return unauthorised_screen(403)


def component_ids(layout: Any) -> set[str]:
    """Every component id in a layout: plain ids, and the ``type`` of pattern-matching ones."""
    found: set[str] = set()
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        component_id = getattr(node, "id", None)
        if isinstance(component_id, str):
            found.add(component_id)
        elif isinstance(component_id, dict) and "type" in component_id:
            found.add(str(component_id["type"]))
        children = getattr(node, "children", None)
        if children is not None and not isinstance(children, str | int | float):
            stack.append(children)
    return found


def output_names(key: str) -> list[tuple[str, str]]:
    """(component id, property) of each output of a callback key (``..a.x...b.y..``, ``a.x@hash``);
    a pattern-matching id is named by its ``type``."""
    parts = key[2:-2].split("...") if key.startswith("..") and key.endswith("..") else [key]
    names = []
    for part in parts:
        component, _, prop = part.rpartition(".")
        if component.startswith("{"):
            try:
                component = str(json.loads(component).get("type", ""))
            except (ValueError, AttributeError):
                component = ""
        names.append((component, prop.split("@", 1)[0]))
    return names


def wall_callbacks(callback_map: Mapping[str, Any], wall_ids: Iterable[str]) -> frozenset[str]:
    """The callbacks that draw only into the wall page's components, and the shared ones it runs
    (:data:`SHARED_WALL_OUTPUTS`). Anything else (the event list, the export button, the staff pages'
    panels, drill-down) answers 403 to a kiosk cookie."""
    wall = set(wall_ids)
    allowed = set()
    for key in callback_map:
        outputs = output_names(key)
        only_wall = all(component in wall for component, _prop in outputs)
        shared = any(f"{component}.{prop}" in SHARED_WALL_OUTPUTS for component, prop in outputs)
        if outputs and (only_wall or shared):
            allowed.add(key)
    return frozenset(allowed)


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
    output = _callback_output()
    return output is not None and any(part in output for part in SAYS_REFUSED)


def _callback_output() -> str | None:
    """The ``output`` key of a callback request, or None when the body is too large or not one."""
    output = _callback_body().get("output")
    return output if isinstance(output, str) else None


def _callback_body() -> dict[str, Any]:
    """The JSON body of a callback request; empty when it is too large or not an object (the request
    guard in dashboard.web.security answers those)."""
    if request.content_length is None or request.content_length > MAX_CALLBACK_BODY:
        return {}
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _input_value(body: Mapping[str, Any], wanted: tuple[str, str]) -> str:
    """The value a callback request sends for the input ``(component id, property)``, or ""."""
    inputs = body.get("inputs")
    for item in inputs if isinstance(inputs, list) else []:
        if isinstance(item, dict) and (item.get("id"), item.get("property")) == wanted:
            value = item.get("value")
            return value if isinstance(value, str) else ""
    return ""


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
    # The CSRF token was checked before this view (install_csrf): no token, a forged one, or one not
    # bound to this browser's pre-session cookie answered 400 (_csrf_refused) and signed nobody in.
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
    session.clear()  # a new session id: nothing of the pre-session cookie carries over (no fixation)
    session["sid"] = current.store.start_session(user.username, current.session_hours, client())
    session.permanent = True
    seed_csrf()
    audit("sign_in", user.username, f"from {client()}")
    return redirect(target, code=303)  # type: ignore[return-value]


def _logout() -> Response:
    """POST only, with the header form's CSRF token (checked before this view): ends the session in
    the state store, so a copy of the cookie stops working at once, then forgets the cookie.

    GET answers 405: a link or an image on any site could otherwise sign the user out."""
    if request.method != "POST":
        raise MethodNotAllowed(valid_methods=["POST"])
    store = gate().store
    session_id = session.get("sid")
    name = session.get("sso")
    if isinstance(session_id, str):
        found = store.session(session_id)
        name = found.username if found is not None else name
        store.end_session(session_id)
    if name:
        audit("sign_out", str(name), f"from {client()}")
    session.clear()
    return redirect("/login", code=303)  # type: ignore[return-value]


def seed_csrf() -> None:
    """Put a fresh CSRF secret into a new session, in the same answer that starts it.

    Why here: Dash loads a page with several requests at once, and each answer re-sends the session
    cookie it read. Were the secret added later (by the layout request that draws the sign-out form),
    a parallel answer could overwrite it with the cookie that lacked it, and the sign-out would fail.
    """
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF's per-request copy
    generate_csrf()


def sign_out_token() -> str | None:
    """The CSRF token for the header's sign-out form; None when nobody signs in (``AUTH=none``)."""
    if not has_request_context() or AUTH_KEY not in current_app.extensions:
        return None
    return str(generate_csrf())


def _csrf_refused(error: CSRFError) -> Response:
    """A form POST without a valid token (cross-site, forged or expired): 400, and nothing done."""
    log.info("refused a form without a valid CSRF token at %s: %s", request.path, error.description)
    if wants_json():  # a script's POST (the alerts' ack and close): it reads JSON, not a page
        return json_error(f"CSRF token missing or invalid (X-CSRFToken header): {error.description}", 400)
    lang = "en" if request.args.get("lang") == "en" else "zh"
    if request.path == "/login":
        return login_page(lang, safe_next(request.args.get("next")), error=_t(lang, "expired"), status=400)
    body = (
        f"<main><h1>{html.escape(_t(lang, 'title'))}</h1>"
        f'<p class="error" role="alert">{html.escape(_t(lang, "expired"))}</p>'
        f'<a class="lang" href="/">{html.escape(_t(lang, "back"))}</a></main>'
    )
    return _page(lang, body, 400)


def safe_next(value: str | None) -> str:
    """The same-site path to go to after sign-in, or ``/``.

    Browsers drop tabs and line breaks inside an address, read a backslash as a slash, and a second
    hop may decode percent-escapes again, so the value is refused when it, or any percent-decoding of
    it, holds a control character or a backslash, or no longer starts with a single ``/`` (a scheme,
    ``//host``). Such values are never repaired, only refused.
    """
    if not value or len(value) > NEXT_MAX:
        return "/"
    text = value
    for _round in range(4):
        if not _plain_path(text):
            return "/"
        decoded = unquote(text)
        if decoded == text:
            return value
        text = decoded
    return "/"  # still decoding after four rounds: no real link looks like that


def _plain_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith("//"):
        return False
    return not any(ch == "\\" or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)


# --- pages without Dash (no scripts: they work under the strict policy and before sign-in) ------

_TEXT = {
    "title": ("萧山区一张网 · 态势感知", "Xiaoshan Grid Governance Situation"),
    "signin": ("登录", "Sign in"),
    "user": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "wrong": ("用户名或密码错误。", "Wrong user name or password."),
    "expired": ("页面已过期，请重新提交。", "The form expired; please submit it again."),
    "back": ("返回", "Back"),
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
    """The sign-in form; its CSRF token is bound to the (pre-)session cookie this answer sets."""
    token = generate_csrf()
    other = "zh" if lang == "en" else "en"
    error_html = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f"<main><h1>{html.escape(_t(lang, 'title'))}</h1>"
        f'<form method="post" action="/login?{html.escape(urlencode({"next": target, "lang": lang}))}">'
        f'<input type="hidden" name="csrf_token" value="{html.escape(token)}">'
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
