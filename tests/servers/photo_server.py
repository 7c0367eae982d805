"""A photo host on 127.0.0.1 like a portal's upload bucket: photos can be overwritten in place (same URL, new
bytes), and it answers conditional GETs the way RFC 9110 §13.1 says: ``If-None-Match`` against a strong ETag
(the quoted sha1 of the bytes), else ``If-Modified-Since`` against ``Last-Modified``; 304 when nothing changed.
``validators=False`` serves the bytes with neither header, like a host with no caching support.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


class PhotoServer:
    def __init__(self, *, validators: bool = True) -> None:
        self.validators = validators
        self.photos: dict[str, tuple[bytes, float]] = {}
        self.requests: list[Request] = []
        self.hold: dict[str, threading.Event] = {}  # a GET of such a path waits for its event before answering
        self.held: set[str] = set()  # the held paths whose GET has arrived
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True

    def put(self, path: str, body: bytes, *, modified: float | None = None) -> str:
        """Store (or overwrite in place) the photo at ``path``; returns its URL."""
        with self._lock:
            self.photos[path] = (body, time.time() if modified is None else modified)
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    @contextmanager
    def serving(self) -> Iterator[PhotoServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join(5)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest() + '"'


def _handler_for(server: PhotoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            gate = server.hold.get(self.path)
            if gate is not None:
                server.held.add(self.path)
                gate.wait(60)
            with server._lock:
                photo = server.photos.get(self.path)
            inm, ims = self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            status = 404 if photo is None else self._status(photo, inm, ims)
            server.requests.append(Request(self.path, inm, ims, status))
            self.send_response(status)
            if photo is not None and server.validators:
                self.send_header("ETag", _etag(photo[0]))
                self.send_header("Last-Modified", email.utils.formatdate(photo[1], usegmt=True))
            body = photo[0] if status == 200 and photo is not None else b""
            if status != 304:
                self.send_header("Content-Type", "image/png" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        @staticmethod
        def _status(photo: tuple[bytes, float], inm: str | None, ims: str | None) -> int:
            if not server.validators:
                return 200
            if inm is not None:  # §13.1.2: If-Modified-Since is ignored when If-None-Match is present
                return 304 if _etag(photo[0]) in [t.strip() for t in inm.split(",")] or inm.strip() == "*" else 200
            if ims is not None:
                try:
                    since = email.utils.parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    return 200
                return 304 if int(photo[1]) <= since else 200
            return 200

    return Handler
