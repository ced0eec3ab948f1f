"""A threaded TCP proxy on 127.0.0.1 for outage tests: the app talks to the database through it.

``cut()`` closes every open connection and refuses new ones (accepted, then closed at once, so the client
sees a reset instead of hanging); ``restore()`` lets traffic through again. The database server itself is
never touched.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

BUFFER = 65536
POLL = 0.2  # seconds: how long a blocked accept/recv waits before looking at the flags again


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target_host:target_port`` until :meth:`close`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self.port: int = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._down = False
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    # --- control ---------------------------------------------------------------------------------

    def cut(self) -> None:
        """Close every connection and refuse new ones: the database looks unreachable."""
        with self._lock:
            self._down = True
        self._close_all()

    def restore(self) -> None:
        """Let new connections through again."""
        with self._lock:
            self._down = False

    def close(self) -> None:
        """Stop listening, drop every connection and join the threads (bounded)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._close_all()
        for thread in list(self._threads):
            thread.join(timeout=2)

    @property
    def connections(self) -> int:
        """Open proxied sockets (both sides counted)."""
        with self._lock:
            return len(self._sockets)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the machinery -------------------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _close_all(self) -> None:
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _shut(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            with self._lock:
                down = self._down
            if down:
                _shut(client)  # refused: the client gets a reset at once, not a hang
                continue
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _shut(client)
            return
        client.settimeout(None)  # blocking sends: a slow reader must not break a connection
        upstream.settimeout(None)
        with self._lock:
            self._sockets.update((client, upstream))
        self._spawn(self._pipe, client, upstream)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy both directions until either side closes, the proxy cuts, or it closes."""
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            try:
                for sock in peer:
                    sel.register(sock, selectors.EVENT_READ)
            except (OSError, ValueError):  # cut() closed it before this thread began (fd -1): done
                peer_open = False
            else:
                peer_open = True
            while peer_open and not self._closed.is_set() and self._is_open(client):
                if not self._forward_ready(sel, peer):
                    break
        for sock in peer:
            with self._lock:
                self._sockets.discard(sock)
            _shut(sock)

    def _is_open(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._sockets

    def _forward_ready(self, sel: selectors.BaseSelector, peer: dict[socket.socket, socket.socket]) -> bool:
        try:
            ready = sel.select(timeout=POLL)
            for key, _ in ready:
                source: socket.socket = key.fileobj  # type: ignore[assignment]
                data = source.recv(BUFFER)
                if not data:
                    return False
                peer[source].sendall(data)
        except (OSError, ValueError):  # closed under us by cut() or close()
            return False
        return True


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
