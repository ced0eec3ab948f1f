"""Hole 8: a town user's export was labelled as the whole district.

A town user's ``/export/deck.pptx`` held only that town's data, but its title, footers and file name
said 全区 / ``district``; with ``?town=A,B`` it named both towns while holding one, because the view
was taken before the scope was applied. ``export_view`` now narrows the view to the caller's scope
first, so every label names what the file holds. These tests keep it that way.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from pptx import Presentation

from dashboard.core.domain import town_by_code
from tests.support.callback_bodies import QUIET_DATATABLE, make_app

pytestmark = QUIET_DATATABLE

GUALI, DANGWAN = "330109113", "330109120"
NAMES = {code: town.name_zh for code, town in town_by_code().items()}


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A single-sign-on deployment (AUTH=proxy) with a user who may see 瓜沥镇 only."""
    app = make_app(district, Path(tmp_path_factory.mktemp("labels")), AUTH="proxy")
    store = app.server.extensions["dashboard_auth"].store
    store.add_user("guali1", "staff", password=None, towns=frozenset({GUALI}))  # signs in by the proxy
    return app


def export(site: Any, query: str) -> tuple[Any, str]:
    client = site.server.test_client()
    response = client.get(f"/export/deck.pptx?pages=rankings&{query}", headers={"X-Remote-User": "guali1"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    disposition = response.headers["Content-Disposition"]
    filename = re.search(r'filename="([^"]+)"', disposition).group(1)  # type: ignore[union-attr]
    return Presentation(io.BytesIO(response.data)), filename


def texts(slide: Any) -> str:
    return "\n".join(s.text_frame.text for s in slide.shapes if s.has_text_frame)


def other_towns(text: str) -> set[str]:
    return {name for code, name in NAMES.items() if code != GUALI and name in text}


@pytest.mark.parametrize("query", ["period=week", f"period=week&town={GUALI},{DANGWAN}"])
def test_a_town_users_deck_names_the_town_it_holds(site: Any, query: str) -> None:
    deck, filename = export(site, query)
    slides = list(deck.slides)
    title = texts(slides[0])
    assert NAMES[GUALI] in title and "全区" not in title
    assert other_towns(title) == set()
    for slide in slides:  # every footer: brand · scope · period
        footer = next(
            s.text_frame.text
            for s in slide.shapes
            if s.has_text_frame and s.text_frame.text.startswith("萧山")
        )
        assert NAMES[GUALI] in footer and "全区" not in footer, footer
        assert other_towns(footer) == set(), footer
    assert GUALI in filename and "district" not in filename and DANGWAN not in filename, filename
