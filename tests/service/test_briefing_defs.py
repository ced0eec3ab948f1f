"""Briefing definitions in the state store: made, changed and deleted, each change audited in its own
transaction; checked fields; a town user sees only definitions within their towns; no URL stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dashboard.briefings.kinds import KINDS
from dashboard.service.briefing_defs import KIND_KEYS, BriefingDefs
from dashboard.service.state import StateStore, audit_log, briefing_table
from tests.support.factories import TOWN_A, TOWN_B

NOW = dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateStore]:
    made = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield made
    made.dispose()


def audited(state: StateStore) -> list[tuple[str, str, str]]:
    with state.engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    return [(r.actor, r.action, r.detail) for r in rows]


def test_the_kinds_are_the_briefings_kinds() -> None:
    assert tuple(KINDS) == KIND_KEYS


def test_add_update_delete_each_audited(state: StateStore) -> None:
    book = BriefingDefs(state)
    made = book.add("week", [TOWN_B, TOWN_A], "zh", "a@hall.example, b@hall.example", ["hall"], "admin", NOW)
    assert made.towns == tuple(sorted((TOWN_A, TOWN_B))) and made.mail_to == (
        "a@hall.example",
        "b@hall.example",
    )
    assert book.all() == [made] and book.get(made.id) == made
    later = NOW + dt.timedelta(hours=1)
    changed = book.update(made.id, "admin2", later, lang="en", towns=())
    assert changed.scope == "district" and changed.lang == "en" and changed.webhooks == ("hall",)
    assert changed.updated_by == "admin2" and book.get(made.id) == changed
    assert book.delete(made.id, "admin", later) and not book.delete(made.id, "admin", later)
    assert book.all() == []
    log = audited(state)
    assert [a for _, a, _ in log] == [
        "briefing_define_add",
        "briefing_define_update",
        "briefing_define_delete",
    ]
    assert (
        log[0][2] == f"#{made.id} week {TOWN_A}+{TOWN_B} zh mail=a@hall.example,b@hall.example webhooks=hall"
    )
    assert "(was week" in log[1][2] and log[1][0] == "admin2"


def test_bad_fields_are_refused_and_nothing_is_stored(state: StateStore) -> None:
    book = BriefingDefs(state)
    bad = [
        ({"kind": "fortnight"}, "kind"),
        ({"towns": ["999999999"]}, "towns"),
        ({"lang": "fr"}, "lang"),
        ({"mail_to": "not-an-address"}, "mail_to"),
        ({"webhooks": ["nope"]}, "webhooks"),
        ({"webhooks": ["https://oapi.dingtalk.com/robot/send?access_token=x"]}, "webhooks"),
    ]
    for change, field in bad:
        args = {"kind": "week", "towns": [TOWN_A], "lang": "zh", "mail_to": "", "webhooks": []} | change
        with pytest.raises(ValueError, match=f"^{field}:"):
            book.add(**args, actor="admin", now=NOW, known_webhooks={"hall"})  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        book.update(404, "admin", NOW, lang="en")
    assert book.all() == [] and audited(state) == []


def test_a_town_user_sees_only_definitions_within_their_towns(state: StateStore) -> None:
    book = BriefingDefs(state)
    district = book.add("day", [], "zh", "", [], "admin", NOW)
    mine = book.add("week", [TOWN_A], "zh", "", [], "admin", NOW)
    both = book.add("month", [TOWN_A, TOWN_B], "en", "", [], "admin", NOW)
    assert {d.id for d in book.visible(None)} == {district.id, mine.id, both.id}
    assert [d.id for d in book.visible({TOWN_A})] == [mine.id]
    assert {d.id for d in book.visible({TOWN_A, TOWN_B})} == {mine.id, both.id}


def test_the_table_holds_names_never_a_url(state: StateStore) -> None:
    BriefingDefs(state).add("week", [TOWN_A], "zh", "a@hall.example", ["hall"], "admin", NOW)
    with state.engine.connect() as conn:
        row = conn.execute(select(briefing_table)).one()
    assert "http" not in " ".join(str(v) for v in row)
