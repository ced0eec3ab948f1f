"""Hole 4: CSV formula injection.

Cells of the event list's CSV beginning with ``=``, ``+``, ``-`` or ``@`` were written raw, masked
values like ``=**`` included, so a title typed by a reporter could run as a formula in the
spreadsheet of whoever opened the download. Now every cell that could start a formula (those four, tab,
carriage return, and their full-width forms) starts with a single quote, as OWASP recommends.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from dashboard.core.i18n import SHANGHAI
from dashboard.source import schema
from dashboard.source.engines import make_writer_engine
from tests.support.callback_bodies import QUIET_DATATABLE, make_app

pytestmark = QUIET_DATATABLE

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
PLANTED = {  # event_no suffix → (title, reporter name, phone, address)
    0: ("=1+1", "=HYPERLINK", "+8613812345678", "@evil.example"),
    1: ("+SUM(A1:A9)", "+x", "-", "=cmd|' /C calc'!A0"),
    2: ("-2+3", "@me", "=1", "-10 萧山区"),
    3: ("@SUM(1,1)", "-y", "@1", "+1"),
    4: ("\t=1+1", "\r=2", "\t1", "\r@x"),
    5: ("＝1+1", "＋张", "－1", "＠addr"),
}


@pytest.fixture(scope="module")
def planted(district: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the seeded district whose six newest events carry formula-like text."""
    tmp = Path(tmp_path_factory.mktemp("csv"))
    source = Path(district.removeprefix("sqlite:///"))
    shutil.copy(source, tmp / "district.db")
    url = f"sqlite:///{tmp / 'district.db'}"
    engine = make_writer_engine(url)
    event = schema.event
    with engine.begin() as conn:
        newest = conn.execute(
            event.select().with_only_columns(event.c.event_id).order_by(event.c.reported_at.desc()).limit(6)
        ).scalars()
        for index, event_id in enumerate(list(newest)):
            title, name, phone, address = PLANTED[index]
            conn.execute(
                update(event)
                .where(event.c.event_id == event_id)
                .values(title=title, reporter_name=name, reporter_phone=phone, address=address)
            )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def download(planted: str, tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    app = make_app(planted, Path(tmp_path_factory.mktemp("csv-app")))
    today = dt.datetime.now(SHANGHAI).date()
    span = f"period=custom&from={today - dt.timedelta(days=30)}&to={today}"  # the whole seeded fortnight
    response = app.server.test_client().get(f"/download/events.csv?{span}")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows[1:] for cell in row]


def test_no_cell_of_the_download_can_start_a_formula(download: list[list[str]]) -> None:
    risky = [cell for cell in cells(download) if cell.startswith(DANGEROUS)]
    assert risky == []


def test_planted_text_is_kept_behind_a_quote(download: list[list[str]]) -> None:
    header = download[0]
    titles = {row[header.index("标题")] for row in download[1:]}
    for title, *_rest in PLANTED.values():
        assert "'" + title in titles
    reporters = {row[header.index("上报人")] for row in download[1:]}
    assert "'=*********" in reporters  # masked, and still neutralised ("=HYPERLINK" → "=*********")
    phones = {row[header.index("联系电话")] for row in download[1:]}
    assert "'+86****5678" in phones


def test_harmless_cells_are_unchanged(download: list[list[str]]) -> None:
    header = download[0]
    numbers = [row[header.index("事件编号")] for row in download[1:]]
    assert numbers and all(n.startswith("XS") for n in numbers)
    assert all(not cell.startswith("'") or cell[1:].startswith(DANGEROUS) for cell in cells(download))


def test_every_csv_writer_uses_the_neutraliser() -> None:
    """Anywhere else we write CSV must go through the same function (today: the event list only)."""
    root = Path(__file__).resolve().parents[2]
    writers = [
        path.relative_to(root).as_posix()
        for folder in ("dashboard", "callbacks", "layouts")
        for path in (root / folder).rglob("*.py")
        if "csv.writer(" in path.read_text(encoding="utf-8")
        or "DictWriter(" in path.read_text(encoding="utf-8")
    ]
    assert writers == ["dashboard/source/eventlist.py"], (
        "a new CSV writer: neutralise its cells with csv_cell"
    )
    text = (root / "dashboard/source/eventlist.py").read_text(encoding="utf-8")
    assert "writerow([csv_cell(" in text


def test_the_rule_itself() -> None:
    from dashboard.source.eventlist import csv_cell

    for start in DANGEROUS:
        assert csv_cell(start + "x") == "'" + start + "x"
    for value in ("XS20261120-000001", "张**", "138****5678", "", " =1", "1-2", None, 5):
        assert csv_cell(value) == value
    shown: Any = csv_cell("=")
    assert shown == "'="
