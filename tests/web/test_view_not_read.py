"""A tick that comes before the page has read its URL draws nothing.

Under load the refresh interval can fire before the URL is turned into the view store (``view`` is still
``None``). The wall then drew the whole district's board, or its last good copy during an outage, under
the URL of another view (the outage test caught it showing the district's figures on
``/wall?eastern=exclude&period=quarter``), and the staff pages computed a district snapshot nobody
asked for. Now every board callback waits for the view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.callback_bodies import DASH, QUIET_DATATABLE, make_app

pytestmark = QUIET_DATATABLE

# A part of each board callback's output key: the wall, the overview page and the header's status line.
BOARDS = ("wall-key.data", "ov-key.data", "data-age.children")
VALUES = {("view", "data"): None, ("tick", "n_intervals"): 1, ("wall-scale", "data"): 1.0}


def tick_body(app: Any, part: str, view: str | None) -> dict[str, Any]:
    """A refresh tick of the callback whose output key holds ``part``, with the view store at ``view``."""
    key = next(k for k in app.callback_map if part in k)
    spec = app.callback_map[key]

    def values(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            value = view if item["id"] == "view" else VALUES.get((item["id"], item["property"]))
            out.append({"id": item["id"], "property": item["property"], "value": value})
        return out

    outputs = [
        {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]}
        for o in (key[2:-2].split("...") if key.startswith("..") else [key])
    ]
    return {
        "output": key,
        "outputs": outputs if key.startswith("..") else outputs[0],
        "inputs": values(spec["inputs"]),
        "state": values(spec["state"]),
        "changedPropIds": ["tick.n_intervals"],
    }


@pytest.mark.parametrize("part", BOARDS)
def test_a_tick_before_the_view_is_read_draws_nothing(district: str, tmp_path: Path, part: str) -> None:
    dash_app = make_app(district, tmp_path)
    client = dash_app.server.test_client()
    early = client.post(DASH, json=tick_body(dash_app, part, None))
    assert early.status_code == 204, f"{part}: drew {early.get_data()[:200]!r} before the view was read"
    drawn = client.post(DASH, json=tick_body(dash_app, part, ""))  # the district's view, once read
    assert drawn.status_code == 200


def sync_body(app: Any, search: str, pathname: str, changed: str, view: str | None) -> dict[str, Any]:
    """The URL-and-filters callback fired by ``changed`` (``id.property``), the view store at ``view``."""
    key = next(k for k in app.callback_map if "view.data" in k and "url.search" in k)
    spec = app.callback_map[key]
    given = {("url", "search"): search, ("url", "pathname"): pathname}

    def values(items: list[dict[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item["id"], dict) or item["id"].startswith("{"):
                out.append([])  # the period presets: none rendered
                continue
            value = view if item["id"] == "view" else given.get((item["id"], item["property"]))
            out.append({"id": item["id"], "property": item["property"], "value": value})
        return out

    outputs = [
        {"id": o.split(".")[0], "property": o.split(".")[1].split("@")[0]} for o in key[2:-2].split("...")
    ]
    return {
        "output": key,
        "outputs": outputs,
        "inputs": values(spec["inputs"]),
        "state": values(spec["state"]),
        "changedPropIds": [changed],
    }


@pytest.mark.parametrize(
    ("search", "pathname", "expected"),
    [("?eastern=exclude&period=quarter", "/wall", "period=quarter&eastern=exclude"), ("", "/", "")],
)
def test_a_control_firing_before_the_view_is_read_reads_the_url(
    district: str, tmp_path: Path, search: str, pathname: str, expected: str
) -> None:
    """Dash drops an answer still on its way when the same callback is asked again: the URL's answer was
    cancelled by a control re-emitting its value on mount, and the store stayed empty (the outage test
    saw a wall showing nothing at all, neither figures nor its waiting screen)."""
    dash_app = make_app(district, tmp_path)
    client = dash_app.server.test_client()
    answer = client.post(DASH, json=sync_body(dash_app, search, pathname, "f-period.value", None))
    assert answer.status_code == 200, answer.get_data()[:300]
    assert answer.get_json()["response"]["view"]["data"] == expected
    # Once the view is read, the wall's controls change nothing (it has no filter bar).
    again = client.post(DASH, json=sync_body(dash_app, search, "/wall", "f-period.value", expected))
    assert again.status_code == 204
