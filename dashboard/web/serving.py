"""Serving the app from the command line (``make run``): gunicorn's worker processes, as ``make serve``.

Why not Werkzeug's development server: it runs every request and the background snapshot builds in one
process, so a build holds the interpreter while 50 screens wait. Measured on the 2-core VM with 50
clients polling the API once a second while the feed writes, its median answer took several times
gunicorn's (2 workers × 4 threads); see dashboard/perf/README.md. Every worker makes its own app from
the same settings after the fork; what they share (source, state store, cache) lives outside them, as
under ``make serve``.

``make run`` passes ``--workers 2``. Werkzeug still serves ``python -m dashboard serve`` without
``--workers`` (the test suite's servers: one process to watch), with ``--debug`` (Dash's dev tools) and
where gunicorn is not installed (it is in the ``serve`` extra, which ``make run`` installs).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dashboard.core.settings import Settings

WORKERS = 2  # the 2-core VM: one per core
THREADS = 4
TIMEOUT = 120  # seconds: a cold snapshot of the sample district's year can take a while


def serve(
    settings: Settings,
    host: str,
    port: int,
    *,
    workers: int = WORKERS,
    threads: int = THREADS,
    debug: bool = False,
) -> None:
    """Serve the dashboard on ``host:port`` until interrupted: ``workers`` gunicorn processes, or
    Werkzeug's server in this process when ``workers`` is 0, with ``debug`` or without gunicorn."""
    if workers < 1 or debug or importlib.util.find_spec("gunicorn") is None:
        from dashboard.web.app import create_app

        create_app(settings).run(host=host, port=port, debug=debug, use_reloader=False)
        return
    _gunicorn(settings, host, port, workers, threads).run()


def _gunicorn(settings: Settings, host: str, port: int, workers: int, threads: int) -> Any:
    from gunicorn.app.base import BaseApplication

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "timeout": TIMEOUT,
        "graceful_timeout": 10,
        "worker_class": "gthread",
    }

    class Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from dashboard.web.app import create_app

            return create_app(settings).server  # in each worker, after the fork

    return Server()
