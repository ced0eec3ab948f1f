"""What the two servers do with a request line that carries raw UTF-8 (``curl '…?town=城厢'``).

curl sends the query as it is typed: raw UTF-8 bytes, which HTTP does not allow in a request line (RFC
9112: printable ASCII, the rest percent-encoded). Browsers encode them; people at a terminal do not.

* The development server (``python -m dashboard serve``, werkzeug) **accepts** them:
  :class:`Utf8RequestHandler` hands the bytes to the app as they came. Werkzeug's own handler encoded
  the Latin-1 text ``http.server`` had made of them to UTF-8 once more, so ``城厢`` reached the app as
  ``å\\x9f\\x8eå\\x8e¢`` and was refused as an unknown town.
* gunicorn (``make serve``) refuses them before any application code runs. The dashboard's worker
  (``gunicorn -k dashboard.web.gunicorn_worker.JsonErrorWorker``) turns its HTML "Invalid Request
  Line" into the API's ``400`` JSON, which says to percent-encode the query
  (``curl -G --data-urlencode 'town=城厢'``).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.serving import WSGIRequestHandler

RAW_BYTES_ERROR = {
    "error": "the request line holds raw non-ASCII bytes: percent-encode the query, e.g. "
    "curl -G 'http://host:port/api/v1/snapshot' --data-urlencode 'town=城厢' -d period=week",
    "param": None,
    "reason": "raw non-ASCII bytes in the request line (RFC 9112 allows printable ASCII only)",
}


class Utf8RequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, passing a request line's raw bytes on unchanged.

    A WSGI environ holds the request's bytes as Latin-1 text (PEP 3333), which is exactly what
    ``http.server`` made of the line (``self.path``); only requests with non-ASCII bytes are touched.
    """

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if self.path.isascii():
            return environ
        url = urlsplit(self.path)
        path = f"/{url.netloc}{url.path}" if not url.scheme and url.netloc else url.path
        environ.update(
            PATH_INFO=unquote(path, encoding="latin-1"),
            QUERY_STRING=url.query,
            REQUEST_URI=self.path,
            RAW_URI=self.path,
        )
        return environ


def json_error_response(status: str, body: dict[str, Any]) -> bytes:
    """A whole HTTP/1.1 response carrying ``body`` as JSON (the connection closes after it)."""
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    head = (
        f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Cache-Control: no-store\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode("ascii") + payload
