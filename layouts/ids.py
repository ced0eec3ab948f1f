"""Component ids that more than one place names: the layouts that create them, the callbacks that fill
them, and the request guard and sign-in that recognise their callbacks. Defined once, here.

Ids that only a layout knows (CSS hooks such as ``chrome`` or ``nav-overview``) stay in that layout.
Pattern-matching ids are dicts whose ``type`` is one of the ``*_TYPE`` names below.
"""

from __future__ import annotations

# --- every page (layouts/shell.py) ---------------------------------------------------------------
URL = "url"
VIEW = "view"  # the canonical view (a query string): what every data callback reads
VIEW_ERROR = "view-error"
TICK = "tick"
ROOT = "root"
LANG_TOGGLE = "lang-toggle"
APP_TITLE = "app-title"  # the header's title, naming the place shown
DATA_AGE = "data-age"
BANNER_ASOF = "banner-asof"
BANNER_ASOF_TEXT = "banner-asof-text"
BACK_TO_LIVE = "back-to-live"
BANNER_STALE = "banner-stale"
BANNER_ERROR = "banner-error"
BANNER_FRESH = "banner-fresh"  # a source stream that is late or has stopped (callbacks/freshness.py)
NAV_PAGES = (
    "overview",
    "backlog",
    "patrol",
    "trends",
    "rankings",
    "events",
    "alerts",
    "briefings",
)  # the header's page links


def nav_link(page: str) -> str:
    """The id of the header's link to ``page`` (its href carries the whole view)."""
    return f"nav-{page}"


EXPORT_TYPE = "export"  # {"type": EXPORT_TYPE, "format": "pptx" | "pdf" | "png"}: the export buttons
EXPORT_DOWNLOAD = "export-download"
EXPORT_STATUS = "export-status"

# The filter bar.
F_TOWN = "f-town"
F_VILLAGE = "f-village"
F_CATEGORY = "f-category"
F_SOURCE = "f-source"
F_DEPT = "f-dept"
F_PERIOD = "f-period"
F_EASTERN = "f-eastern"
F_RANGE = "f-range"
F_ASOF_DATE = "f-asof-date"
F_ASOF_TIME = "f-asof-time"

# --- browser pages (layouts/pages.py) ------------------------------------------------------------
OV_KEY = "ov-key"
OV_KPIS = "ov-kpis"
OV_TREND = "ov-trend"
OV_CATEGORY = "ov-category"
OV_BACKLOG = "ov-backlog"
OV_TOWNS = "ov-towns"
OV_MAP = "ov-map"
OV_TICKER = "ov-ticker"

BL_KEY = "bl-key"
BL_CRUMBS = "bl-crumbs"
BL_KPIS = "bl-kpis"
BL_AGEING = "bl-ageing"
BL_MAP = "bl-map"
BL_TOP = "bl-top"
BL_CASES = "bl-cases"
CRUMB_TYPE = "crumb"  # {"type": CRUMB_TYPE, "code": unit code}: the breadcrumb's buttons

PT_KEY = "pt-key"
PT_KPIS = "pt-kpis"
PT_COVERAGE = "pt-coverage"
PT_MAP = "pt-map"
PT_DUTY = "pt-duty"
PT_VIDEO = "pt-video"

TR_KEY = "tr-key"
TR_MAIN = "tr-main"
TR_CATEGORY = "tr-category"
TR_SOURCE = "tr-source"
TR_DEPT = "tr-dept"
TR_ONTIME = "tr-ontime"
PRESET_TYPE = "preset"  # {"type": PRESET_TYPE, "period": ...}: the trends page's period buttons

RK_KEY = "rk-key"
RK_TOWNS = "rk-towns"
RK_DEPTS = "rk-depts"

EV_SUMMARY = "ev-summary"
EV_CSV = "ev-csv"
EV_TABLE = "ev-table"
EV_CURSOR = "ev-cursor"

# --- the wall (layouts/wall.py; its panels' ids are in its WALL_PANELS) ---------------------------
WALL_ROOT = "wall-root"
WALL_KEY = "wall-key"
WALL_SAVED = "wall-saved"  # the last good data in the wall PC's local storage
WALL_SAVED_KEY = "wall-saved-key"  # the render key of that copy (patched only from the copy it holds)
WALL_NEED_LOCAL = "wall-need-local"
WALL_PULSE = "wall-pulse"  # the refresh tick, let through only when the wall's last refresh has answered
WALL_PAGES = "wall-pages"
WALL_SCALE = "wall-scale"
WALL_WIDE = "wall-wide"
WALL_ROTATE = "wall-rotate"
WALL_CLOCK_TICK = "wall-clock-tick"
WALL_CLOCK = "wall-clock"
WALL_TITLE = "wall-title"
WALL_SERVER_TICK = "wall-server-tick"  # asks for the server's time at load and every ten minutes
# The server's time for the wall clock: a started clock (serve --start-at) shows on the wall.
WALL_SERVER_NOW = "wall-server-now"
WALL_SCOPE = "wall-scope"
WALL_AGE = "wall-age"
WALL_FRESH = "wall-fresh"  # a source stream that is late or has stopped (callbacks/freshness.py)
WALL_BANNER = "wall-banner"
WALL_ALERTS = "wall-alerts"
WALL_POPUP_DATA = (
    "wall-popup-data"  # the red alerts of the board, for the pop-up of new ones (31-wall-popup.js)
)
WALL_POPUP_SHOWN = "wall-popup-shown"  # what the pop-up showed last (the clientside callback's output)
WALL_CHIME = "wall-chime"  # the chime played with a pop-up (assets/chime.wav)
WALL_KPIS = "wall-kpis"
WALL_TICKER = "wall-ticker"
WALL_WAITING = "wall-waiting"
WALL_DENIED = "wall-denied"
WALL_PAGE_TYPE = "wall-page"  # {"type": WALL_PAGE_TYPE, "page": name}: the wall's rotating pages


def title_of(panel_id: str) -> str:
    """The id of a wall panel's title (``wall-ov-map`` → ``wall-ov-map-title``)."""
    return f"{panel_id}-title"


# --- the 告警 page (layouts/pages.py alerts, callbacks/alerts.py) -------------------------------------
AL_STATE = "al-state"  # the page's own filters: state and rule (towns and period come from the view)
AL_RULE = "al-rule"
AL_SUMMARY = "al-summary"
AL_TABLE = "al-table"
AL_CSRF = "al-csrf"  # this session's CSRF token, handed to the page by the list callback
AL_DONE = "al-done"  # counts the steps taken on the page: the list redraws after each
AL_ACTIONS = "al-actions"  # the take-on / close panel: shown to roles that may act
AL_TARGET = "al-target"
AL_NOTE = "al-note"
AL_ACK = "al-ack"
AL_CLOSE = "al-close"
AL_MESSAGE = "al-message"
AL_PUSH_FAILED = "al-push-failed"  # messages (webhook, mail) that failed for good lately
AL_RULES = "al-rules"  # the thresholds section: shown to admins
AL_RULES_TABLE = "al-rules-table"
AL_RULE_TOWN = "al-rule-town"
AL_RULE_PARAM = "al-rule-param"
AL_RULE_VALUE = "al-rule-value"
AL_RULE_SET = "al-rule-set"
AL_RULE_UNSET = "al-rule-unset"
AL_RULE_MESSAGE = "al-rule-message"
NT_SECTION = "nt-section"  # the 告警 page's notes on the timeline: the list, and the form for staff
NT_LIST = "nt-list"
NT_FORM = "nt-form"
NT_TEXT = "nt-text"
NT_START = "nt-start"
NT_END = "nt-end"
NT_TOWNS = "nt-towns"
NT_ADD = "nt-add"
NT_TARGET = "nt-target"
NT_DELETE = "nt-delete"
NT_MESSAGE = "nt-message"
NT_DONE = "nt-done"  # counts the notes added or deleted on the page: the list redraws after each
AL_RULES_DONE = "al-rules-done"  # counts the threshold changes: the section redraws after each

# --- the 简报 page (layouts/pages.py briefings, callbacks/briefings.py) ------------------------------------
BR_KIND = "br-kind"  # the archive's kind filter (the towns come from the view, narrowed to the viewer's)
BR_SUMMARY = "br-summary"
BR_ARCHIVE = "br-archive"
BR_FAILED = "br-failed"  # deliveries that failed, within the viewer's towns
BR_DEFS = "br-defs"  # the definitions the viewer may see
BR_CSRF = "br-csrf"  # this session's CSRF token, handed to the page by the list callback
BR_DONE = "br-done"  # counts the definition changes: the lists redraw after each
BR_FORM = "br-form"  # the define / edit / delete section: shown to admins
BR_DEF_ID = "br-def-id"  # which definition the form edits (empty: a new one)
BR_DEF_KIND = "br-def-kind"
BR_DEF_TOWNS = "br-def-towns"
BR_DEF_LANG = "br-def-lang"
BR_DEF_MAIL = "br-def-mail"
BR_DEF_HOOKS = "br-def-hooks"
BR_SAVE = "br-save"
BR_DELETE = "br-delete"
BR_MESSAGE = "br-message"
