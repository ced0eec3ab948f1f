"""WSGI entry point for production servers: ``gunicorn dashboard.web.wsgi:server``.

``make serve`` runs it under gunicorn with several worker processes (``-w 3 --threads 4``), bound to
``DASHBOARD_HOST:DASHBOARD_PORT``. Every worker builds its own app from the same ``DASHBOARD_*``
settings; what they share lives outside them: the source database, the state store and the cache
(``DASHBOARD_CACHE_URL=redis://…`` shares it across machines too; without it the workers of one machine
share the on-disk cache). So one view costs one snapshot computation per data change and minute across
all workers, whatever the number of screens.

The briefings' scheduler runs in the workers when briefings are defined (``DASHBOARD_BRIEFING_SCHEDULER``,
:func:`dashboard.web.app.start_briefings`).

Log lines of the ``dashboard`` package (for example ``computed <view> in 0.4 s``, one per computation)
go to stderr next to gunicorn's own log.
"""

from __future__ import annotations

from dashboard.core.logs import configure_logging
from dashboard.core.runtime import tune_allocator, tune_collector, tune_thread_switching
from dashboard.web.app import create_app, start_briefings

configure_logging()
tune_allocator()  # freed big buffers go back to the kernel, not into the heaps (core/runtime.py)
app = create_app()
server = app.server  # the Flask WSGI application gunicorn serves
tune_thread_switching()  # requests wait less for the GIL behind a drawing (core/runtime.py)
tune_collector()  # the worker is built: full collections rarely land on a request (core/runtime.py)
# Each worker may start the briefings' scheduler (when briefings are defined); the shared lock lets one
# pass at a time make and send them (dashboard/briefings/defined.py).
briefings_scheduler = start_briefings(app)
