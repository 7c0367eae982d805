"""The values that flow out of the imaging step into the depth backends and the postprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for fetching a user-controlled avatar URL. Defaults are safe for a server on the internet."""

    allow_private: bool = False  # loopback/private/link-local targets refused unless True (SSRF guard)
    # "host" or "host:port" entries exempt from the private-address refusal (an internal image server),
    # matched against the URL's host as written; every other private target stays refused, redirects included.
    private_hosts: tuple[str, ...] = ()
    allowed_schemes: tuple[str, ...] = ("https", "http")
    allow_local_paths: bool = True  # plain filesystem paths / file:// (the demo portal uses them)
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 15.0  # total wall time for one download, connect + all reads
    max_redirects: int = 3
    max_pixels: int = 40_000_000  # decompression-bomb guard (width * height of the decoded image)
    crop_size: int = 512  # side of the square crop handed to the depth backends


@dataclass(frozen=True)
class CropBox:
    """The square crop in the coordinates of the EXIF-oriented original (left, top, right, bottom)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def size(self) -> int:
        return self.right - self.left


@dataclass(frozen=True)
class Avatar:
    """One user's photo, ready for a depth backend.

    ``original`` is the EXIF-oriented, sRGB image at full size; ``image`` is the same whole frame with its longer
    side at ``FetchPolicy.crop_size`` (aspect kept), and ``crop`` is the frame a depth map covers: the whole
    photo, so that the portal's one crop of photo and map keeps them aligned. A backend that sends the original
    (e.g. Replicate with the public URL) returns a map in the original's frame, resized to ``image``'s size.
    """

    source: str  # the avatar URL or path exactly as stored in the portal
    sha256: str  # of the raw bytes as downloaded: identifies the photo content
    original: Image.Image
    image: Image.Image
    crop: CropBox
    exif_rotated: bool = False  # EXIF orientation changed the pixels (the raw URL alone is not enough)
    content_type: str | None = None
    raw_size: int = 0
    extra: dict[str, str] = field(default_factory=dict)
