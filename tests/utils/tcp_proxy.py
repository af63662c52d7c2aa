"""A loopback TCP proxy that tests can stop (cutting every connection) and start again.

    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()            # listens on proxy.port (a free loopback port, kept across restarts)
    ...                      # point a client at 127.0.0.1:proxy.port
    proxy.stop()             # the listener closes and open connections are cut: "database down"
    proxy.start()            # the same port again: "database back"

It runs in daemon threads (one for the listener, one per connection), so both sync and async
tests can use it; ``stop`` returns once the listener is closed and every connection is shut.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading

_POLL_S = 0.05
_CHUNK = 65536


class TcpProxy:
    """Forward connections from a loopback port to ``target``."""

    def __init__(self, target: tuple[str, int], *, port: int = 0) -> None:
        self.target = target
        self.port = port
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Listen on ``self.port`` (a free one the first time) and forward until ``stop``."""
        if self._listener is not None:
            raise RuntimeError("the proxy is already running")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        thread = threading.Thread(
            target=self._accept_loop, args=(listener, self._stop), daemon=True
        )
        self._threads = [thread]
        thread.start()

    def stop(self) -> None:
        """Close the listener and cut every open connection (both ends see a reset/EOF)."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stop.set()  # every thread notices within _POLL_S and closes its sockets
        self._threads[0].join(timeout=5)  # the acceptor first: it adds no thread after this
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        listener.close()
        self._threads = []

    def connections(self) -> int:
        """How many sockets (both sides of each forwarded connection) are open now."""
        with self._lock:
            return len(self._conns)

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                if not selector.select(timeout=_POLL_S):
                    continue
                try:
                    client, _ = listener.accept()
                except (BlockingIOError, OSError):
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _cut(client)
                    continue
                with self._lock:
                    if stop.is_set():
                        _cut(client)
                        _cut(upstream)
                        break
                    self._conns |= {client, upstream}
                thread = threading.Thread(
                    target=self._pump, args=(client, upstream, stop), daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _pump(self, client: socket.socket, upstream: socket.socket, stop: threading.Event) -> None:
        peers = {client: upstream, upstream: client}
        try:
            for sock in peers:
                sock.setblocking(False)
            with selectors.DefaultSelector() as selector:
                for sock in peers:
                    selector.register(sock, selectors.EVENT_READ)
                while not stop.is_set():
                    for key, _ in selector.select(timeout=_POLL_S):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]  # only sockets are registered
                        data = source.recv(_CHUNK)
                        if not data:
                            return
                        peers[source].setblocking(True)
                        peers[source].sendall(data)
                        peers[source].setblocking(False)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(client)
                self._conns.discard(upstream)
            _cut(client)
            _cut(upstream)


def _cut(sock: socket.socket) -> None:
    """Shut a socket down at once: an RST (linger 0), so the peer cannot mistake it for a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
