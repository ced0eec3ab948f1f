"""Which tests share one pytest-xdist worker.

`make test` runs the suite on two workers (`-n 2 --dist loadgroup`). Tests that start servers and
browsers, or that bound how long something takes, run one after another on one worker, so two of them
never compete for the two cores; everything else is spread over both workers.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

SERIAL_GROUP = "serial"

# Paths relative to the repository root; a folder holds every test below it.
SERIAL_PATHS = (
    "tests/browser/",
    "tests/perf/",
    "tests/web/test_faults.py",
    "tests/web/test_limits.py",
    "tests/web/test_readme_examples.py",
    "tests/service/test_service.py",
    "tests/security/test_event_paging.py",
    "tests/security/test_callback_budget.py",
)


def is_serial(nodeid: str) -> bool:
    """True for a test that must not run beside another heavy or timed test."""
    return nodeid.startswith(SERIAL_PATHS)


def group_serial_tests(items: Iterable[pytest.Item]) -> None:
    """Put the serial tests in one xdist group (a no-op without xdist's loadgroup)."""
    for item in items:
        if is_serial(item.nodeid):
            item.add_marker(pytest.mark.xdist_group(SERIAL_GROUP))
