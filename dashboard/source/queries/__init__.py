"""SQL queries that fill a :class:`~dashboard.core.snapshot.Snapshot` (SQLAlchemy Core, aggregated in SQL).

Every public function takes ``(conn, view, now)``: a connection to the source, the view state and the
effective moment (the clock, or ``view.as_of``), and answers as the board stood at ``now``.

* :mod:`.snapshot` — ``build_snapshot(conn, view, now)``, ``data_version(conn)``
* :mod:`.kpis` — one function per metric family: the named counts of ``dashboard.core.metrics``' formulas
* :mod:`.rankings`, :mod:`.backlog`, :mod:`.patrol`, :mod:`.trends`, :mod:`.ticker` — the panels
* :mod:`.scope` (view filters, unit hierarchy), :mod:`.common` (as-of conditions, family queries),
  :mod:`.sqlfuncs` (Asia/Shanghai bucketing and durations per dialect)
"""
