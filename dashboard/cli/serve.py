"""``python -m dashboard serve``: start the dashboard (development server).

``make run`` calls it with ``--seed-if-missing --with-feed``: on a fresh machine it seeds the SQLite
sample district first, builds the rollups (the fast path of every screen, DASHBOARD_ROLLUPS=on) with
progress on the terminal, then starts the live feed as a child process so the screens move. On later
starts the rollups only catch up with what the feed wrote meanwhile (seconds). When briefings are defined
(the 简报 page, ``python -m dashboard briefing define``) the server runs their scheduler in the background.
"""

from __future__ import annotations

import argparse
import atexit
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, make_url, text

from dashboard.core.clock import Clock, StartedClock, clock_starting_at, parse_moment
from dashboard.core.logs import configure_logging
from dashboard.core.runtime import tune_allocator, tune_collector, tune_thread_switching
from dashboard.core.settings import Settings, load_settings
from dashboard.source.engines import backend_name, make_writer_engine


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to bind (default DASHBOARD_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default DASHBOARD_PORT, 8050)")
    parser.add_argument(
        "--seed-if-missing",
        action="store_true",
        help="seed the sample district first when the SQLite source is missing or empty",
    )
    parser.add_argument(
        "--with-feed", action="store_true", help="run the live simulated feed next to the server"
    )
    parser.add_argument(
        "--feed-rate",
        type=float,
        default=1.0,
        help="--with-feed: volume of new reports, as `seed --scale` (default 1: make run's district)",
    )
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (hot reload, dev tools)")
    parser.add_argument(
        "--start-at",
        default=None,
        metavar="ISO",
        help="demos/screenshots: the served clock (and --with-feed's) starts at this moment, e.g. "
        "2026-12-03T01:30+08:00, and runs on (default DASHBOARD_START_AT; empty: this machine's clock)",
    )


def source_is_empty(url: str) -> bool:
    """True when the source has no events yet (or no schema at all)."""
    if backend_name(url) == "sqlite":
        path = make_url(url).database
        if not path or not Path(path).exists():
            return True
    engine = make_writer_engine(url)
    try:
        if not inspect(engine).has_table("event"):
            return True
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM event LIMIT 1")).first() is None
    finally:
        engine.dispose()


def seed_if_missing(settings: Settings) -> bool:
    """Seed the SQLite sample district when the source is missing or empty; True when it did."""
    if backend_name(settings.DATABASE_URL) != "sqlite":
        return False  # never seed a server database implicitly
    if not source_is_empty(settings.DATABASE_URL):
        return False
    from dashboard.sample.seed import seed_database

    print("No sample district yet: seeding it now (first start only) …", flush=True)
    report = seed_database(settings.DATABASE_URL, force=True)
    print(report.summary(), flush=True)
    return True


def prepare_rollups(settings: Settings, *, rebuild: bool = False) -> None:
    """Build the rollups before serving (first start: minutes on the sample, with progress), or bring
    them up to date (later starts). A failure is reported and serving goes on: the dashboard then builds
    them in the background and answers from the direct queries meanwhile."""
    if settings.ROLLUPS != "on":
        return
    from dashboard.rollups.store import rollups_built, update_rollups

    try:
        if source_is_empty(settings.DATABASE_URL):
            return
        if rebuild or not rollups_built(settings.STATE_URL):
            print("Building the rollups, the fast path of every screen (first start only) …", flush=True)
        report = update_rollups(settings.DATABASE_URL, settings.STATE_URL, rebuild=rebuild, progress=True)
    except Exception as exc:  # serve anyway: the direct queries answer until a build succeeds
        print(f"could not build the rollups ({type(exc).__name__}: {exc}); serving without them for now")
        return
    print(report.summary(), flush=True)


def start_feed(settings: Settings, clock: Clock | None = None, rate: float = 1.0) -> subprocess.Popen[bytes]:
    """The live feed as a child process; on a started clock it starts at the server's now, so a stopped
    or late stream is judged on one time line."""
    cmd = [sys.executable, "-m", "dashboard", "simulate", "--database-url", settings.DATABASE_URL]
    if rate != 1.0:
        cmd += ["--rate", str(rate)]  # a district seeded smaller grows at its own pace
    if isinstance(clock, StartedClock):
        cmd += ["--start-at", clock.now().isoformat()]
    proc = subprocess.Popen(cmd)
    atexit.register(_stop, proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    start_at = args.start_at if args.start_at is not None else settings.START_AT
    if args.start_at:
        parse_moment(args.start_at)  # a typo is said before minutes of seeding
    host = args.host or settings.HOST
    port = args.port or settings.PORT
    configure_logging()
    seeded = args.seed_if_missing and seed_if_missing(settings)
    prepare_rollups(settings, rebuild=seeded)  # before the feed starts writing
    clock = clock_starting_at(start_at)  # started once everything is prepared: serving begins at it
    if args.with_feed:
        start_feed(settings, clock, args.feed_rate)
        # A stop by SIGTERM (kill, a service manager) runs the atexit hooks too: without this the server
        # died alone and its feed kept writing, and the next start refused a second feed.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from dashboard.web.app import create_app, start_briefings

    tune_allocator()  # freed big buffers go back to the kernel, not into the heaps (core/runtime.py)
    app = create_app(settings, clock=clock)
    tune_thread_switching()  # requests wait less for the GIL behind a drawing (core/runtime.py)
    tune_collector()  # the process is built: full collections rarely land on a request (core/runtime.py)
    if start_briefings(app) is not None:  # briefings defined: made and sent from this process
        print("  Briefings: the scheduler runs in this server (DASHBOARD_BRIEFING_SCHEDULER)", flush=True)
    if start_at:
        print(f"  Clock started at {start_at} (DASHBOARD_START_AT / --start-at)", flush=True)
    base = f"http://{host}:{port}"
    print(
        f"\n  Dashboard (staff):   {base}/\n  Wall screen (kiosk): {base}/wall\n"
        f"  JSON API:            {base}/api/v1/snapshot\n  Health:              {base}/health\n",
        flush=True,
    )
    from dashboard.web.servers import Utf8RequestHandler

    # curl's raw UTF-8 query (?town=城厢) reaches the app as sent (dashboard/web/servers.py).
    app.run(host=host, port=port, debug=args.debug, use_reloader=False, request_handler=Utf8RequestHandler)
    return 0
