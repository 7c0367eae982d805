"""A Cloudinary Upload-API server on 127.0.0.1 for tests; the official SDK reaches it via ``upload_prefix``.

It speaks the two Upload-API endpoints depthstudio uses, ``POST /v1_1/<cloud>/image/upload`` and
``POST /v1_1/<cloud>/image/destroy`` (multipart/form-data as the SDK sends it), verifies every request's
signature and timestamp the way Cloudinary does, keeps uploads in memory, and can be told to misbehave.
Nothing else is served.

Protocol sources (public):
- Upload API reference, upload and destroy methods, parameters and response fields:
  https://cloudinary.com/documentation/image_upload_api_reference
- Signed requests: sign every parameter except ``file``, ``cloud_name``, ``resource_type`` and ``api_key``,
  sorted, ``k=v`` joined by ``&``, API secret appended, SHA-1 (or SHA-256 when the account is set so); a
  signature is valid for one hour from its timestamp:
  https://cloudinary.com/documentation/authentication_signatures and https://cloudinary.com/documentation/signatures
- Response signature (``public_id=..&version=..`` + secret): https://cloudinary.com/documentation/response_signatures
- The SDK (pycloudinary 1.46): ``cloudinary/uploader.py`` ``call_api`` (URL ``{upload_prefix}/v1_1/{cloud}/
  {resource_type}/{action}``, booleans sent as "1"/"0", error body ``{"error": {"message": ...}}``),
  ``cloudinary/utils.py`` ``api_string_to_sign`` (signature version 2 escapes ``&`` in values as ``%26``),
  ``cloudinary/api_client/execute_request.py`` ``EXCEPTION_CODES`` (400/401/403/404/409/420/429/500).
- The rate-limit message names its reset time, "Try again on YYYY-MM-DD HH:MM:SS UTC" (quoted from Cloudinary
  in https://github.com/yoelpc4/laravel-cloudinary/issues/11), with HTTP 420.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

SIGNATURE_MAX_AGE_S = 3600
UNSIGNED_PARAMS = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})
FAULTS = frozenset(
    {
        "server_error",  # 500 with Cloudinary's JSON error body, nothing stored
        "bad_gateway",  # 502 HTML page from a proxy in front of the API, nothing stored
        "rate_limit",  # 420 (or ``status``) "Rate Limit Exceeded ... Try again on ... UTC", nothing stored
        "slow",  # sleep ``delay_s``, then handle the request normally (the client may have given up)
        "truncated",  # handle normally, then send half of the declared Content-Length and close
        "invalid_json",  # handle normally, then send a complete but cut-off JSON document
        "drop_after_store",  # handle normally (the asset is stored), then close without any response
    }
)


@dataclass
class Fault:
    kind: str
    action: str | None = None  # "upload" or "destroy" only; None: whichever request comes next
    delay_s: float = 1.0
    retry_after_s: float = 60.0
    status: int = 420


@dataclass
class Asset:
    public_id: str
    data: bytes
    version: int
    width: int
    height: int
    format: str
    created_at: str
    writes: int = 1  # how many accepted uploads wrote this public_id
    invalidations: int = 0


@dataclass
class Request:
    """What the server saw, minus credentials: for asserting on call counts and parameters."""

    action: str
    params: dict[str, str]
    status: int
    fault: str | None = None


@dataclass
class CloudinaryServer:
    cloud_name: str = "depthstudio-test"
    api_key: str = "614335564976464"
    api_secret: str = "test-secret-Qx7sL2mVb9"  # fake; long and distinctive so leaks are easy to grep for
    signature_algorithm: str = "sha1"  # the account setting; "sha256" when the account requires it
    latency_s: float = 0.0  # added to every request (benchmarks inject network latency this way)
    force_format: str | None = None  # simulate an upload preset that converts, e.g. "jpg"
    clock_offset_s: float = 0.0  # the server's clock minus ours, to exercise the one-hour signature window
    assets: dict[str, Asset] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    connections: int = 0  # TCP connections accepted (keep-alive reuse keeps it low)

    def __post_init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._last_version = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> CloudinaryServer:
        handler = type("Handler", (_Handler,), {"app": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        # A short poll interval keeps shutdown (once per test) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="cloudinary-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def upload_prefix(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def cloudinary_url(self) -> str:
        return f"cloudinary://{self.api_key}:{self.api_secret}@{self.cloud_name}"

    # --- faults and inspection -----------------------------------------------------------------------------

    def inject(self, kind: str, *, times: int = 1, **options: Any) -> None:
        """The next ``times`` requests (of ``action=`` only, if given) misbehave as ``kind`` (see FAULTS)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(FAULTS))}")
        with self._lock:
            self._faults.extend(Fault(kind, **options) for _ in range(times))

    def uploads(self) -> list[Request]:
        return [r for r in self.requests if r.action == "upload"]

    def delivery_url(self, public_id: str, version: int, fmt: str = "png") -> str:
        return f"https://res.cloudinary.com/{self.cloud_name}/image/upload/v{version}/{public_id}.{fmt}"

    # --- the protocol --------------------------------------------------------------------------------------

    def _next_fault(self, action: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action in (None, action):
                    self._faults.remove(fault)
                    return fault
        return None

    def _sign(self, params: dict[str, str]) -> str:
        pairs = sorted(f"{k}={v}".replace("&", "%26") for k, v in params.items() if k not in UNSIGNED_PARAMS and v)
        return hashlib.new(self.signature_algorithm, ("&".join(pairs) + self.api_secret).encode()).hexdigest()

    def _authenticate(self, cloud: str, params: dict[str, str]) -> tuple[int, str] | None:
        """None when the request is properly signed, else (status, Cloudinary-style message)."""
        if cloud != self.cloud_name:
            return 401, f"Invalid cloud_name {cloud}"
        if not params.get("api_key"):
            return 401, "Must supply api_key"
        if params["api_key"] != self.api_key:
            return 401, f"Unknown API key {params['api_key']}"
        if not params.get("timestamp", "").isdigit():
            return 400, "Missing required parameter - timestamp"
        stamp = int(params["timestamp"])
        if abs(time.time() + self.clock_offset_s - stamp) > SIGNATURE_MAX_AGE_S:
            when = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
            return 401, f"Stale request - reported time is {when} UTC which is more than 1 hour ago"
        expected = self._sign(params)
        if not hmac.compare_digest(expected, params.get("signature", "")):
            to_sign = "&".join(sorted(f"{k}={v}" for k, v in params.items() if k not in UNSIGNED_PARAMS and v))
            return 401, f"Invalid Signature {params.get('signature', '')}. String to sign - '{to_sign}'."
        return None

    def _upload(self, params: dict[str, str], file: bytes | None) -> tuple[int, dict[str, Any]]:
        if not file:
            return 400, _error("Missing required parameter - file")
        size = _png_size(file)
        if size is None:
            return 400, _error("Invalid image file")
        public_id = params.get("public_id") or hashlib.sha1(file).hexdigest()[:20]
        overwrite = params.get("overwrite", "1") not in ("0", "false")
        with self._lock:
            existing = self.assets.get(public_id)
            if existing is not None and not overwrite:
                return 200, {**self._describe(existing), "existing": True}
            self._last_version = max(int(time.time()), self._last_version + 1)
            asset = Asset(
                public_id=public_id,
                data=file,
                version=self._last_version,
                width=size[0],
                height=size[1],
                format=self.force_format or params.get("format") or "png",
                created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                writes=existing.writes + 1 if existing else 1,
                invalidations=(existing.invalidations if existing else 0) + (params.get("invalidate") == "1"),
            )
            self.assets[public_id] = asset
        body = self._describe(asset)
        if existing is not None:
            body["overwritten"] = True
        return 200, body

    def _destroy(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        public_id = params.get("public_id")
        if not public_id:
            return 400, _error("Missing required parameter - public_id")
        with self._lock:
            gone = self.assets.pop(public_id, None)
            if gone is not None:
                self.destroyed.append(public_id)
        return 200, {"result": "ok" if gone is not None else "not found"}

    def _describe(self, asset: Asset) -> dict[str, Any]:
        response_signature = hashlib.new(
            self.signature_algorithm,
            f"public_id={asset.public_id}&version={asset.version}{self.api_secret}".encode(),
        ).hexdigest()
        url = self.delivery_url(asset.public_id, asset.version, asset.format)
        return {
            "asset_id": hashlib.md5(asset.public_id.encode()).hexdigest(),
            "public_id": asset.public_id,
            "version": asset.version,
            "version_id": hashlib.md5(f"{asset.public_id}@{asset.version}".encode()).hexdigest(),
            "signature": response_signature,
            "width": asset.width,
            "height": asset.height,
            "format": asset.format,
            "resource_type": "image",
            "created_at": asset.created_at,
            "tags": [],
            "bytes": len(asset.data),
            "type": "upload",
            "etag": hashlib.md5(asset.data).hexdigest(),
            "placeholder": False,
            "url": url.replace("https://", "http://", 1),
            "secure_url": url,
            "asset_folder": "",
            "display_name": asset.public_id.rpartition("/")[2],
            "api_key": self.api_key,
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 reset connects when a bulk publish opened dozens at once


class _Handler(BaseHTTPRequestHandler):
    app: CloudinaryServer  # set on the per-server subclass
    server_version = "cloudinary-test/1"
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API

    def setup(self) -> None:
        super().setup()
        with self.app._lock:
            self.app.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("cloudinary-server: " + format, *args)

    def do_GET(self) -> None:
        self._json(404, _error("Not found"))

    def do_POST(self) -> None:
        app = self.app
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 4 or parts[0] != "v1_1" or parts[2] != "image" or parts[3] not in ("upload", "destroy"):
            self._json(404, _error("Not found"))
            return
        _, cloud, _, action = parts
        params, file = _parse_form(self.headers.get("Content-Type", ""), body)
        if app.latency_s:
            time.sleep(app.latency_s)
        fault = app._next_fault(action)
        recorded = {k: v for k, v in params.items() if k not in ("api_key", "signature")}
        if fault is not None and fault.kind in ("server_error", "bad_gateway", "rate_limit"):
            status = self._refuse(fault)
            app.requests.append(Request(action, recorded, status, fault.kind))
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay_s)
        denied = app._authenticate(cloud, params)
        if denied is not None:
            status, payload = denied[0], _error(denied[1])
        elif action == "upload":
            status, payload = app._upload(params, file)
        else:
            status, payload = app._destroy(params)
        app.requests.append(Request(action, recorded, status, fault.kind if fault else None))
        data = json.dumps(payload).encode()
        try:
            if fault is not None and fault.kind == "drop_after_store":
                self.close_connection = True
            elif fault is not None and fault.kind == "truncated":
                self._head(status, "application/json", len(data))
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
            elif fault is not None and fault.kind == "invalid_json":
                cut = data[: len(data) // 2]
                self._head(status, "application/json", len(cut))
                self.wfile.write(cut)
            else:
                self._head(status, "application/json", len(data))
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the "slow" fault): exactly the situation being tested

    def _refuse(self, fault: Fault) -> int:
        if fault.kind == "bad_gateway":
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            self._head(502, "text/html", len(page))
            self.wfile.write(page)
            return 502
        if fault.kind == "rate_limit":
            reset = datetime.fromtimestamp(time.time() + fault.retry_after_s, UTC).strftime("%Y-%m-%d %H:%M:%S")
            self._json(
                fault.status,
                _error(f"Rate Limit Exceeded. Limit of 500 api operations reached. Try again on {reset} UTC"),
            )
            return fault.status
        self._json(500, _error("General Error"))
        return 500

    def _head(self, status: int, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Request-Id", hashlib.md5(str(time.monotonic_ns()).encode()).hexdigest())
        self.end_headers()

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self._head(status, "application/json", len(data))
        self.wfile.write(data)


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}


def _parse_form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes | None]:
    """multipart/form-data (as urllib3 encodes it for the SDK) into text fields and the ``file`` bytes."""
    if not content_type.startswith("multipart/form-data"):
        return {}, None
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    params: dict[str, str] = {}
    file: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            file = payload
        elif isinstance(name, str) and name.endswith("[]"):
            key = name[:-2]
            params[key] = f"{params[key]},{payload.decode()}" if key in params else payload.decode()
        elif isinstance(name, str):
            params[name] = payload.decode()
    return params, file


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the IHDR chunk; None for anything that is not a PNG."""
    if len(data) < 24 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@contextmanager
def running_cloudinary_server(**settings: Any) -> Iterator[CloudinaryServer]:
    """Start a server on a free port for the duration of a test (use it from a pytest fixture)."""
    server = CloudinaryServer(**settings).start()
    try:
        yield server
    finally:
        server.stop()
