"""Fetching and decoding avatars safely (bounded, SSRF-guarded) and cropping them for the depth backends."""

from depthstudio.imaging.crop import PORTRAIT_TOP_BIAS, crop_square, square_crop_box
from depthstudio.imaging.decode import SUPPORTED_FORMATS, DecodedImage, decode_image, to_rgb
from depthstudio.imaging.fetch import fetch_bytes
from depthstudio.imaging.image_errors import (
    ConnectError,
    CorruptImageError,
    DecompressionBombError,
    DnsError,
    EmptyImageError,
    FetchTimeoutError,
    HttpStatusError,
    ImagingError,
    InvalidUrlError,
    LocalPathRefusedError,
    NetworkError,
    NotAnImageError,
    NotFoundError,
    PrivateAddressError,
    TlsError,
    TooLargeError,
    TooManyPixelsError,
    TooManyRedirectsError,
    TruncatedImageError,
    UnexpectedImagingError,
    UnreadableFileError,
    UnsupportedFormatError,
    UnsupportedSchemeError,
    display_source,
)
from depthstudio.imaging.load import decode_avatar, load_avatar
from depthstudio.imaging.types import Avatar, CropBox, FetchPolicy

__all__ = [
    "PORTRAIT_TOP_BIAS",
    "SUPPORTED_FORMATS",
    "Avatar",
    "ConnectError",
    "CorruptImageError",
    "CropBox",
    "DecodedImage",
    "DecompressionBombError",
    "DnsError",
    "EmptyImageError",
    "FetchPolicy",
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
    "crop_square",
    "decode_avatar",
    "decode_image",
    "display_source",
    "fetch_bytes",
    "forbidden_reason",
    "load_avatar",
    "square_crop_box",
    "to_rgb",
]


def __getattr__(name: str) -> object:
    """``forbidden_reason`` lives in ``netguard``, which imports httpx: loaded on first use, not with the package."""
    if name == "forbidden_reason":
        from depthstudio.imaging.netguard import forbidden_reason

        return forbidden_reason
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
