"""A stand-in for the Hugging Face hub's file protocol on 127.0.0.1, for the real ``huggingface_hub`` client.

What the client expects (huggingface_hub, src/huggingface_hub/file_download.py and utils/_http.py):
- ``HEAD {endpoint}/{repo}/resolve/{revision}/{filename}`` (``hf_hub_url``). For a large (LFS) file the hub answers
  with a redirect to its CDN; the client does not follow a redirect to another host
  (``_httpx2_follow_hub_redirects_with_backoff``) and reads the metadata off the redirect itself
  (``get_hf_file_metadata``): ``X-Repo-Commit`` (the commit the revision resolved to; missing = an error),
  ``X-Linked-Etag`` (the LFS object's sha256, preferred over ``ETag``) and ``X-Linked-Size``; ``Location`` is where
  the bytes are.
- ``GET {Location}`` streams the bytes (``http_get``); after a cut connection it retries with
  ``Range: bytes={already}-`` and expects ``206 Partial Content`` with ``Content-Range``.
- 404 with ``X-Error-Code: EntryNotFound`` is "no such file" (``hf_raise_for_status`` in utils/_http.py).
Here the CDN is the same server under the name ``localhost``, so that it counts as another host.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    """Switchable misbehaviour; each counts down as it fires."""

    cut_after: int = 0  # the next full GET sends this many bytes, then drops the connection
    status: int = 0  # the next HEADs answer this status (404, 500, 503)
    status_times: int = 0
    wrong_bytes: bool = False  # serve other bytes of the same size (the client cannot tell; our sha256 can)
    stall: bool = False  # accept and never answer (until the server stops)
    hold_at: int = 0  # the next full GET sends this many bytes, then waits for ``gate`` before the rest
    gate: threading.Event = field(default_factory=threading.Event)


@dataclass
class HubServer:
    repo: str
    filename: str
    content: bytes
    commit: str = "4" * 40
    faults: Faults = field(default_factory=Faults)
    gets: list[str] = field(default_factory=list)  # Range header ("" for a full GET) of each body request
    heads: int = 0
    port: int = 0
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @contextmanager
    def serving(self) -> Iterator[HubServer]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._resolve(head=True)

            def do_GET(self) -> None:
                if self.path.startswith("/cdn/"):
                    self._bytes()
                else:
                    self._resolve(head=False)

            def _resolve(self, head: bool) -> None:
                hub.heads += 1
                if hub.faults.stall:
                    hub._release.wait(60)
                    return
                wanted = f"/{hub.repo}/resolve/"
                if not self.path.startswith(wanted) or not self.path.endswith("/" + hub.filename):
                    self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})
                    return
                if hub.faults.status_times > 0:
                    hub.faults.status_times -= 1
                    self._empty(
                        hub.faults.status, {"X-Error-Code": "EntryNotFound"} if hub.faults.status == 404 else {}
                    )
                    return
                self._empty(
                    302,
                    {
                        "Location": f"http://localhost:{hub.port}/cdn/{hub.sha256}",
                        "X-Repo-Commit": hub.commit,
                        "X-Linked-Etag": f'"{hub.sha256}"',
                        "X-Linked-Size": str(len(hub.content)),
                        "ETag": '"a-git-blob-id"',
                    },
                )

            def _bytes(self) -> None:
                body = bytes(reversed(hub.content)) if hub.faults.wrong_bytes else hub.content
                wanted = self.headers.get("Range") or ""
                hub.gets.append(wanted)
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", wanted)
                if match:
                    start = int(match.group(1))
                part = body[start:]
                self.send_response(206 if match else 200)
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{hub.sha256}"')
                if match:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if hub.faults.hold_at and not match:
                    held, hub.faults.hold_at = hub.faults.hold_at, 0
                    self.wfile.write(part[:held])
                    self.wfile.flush()
                    hub.faults.gate.wait(30)
                    part = part[held:]
                if hub.faults.cut_after and not match:
                    self.wfile.write(part[: hub.faults.cut_after])
                    self.wfile.flush()
                    hub.faults.cut_after = 0
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(part)

            def _empty(self, status: int, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._release.set()
            self.faults.gate.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
