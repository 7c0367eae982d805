"""A Replicate-protocol HTTP server on 127.0.0.1: the official ``replicate`` client runs unmodified on it.

The client is pointed here with its documented ``base_url`` argument (``replicate.Client(base_url=...)``, read
in ``replicate/client.py::_build_httpx_client``; the environment variable ``REPLICATE_BASE_URL`` works too).

Protocol facts and where they come from:

- ``POST /v1/predictions`` with ``{"version": ..., "input": ...}`` creates a prediction of a community model;
  ``POST /v1/models/{owner}/{name}/predictions`` with ``{"input": ...}`` one of an official model (no
  version). Sources: https://replicate.com/docs/topics/predictions/create-a-prediction (the three create
  endpoints), https://replicate.com/docs/reference/http#predictions.create and #models.predictions.create;
  client side ``replicate/prediction.py::Predictions.create`` and
  ``replicate/model.py::_create_prediction_path_from_model``.
- ``Prefer: wait`` / ``Prefer: wait=N`` (1..60 s) holds the create request open until the prediction finishes
  or the time is up ("sync mode", default 60 s):
  https://replicate.com/docs/topics/predictions/create-a-prediction (section "Sync mode"); client side
  ``replicate/prediction.py::_create_prediction_headers``. A sync response that finished carries the output
  while its status may still read ``processing``; a request that ran out of time returns the prediction as it
  stands (``starting`` when it never started) -- described in the comment in ``replicate/run.py::run``. This
  server reproduces both.
- ``GET /v1/predictions/{id}`` polls; ``POST /v1/predictions/{id}/cancel`` cancels:
  https://replicate.com/docs/reference/http#predictions.get and #predictions.cancel; client side
  ``Predictions.get`` / ``Predictions.cancel``.
- The prediction object (``id, model, version, status, input, output, logs, error, metrics, created_at,
  started_at, completed_at, urls{get, cancel, web}``) and the statuses ``starting, processing, succeeded,
  failed, canceled``: the ``Prediction`` model in ``replicate/prediction.py``; ``urls.web`` from
  https://replicate.com/changelog/2025-05-19-web-url-in-prediction-output.
- ``Authorization: Bearer <token>`` on every API call: https://replicate.com/docs/reference/http
  (authentication); client side ``_build_httpx_client``. Output files are plain URLs (on replicate.delivery in
  production) that need no token, so the download endpoint here counts any ``Authorization`` header it
  receives as a leak.
- ``POST /v1/files`` (multipart field ``content``) uploads an input file and returns a file object whose
  ``urls.get`` is then passed as the input: https://replicate.com/docs/reference/http#files.create and
  https://replicate.com/docs/topics/predictions/input-files (hosted URL, upload up to 100 MB, or a data URI
  for files under 1 MB); client side ``replicate/file.py::_create_file_params`` and
  ``replicate/helpers.py::encode_json``.
- Errors are RFC 7807 problem details (``detail``, ``title``, ``status``):
  ``replicate/exceptions.py::ReplicateError``. 429 bodies look like ``{"detail": "Request was throttled.
  Expected available in 1 second."}``: https://replicate.com/docs/topics/predictions/rate-limits. The client's
  transport retries GETs on 429/503/504 honouring ``Retry-After`` but never retries a POST
  (``replicate/client.py::RetryTransport``).

The output is a real depth-like PNG computed from the input photo (blurred luminance times a centre prior,
same size as the input, like MiDaS), so downstream steps get realistic data.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import io
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

MIDAS = "cjwbw/midas"
MIDAS_VERSION = "a6ba5798f04f80d3b314de0f0a62277f21ab3503c60c84d4817de83c5edfdae0"
MIDAS_MODEL_TYPES = ("dpt_beit_large_512", "dpt_beit_large_384", "dpt_swin2_large_384", "dpt_hybrid_384")


@dataclass
class Faults:
    """What the server does to the next requests / predictions. Changed by tests between calls.

    Timing faults (latency, cold start, outcome, output) are fixed per prediction when it is created.
    """

    latency_s: float = 0.0  # time a prediction spends "processing"
    cold_start_s: float = 0.0  # time a prediction spends "starting" before that
    outcome: str = "succeeded"  # succeeded | failed | canceled | never (stays processing forever)
    error_text: str = "CUDA out of memory. Tried to allocate 2.00 GiB"
    output: str = "depth"  # depth | garbage | wrong_aspect | color | tiff
    output_form: str = "url"  # url | list | dict | data_uri: the shapes other models' outputs take
    rate_limit_creates: int = 0  # answer the next N creates (and uploads) with 429
    retry_after: str = "1"
    server_error_creates: int = 0  # answer the next N creates with 500
    server_error_polls: int = 0  # answer the next N GET /v1/predictions/{id} with 500
    stall_create_s: float = 0.0  # hold every create this long before answering (client timeouts)
    stall_download_s: float = 0.0  # hold every output download this long before answering
    max_wait_s: float = 60.0  # cap on Prefer: wait (tests use a small one)


@dataclass
class _Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    created: float
    faults: Faults
    depth_png: bytes | None
    load_error: str | None
    canceled_at: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    @property
    def done_at(self) -> float:
        if self.faults.outcome == "never":
            return float("inf")
        return self.created + self.faults.cold_start_s + self.faults.latency_s

    def status(self, now: float) -> str:
        if self.canceled_at is not None:
            return "canceled"
        if now < self.created + self.faults.cold_start_s:
            return "starting"
        if now < self.done_at:
            return "processing"
        if self.load_error is not None:
            return "failed"
        return self.faults.outcome


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def depth_like_png(photo: bytes) -> bytes:
    """A deterministic disparity-like map of the photo: white = near, the size of the (oriented) input."""
    with Image.open(io.BytesIO(photo)) as img:
        rgb = ImageOps.exif_transpose(img).convert("L")
    w, h = rgb.size
    blurred = np.asarray(rgb.filter(ImageFilter.GaussianBlur(max(1.0, max(w, h) / 48))), dtype=np.float32) / 255
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    prior = np.exp(-((((x + 0.5) / w - 0.5) / 0.3) ** 2 + (((y + 0.5) / h - 0.45) / 0.35) ** 2))
    d = prior * (0.6 + 0.4 * blurred)
    d = (d - d.min()) / max(float(d.max() - d.min()), 1e-6)
    buf = io.BytesIO()
    Image.fromarray(np.round(d * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


class ReplicateServer:
    """The server and its state; a context manager. ``url`` is the base URL for ``replicate.Client``."""

    def __init__(self, token: str = "r8_test_token_0123456789abcdef") -> None:
        self.token = token
        self.faults = Faults()
        self.versions: dict[str, str] = {MIDAS_VERSION: MIDAS}  # version id -> owner/name
        self.official_models: set[str] = {MIDAS}  # models runnable without a version
        self.internet: dict[str, bytes] = {}  # public URLs the "model" can fetch
        self.counts: Counter[str] = Counter()
        self.auth_on_download = 0  # a token sent to the file host would be a leak
        self.created_event = threading.Event()
        self.canceled_ids: list[str] = []
        self.bodies: list[dict[str, Any]] = []  # create bodies as received, with the path
        self._predictions: dict[str, _Prediction] = {}
        self._files: dict[str, bytes] = {}  # uploaded inputs and outputs by id
        self._depth_cache: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="replicate-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplicateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            for p in self._predictions.values():
                p.cancel_event.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def count(self, kind: str) -> int:
        with self._lock:
            return self.counts[kind]

    def _bump(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def _take(self, name: str) -> bool:
        """Consume one unit of a countdown fault."""
        with self._lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    # --- model side -----------------------------------------------------------------------------------------

    def _load_input(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError("image must be a URL or a data URI")
        if value.startswith("data:"):
            try:
                return base64.b64decode(value.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error):
                raise ValueError("the data URI is not valid base64") from None
        m = re.fullmatch(re.escape(self.url) + r"/v1/files/([0-9a-f]+)", value)
        if m and m.group(1) in self._files:
            return self._files[m.group(1)]
        if value in self.internet:
            return self.internet[value]
        raise ValueError(f"could not download {value}: 404 Not Found")

    def _depth_for(self, photo: bytes) -> bytes:
        key = hashlib.sha256(photo).hexdigest()
        with self._lock:
            cached = self._depth_cache.get(key)
        if cached is None:
            cached = depth_like_png(photo)
            with self._lock:
                self._depth_cache[key] = cached
        return cached

    def create(self, model: str, version: str, inputs: dict[str, Any]) -> _Prediction:
        faults = replace(self.faults)
        depth: bytes | None = None
        error: str | None = None
        image_keys = [k for k, v in inputs.items() if isinstance(v, str) and v.startswith(("data:", "http"))]
        try:
            if not image_keys:
                raise ValueError("no image input")
            depth = self._depth_for(self._load_input(inputs[image_keys[0]]))
        except (ValueError, OSError) as exc:
            error = f"cannot load input image: {exc}"
        if faults.outcome == "failed":
            error = faults.error_text
        pred = _Prediction(uuid.uuid4().hex, model, version, inputs, time.monotonic(), faults, depth, error)
        with self._lock:
            self._predictions[pred.id] = pred
        self.created_event.set()
        return pred

    def get(self, pid: str) -> _Prediction | None:
        with self._lock:
            return self._predictions.get(pid)

    def cancel(self, pred: _Prediction) -> None:
        with self._lock:
            if pred.status(time.monotonic()) in ("starting", "processing"):
                pred.canceled_at = time.monotonic()
                self.canceled_ids.append(pred.id)
        pred.cancel_event.set()

    def _output_file(self, pred: _Prediction) -> str:
        """Store the output like the file host does and return its URL."""
        url = f"{self.url}/delivery/{pred.id}/output.png"
        with self._lock:
            if pred.id in self._files:
                return url
        assert pred.depth_png is not None
        data = pred.depth_png
        mode = pred.faults.output
        if mode == "garbage":
            data = b"\x89PNG\r\n\x1a\n" + b"this is not image data " * 20
        elif mode in ("wrong_aspect", "color", "tiff"):
            with Image.open(io.BytesIO(data)) as img:
                g = img.convert("L")
            if mode == "tiff":  # the right map, but TIFF: Pillow reads it, the avatar allow-list does not
                out = g
            elif mode == "wrong_aspect":
                out = g.resize((g.width, max(1, g.height // 2)))
            else:
                a = np.asarray(g, dtype=np.float32) / 255
                rgb = np.stack([a, a**2, 1 - a], axis=-1)
                out = Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB")
            buf = io.BytesIO()
            out.save(buf, format="TIFF" if mode == "tiff" else "PNG")
            data = buf.getvalue()
        with self._lock:
            self._files[pred.id] = data
        return url

    def _output(self, pred: _Prediction) -> Any:
        url = self._output_file(pred)
        form = pred.faults.output_form
        if form == "list":
            return [url]
        if form == "dict":
            return {"color_depth": f"{self.url}/delivery/missing/output.png", "grey_depth": url}
        if form == "data_uri":
            return "data:image/png;base64," + base64.b64encode(self._files[pred.id]).decode()
        return url

    def to_json(self, pred: _Prediction, *, sync: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        status = pred.status(now)
        offset = time.time() - now  # monotonic -> wall clock for the timestamps
        started = pred.created + pred.faults.cold_start_s
        done = status in ("succeeded", "failed", "canceled")
        completed = (pred.canceled_at or pred.done_at) if done else None
        output = self._output(pred) if status == "succeeded" else None
        if sync and status == "succeeded":
            status = "processing"  # the sync-mode quirk described in replicate/run.py
        base = f"{self.url}/v1/predictions/{pred.id}"
        return {
            "id": pred.id,
            "model": pred.model,
            "version": pred.version,
            "input": pred.input,
            "output": output,
            "logs": "",
            "error": (pred.load_error or pred.faults.error_text) if status == "failed" else None,
            "status": status,
            "created_at": _iso(pred.created + offset),
            "started_at": _iso(started + offset) if now >= started else None,
            "completed_at": _iso(completed + offset) if completed is not None else None,
            "metrics": {"predict_time": pred.faults.latency_s} if status == "succeeded" else {},
            "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"{self.url}/p/{pred.id}"},
        }

    def store_upload(self, data: bytes) -> str:
        fid = uuid.uuid4().hex
        with self._lock:
            self._files[fid] = data
        return fid

    def file(self, fid: str) -> bytes | None:
        with self._lock:
            return self._files.get(fid)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops connects when a bulk run opens dozens at once


def _problem(status: int, detail: str, title: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _multipart_content(content_type: str, body: bytes) -> bytes | None:
    """The ``content`` field of a multipart/form-data body (the client's upload, replicate/file.py)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts: Iterator[Any] = msg.iter_parts() if msg.is_multipart() else iter(())
    for part in parts:
        if part.get_param("name", header="content-disposition") == "content":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


def _make_handler(server: ReplicateServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as against the real API
        disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would hold the body ~40 ms

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "image/png" if isinstance(payload, bytes) else "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {server.token}":
                return True
            server._bump("unauthorized")
            self._send(
                401,
                _problem(401, "You did not pass a valid authentication token", "Unauthenticated"),
                {"WWW-Authenticate": "Bearer"},
            )
            return False

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            m = re.fullmatch(r"/delivery/([0-9a-f]+)/output\.png", path)
            if m:
                server._bump("download")
                if self.headers.get("Authorization"):
                    server.auth_on_download += 1
                if server.faults.stall_download_s:
                    time.sleep(server.faults.stall_download_s)
                data = server.file(m.group(1))
                if data is None:
                    self._send(404, _problem(404, "Not found", "Not found"))
                else:
                    self._send(200, data)
                return
            m = re.fullmatch(r"/v1/predictions/([0-9a-f]+)", path)
            if not m:
                self._send(404, _problem(404, "Not found", "Not found"))
                return
            server._bump("get")
            if not self._authorised():
                return
            if server._take("server_error_polls"):
                server._bump("server_error")
                self._send(500, _problem(500, "Internal server error", "Internal Server Error"))
                return
            pred = server.get(m.group(1))
            if pred is None:
                self._send(404, _problem(404, "The requested resource could not be found.", "Not found"))
            else:
                self._send(200, server.to_json(pred))

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            if path == "/v1/files":
                self._upload(body)
                return
            m = re.fullmatch(r"/v1/predictions/([0-9a-f]+)/cancel", path)
            if m:
                server._bump("cancel")
                if not self._authorised():
                    return
                pred = server.get(m.group(1))
                if pred is None:
                    self._send(404, _problem(404, "The requested resource could not be found.", "Not found"))
                    return
                server.cancel(pred)
                self._send(200, server.to_json(pred))
                return
            m = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path)
            if path == "/v1/predictions" or m:
                self._create(body, f"{m.group(1)}/{m.group(2)}" if m else None)
                return
            self._send(404, _problem(404, "Not found", "Not found"))

        def _throttled(self) -> bool:
            if server._take("rate_limit_creates"):
                server._bump("rate_limited")
                detail = "Request was throttled. Expected available in 1 second."
                self._send(429, {"detail": detail, "status": 429}, {"Retry-After": server.faults.retry_after})
                return True
            return False

        def _upload(self, body: bytes) -> None:
            server._bump("file_upload")
            if not self._authorised() or self._throttled():
                return
            content = _multipart_content(self.headers.get("Content-Type", ""), body)
            if content is None:
                self._send(400, _problem(400, "missing multipart field 'content'", "Bad Request"))
                return
            fid = server.store_upload(content)
            digest = hashlib.sha256(content).hexdigest()
            self._send(
                201,
                {
                    "id": fid,
                    "name": "content",
                    "content_type": "application/octet-stream",
                    "size": len(content),
                    "etag": digest[:32],
                    "checksums": {"sha256": digest},
                    "metadata": {},
                    "created_at": _iso(time.time()),
                    "expires_at": None,
                    "urls": {"get": f"{server.url}/v1/files/{fid}"},
                },
            )

        def _create(self, raw: bytes, model: str | None) -> None:
            server._bump("create")
            if not self._authorised() or self._throttled():
                return
            if server._take("server_error_creates"):
                server._bump("server_error")
                self._send(500, _problem(500, "Internal server error", "Internal Server Error"))
                return
            if server.faults.stall_create_s:
                time.sleep(server.faults.stall_create_s)
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, _problem(400, "the body is not JSON", "Bad Request"))
                return
            inputs = body.get("input") or {}
            server.bodies.append({"path": self.path, **body})
            if model is None:
                version = str(body.get("version") or "")
                model = server.versions.get(version)
                if model is None:
                    self._send(422, _problem(422, "Invalid version or not permitted", "Invalid version"))
                    return
            else:
                if model not in server.official_models:
                    self._send(404, _problem(404, "The requested resource could not be found.", "Not found"))
                    return
                version = hashlib.sha256(model.encode()).hexdigest()
            if model == MIDAS and inputs.get("model_type", MIDAS_MODEL_TYPES[0]) not in MIDAS_MODEL_TYPES:
                detail = f"input.model_type must be one of: {', '.join(MIDAS_MODEL_TYPES)}"
                self._send(422, _problem(422, detail, "Input validation failed"))
                return
            pred = server.create(model, version, inputs)
            wait = _prefer_wait(self.headers.get("Prefer"), server.faults.max_wait_s)
            if wait > 0:
                until = min(time.monotonic() + wait, pred.done_at)
                pred.cancel_event.wait(max(0.0, until - time.monotonic()))
            self._send(201, server.to_json(pred, sync=wait > 0))

    return Handler


def _prefer_wait(header: str | None, cap: float) -> float:
    """Seconds to hold a create request: ``Prefer: wait`` (60) or ``wait=N``, at most ``cap``."""
    if not header:
        return 0.0
    for pref in header.split(","):
        name, _, value = pref.strip().partition("=")
        if name.strip().lower() == "wait":
            seconds = float(value) if value.strip().isdigit() else 60.0
            return min(seconds, 60.0, cap)
    return 0.0
