"""The briefings' archive over HTTP: listed and downloaded within the caller's towns; failed deliveries
show in /health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.signin import CHENGXIANG, GUALI, QUIET_DATATABLE, sign_in, signed_site

pytestmark = QUIET_DATATABLE


def archive(root: Path) -> None:
    """Three weekly briefings: the district's, 瓜沥镇's and 城厢街道's; 城厢's mail failed."""
    where = root / "week" / "2026-W48"
    where.mkdir(parents=True)
    for scope in ("district", GUALI, CHENGXIANG):
        files = [f"{scope}-zh.pptx", f"{scope}-zh.pdf"]
        for name in files:
            (where / name).write_bytes(f"{name} bytes".encode())
        manifest: dict[str, Any] = {
            "kind": "week", "period": "2026-W48", "first_day": "2026-11-23", "last_day": "2026-11-29",
            "scope": scope, "lang": "zh", "title": f"周汇总 · {scope}", "made_at": "2026-11-30T00:00:00+00:00",
            "files": files,
        }  # fmt: skip
        if scope == CHENGXIANG:
            manifest["deliveries"] = {
                "smtp:relay.xs.example": {"ok": False, "attempts": 3, "error": "refused"}
            }
        (where / f"{scope}-zh.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def site(district: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("briefings-web")
    archive(folder / "briefings")
    yield signed_site(district, folder, BRIEFINGS_DIR=str(folder / "briefings"))


def test_each_caller_lists_and_fetches_only_their_towns_briefings(site: Any) -> None:
    leader, staff = sign_in(site, "leader1"), sign_in(site, "staff1")  # staff1: 瓜沥镇 and 党湾镇
    everything = leader.get("/api/v1/briefings").get_json()["briefings"]
    assert sorted(b["scope"] for b in everything) == sorted(["district", GUALI, CHENGXIANG])
    mine = staff.get("/api/v1/briefings?kind=周汇总").get_json()["briefings"]
    assert [b["scope"] for b in mine] == [GUALI]
    assert mine[0]["files"] == {
        "pptx": f"/briefings/week/2026-W48/{GUALI}-zh.pptx",
        "pdf": f"/briefings/week/2026-W48/{GUALI}-zh.pdf",
    }
    deck = staff.get(mine[0]["files"]["pptx"])
    assert deck.status_code == 200 and deck.data == f"{GUALI}-zh.pptx bytes".encode()
    assert deck.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert staff.get(f"/briefings/week/2026-W48/{CHENGXIANG}-zh.pdf").status_code == 404  # not their town
    assert staff.get("/briefings/week/2026-W48/district-zh.pdf").status_code == 404  # nor the district's
    assert leader.get("/briefings/week/2026-W48/district-zh.pdf").status_code == 200
    for bad in (
        "/briefings/week/..%2F..%2Fstate.db/x-zh.pdf",
        "/briefings/week/2026-W48/..%2Fx.pdf",
        "/briefings/year/2026/district-zh.pdf",
    ):
        answer = leader.get(bad)  # never a file: a 404, or the screens' own page for a path that is not ours
        assert "Content-Disposition" not in answer.headers, bad
        assert answer.status_code == 404 or answer.mimetype == "text/html", bad
    assert staff.get("/api/v1/briefings?kind=fortnight").status_code == 400
    assert site.server.test_client().get("/api/v1/briefings").status_code == 401  # signed out


def test_a_failed_delivery_shows_in_health(site: Any) -> None:
    report = site.server.test_client().get("/health").get_json()
    assert report["briefings"]["failed_deliveries"] == [
        {
            "title": f"周汇总 · {CHENGXIANG}",
            "channel": "smtp:relay.xs.example",
            "error": "refused",
            "at": None,
        }
    ]
    assert report["status"] != "ok"
