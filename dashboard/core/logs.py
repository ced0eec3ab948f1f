"""Logging for the dashboard's own processes (gunicorn workers, the development server)."""

from __future__ import annotations

import logging
import sys


def configure_logging() -> None:
    """INFO from the dashboard's own loggers to stderr, unless the host process configured logging."""
    package = logging.getLogger("dashboard")
    if package.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"))
    package.addHandler(handler)
    package.setLevel(logging.INFO)
