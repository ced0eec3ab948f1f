"""The conditions gallery (``python -m dashboard screenshots --conditions``): the hall's real conditions,
staged on a clock, reproducibly.

What the command room sees at 01:30, on the 1st of a month, when the feed stops, when a town surges or
the source goes away cannot be waited for by hand. This module stages each on a small sample district
of its own, in a temp directory, and photographs it in headless Chromium:

1. seeds the district up to 09:00 on the 1st of the chosen month, and serves it on a clock started
   there (``serve --start-at``) with the live feed: **the 1st of a month**;
2. lets the feed catch up to 01:30 on the 3rd and serves it again on a clock started there: **night**,
   a **one-town wall**, **English**, a **phone** (390×844, mobile emulation), then a **surge** handed to
   the running feed (``simulate --surge``), photographed once its alert is up;
3. stops the feed and serves the same data on a clock started past the streams' cadence: **a stopped
   feed** (the freshness line must be red);
4. with that wall open, the source goes away (the SQLite file is moved aside and the server restarted:
   an open SQLite connection would go on reading a moved file, so a running server cannot lose it),
   then the page is reloaded: **an outage reload** (last good figures under a banner, no empty panel).
   The file is put back at the end.

Every server is a subprocess (``python -m dashboard serve``) with its own data, state and cache, so the
hall's ``make run`` is not touched. A run takes five to seven minutes on two shared cores, much of it
waiting for the surge's reports to arrive in real time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dashboard.core.progress import Progress
from dashboard.core.settings import ROOT
from dashboard.perf.screenshots import THUMB_WIDTH, Browser, open_browser, thumbnail
from dashboard.perf.server import free_port, port_open, stop_process_group

SERVE_ENTRY = "import sys; from dashboard.cli import main; sys.exit(main(sys.argv[1:]))"
HALL_TZ = dt.timezone(dt.timedelta(hours=8), "CST")
SURGE_TOWN = "瓜沥镇"
WALL = (1920, 1080, 1)
PHONE = (390, 844, 2)
PHONE_THUMB = 390
STOPPED_AFTER = dt.timedelta(minutes=45)  # past every stream's cadence (patrols: 30 min)
SURGE_WAIT = 330.0  # the feed releases a surge over five minutes
# Figures, not the blank placeholders a chart shows while it waits for its first answer: a KPI value.
ANSWERED = ".kpi-value"
FIRST_ANSWER = 240.0  # a cold snapshot of the sample district, on a shared machine
BLANK_RELOAD = 90.0  # no figures this long after opening a page: reload it once (noted)


def night_of(month: str | None, today: dt.date) -> dt.datetime:
    """01:30 (hall time) on the 3rd of ``month`` (``YYYY-MM``), by default of ``today``'s month."""
    if month:
        try:
            year, mon = (int(x) for x in month.split("-"))
            return dt.datetime(year, mon, 3, 1, 30, tzinfo=HALL_TZ)
        except ValueError as exc:
            raise ValueError(f"--month must be YYYY-MM, got {month!r}") from exc
    return dt.datetime(today.year, today.month, 3, 1, 30, tzinfo=HALL_TZ)


def first_of(night: dt.datetime) -> dt.datetime:
    """09:00 on the 1st of the night's month: the first morning of a new month."""
    return night.replace(day=1, hour=9, minute=0)


@dataclass
class Shot:
    """One picture: its file name, page address, size and caption."""

    name: str
    path: str
    size: tuple[int, int, int] = WALL
    mobile: bool = False

    @property
    def thumb_width(self) -> int:
        return PHONE_THUMB if self.mobile else THUMB_WIDTH


@dataclass
class Plan:
    """What a run does: the moments, where it writes, the seed's size."""

    night: dt.datetime
    out: Path
    days: int = 400
    scale: float = 0.15
    keep_png: bool = False
    log: Callable[[str], None] = print
    failed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what went wrong but was got round (reloads)
    taken: list[str] = field(default_factory=list)

    @property
    def first(self) -> dt.datetime:
        return first_of(self.night)


# The pictures of each stage, in the order taken.
FIRST_SHOTS = (Shot("first-of-month-wall", "/wall"),)
NIGHT_SHOTS = (
    Shot("night-wall", "/wall"),
    Shot("one-town-wall", f"/wall?town={SURGE_TOWN}"),
    Shot("english-overview", "/?lang=en"),
    Shot("english-wall", "/wall?lang=en"),
    Shot("phone-wall", "/wall", PHONE, mobile=True),
    Shot("phone-overview", "/", PHONE, mobile=True),
)
SURGE_SHOT = Shot("surge-wall", "/wall")
STOPPED_SHOT = Shot("stopped-feed-wall", "/wall")
OUTAGE_SHOT = Shot("outage-reload-wall", "/wall")
ALL_SHOTS = (*FIRST_SHOTS, *NIGHT_SHOTS, SURGE_SHOT, STOPPED_SHOT, OUTAGE_SHOT)
STEPS = 4 + len(ALL_SHOTS)  # seed, catch-up, two restarts, and every picture


class DashboardProcess:
    """``python -m dashboard serve`` as a subprocess on a free port, with its own data and clock."""

    def __init__(
        self,
        env: dict[str, str],
        logfile: Path,
        start_at: dt.datetime,
        *,
        feed: bool,
        rate: float = 1.0,
        port: int = 0,
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # Not `python -m dashboard serve`: on a shared machine a `pkill -f "dashboard serve"` meant for a
        # `make run` took the gallery's servers down mid-run (seen twice); this command line is its own.
        cmd = [sys.executable, "-c", SERVE_ENTRY, "serve", "--port", str(self.port)]
        cmd += ["--start-at", start_at.isoformat()]
        cmd += ["--with-feed", "--feed-rate", str(rate)] if feed else []
        self._log: IO[bytes] = open(logfile, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started = time.monotonic()
        self.start_at = start_at

    def now(self) -> dt.datetime:
        """The served clock's now (it started when the process did, give or take its start-up)."""
        return self.start_at + dt.timedelta(seconds=time.monotonic() - self.started)

    def check_alive(self) -> None:
        """OSError when the server has exited (a crash, or killed from outside the run)."""
        if self.proc.poll() is not None:
            raise OSError(f"the dashboard exited with {self.proc.returncode} (see its log)")

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Until this server says it listens on its port. The port alone is not enough: on a shared
        machine another program may take a free port between its choice and the server binding it."""
        listening = f"Running on {self.base}".encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            said = Path(self._log.name).read_bytes()
            if self.proc.poll() is not None:
                if b"Address already in use" in said:
                    raise PortTaken(self.port)
                raise OSError(f"the dashboard exited with {self.proc.returncode} (see {self._log.name})")
            if listening in said and port_open("127.0.0.1", self.port):
                return
            time.sleep(0.5)
        raise OSError(f"the dashboard did not answer within {timeout:.0f} s (see {self._log.name})")

    def stop(self) -> None:
        """Ctrl-C (the server then stops its feed), and the whole process group if it lingers."""
        stop_process_group(self.proc, signal.SIGINT, grace=20)
        with contextlib.suppress(ProcessLookupError):  # a feed child left behind
            os.killpg(self.proc.pid, signal.SIGTERM)
        self._log.close()


class PortTaken(OSError):
    """Another program took the port chosen for a server before it could bind it."""


def start_server(
    env: dict[str, str], work: Path, start_at: dt.datetime, *, feed: bool, rate: float = 1.0, port: int = 0
) -> DashboardProcess:
    """A ready server (a few tries on fresh ports when ``port`` is not imposed); its log in ``work``."""
    for _ in range(1 if port else 3):
        logfile = work / f"serve-{len(list(work.glob('serve-*.log')))}.log"
        server = DashboardProcess(env, logfile, start_at, feed=feed, rate=rate, port=port)
        try:
            server.wait_ready()
            return server
        except PortTaken:
            server.stop()
            if port:
                raise
        except OSError:
            server.stop()
            raise
    raise OSError("no free port for the dashboard after three tries")


@contextlib.contextmanager
def serving(
    env: dict[str, str], work: Path, start_at: dt.datetime, *, feed: bool, rate: float
) -> Iterator[DashboardProcess]:
    server = start_server(env, work, start_at, feed=feed, rate=rate)
    try:
        yield server
    finally:
        server.stop()


def run_env(work: Path) -> dict[str, str]:
    """The environment of every server of a run: its own source, state and cache; a quick refresh."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    env.update(
        DASHBOARD_DATABASE_URL=f"sqlite:///{work / 'district.db'}",
        DASHBOARD_STATE_URL=f"sqlite:///{work / 'state.db'}",
        DASHBOARD_CACHE_DIR=str(work / "cache"),
        DASHBOARD_REFRESH_SECONDS="5",
        DASHBOARD_AUTH="none",
    )
    return env


def snapshot_json(base: str, query: str = "") -> dict[str, object]:
    """The server's snapshot (``{}`` while it cannot give one)."""
    try:
        with urllib.request.urlopen(f"{base}/api/v1/snapshot?{query}", timeout=60) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.HTTPError):
        return {}
    return data if isinstance(data, dict) else {}


def wait_for(check: Callable[[], bool], timeout: float, every: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def surge_alert_up(base: str, town: str) -> bool:
    alerts = snapshot_json(base).get("alerts")
    return isinstance(alerts, list) and any(town in json.dumps(a, ensure_ascii=False) for a in alerts)


class Camera:
    """Takes the shots of a run into ``plan.out``; a failed one is noted and the run goes on."""

    def __init__(self, browser: Browser, plan: Plan, bar: Progress, png_dir: Path) -> None:
        self.browser = browser
        self.plan = plan
        self.bar = bar
        self.png_dir = png_dir

    def take(self, shot: Shot, server: DashboardProcess, *, settle: float = 4.0) -> None:
        w, h, scale = shot.size
        try:
            server.check_alive()
            url = server.base + urllib.parse.quote(shot.path, safe="/?=&")
            self.browser.open(url, w, h, scale, mobile=shot.mobile)
            if not self.wait_answered(server, BLANK_RELOAD):
                # Seen: a wall opened on a freshly started server stayed blank for minutes while the
                # server answered every refresh with 204; a reload drew it. Said, then reloaded.
                self.plan.notes.append(
                    f"{shot.name}: no figures {BLANK_RELOAD:.0f} s after opening; reloaded"
                )
                self.browser.reload()
                self.wait_answered(server, FIRST_ANSWER)
            self.save(shot, settle)
        except OSError as exc:
            self.fail(shot, exc)

    def wait_answered(self, server: DashboardProcess, timeout: float) -> bool:
        """Until the page shows figures (a KPI value), while its server lives; OSError when it died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.browser.wait_drawn(min(5.0, max(deadline - time.monotonic(), 0.1)), ANSWERED):
                return True
            server.check_alive()
        return False

    def save(self, shot: Shot, settle: float = 4.0) -> None:
        png = self.png_dir / f"{shot.name}.png"
        try:
            self.browser.shot(png, settle)
            thumbnail(png, self.plan.out / f"{shot.name}.jpg", shot.thumb_width)
            self.plan.taken.append(shot.name)
        except OSError as exc:
            self.fail(shot, exc)
        self.bar.advance()

    def fail(self, shot: Shot, exc: Exception) -> None:
        self.plan.failed.append(f"{shot.name}: {exc}")
        self.bar.advance()


def seed_district(plan: Plan, work: Path) -> None:
    from dashboard.sample.seed import seed_database

    seed_database(
        f"sqlite:///{work / 'district.db'}",
        days=plan.days,
        scale=plan.scale,
        now=plan.first,
        progress=False,
        force=True,
    )


def catch_up_to(work: Path, moment: dt.datetime, rate: float) -> None:
    """The feed's history up to ``moment``, at the seeded district's volume (``rate`` = the seed's scale)."""
    from dashboard.sample.simulate import catch_up

    catch_up(f"sqlite:///{work / 'district.db'}", moment, rate=rate)


def hand_surge(env: dict[str, str], town: str) -> None:
    cmd = [sys.executable, "-m", "dashboard", "simulate", "--surge", town]
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)


def take_conditions(plan: Plan) -> tuple[int, list[str]]:
    """Stage and photograph every condition; returns (pictures taken, failures as ``name: reason``)."""
    plan.out.mkdir(parents=True, exist_ok=True)
    browser = open_browser()
    if browser is None:
        raise ValueError(
            "the conditions gallery needs selenium and chromedriver (apt-get install chromium-driver)"
        )
    work = Path(tempfile.mkdtemp(prefix="conditions-"))
    png_dir = plan.out if plan.keep_png else work
    env = run_env(work)
    try:
        with Progress("条件截图 conditions", STEPS) as bar:
            camera = Camera(browser, plan, bar, png_dir)
            _stages(plan, work, env, camera, bar)
    finally:
        browser.close()
        shutil.rmtree(work, ignore_errors=True)
    return len(plan.taken), plan.failed


def _stages(plan: Plan, work: Path, env: dict[str, str], camera: Camera, bar: Progress) -> None:
    seed_district(plan, work)
    bar.advance()
    with serving(env, work, plan.first, feed=True, rate=plan.scale) as server:
        for shot in FIRST_SHOTS:
            camera.take(shot, server)
    catch_up_to(work, plan.night, plan.scale)
    bar.advance()
    with serving(env, work, plan.night, feed=True, rate=plan.scale) as server:
        for shot in NIGHT_SHOTS:
            camera.take(shot, server)
        hand_surge(env, SURGE_TOWN)
        up = wait_for(
            lambda: server.proc.poll() is not None or surge_alert_up(server.base, SURGE_TOWN), SURGE_WAIT
        )
        if not up or server.proc.poll() is not None:
            plan.failed.append(f"{SURGE_SHOT.name}: no surge alert within {SURGE_WAIT:.0f} s (taken anyway)")
        camera.take(SURGE_SHOT, server)
        stopped_at = server.now()
    bar.advance()
    _stopped_and_outage(plan, work, env, camera, stopped_at + STOPPED_AFTER)
    bar.advance()


def _stopped_and_outage(
    plan: Plan, work: Path, env: dict[str, str], camera: Camera, start_at: dt.datetime
) -> None:
    """The feed stopped (no feed, a clock past the cadence), then the source gone under the open wall."""
    db = work / "district.db"
    aside = work / "moved-away"
    aside.mkdir()
    server: DashboardProcess | None = None
    try:
        server = start_server(env, work, start_at, feed=False)
        camera.take(STOPPED_SHOT, server, settle=12.0)  # two refreshes: the freshness is red by then
        elapsed = server.now() - start_at
        server.stop()
        for part in work.glob("district.db*"):  # the database and its -wal/-shm
            part.rename(aside / part.name)
        # The same address: the wall left open polls the restarted server, which has no source.
        server = start_server(env, work, start_at + elapsed, feed=False, port=server.port)
        time.sleep(12.0)  # the open wall meets the outage on its next refreshes, then is reloaded
        camera.browser.reload()
        camera.wait_answered(server, FIRST_ANSWER)
        camera.save(OUTAGE_SHOT, settle=12.0)
    except OSError as exc:
        camera.fail(OUTAGE_SHOT, exc)
    finally:
        if server is not None:
            server.stop()
        for part in aside.iterdir():
            part.rename(db.parent / part.name)
