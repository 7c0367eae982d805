"""A file server on 127.0.0.1 whose every path misbehaves on request.

Each path is a ``Route``: bytes with a chosen Content-Type and status, a redirect, a slow drip, a
Content-Length that lies, or a body that ends only when the connection closes. The server records what it was
asked for and how many body bytes it managed to send, so tests can show that a refused download was cut short.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None  # a Content-Length that differs from the body (a lie)
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    drip: tuple[int, float] | None = None  # send this many bytes, then sleep this long, until done
    headers_delay: float = 0.0  # wait this long before the status line


@dataclass
class Seen:
    path: str
    host: str | None


class FileServer:
    """Start with ``serving()``; add routes at any time with ``add``; read ``seen`` and ``sent``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.sent: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._tls = tls
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}{path}"

    def add(self, path: str, **route: object) -> str:
        self.routes[path] = Route(**route)  # type: ignore[arg-type]
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, status=status, headers={"Location": location}, content_type=None)

    def requests_for(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path.split("?")[0] == path)

    @contextmanager
    def serving(self) -> Iterator[FileServer]:
        serve = self._httpd.serve_forever
        thread = threading.Thread(target=serve, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + n


def _handler_for(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so a body without Content-Length ends at the close
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            server.seen.append(Seen(self.path, self.headers.get("Host")))
            missing = Route(body=b"no such route", status=404, content_type="text/plain")
            route = server.routes.get(path, missing)
            if route.headers_delay and server._stop.wait(route.headers_delay):
                return
            with contextlib.suppress(OSError):  # the client gave up, which is what many tests want
                self._answer(path, route)

        def _answer(self, path: str, route: Route) -> None:
            self.send_response(route.status)
            if route.content_type:
                self.send_header("Content-Type", route.content_type)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.send_length:
                length = route.declared_length if route.declared_length is not None else len(route.body)
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if route.drip is None:
                self.wfile.write(route.body)
                self.wfile.flush()
                server._count(path, len(route.body))
                return
            size, pause = route.drip
            for start in range(0, len(route.body), size):
                if server._stop.is_set():
                    return
                chunk = route.body[start : start + size]
                self.wfile.write(chunk)
                self.wfile.flush()
                server._count(path, len(chunk))
                time.sleep(pause)

    return Handler
