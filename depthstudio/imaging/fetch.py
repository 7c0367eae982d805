"""Fetching an avatar's raw bytes from a URL or a local path within the policy's limits.

Redirects are followed here, one hop at a time, so that every hop is checked like the first: the scheme
against the allow-list, the address by the network backend (``netguard``), the time against one deadline for
the whole download and the size against ``max_bytes``.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from depthstudio.cancel import CancelToken
from depthstudio.errors import Cancelled
from depthstudio.imaging import validators
from depthstudio.imaging.image_errors import (
    CorruptImageError,
    HttpStatusError,
    ImagingError,
    InvalidUrlError,
    LocalPathRefusedError,
    NotFoundError,
    TooLargeError,
    TooManyRedirectsError,
    UnexpectedImagingError,
    UnreadableFileError,
    UnsupportedSchemeError,
    display_source,
)
from depthstudio.imaging.types import FetchPolicy
from depthstudio.imaging.validators import Validators
from depthstudio.retry import retry_after_seconds

# httpx and the network layer over it are imported on the first web fetch: a studio showing local photos (and
# every start) does not pay their import time.
if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from depthstudio.imaging.netguard import Deadline

__all__ = ["BodyTooLarge", "fetch_bytes", "fetch_if_changed", "read_bounded"]

# a scheme has at least two characters, so that "C:\photos\a.jpg" stays a path
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# what may reach the resolver: names (IDNA already applied by httpx) and IP literals
_HOST = re.compile(r"[a-z0-9._-]+|[0-9a-f:.]+", re.IGNORECASE)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_WEB_SCHEMES = ("http", "https")
_HEADERS = {
    "Accept": "image/avif,image/webp,image/png,image/jpeg,image/*;q=0.8",
    # compressed transfer would let a small body expand past max_bytes before it is counted
    "Accept-Encoding": "identity",
    "User-Agent": "depthstudio (avatar depth maps)",
}


def fetch_bytes(source: str, policy: FetchPolicy, *, cancel: CancelToken | None = None) -> tuple[bytes, str | None]:
    """The raw bytes of ``source`` and the server's Content-Type (None for local files).

    ``source`` is an http(s) URL, a file:// URL or a plain path (the last two only if
    ``policy.allow_local_paths``). Raises an ``ImagingError`` subclass for every failure, or ``Cancelled``.
    """
    try:
        return _fetch(source, policy, cancel)
    except (ImagingError, Cancelled):
        raise
    except Exception as exc:  # any surprise fails this avatar, never the batch
        raise UnexpectedImagingError(
            f"Fetching the avatar at {display_source(str(source))} failed unexpectedly "
            f"({type(exc).__name__}). This is a bug in depthstudio; please report it."
        ) from exc


def _fetch(source: str, policy: FetchPolicy, cancel: CancelToken | None) -> tuple[bytes, str | None]:
    match = _SCHEME.match(source)
    if match is None:
        return _read_local(Path(source), source, policy, cancel), None
    scheme = match.group(1).lower()
    if scheme == "file":
        return _read_local(_file_url_path(source), source, policy, cancel), None
    _check_scheme(scheme, source, policy, redirected_from=None)
    return _fetch_http(source, policy, cancel)


def _check_scheme(scheme: str, url: str, policy: FetchPolicy, *, redirected_from: str | None) -> None:
    if scheme in _WEB_SCHEMES and scheme in policy.allowed_schemes:
        return
    allowed = ", ".join(s for s in policy.allowed_schemes if s in _WEB_SCHEMES) or "none"
    if redirected_from is not None:
        raise UnsupportedSchemeError(
            f"The avatar at {redirected_from} redirects to a {scheme}: URL ({display_source(url)}), which "
            f"depthstudio does not follow (allowed: {allowed}). The server should redirect to an https:// "
            "URL."
        )
    raise UnsupportedSchemeError(
        f"The avatar URL {display_source(url)} uses the scheme {scheme}:, which depthstudio does not fetch "
        f"(allowed: {allowed}). Store an https:// link to the image instead."
    )


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidUrlError(
            f"The avatar URL {display_source(url)} names a file on another machine ({parts.netloc}); only "
            "local files can be read. Copy the file here or serve it over https."
        )
    return local_path(parts.path)


def local_path(url_path: str) -> Path:
    """The file a file:// URL's path names: ``url2pathname(unquote(path))``, without importing urllib.request.

    That module brings http.client and email along (a tenth of a second of the studio's start, on the thread
    loading the first thumbnails); its ``url2pathname`` is ``unquote`` on POSIX and nturl2path's on Windows.
    """
    decoded = unquote(url_path)
    if os.name == "nt":
        from nturl2path import url2pathname

        return Path(url2pathname(decoded))
    return Path(unquote(decoded))


def _read_local(path: Path, source: str, policy: FetchPolicy, cancel: CancelToken | None) -> bytes:
    shown = display_source(source)
    if not policy.allow_local_paths:
        raise LocalPathRefusedError(
            f"The avatar {shown} is a local file, and reading local files is turned off for this portal (its "
            "avatar URLs should be http(s) links). Fix the portal's avatar value or allow local paths."
        )
    if cancel is not None:
        cancel.raise_if_cancelled()
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise NotFoundError(
            f"The avatar file {shown} does not exist. The user's avatar value points to a missing file; fix "
            "the path or upload the photo again."
        ) from None
    except OSError as exc:
        raise UnreadableFileError(f"The avatar file {shown} cannot be read ({exc.strerror}).") from exc
    # a FIFO or a device would block or never end; only regular files are photos
    if not stat.S_ISREG(info.st_mode):
        raise NotFoundError(f"The avatar path {shown} is not a regular file (a directory or a device).")
    if info.st_size > policy.max_bytes:
        raise _too_large(shown, info.st_size, policy, "on disk")
    try:
        with path.open("rb") as handle:
            data = handle.read(policy.max_bytes + 1)
    except OSError as exc:
        raise UnreadableFileError(
            f"The avatar file {shown} cannot be read ({exc.strerror}). Check its permissions."
        ) from exc
    if len(data) > policy.max_bytes:  # it grew after the stat
        raise _too_large(shown, len(data), policy, "on disk")
    return data


def _fetch_http(source: str, policy: FetchPolicy, cancel: CancelToken | None) -> tuple[bytes, str | None]:
    body, headers = _get(source, policy, cancel, {})
    assert body is not None  # an unconditional GET never answers 304
    validators.seen.remember(source, body, Validators.from_headers(headers))
    return body, headers.get("content-type")


def fetch_if_changed(
    source: str, policy: FetchPolicy, known: Validators, *, cancel: CancelToken | None = None
) -> bytes | None:
    """A conditional GET of an http(s) ``source``: None if the server answers 304 Not Modified, else the bytes
    it has now (within the policy's limits, like ``fetch_bytes``). Raises an ``ImagingError`` or ``Cancelled``."""
    try:
        body, headers = _get(source, policy, cancel, known.conditional_headers())
    except (ImagingError, Cancelled):
        raise
    except Exception as exc:
        raise UnexpectedImagingError(
            f"Checking the avatar at {display_source(str(source))} failed unexpectedly ({type(exc).__name__})."
        ) from exc
    if body is not None:
        validators.seen.remember(source, body, Validators.from_headers(headers))
    return body


def _get(
    source: str, policy: FetchPolicy, cancel: CancelToken | None, extra: dict[str, str]
) -> tuple[bytes | None, httpx.Headers]:
    """The body (None for 304 Not Modified) and the headers of the final response; redirects each checked."""
    import httpx

    from depthstudio.imaging.netguard import Deadline, GuardedTransport

    deadline = Deadline(policy.timeout_s, cancel)
    url = source
    previous: str | None = None
    client = httpx.Client(
        transport=GuardedTransport(policy, deadline),
        headers={**_HEADERS, **extra},
        follow_redirects=False,  # followed below, each hop checked
        trust_env=False,  # a proxy from the environment would bypass the address check
        timeout=None,  # the backend enforces one deadline for the whole download instead
    )
    with client:
        for _hop in range(policy.max_redirects + 1):
            target = _parse(url, policy, previous)
            deadline.shown = display_source(url)
            with client.stream("GET", target) as response:
                if response.status_code in _REDIRECTS:
                    previous, url = deadline.shown, _redirect_target(response, deadline.shown)
                    continue
                if response.status_code == 304 and extra:
                    return None, response.headers
                if not response.is_success:
                    raise _status_error(response, deadline.shown)
                return _read_body(response, policy, deadline), response.headers
    raise TooManyRedirectsError(
        f"The avatar at {display_source(source)} redirects more than {policy.max_redirects} times (last to "
        f"{display_source(url)}). The link is probably in a redirect loop; store the final image URL instead."
    )


def _parse(url: str, policy: FetchPolicy, redirected_from: str | None) -> httpx.URL:
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise InvalidUrlError(
            f"The avatar URL {display_source(url)} is not a valid URL. Fix the portal's avatar value."
        ) from None
    _check_scheme(parsed.scheme, url, policy, redirected_from=redirected_from)
    host = parsed.raw_host.decode("ascii", "replace")
    if not _HOST.fullmatch(host) or not 0 < (parsed.port or 80) < 65536:
        raise InvalidUrlError(
            f"The avatar URL {display_source(url)} has no valid host name or port. Fix the avatar value."
        )
    return parsed


def _redirect_target(response: httpx.Response, shown: str) -> str:
    import httpx

    location = response.headers.get("location")
    if not location:
        raise HttpStatusError(
            f"The server answered {response.status_code} (a redirect) for the avatar at {shown} but did "
            "not say where to. The server is misconfigured; store the image's final URL instead.",
            status=response.status_code,
        )
    try:
        return str(response.url.join(location))
    except httpx.InvalidURL:
        raise InvalidUrlError(
            f"The avatar at {shown} redirects to an invalid URL. The server is misconfigured; store the "
            "image's final URL instead."
        ) from None


def _status_error(response: httpx.Response, shown: str) -> HttpStatusError:
    status = response.status_code
    if status in (404, 410):
        advice = "The image is gone from the server: the portal's link is stale; the user needs a new upload."
    elif status in (401, 403):
        advice = "The server refuses to serve it: the link needs a login or has expired (signed URLs do)."
    elif status == 429:
        advice = "The server is rate-limiting depthstudio; the job retries later (or lower --concurrency)."
    elif status >= 500 or status in (408, 425):
        advice = "The server failed or is busy; the job retries later."
    else:
        advice = "Open the link in a browser to see what the server says."
    return HttpStatusError(
        f"The server answered {status} {response.reason_phrase} for the avatar at {shown}. {advice}",
        status=status,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


class BodyTooLarge(Exception):
    """A body over its limit; ``declared`` is the Content-Length that said so up front, else None."""

    def __init__(self, declared: int | None) -> None:
        super().__init__(declared)
        self.declared = declared


def read_bounded(response: httpx.Response, max_bytes: int, tick: Callable[[], object]) -> bytes:
    """A streamed response's body, refused (``BodyTooLarge``) past ``max_bytes``, by its Content-Length before any
    byte and by what arrived while reading; ``tick`` runs after every chunk and raises to stop (a deadline, a
    cancel), so a fast endless body still ends. The one bounded download: avatars and Replicate's outputs."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(int(declared))
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge(None)
        tick()
    return bytes(body)


def _read_body(response: httpx.Response, policy: FetchPolicy, deadline: Deadline) -> bytes:
    import httpx

    try:
        return read_bounded(response, policy.max_bytes, deadline.remaining)
    except BodyTooLarge as exc:
        how = "declared by the server" if exc.declared is not None else "while downloading"
        raise _too_large(deadline.shown, exc.declared, policy, how) from None
    except httpx.DecodingError as exc:
        raise CorruptImageError(
            f"The server sent the avatar at {deadline.shown} with a Content-Encoding that does not decode. "
            "The server is misconfigured; the user needs to upload the photo again."
        ) from exc


def _too_large(shown: str, size: int | None, policy: FetchPolicy, how: str) -> TooLargeError:
    limit = f"{policy.max_bytes / 2**20:.1f} MiB"
    amount = f"{size / 2**20:.1f} MiB" if size is not None else f"more than {limit}"
    return TooLargeError(
        f"The avatar at {shown} is {amount} ({how}), above the limit of {limit}. Ask the user for a smaller "
        "photo or raise fetch.max_bytes."
    )
