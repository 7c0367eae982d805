"""One avatar from its URL to the image a depth backend needs: the whole displayed photo at a bounded size."""

from __future__ import annotations

import hashlib

from depthstudio.cancel import CancelToken
from depthstudio.errors import Cancelled
from depthstudio.imaging.crop import fit_frame, full_frame
from depthstudio.imaging.decode import decode_image
from depthstudio.imaging.fetch import fetch_bytes
from depthstudio.imaging.image_errors import ImagingError, UnexpectedImagingError, display_source
from depthstudio.imaging.types import Avatar, FetchPolicy

__all__ = ["decode_avatar", "load_avatar"]


def load_avatar(source: str, policy: FetchPolicy, *, cancel: CancelToken | None = None) -> Avatar:
    """Fetch, decode, orient and crop ``source``.

    ``sha256`` is taken over the bytes exactly as fetched, so the same photo at two URLs is one depth map and
    a re-upload of a changed photo at the same URL is detected. Raises an ``ImagingError`` or ``Cancelled``,
    nothing else.
    """
    data, content_type = fetch_bytes(source, policy, cancel=cancel)
    if cancel is not None:
        cancel.raise_if_cancelled()
    return decode_avatar(source, data, content_type, policy)


def decode_avatar(source: str, data: bytes, content_type: str | None, policy: FetchPolicy) -> Avatar:
    """The CPU half of ``load_avatar``, for the fetched bytes (the bulk runner fetches outside its CPU stages)."""
    shown = display_source(source)
    decoded = decode_image(data, policy, shown=shown, content_type=content_type)
    try:
        box = full_frame(*decoded.image.size)
        image = fit_frame(decoded.image, policy.crop_size)
    except (ImagingError, Cancelled):
        raise
    except Exception as exc:  # resampling a valid image should not fail; if it does, only this avatar fails
        raise UnexpectedImagingError(
            f"Resizing the avatar at {shown} failed unexpectedly ({type(exc).__name__}). This is a bug in "
            "depthstudio; please report it."
        ) from exc
    return Avatar(
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        original=decoded.image,
        image=image,
        crop=box,
        exif_rotated=decoded.exif_rotated,
        content_type=content_type,
        raw_size=len(data),
        extra=decoded.extra,
    )
