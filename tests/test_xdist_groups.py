"""The xdist groups name real test modules, and a grouped test is scheduled by its group."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.xdist_groups import (
    LAYOUT_GROUP,
    LAYOUT_TESTS,
    SERIAL_GROUP,
    SERIAL_PATHS,
    SHARED_FIXTURE_MODULES,
    STAFF_PAGES_GROUP,
    STAFF_PAGES_PATHS,
    group_of,
)

ROOT = Path(__file__).parents[1]


def test_every_grouped_path_exists() -> None:
    """A renamed module would silently leave its group (and build its fixture once per worker again)."""
    missing = [
        p for p in (*SHARED_FIXTURE_MODULES, *SERIAL_PATHS, *STAFF_PAGES_PATHS) if not (ROOT / p).exists()
    ]
    assert not missing, missing
    for test in LAYOUT_TESTS:  # a renamed test would silently go back to the serial group
        path, name = test.split("::")
        assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), test


def test_groups_of_node_ids() -> None:
    assert group_of("tests/browser/test_wall.py::test_rotation_visits_only_the_pages_named") == SERIAL_GROUP
    clipped = (
        "tests/browser/test_wall.py::test_no_text_is_clipped_or_overlaps_and_nothing_runs_off_sideways[en]"
    )
    assert group_of(clipped) == LAYOUT_GROUP
    assert group_of("tests/browser/test_browser.py::test_choosing_a_town_updates_panels_and_url") == (
        STAFF_PAGES_GROUP
    )
    assert group_of("tests/browser/test_freshness.py::test_x") == SERIAL_GROUP
    assert group_of("tests/perf/test_bench.py::test_export") == "tests/perf/test_bench.py"
    assert group_of("tests/web/test_auth.py::test_x[a::b]") == "tests/web/test_auth.py"
    assert group_of("tests/core/test_clock.py::test_x") is None


def test_the_scheduler_is_given_only_for_loadgroup(pytestconfig: pytest.Config) -> None:
    """A test never runs in xdist's controller: here dist is "no" (a plain run, or a worker)."""
    from tests.support.xdist_groups import group_scheduler

    assert pytestconfig.getvalue("dist") != "loadgroup"
    assert group_scheduler(pytestconfig, None) is None
