"""Alert thresholds per town: set, listed and cleared (page-free: the rules and the CLI), audited, and
used by the rule evaluation: the lifecycle's and the wall's.

The district is the lifecycle tests' (tests/support/surge.py, fixtures in tests/service/conftest.py): twelve reports in 城厢街道
(TOWN_A) within the last hour, spread over three grids, and no history, so the surge threshold is the
minimum count (default 5).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dashboard.cli import main
from dashboard.core.clock import FixedClock
from dashboard.core.metrics import ALERT_PARAMS, ALERT_RULES
from dashboard.core.scope import DISTRICT
from dashboard.core.settings import Settings
from dashboard.core.viewstate import ViewState
from dashboard.service.snapshots import SnapshotService
from dashboard.service.state import StateStore
from dashboard.source.queries.alerts import (
    AlertThresholds,
    ScopedThresholds,
    alerts,
    firing_alerts,
    overdue_alerts,
    surge_span,
    surges,
)
from tests.support.factories import TOWN_A, TOWN_B
from tests.support.surge import T0, audited


def test_every_parameter_has_its_setting_and_bounds() -> None:
    for param in ALERT_PARAMS.values():
        assert hasattr(Settings(), param.setting), param
        assert param.name in AlertThresholds.__dataclass_fields__
        assert param.rule in ALERT_RULES
    assert ALERT_PARAMS["weeks"].parse("4") == 4
    for bad in ("0", "2.5", "x", "27"):
        with pytest.raises(ValueError):
            ALERT_PARAMS["weeks"].parse(bad)


def test_a_towns_own_threshold_wins_over_the_default_in_the_lifecycle(service: SnapshotService) -> None:
    rules, book = service.alert_rules, service.alert_book
    assert rules is not None and book is not None
    with service.source_engine.connect() as conn:
        assert [(a["kind"], a["unit_code"]) for a in book.evaluate(conn, T0)] == [("surge", TOWN_A)]
        rules.set(TOWN_A, "min_cases", 20, "test", T0)  # twelve reports are no surge for 城厢街道 now
        assert book.evaluate(conn, T0) == []
        rules.set(TOWN_B, "min_cases", 1, "test", T0)  # another town's value changes nothing here
        rules.unset(TOWN_A, "min_cases", "test", T0)
        assert [a["unit_code"] for a in book.evaluate(conn, T0)] == [TOWN_A]
        rules.set(TOWN_A, "min_cases", 2, "test", T0)  # lower: each grid's four reports now surge too
        found = sorted(a["unit_code"] for a in book.evaluate(conn, T0))
        assert found[0] == TOWN_A and len(found) == 4 and all(c.startswith(TOWN_A) for c in found)
        assert {a["threshold"] for a in book.evaluate(conn, T0)} == {2.0}


def test_the_walls_alerts_follow_the_towns_thresholds(service: SnapshotService, clock: FixedClock) -> None:
    assert service.alert_rules is not None
    before = service.snapshot(ViewState(), DISTRICT).snapshot
    assert [a["unit_code"] for a in before.alerts] == [TOWN_A]
    service.alert_rules.set(TOWN_A, "min_cases", 20, "test", T0)
    clock.set(T0 + dt.timedelta(minutes=1))  # the next minute's build
    after = service.snapshot(ViewState(), DISTRICT).snapshot
    assert after.alerts == []


def test_one_statement_serves_towns_with_different_windows(service: SnapshotService) -> None:
    limits = ScopedThresholds(AlertThresholds(), {TOWN_A: AlertThresholds(weeks=2, min_cases=3)})
    with service.source_engine.connect() as conn:
        assert [a["threshold"] for a in firing_alerts(conn, T0, limits)][:1] == [3.0]
        assert alerts(conn, ViewState(), T0, limits)[0]["unit_code"] == TOWN_A
    counts = {TOWN_A: {"now": 9, "then30": 2, "then60": 8}, TOWN_B: {"now": 9, "then60": 2}}
    scoped = ScopedThresholds(AlertThresholds(), {TOWN_A: AlertThresholds(overdue_minutes=30)})
    found = {a["unit_code"]: (a["count"], a["window_minutes"]) for a in overdue_alerts(counts, scoped)}
    assert found == {TOWN_A: (7, 30), TOWN_B: (7, 60)}


def test_surges_counted_from_the_facts_judge_each_town_by_its_own_rule() -> None:
    """The fast path counts the windows once for the longest look-back; each unit then takes only its own
    town's weeks and floor (and the ungridded cases' empty grid is no unit)."""
    limits = ScopedThresholds(AlertThresholds(), {TOWN_A: AlertThresholds(weeks=2, min_cases=3)})
    assert surge_span(limits) == AlertThresholds().weeks
    counts = {
        ("town", TOWN_A): {0: 9, 1: 2, 2: 2, 3: 50},  # week 3 is beyond TOWN_A's two weeks
        ("town", TOWN_B): {0: 9, 1: 2, 2: 2, 3: 50},
        ("grid", ""): {0: 100},
    }
    found = surges(counts, limits)
    assert [(a["unit_code"], a["threshold"]) for a in found] == [(TOWN_A, 3.0)]


def test_the_rules_command_sets_lists_and_unsets_with_audit_rows(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--state-url", settings.STATE_URL]
    assert main(["alerts", "rules", "set", "城厢街道", "min_cases", "8", *url]) == 0
    assert main(["alerts", "rules", "set", TOWN_A, "sigma", "2.5", *url]) == 0
    assert main(["alerts", "rules", "set", "城厢街道", "weeks", "0", *url]) == 2  # out of bounds
    assert main(["alerts", "rules", "set", "城厢街道,北干街道", "weeks", "4", *url]) == 2  # one town
    capsys.readouterr()
    assert main(["alerts", *url, "rules", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["defaults"]["min_cases"] == 5
    assert [(r["town"], r["param"], r["value"]) for r in listed["towns"]] == [
        (TOWN_A, "min_cases", 8.0),
        (TOWN_A, "sigma", 2.5),
    ]
    assert main(["alerts", "rules", "list", *url]) == 0
    text = capsys.readouterr().out
    assert "上报激增 (surge)" in text and "城厢街道 (330109001) 8" in text
    assert main(["alerts", "rules", "unset", "城厢街道", "min_cases", *url]) == 0
    assert "back to the default 5" in capsys.readouterr().out
    state = StateStore(settings.STATE_URL)
    sets, unsets = audited(state, "alert_rule_set"), audited(state, "alert_rule_unset")
    assert [r.detail for r in sets] == [
        f"{TOWN_A} min_cases=8 (was default)",
        f"{TOWN_A} sigma=2.5 (was default)",
    ]
    assert all(r.actor.startswith("cli:") for r in sets + unsets) and len(unsets) == 1
    state.dispose()
