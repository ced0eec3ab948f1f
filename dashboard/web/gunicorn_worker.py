"""The gunicorn worker of ``make serve``: gunicorn's threaded worker, with the API's 400 JSON for a
request line that holds raw non-ASCII bytes (``curl '…?town=城厢'``), where gunicorn answers an HTML
page (see :mod:`dashboard.web.servers`). Imported by gunicorn only
(``-k dashboard.web.gunicorn_worker.JsonErrorWorker``): gunicorn is the ``serve`` extra.
"""

from __future__ import annotations

from typing import Any

from gunicorn import util
from gunicorn.http.errors import InvalidRequestLine
from gunicorn.workers.gthread import ThreadWorker

from dashboard.web.servers import RAW_BYTES_ERROR, json_error_response


class JsonErrorWorker(ThreadWorker):
    """gunicorn's threaded worker; a request line with raw non-ASCII bytes gets the API's 400 JSON."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if isinstance(exc, InvalidRequestLine) and not str(exc).isascii():
            self.log.warning("raw non-ASCII bytes in a request line from %s", (addr or ("",))[0])
            try:
                util.write_nonblock(client, json_error_response("400 Bad Request", RAW_BYTES_ERROR))
            except OSError:
                self.log.debug("could not send the 400 answer")
            return
        super().handle_error(req, client, addr, exc)
