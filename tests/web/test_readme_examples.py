"""Every ``curl`` line of the READMEs works as written, against both servers the README names: the
development server (``python -m dashboard serve``, what ``make run`` serves) and gunicorn with the
dashboard's worker (``make serve``). curl's raw UTF-8 query (``?town=城厢``) is taken by the first and
answered with a clear ``400`` JSON by the second (dashboard/web/servers.py)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.source.engines import init_db
from tests.support import factories as f
from tests.support.servers import serve, serve_gunicorn
from tests.support.services import need_tool

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = "http://127.0.0.1:8050"
READMES = [ROOT / "README.md", *sorted((ROOT / "dashboard").glob("*/*.md"))]


def curl_examples() -> list[tuple[str, str]]:
    """(README, line) for every line of a fenced block that starts with ``curl``."""
    found = []
    for path in READMES:
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                inside = not inside
            elif inside and line.startswith("curl "):
                found.append((str(path.relative_to(ROOT)), line))
    return found


EXAMPLES = curl_examples()


def run_curl(line: str, base: str) -> tuple[int, Any]:
    """Run one README line with the real curl against ``base``: (HTTP status, JSON body)."""
    args = [arg.replace(DOCUMENTED, base) for arg in shlex.split(line)]
    done = subprocess.run(
        [need_tool("curl"), *args[1:], "-w", "\n%{http_code}"], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    body, _, status = done.stdout.decode("utf-8").rpartition("\n")
    return int(status), json.loads(body)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('readme') / 'source.db'}"
    engine = init_db(url)
    with engine.begin() as conn:
        f.add_units(conn)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def dev_server(source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(source, tmp_path_factory.mktemp("dev"), DASHBOARD_ROLLUPS="off") as server:
        yield server.base


@pytest.fixture(scope="module")
def gunicorn(source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_gunicorn(source, tmp_path_factory.mktemp("gunicorn"), DASHBOARD_ROLLUPS="off") as server:
        yield server.base


def test_the_readmes_have_curl_examples() -> None:
    assert any(path == "README.md" for path, _ in EXAMPLES)
    assert all(DOCUMENTED in line for _, line in EXAMPLES)


@pytest.mark.parametrize("server", ["dev_server", "gunicorn"])
@pytest.mark.parametrize(("readme", "line"), EXAMPLES)
def test_every_curl_example_works_as_written(
    readme: str, line: str, server: str, request: pytest.FixtureRequest
) -> None:
    status, body = run_curl(line, request.getfixturevalue(server))
    assert status == 200, (readme, line, body)
    if "town=" in line:  # 城厢 is 城厢街道, whichever way it was written
        assert body["view"]["town"] == [f.TOWN_A], (readme, line)
        assert "units_inspected" in body["kpis"]["hazard_rectification_rate"]["detail"]


def test_the_development_server_takes_a_raw_utf8_query(dev_server: str) -> None:
    status, body = run_curl(f"curl -s '{DOCUMENTED}/api/v1/snapshot?town=城厢&period=week'", dev_server)
    assert status == 200 and body["view"] == {"town": [f.TOWN_A], "period": ["week"]}


def test_gunicorn_answers_a_raw_utf8_query_with_a_clear_400(gunicorn: str) -> None:
    status, body = run_curl(f"curl -s '{DOCUMENTED}/api/v1/snapshot?town=城厢&period=week'", gunicorn)
    assert status == 400
    assert re.search(r"percent-encode", body["error"]) and "--data-urlencode" in body["error"]
