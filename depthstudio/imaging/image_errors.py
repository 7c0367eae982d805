"""One error class per way an avatar can fail to load.

The ``kind`` travels to the job row and the UI; ``transient`` tells the job whether a retry with backoff can
help (the network, a busy server) or the failure is a property of the content and is recorded at once.
Messages name the avatar with ``display_source`` so that credentials and signed query strings never reach a
log or a database.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from depthstudio.errors import ImagingError

__all__ = [
    "ConnectError",
    "CorruptImageError",
    "DecompressionBombError",
    "DnsError",
    "EmptyImageError",
    "FetchTimeoutError",
    "HttpStatusError",
    "ImagingError",
    "InvalidUrlError",
    "LocalPathRefusedError",
    "NetworkError",
    "NotAnImageError",
    "NotFoundError",
    "PrivateAddressError",
    "TlsError",
    "TooLargeError",
    "TooManyPixelsError",
    "TooManyRedirectsError",
    "TruncatedImageError",
    "UnexpectedImagingError",
    "UnreadableFileError",
    "UnsupportedFormatError",
    "UnsupportedSchemeError",
    "display_source",
]


def display_source(source: str) -> str:
    """The avatar's URL as it may appear in a message: no userinfo, no query or fragment (signed URLs and
    tokens live there). Local paths are shown as they are."""
    if "://" not in source:
        return source
    try:
        parts = urlsplit(source)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return source.split("://", 1)[0] + "://<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]  # host[:port] exactly as written, without the userinfo
    shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


class UnsupportedSchemeError(ImagingError):
    """The URL (or a redirect) uses a scheme outside ``FetchPolicy.allowed_schemes``."""

    kind = "unsupported_scheme"


class InvalidUrlError(ImagingError):
    """The URL cannot be parsed (no host, bad port, bad characters)."""

    kind = "invalid_url"


class LocalPathRefusedError(ImagingError):
    """A local path or file:// URL while ``FetchPolicy.allow_local_paths`` is off."""

    kind = "local_path_refused"


class NotFoundError(ImagingError):
    """The local file does not exist or is not a regular file."""

    kind = "not_found"


class UnreadableFileError(ImagingError):
    """The local file exists but cannot be read (permissions, I/O error)."""

    kind = "unreadable"


class PrivateAddressError(ImagingError):
    """The host resolves to a loopback/private/link-local/reserved address (SSRF guard)."""

    kind = "private_address"


class DnsError(ImagingError):
    """The host name could not be resolved; transient only when the resolver says "try again"."""

    kind = "dns"


class ConnectError(ImagingError):
    """No TCP connection could be made to any address of the host."""

    kind = "connect"
    transient = True


class TlsError(ImagingError):
    """The TLS handshake failed (certificate not trusted, wrong host name): retrying does not help."""

    kind = "tls"


class FetchTimeoutError(ImagingError):
    """The whole download (DNS, connect, all reads) took longer than ``FetchPolicy.timeout_s``."""

    kind = "timeout"
    transient = True


class NetworkError(ImagingError):
    """The connection broke mid-response (reset, closed before the declared length)."""

    kind = "network"
    transient = True


class TooLargeError(ImagingError):
    """The body is larger than ``FetchPolicy.max_bytes`` (declared or while streaming)."""

    kind = "too_large"


class TooManyRedirectsError(ImagingError):
    """More redirects than ``FetchPolicy.max_redirects``."""

    kind = "too_many_redirects"


class HttpStatusError(ImagingError):
    """A non-2xx answer. 408, 425, 429 and 5xx are transient; ``retry_after`` carries the server's hint."""

    kind = "http_status"

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, transient=status in (408, 425, 429) or status >= 500)
        self.status = status
        self.retry_after = retry_after


class EmptyImageError(ImagingError):
    """Zero bytes."""

    kind = "empty"


class NotAnImageError(ImagingError):
    """The bytes are a document (HTML, SVG, XML, JSON, PDF, text), whatever the Content-Type said."""

    kind = "not_an_image"


class UnsupportedFormatError(ImagingError):
    """Binary data that is not one of the raster formats depthstudio decodes (e.g. HEIC, EPS, PSD)."""

    kind = "unsupported_format"


class TruncatedImageError(ImagingError):
    """The image data ends before the image does."""

    kind = "truncated"


class CorruptImageError(ImagingError):
    """The file is a supported format but its data is damaged (bad checksums, invalid structure)."""

    kind = "corrupt"


class DecompressionBombError(ImagingError):
    """A small file that would expand to an enormous pixel buffer."""

    kind = "decompression_bomb"


class TooManyPixelsError(ImagingError):
    """A genuine photo with more pixels than ``FetchPolicy.max_pixels``."""

    kind = "too_many_pixels"


class UnexpectedImagingError(ImagingError):
    """A failure nobody anticipated: reported per item instead of stopping the batch."""

    kind = "unexpected"
