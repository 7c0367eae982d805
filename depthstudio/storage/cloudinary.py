"""Publishing depth maps to Cloudinary through the official SDK (``cloudinary`` 1.4x, Upload API).

Each store instance carries its own credentials and passes them to the SDK per call (``api_key``,
``api_secret``, ``cloud_name`` and ``upload_prefix`` are per-call options), so it never touches the SDK's
global configuration and two stores for two clouds can live in one process.

Idempotency: the public_id is derived from the user and the photo's hash and every upload is signed with
``overwrite=True``. A rerun after a crash (between the upload and the database write) therefore replaces the
one asset instead of creating a second, and needs no existence check first: such a check would cost an extra
round trip on every normal upload to save one upload on the rare rerun, and could not tell a regenerated map
from the old one without comparing content anyway.

The secret never leaves this module except inside the SDK's signing call: it is kept in an object whose
``repr`` hides it, every message built from a server answer is scrubbed, and SDK exceptions are not chained
(their text embeds raw response bodies).
"""

from __future__ import annotations

import http.client
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import urllib3.exceptions

from depthstudio.config import StorageConfig, get_secret, mask
from depthstudio.errors import ConfigError, StorageError
from depthstudio.retry import seconds_until
from depthstudio.storage.store import StoredAsset, StoreKey

DEFAULT_API = "https://api.cloudinary.com"
DELIVERY_HOST = "res.cloudinary.com"  # the SDK's AKAMAI_SHARED_CDN: where secure_url points for a shared CDN
URL_HINT = "cloudinary://<api_key>:<api_secret>@<cloud_name>"
SETUP_HINT = f"set CLOUDINARY_URL={URL_HINT} or store it with `depthstudio config set-secret cloudinary_url`"
# Used only by check_connection(); a StoreKey.public_id always ends in "-<16 hex>", so no asset has this name.
CONNECTION_PROBE = "_depthstudio_connection_probe"

_FOLDER_RE = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
_CLOUD_RE = re.compile(r"[A-Za-z0-9_-]+")
# Cloudinary's rate-limit message names the reset time, e.g. "... Try again on 2024-10-04 14:00:00 UTC"
# (quoted in https://github.com/yoelpc4/laravel-cloudinary/issues/11). The SDK's upload call hides response
# headers, so the body is the only retry hint that reaches us.
_RETRY_ON_RE = re.compile(r"try again on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", re.IGNORECASE)
# cloudinary/uploader.py call_api: "Error parsing server response ({status}) - {body}. Got - {exc}"
_UNPARSEABLE_RE = re.compile(r"^Error parsing server response \((\d{3})\)")
_SIGNATURE_ALGORITHMS = ("sha1", "sha256")


SDK_POOL_SIZE = 64  # keep-alive connections kept per host: a bulk publish's threads each reuse one


def _keep_connections(uploader: Any) -> None:
    """Give the SDK's module-wide connection pool room for every upload thread, once.

    The SDK builds one urllib3 manager at import with urllib3's default of one kept connection per host; a bulk
    publish's threads then opened a new TLS connection for nearly every upload and threw it away ("Connection
    pool is full, discarding connection"). Only the pool size changes; the SDK's own connector (proxy, TCP
    keep-alive settings) is kept.
    """
    global _sized
    if _sized:
        return
    import cloudinary
    from cloudinary import utils

    with _sized_lock:
        if not _sized and hasattr(uploader, "_http"):
            uploader._http = utils.get_http_connector(
                cloudinary.config(), {**cloudinary.CERT_KWARGS, "maxsize": SDK_POOL_SIZE}
            )
        _sized = True


_sized = False
_sized_lock = threading.Lock()


@dataclass(frozen=True)
class _Credentials:
    """Parsed CLOUDINARY_URL; ``repr`` shows the cloud and a masked key only."""

    cloud_name: str
    api_key: str
    api_secret: str = field(repr=False)
    signature_algorithm: str = "sha1"
    upload_prefix: str = ""

    def __repr__(self) -> str:
        return f"_Credentials(cloud_name={self.cloud_name!r}, api_key={mask(self.api_key)!r})"


def _parse_cloudinary_url(value: str) -> _Credentials:
    """Parse ``cloudinary://key:secret@cloud[?signature_algorithm=sha256&upload_prefix=...]``.

    Messages describe what is wrong without echoing the value: it contains the secret.
    """
    bad = f"CLOUDINARY_URL is malformed: expected {URL_HINT}"
    try:
        parts = urlsplit(value.strip())
        key, secret, cloud = parts.username, parts.password, parts.hostname
    except ValueError:
        raise ConfigError(bad) from None
    if parts.scheme != "cloudinary":
        raise ConfigError(f"{bad} (it must start with cloudinary://)")
    if not key or not secret or not cloud:
        raise ConfigError(f"{bad} (the API key, API secret or cloud name is missing)")
    if parts.path not in ("", "/"):
        raise ConfigError(f"{bad} (private CDN distributions are not supported)")
    # urlsplit lower-cases the host; the cloud name is case-sensitive in delivery URLs, so take it verbatim.
    cloud = parts.netloc.rpartition("@")[2]
    if not _CLOUD_RE.fullmatch(cloud):
        raise ConfigError(f"{bad} (the cloud name may only hold letters, digits, '-' and '_')")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    algorithm = query.get("signature_algorithm", "sha1").lower()
    if algorithm not in _SIGNATURE_ALGORITHMS:
        raise ConfigError(f"CLOUDINARY_URL: signature_algorithm must be one of {', '.join(_SIGNATURE_ALGORITHMS)}")
    return _Credentials(
        cloud_name=cloud,
        api_key=unquote(key),
        api_secret=unquote(secret),
        signature_algorithm=algorithm,
        upload_prefix=query.get("upload_prefix", ""),
    )


def _check_upload_prefix(prefix: str) -> str:
    """Allow plain http only to this machine (the test servers): elsewhere the signed request must use TLS."""
    prefix = prefix.rstrip("/")
    parts = urlsplit(prefix)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.query:
        raise ConfigError(f"storage.cloudinary_upload_prefix {prefix!r} must be an http(s) URL like {DEFAULT_API}")
    if parts.scheme == "http" and not loopback:
        raise ConfigError(f"storage.cloudinary_upload_prefix {prefix!r} must use https (http only for localhost)")
    return prefix


class CloudinaryStore:
    """A ``DepthStore`` that publishes PNGs to ``<folder>/<StoreKey.public_id>`` in one Cloudinary cloud."""

    name = "cloudinary"

    def __init__(
        self,
        cloudinary_url: str,
        *,
        folder: str = StorageConfig.cloudinary_folder,
        upload_prefix: str = StorageConfig.cloudinary_upload_prefix,
        timeout_s: float = StorageConfig.cloudinary_timeout_s,
    ) -> None:
        self._creds = _parse_cloudinary_url(cloudinary_url)
        folder = folder.strip("/")
        if not _FOLDER_RE.fullmatch(folder):
            raise ConfigError(
                f"storage.cloudinary_folder {folder!r} must be path segments of letters, digits, '-' and '_'"
            )
        if timeout_s <= 0:
            raise ConfigError("storage.cloudinary_timeout_s must be a positive number of seconds")
        self.folder = folder
        self.cloud_name = self._creds.cloud_name
        self.timeout_s = float(timeout_s)
        # Explicit setting first, then the URL's query, then the SDK's documented environment variable.
        self.upload_prefix = _check_upload_prefix(
            upload_prefix or self._creds.upload_prefix or os.environ.get("CLOUDINARY_UPLOAD_PREFIX", "") or DEFAULT_API
        )

    @classmethod
    def from_config(cls, storage: StorageConfig) -> CloudinaryStore:
        url = get_secret("cloudinary_url")
        if not url:
            raise ConfigError(f"Cloudinary is not configured: {SETUP_HINT}")
        return cls(
            url,
            folder=storage.cloudinary_folder,
            upload_prefix=storage.cloudinary_upload_prefix,
            timeout_s=storage.cloudinary_timeout_s,
        )

    def __repr__(self) -> str:
        return f"CloudinaryStore(cloud={self.cloud_name!r}, folder={self.folder!r}, api={self.upload_prefix!r})"

    # --- DepthStore ----------------------------------------------------------------------------------------

    def public_id(self, key: StoreKey) -> str:
        return f"{self.folder}/{key.public_id}"

    def put(self, key: StoreKey, png: bytes) -> StoredAsset:
        """Signed upload to the deterministic public_id; overwriting keeps a repeat at one asset."""
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise StorageError(f"refusing to publish {key.public_id}: the depth map is not a PNG", kind="not_png")
        public_id = self.public_id(key)
        result = self._call(
            "upload",
            public_id,
            png,
            public_id=public_id,
            overwrite=True,
            invalidate=True,
            # Asking for PNG makes Cloudinary keep a lossless format whatever the account's defaults are.
            format="png",
            resource_type="image",
            type="upload",
            filename=f"{key.public_id}.png",
        )
        return self._asset_from(result, public_id)

    def delete(self, asset: StoredAsset) -> None:
        """Destroy the asset and purge the CDN; an asset already gone counts as deleted."""
        public_id = asset.location
        if not self._owns_public_id(public_id):
            raise StorageError(
                f"refusing to delete {public_id!r}: it is not in this store's folder {self.folder!r}",
                kind="not_owned",
            )
        result = self._call("destroy", public_id, None, invalidate=True, resource_type="image", type="upload")
        if result.get("result") not in ("ok", "not found"):
            raise StorageError(
                f"Cloudinary did not delete {public_id}: it answered {self._scrub(str(result.get('result')))}",
                kind="rejected",
            )

    def owns(self, url: str) -> bool:
        """Only plain delivery URLs of this cloud and folder, as PNG without transformations, qualify."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme != "https" or parts.netloc != DELIVERY_HOST or parts.query or parts.fragment:
            return False
        prefix = f"/{self.cloud_name}/image/upload/"
        if not parts.path.startswith(prefix) or not parts.path.endswith(".png"):
            return False
        rest = unquote(parts.path[len(prefix) : -len(".png")])
        version, _, public_id = rest.partition("/")
        if not re.fullmatch(r"v\d+", version):
            public_id = rest
        return self._owns_public_id(public_id)

    # --- connection test -----------------------------------------------------------------------------------

    def check_connection(self) -> str:
        """One cheap signed request that changes nothing: destroy a public_id no upload ever uses.

        Cloudinary checks the cloud name, API key and signature before looking the asset up, so "not found"
        proves the credentials and the network path; a failure raises the same ``StorageError`` kinds as put.
        """
        probe = f"{self.folder}/{CONNECTION_PROBE}"
        result = self._call("destroy", probe, None, resource_type="image", type="upload")
        if result.get("result") not in ("ok", "not found"):
            raise StorageError("Cloudinary answered the connection test unexpectedly", kind="unexpected_response")
        return (
            f"Cloudinary cloud {self.cloud_name!r} at {self.upload_prefix} accepted a signed request "
            f"(API key {mask(self._creds.api_key)}); depth maps go to folder {self.folder!r}"
        )

    # --- internals -----------------------------------------------------------------------------------------

    def _owns_public_id(self, public_id: str) -> bool:
        head, sep, name = public_id.rpartition("/")
        return bool(sep) and head == self.folder and re.fullmatch(r"[\w-]+", name) is not None

    def _scrub(self, text: str) -> str:
        """Server text may echo what we sent; the secret and the key must never survive into a message."""
        for secret in (self._creds.api_secret, self._creds.api_key):
            text = text.replace(secret, "***")
        return text[:300]

    def _call(self, action: str, target: str, file: bytes | None, **params: Any) -> dict[str, Any]:
        """Run one SDK Upload-API call with this store's credentials; map every failure to a StorageError."""
        import cloudinary.uploader  # reads CLOUDINARY_URL at import: only import it once ours is validated

        _keep_connections(cloudinary.uploader)
        creds = self._creds
        options: dict[str, Any] = {
            "cloud_name": creds.cloud_name,
            "api_key": creds.api_key,
            "api_secret": creds.api_secret,
            "signature_algorithm": creds.signature_algorithm,
            "upload_prefix": self.upload_prefix,
            "timeout": self.timeout_s,
            # Errors come back as data with the HTTP status instead of status-less exception classes.
            "return_error": True,
            **params,
        }
        try:
            if action == "upload":
                result = cloudinary.uploader.upload(file, **options)
            else:
                result = cloudinary.uploader.destroy(target, **options)
        except cloudinary.exceptions.Error as exc:
            raise self._transport_error(exc, action, target) from None
        if not isinstance(result, dict):
            raise StorageError(
                f"Cloudinary's answer to the {action} of {target} was not a JSON object",
                kind="bad_response",
                transient=True,
            )
        error = result.get("error")
        if isinstance(error, dict):
            raise self._api_error(int(error.get("http_code") or 0), str(error.get("message", "")), action, target)
        return result

    def _api_error(self, status: int, message: str, action: str, public_id: str) -> StorageError:
        what = f"{action} of {public_id}"
        detail = self._scrub(message)
        if status in (420, 429):
            err = StorageError(
                f"Cloudinary is rate-limiting this account ({status}: {detail}); the {what} will be retried",
                kind="rate_limited",
                transient=True,
            )
            err.retry_after = _retry_after(message)
            return err
        if status in (401, 403):
            if "stale request" in message.lower():
                return StorageError(
                    f"Cloudinary refused the {what} as stale ({detail}); this computer's clock is off by "
                    "more than an hour: fix the system time",
                    kind="clock_skew",
                )
            return StorageError(
                f"Cloudinary rejected the credentials for cloud {self.cloud_name!r} ({status}: {detail}); "
                f"check CLOUDINARY_URL ({URL_HINT}) or the keyring entry 'cloudinary_url'",
                kind="auth",
            )
        if status >= 500:
            return StorageError(
                f"Cloudinary had a server error ({status}: {detail}) during the {what}; it will be retried",
                kind="server_error",
                transient=True,
            )
        return StorageError(f"Cloudinary refused the {what} ({status}: {detail})", kind="rejected")

    def _transport_error(self, exc: Exception, action: str, public_id: str) -> StorageError:
        """Classify by the exception the SDK wrapped (urllib3's), not by its message, where possible."""
        what = f"{action} of {public_id}"
        unparseable = _UNPARSEABLE_RE.match(str(exc))
        if unparseable:
            status = int(unparseable.group(1))
            if status >= 400:
                return self._api_error(status, "the answer was not JSON", action, public_id)
            return StorageError(
                f"Cloudinary's answer to the {what} was not valid JSON (cut off?); it will be retried",
                kind="bad_response",
                transient=True,
            )
        cause = _root_cause(exc)
        # urllib3 derives NewConnectionError (refused, unresolvable) from ConnectTimeoutError: test it first.
        if isinstance(cause, (TimeoutError, urllib3.exceptions.TimeoutError)) and not isinstance(
            cause, urllib3.exceptions.NewConnectionError
        ):
            return StorageError(
                f"Cloudinary did not answer the {what} within {self.timeout_s:g} s; it will be retried "
                "(raise storage.cloudinary_timeout_s on a slow link)",
                kind="timeout",
                transient=True,
            )
        if isinstance(cause, (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead)):
            return StorageError(
                f"Cloudinary's answer to the {what} was cut off; it will be retried",
                kind="bad_response",
                transient=True,
            )
        reason = type(cause).__name__ if cause is not None else "unknown error"
        return StorageError(
            f"the connection to Cloudinary at {self.upload_prefix} failed during the {what} ({reason}); "
            "it will be retried",
            kind="connection",
            transient=True,
        )

    def _asset_from(self, result: dict[str, Any], public_id: str) -> StoredAsset:
        """Only an answer describing exactly the asset we asked for, as a plain PNG URL we own, passes."""
        url = result.get("secure_url")
        version = result.get("version")
        size = result.get("bytes")
        if result.get("format") != "png":
            raise StorageError(
                f"Cloudinary stored {public_id} as {self._scrub(str(result.get('format')))!r} instead of a "
                "lossless PNG; check the account's upload presets and incoming transformations",
                kind="not_lossless",
            )
        if (
            result.get("public_id") != public_id
            or not isinstance(url, str)
            or not self.owns(url)
            or not isinstance(version, int)
            or not isinstance(size, int)
        ):
            raise StorageError(
                f"Cloudinary's answer to the upload of {public_id} does not describe that asset as a plain "
                "PNG URL in this cloud and folder; check the account's upload presets",
                kind="unexpected_response",
            )
        return StoredAsset(url=url, location=public_id, bytes=size, version=str(version))


def _root_cause(exc: BaseException) -> BaseException | None:
    """Follow the SDK's implicit chain and urllib3's wrappers (MaxRetryError.reason, ProtocolError args)."""
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason is not None:
            current = current.reason
        elif isinstance(current, urllib3.exceptions.ProtocolError) and not isinstance(
            current, urllib3.exceptions.IncompleteRead
        ):
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
            if inner is None:
                return current
            current = inner
        else:
            return current
    return current


def _retry_after(message: str, now: float | None = None) -> float | None:
    found = _RETRY_ON_RE.search(message)
    if not found:
        return None
    return seconds_until(datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC), now)
