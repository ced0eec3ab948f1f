"""Which tests share one pytest-xdist worker.

`make test` runs the suite on four workers (`-n 4 --dist loadgroup`) on a 2-core machine: much of the
suite waits (on a refresh interval, a server's answer, a database's fsync, Chromium), and the extra
workers fill those waits (a clean clone's suite: 762–808 s on two workers, 441 s on three; on a later
machine 697 s on three, 612 s on four, both cores 96 % busy). Without a group, xdist hands out tests one
at a time in collection order, so the workers take turns through a module: each builds the module's (and
the session's) fixtures for itself. A module whose tests share an expensive fixture (a seeded database, a
running server, the tiny bench's report) is therefore one group: its tests run on one worker and the
fixture is built once per run. The wall's browser tests are one group ("serial"): their timed checks (a
red freshness line within two refreshes, an outage's banner) keep their margins. Everything else is
spread over the workers.

The rest of the old serial list (perf, the fault tests, the rate limits, the README examples, the
service, event paging, the callback budget) is not in it: all of it on one worker was ~950 s, more than
`make test`'s twelve minutes; the browser tests alone are ~450 s, below half the suite.

xdist's own ``xdist_group`` marker has no effect with pytest 9: xdist 3.8 tells its scheduler a test's
group by appending it to ``item._nodeid``, which pytest 9 no longer reads (a node id is ``item._id``).
A marker added by a conftest hook was ignored for that reason (and, before it, because the hook ran
after xdist's). So ``tests/conftest.py`` gives xdist a scheduler that reads the groups from the node ids
itself (``pytest_xdist_make_scheduler``, xdist's public hook).
"""

from __future__ import annotations

from typing import Any

import pytest

SERIAL_GROUP = "serial"
SERIAL_PATHS = ("tests/browser/",)  # a folder holds every test below it
# The wall's layout checks measure boxes, not time, so nothing in them needs the serial group's quiet;
# at ~200 s they were a third of its length, and that group was the suite's longest chain (a clean
# clone's 647–695 s). They run as a group of their own beside it, with their own live server.
LAYOUT_GROUP = "layout"
LAYOUT_TESTS = (
    "tests/browser/test_wall.py::test_no_text_is_clipped_or_overlaps_and_nothing_runs_off_sideways",
    "tests/browser/test_wall.py::test_a_phone_reads_the_headline_figures_on_the_first_screen",
)

# The staff pages in a browser (filters, drill-down, sign-in) check what they show, not how soon: beside the
# wall's timed checks they made the serial group ~520 s, the suite's longest chain once a fourth worker
# took the rest below it. They run as a group of their own.
STAFF_PAGES_GROUP = "staff-pages"
STAFF_PAGES_PATHS = ("tests/browser/test_browser.py", "tests/browser/test_auth_browser.py")

# Paths relative to the repository root, each module its own group (those under SERIAL_PATHS share it).
SHARED_FIXTURE_MODULES = (
    "tests/perf/test_bench.py",  # the tiny bench's report, 25 s (session-scoped)
    "tests/perf/test_transfer.py",  # a seeded dataset copied into PostgreSQL (session-scoped)
    "tests/browser/test_wall.py",  # a seeded district with the live feed and a server; pg_district
    "tests/browser/test_browser.py",  # a seeded district and a server (session-scoped)
    "tests/browser/test_wall_popup.py",  # a seeded district and a server
    "tests/browser/test_freshness.py",  # a seeded district
    "tests/browser/test_auth_browser.py",  # a signed-in site
    "tests/sample/test_seed.py",  # a seed on each backend
    "tests/export/test_export.py",  # a seeded service, its deck and a Kaleido renderer
    "tests/web/test_readme_examples.py",  # a seeded source, a dev server and gunicorn
    "tests/web/test_fuzz.py",  # the app and its callback templates
    "tests/web/test_faults.py",  # pg_district
    "tests/security/test_callback_budget.py",  # an app on pg_district
    "tests/source/test_night_colours.py",  # a seeded night, 4 s
    "tests/source/test_metrics.py",  # the worked example on each backend and path (module-scoped)
    "tests/source/test_queries.py",  # the same
    # A signed-in site (create_app), 1–2 s each.
    "tests/web/test_auth.py",
    "tests/security/test_csv_injection.py",
    "tests/security/test_event_cursor.py",
    "tests/security/test_event_paging.py",
    "tests/security/test_kiosk_callbacks.py",
    "tests/security/test_login_csrf.py",
    "tests/security/test_open_redirect.py",
    "tests/security/test_public_paths.py",
    "tests/security/test_sessions.py",
)


def group_of(nodeid: str) -> str | None:
    """The xdist group of a test: "layout", "staff-pages" or "serial", or its module's path for the
    modules above, else None (spread)."""
    path = nodeid.split("::", 1)[0]
    if nodeid.startswith(LAYOUT_TESTS):
        return LAYOUT_GROUP
    if path in STAFF_PAGES_PATHS:
        return STAFF_PAGES_GROUP
    if path.startswith(SERIAL_PATHS):
        return SERIAL_GROUP
    return path if path in SHARED_FIXTURE_MODULES else None


def group_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's loadgroup scheduler, with the groups above (``--dist loadgroup`` only, else None)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or super()._split_scope(nodeid)

    return ModuleGroupScheduling(config, log)
