"""Depth maps from a model hosted on Replicate (default ``cjwbw/midas``), through the official client.

One prediction costs, in the common case, two HTTP requests: the create, held open with ``Prefer: wait=N``
until the model finishes (sync mode), and the output download. Only predictions that outlive the wait (cold
starts, long queues) fall back to polling, with a growing interval. The create cannot be interrupted, so a
cancel takes effect at most ``sync_wait_s`` later; then the remote prediction is cancelled so it stops costing
money.

Input: a public, un-rotated ``http(s)`` avatar URL is sent as-is (the map then covers the original photo).
Anything else -- a local file, a private host, a photo whose EXIF orientation changed the pixels -- is sent as
the oriented square crop, PNG-encoded, through the client's own file encoding: a data URI up to
``data_uri_max_bytes`` (Replicate recommends data URIs below 1 MB; no extra request, and the create's timeout
bounds it), else an upload to ``/v1/files`` (one more request).

The API token goes into the client's ``Authorization`` header and nowhere else: not on this object, not in a
message, not in a log line. Output files are fetched with a separate HTTP client that carries no token,
because they live on another host.
"""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import numpy as np
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from depthstudio.cancel import CancelToken
from depthstudio.config import DepthConfig, get_secret
from depthstudio.depth.backend import DepthPrediction, Frame
from depthstudio.errors import BackendError, Cancelled, ConfigError
from depthstudio.imaging.decode import SUPPORTED_FORMATS, open_image
from depthstudio.imaging.fetch import BodyTooLarge, read_bounded
from depthstudio.imaging.image_errors import ImagingError, TooManyPixelsError, display_source
from depthstudio.imaging.types import Avatar, FetchPolicy
from depthstudio.retry import RetryPolicy, retry_after_seconds

log = logging.getLogger(__name__)

AVATAR_PLACEHOLDER = "{avatar}"  # an input value that names the key the photo goes to (default key: "image")
_TERMINAL = ("succeeded", "failed", "canceled")
_TOKEN_HELP = (
    "Set the environment variable REPLICATE_API_TOKEN, or store it in the keyring with "
    "`depthstudio config set-secret replicate_token` (tokens: https://replicate.com/account/api-tokens)."
)


@dataclass(frozen=True)
class ReplicateOptions:
    """Timing and size limits. The defaults suit the real API; tests shrink the times."""

    sync_wait_s: int = 10  # Prefer: wait=N on the create (1..60); 0 = plain async create + polling
    poll_initial_s: float = 1.0
    poll_max_s: float = 5.0
    poll_growth: float = 1.5
    deadline_s: float = 600.0  # one prediction, cold start included; then it is cancelled
    http_timeout_s: float = 30.0  # read/write of one API request (the client's own default)
    connect_timeout_s: float = 5.0
    max_connections: int = 32  # per backend; size it to the job's concurrency
    rate_limit_retries: int = 5
    max_retry_after_s: float = 60.0
    poll_error_retries: int = 5  # consecutive failed polls tolerated before giving up
    send_public_urls: bool = True
    data_uri_max_bytes: int = 1_000_000
    max_output_bytes: int = 50 * 1024 * 1024
    max_output_pixels: int = 40_000_000
    download_timeout_s: float = 60.0
    aspect_tolerance: float = 0.05  # relative; models round sizes to multiples of 32
    gray_tolerance: float = 3.0  # mean |R-G|, |G-B| in 8-bit levels still counted as grayscale


class ReplicateRateLimited(BackendError):
    """HTTP 429 that outlasted the retries; ``retry_after`` is the server's last hint, honoured by the job."""

    kind = "rate_limited"
    transient = True

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after_s


def parse_model_ref(model: str, version: str) -> tuple[str, str]:
    """``owner/name`` and a version id from the configuration; ``owner/name:version`` is accepted too."""
    ref, _, pinned = model.strip().partition(":")
    version = version.strip()
    if pinned and version and pinned != version:
        raise ConfigError(
            f"depth.replicate_model pins version {pinned[:12]}… but depth.replicate_version is "
            f"{version[:12]}…; "
            "set only one of them"
        )
    owner, _, name = ref.partition("/")
    if not owner or not name or "/" in name:
        raise ConfigError(f"depth.replicate_model must look like owner/name (e.g. cjwbw/midas), not {model!r}")
    return ref, pinned or version


def is_public_http_url(url: str) -> bool:
    """Whether Replicate's servers could plausibly fetch this URL: http(s), and not a loopback/private host.

    Host names are not resolved: a name that only resolves inside the company network makes the prediction
    fail with the model's "could not download" error, which names the URL.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    return "." in host and not host.endswith((".local", ".localhost", ".internal", ".lan", ".home.arpa"))


class _BoundedTransport(httpx.HTTPTransport):
    """Gives every request a finite timeout.

    The client sends a create without ``Prefer: wait`` and every file upload with ``timeout=None``
    (``replicate/prediction.py::_create_prediction_timeout``, ``replicate/file.py::Files.create``), which
    httpx takes as "no limit at all": a stalled connection would hang a worker forever.
    """

    def __init__(self, timeout: httpx.Timeout, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._default = timeout.as_dict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        given = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            key: given.get(key) if given.get(key) is not None else default for key, default in self._default.items()
        }
        return super().handle_request(request)


def _short(text: str | None, limit: int = 400) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ReplicateBackend:
    """``DepthBackend`` over the Replicate HTTP API. Thread-safe: one instance serves a pool of workers."""

    name = "replicate"

    def __init__(
        self,
        token: str,
        *,
        model: str = "cjwbw/midas",
        version: str = "a6ba5798f04f80d3b314de0f0a62277f21ab3503c60c84d4817de83c5edfdae0",
        inputs: dict[str, Any] | None = None,
        base_url: str | None = None,
        options: ReplicateOptions | None = None,
    ) -> None:
        if not token:
            raise ConfigError(f"No Replicate API token. {_TOKEN_HELP}", kind="missing_token")
        self.ref, self.version = parse_model_ref(model, version)
        self.model = f"{self.ref}:{self.version}" if self.version else self.ref
        self.options = options or ReplicateOptions()
        self._inputs = dict({"model_type": "dpt_beit_large_512"} if inputs is None else inputs)
        placeholders = [k for k, v in self._inputs.items() if v == AVATAR_PLACEHOLDER]
        if len(placeholders) > 1:
            raise ConfigError(f"depth.replicate_input names {AVATAR_PLACEHOLDER} more than once: {placeholders}")
        self._image_key = placeholders[0] if placeholders else "image"
        opts = self.options
        limits = httpx.Limits(max_connections=opts.max_connections, max_keepalive_connections=opts.max_connections)
        timeout = httpx.Timeout(opts.http_timeout_s, connect=opts.connect_timeout_s)
        self._api_transport = _BoundedTransport(timeout, limits)
        self._retry_after = threading.local()
        self._client = replicate.Client(
            api_token=token,
            base_url=base_url or None,
            timeout=timeout,
            transport=self._api_transport,
            event_hooks={"response": [self._remember_retry_after]},
        )
        self._files = httpx.Client(
            timeout=timeout,
            limits=limits,
            follow_redirects=True,
            max_redirects=3,
        )
        self.base_url = base_url or "https://api.replicate.com"

    def __repr__(self) -> str:
        return f"ReplicateBackend(model={self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._api_transport.close()
        self._files.close()

    # --- the protocol ---------------------------------------------------------------------------------------

    def predict(self, avatar: Avatar, *, cancel: CancelToken | None = None) -> DepthPrediction:
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        started = time.monotonic()
        deadline = started + self.options.deadline_s
        value, frame, input_mode, strategy = self._image_input(avatar)
        inputs = {k: v for k, v in self._inputs.items() if v != AVATAR_PLACEHOLDER}
        inputs[self._image_key] = value
        prediction = self._create(inputs, strategy, deadline, cancel)
        # display_source: a signed avatar URL's query string is a credential and never reaches a log
        log.debug("prediction %s created for %s: %s", prediction.id, display_source(avatar.source), prediction.status)
        try:
            if not (prediction.status == "processing" and prediction.output):
                # A sync create can answer "processing" with the output already there; replicate/run.py
                # treats that as finished too.
                prediction = self._wait(prediction, deadline, cancel)
        except Cancelled:
            self._cancel_remote(prediction.id, "the job was cancelled")
            raise
        except BackendError as err:
            self._cancel_remote(prediction.id, err.kind)
            raise
        if prediction.status == "failed":
            raise BackendError(
                f"The Replicate prediction {prediction.id} for {self.ref} failed: "
                f"{_short(prediction.error) or 'no error text was given'}",
                kind="prediction_failed",
            )
        if prediction.status == "canceled":
            detail = f": {_short(prediction.error)}" if prediction.error else ""
            raise BackendError(
                f"The Replicate prediction {prediction.id} was canceled on Replicate, not by "
                f"depthstudio{detail}. Run the item again if that was not intended.",
                kind="prediction_canceled",
            )
        url = self._output_url(prediction)
        data = self._download(url, deadline, cancel)
        expected = avatar.original.size if frame == "original" else avatar.image.size
        disparity = self._decode(data, expected, prediction.id)
        metrics = prediction.metrics or {}
        return DepthPrediction(
            disparity=disparity,
            frame=frame,
            backend=self.name,
            model=self.model,
            metadata={
                "prediction_id": prediction.id,
                "input": input_mode,
                "predict_time_s": metrics.get("predict_time"),
                "wall_time_s": round(time.monotonic() - started, 3),
            },
        )

    # --- input ----------------------------------------------------------------------------------------------

    def _image_input(self, avatar: Avatar) -> tuple[Any, Frame, str, str | None]:
        """(value for the input, frame of the map, how it was sent, the client's file-encoding strategy)."""
        if self.options.send_public_urls and not avatar.exif_rotated and is_public_http_url(avatar.source):
            return avatar.source, "original", "url", None
        buf = io.BytesIO()
        avatar.image.convert("RGB").save(buf, format="PNG")
        buf.name = "avatar.png"  # the client derives the data URI's / upload's content type from it
        if buf.getbuffer().nbytes <= self.options.data_uri_max_bytes:
            return buf, "crop", "data_uri", "base64"
        return buf, "crop", "upload", "url"

    # --- create, wait, cancel -------------------------------------------------------------------------------

    def _remember_retry_after(self, response: httpx.Response) -> None:
        # ReplicateError drops the headers; this hook (httpx event_hooks, passed through by replicate.Client)
        # keeps the 429's Retry-After for the thread that made the request.
        if response.status_code == 429:
            self._retry_after.value = response.headers.get("Retry-After")

    def _create(self, inputs: dict[str, Any], strategy: str | None, deadline: float, cancel: CancelToken) -> Prediction:
        """The create, tried again on HTTP 429 after the server's Retry-After (else a doubling wait)."""
        opts = self.options
        params: dict[str, Any] = {}
        if strategy is not None:
            params["file_encoding_strategy"] = strategy

        def create() -> Prediction:
            cancel.raise_if_cancelled()
            remaining = deadline - time.monotonic()
            if opts.sync_wait_s > 0 and remaining >= 1:
                params["wait"] = int(min(opts.sync_wait_s, 60, remaining))
            else:
                params.pop("wait", None)
            self._retry_after.value = None
            try:
                if self.version:
                    return self._client.predictions.create(version=self.version, input=inputs, **params)
                # Predictions.create(model=...) drops wait/file_encoding_strategy (replicate/prediction.py),
                # so official models go through the models namespace directly.
                return self._client.models.predictions.create(model=self.ref, input=inputs, **params)
            except ReplicateError as exc:
                if exc.status != 429:
                    raise self._api_error(exc, "creating a prediction") from None
                hint = retry_after_seconds(self._retry_after.value)
                raise ReplicateRateLimited("HTTP 429 on the create", hint) from None
            except httpx.TimeoutException as exc:
                raise BackendError(
                    f"Replicate did not answer in time while creating a prediction ({type(exc).__name__}).",
                    kind="timeout",
                    transient=True,
                ) from None
            except httpx.TransportError as exc:
                raise BackendError(
                    f"Could not reach Replicate at {self.base_url}: {type(exc).__name__}. "
                    "Check the network or depth.replicate_base_url.",
                    kind="network",
                    transient=True,
                ) from None

        def give_up(exc: BaseException, attempts: int) -> NoReturn:
            hint = getattr(exc, "retry_after", None)
            asks = f" (the server asks for {hint:g} s)" if hint is not None else ""
            raise ReplicateRateLimited(
                f"Replicate is rate-limiting this account (HTTP 429, {attempts} attempts); "
                f"the job will retry later{asks}.",
                hint,
            ) from None

        def on_retry(_exc: BaseException, delay: float) -> None:
            log.warning("Replicate rate limit (HTTP 429); retrying the create in %.1f s", delay)

        policy = RetryPolicy(attempts=opts.rate_limit_retries + 1, first_s=1.0, max_s=opts.max_retry_after_s)
        return policy.call(
            create,
            retry_on=lambda exc: isinstance(exc, ReplicateRateLimited),
            give_up=give_up,
            sleep=cancel.sleep,
            deadline=deadline,
            on_retry=on_retry,
        )

    def _api_error(self, exc: ReplicateError, doing: str) -> BackendError:
        status = exc.status or 0
        detail = _short(exc.detail or exc.title) or "no details"
        if status in (401, 403):
            return BackendError(
                f"Replicate refused the API token (HTTP {status}) while {doing}. {_TOKEN_HELP}", kind="auth"
            )
        if status == 404:
            return BackendError(
                f"Replicate does not know the model {self.model} (HTTP 404: {detail}). "
                "Check depth.replicate_model and depth.replicate_version.",
                kind="model_not_found",
            )
        if status in (400, 422):
            return BackendError(
                f"Replicate rejected the request for {self.model} (HTTP {status}: {detail}). "
                "Check depth.replicate_version and depth.replicate_input.",
                kind="bad_request",
            )
        if status == 429:
            return ReplicateRateLimited(f"Replicate is rate-limiting this account (HTTP 429: {detail}).", None)
        if status >= 500:
            return BackendError(
                f"Replicate had a server error (HTTP {status}: {detail}) while {doing}; the job will retry.",
                kind="server_error",
                transient=True,
            )
        return BackendError(f"Replicate answered HTTP {status} while {doing}: {detail}", kind="http_error")

    def _wait(self, prediction: Prediction, deadline: float, cancel: CancelToken) -> Prediction:
        """Poll, with a growing interval, until the prediction is terminal or the deadline passes."""
        opts = self.options
        interval = opts.poll_initial_s
        failures = 0
        cold_noted = False
        while prediction.status not in _TERMINAL:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                starting = prediction.status == "starting"
                why = " (the model never started: a cold start or a full queue)" if starting else ""
                raise BackendError(
                    f"The Replicate prediction {prediction.id} was still {prediction.status} after "
                    f"{opts.deadline_s:g} s{why}"
                    "; it was cancelled and the job will retry later.",
                    kind="cold_start_timeout" if starting else "prediction_timeout",
                    transient=True,
                )
            if prediction.status == "starting" and not cold_noted:
                log.info("prediction %s is starting (the model may be booting: a cold start)", prediction.id)
                cold_noted = True
            cancel.sleep(min(interval, remaining))
            interval = min(interval * opts.poll_growth, opts.poll_max_s)
            try:
                prediction = self._client.predictions.get(prediction.id)
                failures = 0
            except ReplicateError as exc:
                status = exc.status or 0
                if (status >= 500 or status == 429) and failures < opts.poll_error_retries:
                    failures += 1
                    log.warning("polling prediction %s: HTTP %s, retrying", prediction.id, status)
                    continue
                raise self._api_error(exc, f"polling prediction {prediction.id}") from None
            except httpx.TransportError as exc:  # timeouts included
                if failures < opts.poll_error_retries:
                    failures += 1
                    log.warning("polling prediction %s: %s, retrying", prediction.id, type(exc).__name__)
                    continue
                raise BackendError(
                    f"Lost contact with Replicate while waiting for prediction {prediction.id} "
                    f"({type(exc).__name__}); it was cancelled and the job will retry.",
                    kind="network",
                    transient=True,
                ) from None
            log.debug("prediction %s: %s", prediction.id, prediction.status)
        return prediction

    def _cancel_remote(self, prediction_id: str, why: str) -> None:
        """Best effort: a prediction nobody waits for still costs money."""
        try:
            self._client.predictions.cancel(prediction_id)
            log.info("cancelled Replicate prediction %s (%s)", prediction_id, why)
        except (ReplicateError, httpx.HTTPError) as exc:
            log.warning("could not cancel Replicate prediction %s: %s", prediction_id, type(exc).__name__)

    # --- output ---------------------------------------------------------------------------------------------

    def _output_url(self, prediction: Prediction) -> str:
        """midas returns one URL; other depth models return a list, or a dict with a grey map among others."""
        out = prediction.output
        if isinstance(out, list) and out:
            out = out[0]
        if isinstance(out, dict):
            grey = [v for k, v in out.items() if isinstance(v, str) and ("grey" in k or "gray" in k)]
            urls = [v for v in out.values() if isinstance(v, str)]
            out = grey[0] if grey else urls[0] if len(urls) == 1 else None
        if not isinstance(out, str) or not out.startswith(("https://", "http://", "data:")):
            raise BackendError(
                f"The Replicate prediction {prediction.id} succeeded but its output is not an image URL "
                f"({type(prediction.output).__name__}); is depth.replicate_model a depth model?",
                kind="bad_output",
            )
        return out

    def _download(self, url: str, deadline: float, cancel: CancelToken) -> bytes:
        limit = self.options.max_output_bytes
        if url.startswith("data:"):
            try:
                data = base64.b64decode(url.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error):
                raise BackendError("The Replicate output is a malformed data URI.", kind="bad_output") from None
            if len(data) > limit:
                raise BackendError(f"The Replicate output is larger than {limit} bytes.", kind="bad_output")
            return data
        end = min(deadline, time.monotonic() + self.options.download_timeout_s)
        host = urlsplit(url).hostname
        try:
            with self._files.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise BackendError(
                        f"Downloading the depth map from {host} failed with HTTP {resp.status_code}.",
                        kind="output_download",
                        transient=resp.status_code >= 500 or resp.status_code in (404, 429),
                    )

                def tick() -> None:
                    if time.monotonic() > end:
                        raise BackendError(
                            f"Downloading the depth map from {host} took over {self.options.download_timeout_s:g} s.",
                            kind="output_download",
                            transient=True,
                        )
                    cancel.raise_if_cancelled()

                try:
                    return read_bounded(resp, limit, tick)
                except BodyTooLarge as exc:
                    size = f" is {exc.declared} bytes," if exc.declared is not None else " is"
                    raise BackendError(
                        f"The depth map from {host}{size} over the {limit}-byte limit.", kind="bad_output"
                    ) from None
        except httpx.HTTPError as exc:
            raise BackendError(
                f"Downloading the depth map from {host} failed ({type(exc).__name__}).",
                kind="output_download",
                transient=True,
            ) from None

    def _decode(self, data: bytes, expected: tuple[int, int], prediction_id: str) -> np.ndarray:
        """Decode and check the output: an image, grayscale-like, the aspect of what was sent.

        The output is remote, untrusted data like an avatar, so it passes the same guards (``open_image``:
        format allow-list, pixel limit and bomb guard, truncation) before any pixel is decoded.
        """
        policy = FetchPolicy(max_pixels=self.options.max_output_pixels)
        try:
            with open_image(data, policy, shown=f"Replicate prediction {prediction_id}") as img:
                w, h = img.size
                arr = self._to_gray(img, prediction_id)
        except TooManyPixelsError:
            raise BackendError(
                f"The depth map of prediction {prediction_id} is over the pixel limit "
                f"({self.options.max_output_pixels} pixels).",
                kind="bad_output",
            ) from None
        except ImagingError as exc:
            raise BackendError(
                f"The output of Replicate prediction {prediction_id} is not a readable image "
                f"({exc.kind.replace('_', ' ')}; depth maps are read as {', '.join(SUPPORTED_FORMATS)}).",
                kind="bad_output",
            ) from None
        ew, eh = expected
        if abs((w / h) / (ew / eh) - 1.0) > self.options.aspect_tolerance:
            raise BackendError(
                f"The depth map of prediction {prediction_id} is {w}x{h} but the photo sent was {ew}x{eh} "
                "(a different aspect ratio); the model's output does not match its input.",
                kind="bad_output",
            )
        return arr

    def _to_gray(self, img: Image.Image, prediction_id: str) -> np.ndarray:
        if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
            return np.asarray(img, dtype=np.float32) / 65535.0
        if img.mode == "I":
            a = np.asarray(img, dtype=np.float32)
            return a / 65535.0 if a.max(initial=0) <= 65535 else a / float(a.max())
        if img.mode == "F":
            return np.asarray(img, dtype=np.float32)
        if img.mode in ("L", "LA", "1"):
            return np.asarray(img.getchannel(0), dtype=np.float32) / 255.0
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
        spread = max(float(np.abs(rgb[..., 0] - rgb[..., 1]).mean()), float(np.abs(rgb[..., 1] - rgb[..., 2]).mean()))
        if spread > self.options.gray_tolerance:
            raise BackendError(
                f"The output of Replicate prediction {prediction_id} is a colour image (mean channel "
                f"difference "
                f"{spread:.0f} levels), not a grayscale depth map; pick a model output that is grayscale.",
                kind="bad_output",
            )
        return rgb.mean(axis=-1) / 255.0


def make_replicate_backend(
    config: DepthConfig, *, token: str | None = None, options: ReplicateOptions | None = None
) -> ReplicateBackend:
    """The backend as configured (``[depth] replicate_*``), with the token from the environment or keyring."""
    token = token or get_secret("replicate_token")
    if not token:
        raise ConfigError(f"No Replicate API token. {_TOKEN_HELP}", kind="missing_token")
    if not isinstance(config.replicate_input, dict):
        raise ConfigError("depth.replicate_input must be a table of model inputs")
    return ReplicateBackend(
        token,
        model=config.replicate_model,
        version=config.replicate_version,
        inputs=config.replicate_input,
        base_url=config.replicate_base_url or None,
        options=options,
    )
