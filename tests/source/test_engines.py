"""The engines' session settings on PostgreSQL: JIT off for every engine the dashboard reads through.

JIT compiled the expressions of one long UNION read of a year's rollups for 3.6 s of its 3.9 s (the eastern
switch's three-year views, 4 s each in the benchmark's coverage matrix): the source's engine had it off,
the rollups' and the state store's engines (writable) did not.
"""

from __future__ import annotations

from sqlalchemy import text

from dashboard.source.engines import make_source_engine, make_writer_engine
from tests.support.services import PG_ADMIN_URL, need, port_open


def test_jit_is_off_for_the_source_and_the_dashboards_own_stores() -> None:
    need(port_open("127.0.0.1", 5432), "PostgreSQL")
    for engine in (make_source_engine(PG_ADMIN_URL), make_writer_engine(PG_ADMIN_URL)):
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SHOW jit")).scalar() == "off"
        finally:
            engine.dispose()
