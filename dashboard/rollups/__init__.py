"""Incremental rollups of the events in the dashboard's state store: the fast path of a snapshot.

A snapshot's event figures (the event tiles, rankings, backlog, trends, overdue alerts) are sums
over time ranges. The rollups keep those sums per hour, day and month (the *tiers*), so a year costs
about a dozen month rows whatever the number of events, and a refresh re-reads only the events that
changed. Modules, in the order a newcomer reads them:

* :mod:`.buckets` — time as integer µs, the hour/day/month buckets, cutting a range into pieces;
* :mod:`.tables` — the ``ru_*`` tables, the kinds of sums and the projections each tier keeps;
* :mod:`.facts` — an event's fact (its current state reduced to flags and state keys) and what it adds
  to the tiers;
* :mod:`.build` — the full build; :mod:`.sync` — the incremental sync from watermarks;
  :mod:`.store` — :class:`~dashboard.rollups.store.RollupStore`, which runs one or the other;
* :mod:`.reader` — sums over the tiers for a view's filters; :mod:`.read` — the fast snapshot
  (``build_snapshot_fast``) and its event tiles; :mod:`.panels` — its panels;
* :mod:`.builder` — ``FastBuilder``, the service's snapshot builder (``DASHBOARD_ROLLUPS=on``).

The fast path answers every view once the rollups are built (``read.eligible``), as of any moment;
before that the direct queries (:mod:`dashboard.source.queries`) do. Both produce the same named counts, and the metric
registry's formulas (:mod:`dashboard.core.metrics`) turn them into figures.
"""
