"""Turning downloaded bytes into an upright RGB photo, refusing anything that is not a safe raster image.

Only the raster formats portals serve as avatars are handed to Pillow (``SUPPORTED_FORMATS``): its other
plugins include rarely used decoders with a history of security bugs, and EPS, which runs Ghostscript. The
content is judged by its bytes, never by the Content-Type (servers answer login pages as ``image/png``).

Pillow's own limit (``Image.MAX_IMAGE_PIXELS``, about 89 MP) is enforced here as an error too: Pillow only
warns below twice that, and turning its warning into an error would need a process-wide warning filter (a
``catch_warnings`` block is not thread-safe, and the job decodes on several threads). It therefore caps
``FetchPolicy.max_pixels``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageFile, UnidentifiedImageError, features

from depthstudio.imaging.image_errors import (
    CorruptImageError,
    DecompressionBombError,
    EmptyImageError,
    ImagingError,
    NotAnImageError,
    TooManyPixelsError,
    TruncatedImageError,
    UnexpectedImagingError,
    UnsupportedFormatError,
)
from depthstudio.imaging.types import FetchPolicy

__all__ = [
    "BOMB_PIXELS_PER_BYTE",
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "decode_image",
    "open_image",
    "to_rgb",
    "to_srgb",
]

_AVIF = features.check("avif")
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP") + (("AVIF",) if _AVIF else ())

# Over the pixel limit, a file that expands to more than this many pixels per byte is not a big photo but a
# crafted (or degenerate) one: real photos stay below ~10, the deflate ceiling for a grey PNG is ~1000.
BOMB_PIXELS_PER_BYTE = 100

# what Pillow's plugins raise on damaged data (SyntaxError is their "not a valid file")
_DECODER_ERRORS = (SyntaxError, ValueError, OSError, EOFError, struct.error, IndexError)
_HTML_TAGS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<script")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# EXIF orientation -> the transpose that makes the pixels upright (EXIF 2.3, tag 0x0112)
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SUPPORTED_WORDS = "JPEG, PNG, GIF, WebP, BMP" + (" or AVIF" if _AVIF else "")


@dataclass
class DecodedImage:
    """An upright RGB photo plus what was learnt decoding it (format, original mode, frame count)."""

    image: Image.Image
    exif_rotated: bool
    extra: dict[str, str] = field(default_factory=dict)


def decode_image(
    data: bytes, policy: FetchPolicy, *, shown: str = "the avatar", content_type: str | None = None
) -> DecodedImage:
    """Decode ``data`` into an upright RGB image (first frame of an animation, transparency on white).

    ``shown`` names the avatar in messages (a URL already stripped of secrets). Every failure is an
    ``ImagingError``; no exception from a decoder escapes.
    """
    try:
        return _decode(data, policy, shown, content_type)
    except ImagingError:
        raise
    except Exception as exc:  # a decoder bug must fail this avatar, never the batch
        raise _unexpected(exc, shown) from exc


def open_image(data: bytes, policy: FetchPolicy, *, shown: str = "the image") -> Image.Image:
    """The fully loaded image in its own mode (16-bit stays 16-bit), through the same guards as an avatar.

    For images that are not photos, such as a depth map a remote model returns: the format allow-list, the
    pixel limit and bomb guard (``policy.max_pixels``) and the truncation check apply; orientation and RGB
    conversion do not. Every failure is an ``ImagingError``.
    """
    try:
        im, _extra = _open_checked(data, policy, shown, None)
    except ImagingError:
        raise
    except Exception as exc:
        raise _unexpected(exc, shown) from exc
    return im


def _unexpected(exc: Exception, shown: str) -> UnexpectedImagingError:
    return UnexpectedImagingError(
        f"Decoding the avatar at {shown} failed unexpectedly ({type(exc).__name__}). This is a bug in "
        "depthstudio or Pillow; please report it with the image."
    )


def _decode(data: bytes, policy: FetchPolicy, shown: str, content_type: str | None) -> DecodedImage:
    im, extra = _open_checked(data, policy, shown, content_type)
    orientation = _orientation(im)
    im = _rounded_sixteen_bit(data, im)
    managed, profile = to_srgb(im)
    if profile is not None:
        extra["icc_profile"] = profile
    rgb = to_rgb(managed, shown)
    transpose = _ORIENTATION.get(orientation)
    if transpose is not None:
        rgb = rgb.transpose(transpose)
        extra["exif_orientation"] = str(orientation)
    return DecodedImage(image=rgb, exif_rotated=transpose is not None, extra=extra)


def _open_checked(
    data: bytes, policy: FetchPolicy, shown: str, content_type: str | None
) -> tuple[ImageFile.ImageFile, dict[str, str]]:
    """Allowed format, bounded pixels, complete file, then the pixels loaded; plus what was learnt."""
    said = f" (the server called it {content_type})" if content_type else ""
    if not data:
        raise EmptyImageError(
            f"The avatar at {shown} is empty: zero bytes{said}. The upload probably failed; the user needs "
            "to upload the photo again."
        )
    head = data[:2048]
    fmt = _raster_format(head)
    if fmt is None:
        other = _other_format(head)
        document = _document_kind(head) if other is None else None
        if document is not None:
            raise NotAnImageError(
                f"The avatar at {shown} is {document}, not an image{said}. The URL probably leads to a web "
                "page (a login, error or viewer page) or a drawing: store a direct link to a JPEG or PNG "
                "file."
            )
        raise UnsupportedFormatError(
            f"The avatar at {shown} is {other or 'an unrecognised binary file'}{said}, not a "
            f"{_SUPPORTED_WORDS} image. Convert the photo to JPEG or PNG and upload it again."
        )
    im = _open(data, fmt, shown)
    width, height = im.size
    _check_pixels(width, height, len(data), policy, shown)
    _check_complete(data, fmt, shown)
    frames = _frame_count(im, shown)
    extra = {"format": im.format or fmt, "mode": im.mode, "width": str(width), "height": str(height)}
    if frames > 1:  # counting frames returns to the first one, which is the one decoded
        extra["frames"] = str(frames)
    _load(im, shown)
    return im, extra


def _raster_format(head: bytes) -> str | None:
    """The supported format the magic bytes announce, if any."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if _AVIF and head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    return None


def _document_kind(head: bytes) -> str | None:
    """What kind of non-image document these bytes are (markup, PDF, text), or None for binary data."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    low = text[:1024].lower()
    if low.startswith(b"<"):
        if b"<svg" in low or b"doctype svg" in low:
            return "an SVG drawing"
        if any(tag in low for tag in _HTML_TAGS):
            return "an HTML page"
        return "an XML or HTML document"
    if low.startswith(b"%pdf"):
        return "a PDF document"
    if _looks_like_text(head):
        return "JSON text" if low.startswith((b"{", b"[")) else "plain text"
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # anything but a character cut at the end of the sample
            return False
        decoded = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)


def _other_format(head: bytes) -> str | None:
    """The name of a known format that is not supported, so that the message says what to convert from."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo (as iPhones save them)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video or other ISO media file"
    known = (
        ((b"\xff\x0a", b"\x00\x00\x00\x0cJXL "), "a JPEG XL image"),
        ((b"II*\x00", b"MM\x00*"), "a TIFF image"),
        ((b"8BPS",), "a Photoshop document"),
        ((b"%!PS", b"\xc5\xd0\xd3\xc6"), "a PostScript/EPS file"),
        ((b"\x00\x00\x01\x00",), "an icon (ICO) file"),
    )
    return next((name for prefixes, name in known if head.startswith(prefixes)), None)


def _open(data: bytes, fmt: str, shown: str) -> ImageFile.ImageFile:
    """Read the header only: no pixel is decoded before the dimensions are checked."""
    try:
        return Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBombError(
            f"The avatar at {shown} declares an enormous image ({exc}). It was refused before decoding: the "
            "file is broken or crafted to exhaust memory. The user needs to upload a normal photo."
        ) from exc
    except (UnidentifiedImageError, *_DECODER_ERRORS) as exc:
        # a cut WebP fails here with a generic error: the missing tail tells truncation from damage
        if not _is_complete(data, fmt):
            raise _truncated(shown, len(data)) from exc
        raise _damaged(exc, fmt, shown) from exc


def _check_pixels(width: int, height: int, size: int, policy: FetchPolicy, shown: str) -> None:
    """Refuse too many pixels; over the limit, a tiny file for its pixel count is named a bomb."""
    pixels = width * height
    megapixels = f"{width}x{height} = {pixels / 1e6:.1f} MP"
    if pixels > policy.max_pixels:
        limit = f"{policy.max_pixels / 1e6:.1f} MP"
        if pixels > BOMB_PIXELS_PER_BYTE * size:
            raise DecompressionBombError(
                f"The avatar at {shown} is a {size / 1024:.0f} KiB file that would expand to {megapixels} "
                f"(limit {limit}): a decompression bomb. It was refused before decoding; the user needs to "
                "upload a normal photo."
            )
        raise TooManyPixelsError(
            f"The avatar at {shown} is {megapixels}, above the limit of {limit}. Ask the user for a smaller "
            "photo (an avatar needs about 1000x1000) or raise fetch.max_pixels."
        )
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and pixels > pillow_limit:  # only reachable with max_pixels above it
        raise DecompressionBombError(
            f"The avatar at {shown} is {megapixels}, beyond Pillow's safety limit of "
            f"{pillow_limit / 1e6:.1f} MP for decoding. It was refused before decoding; lower "
            "fetch.max_pixels to that limit or below."
        )


def _check_complete(data: bytes, fmt: str, shown: str) -> None:
    if not _is_complete(data, fmt):
        raise _truncated(shown, len(data))


def _is_complete(data: bytes, fmt: str) -> bool:
    """Whether the file reaches its format's terminator.

    Pillow notices most truncations by itself, but not a cut WebP (it reports a generic error) and not
    anything at all once someone in the process sets ``ImageFile.LOAD_TRUNCATED_IMAGES`` (it then pads with
    grey). PNG, JPEG and WebP must always end properly; GIF and BMP writers are sloppier about trailers, so
    they are checked only when that flag has switched off Pillow's own check.
    """
    tail = data[-4096:]
    if fmt == "PNG":
        return b"IEND" in tail
    if fmt == "JPEG":
        # the end-of-image marker must follow the start of the last scan (an EXIF thumbnail has its own pair)
        return data.rfind(b"\xff\xd9") > data.rfind(b"\xff\xda") >= 0
    if fmt == "WEBP":
        return len(data) >= 12 and len(data) >= struct.unpack_from("<I", data, 4)[0] + 8
    if fmt == "GIF" and ImageFile.LOAD_TRUNCATED_IMAGES:
        return tail.rstrip(b"\x00").endswith(b";")
    if fmt == "BMP" and ImageFile.LOAD_TRUNCATED_IMAGES:
        return len(data) >= 6 and len(data) >= struct.unpack_from("<I", data, 2)[0]
    return True


def _frame_count(im: ImageFile.ImageFile, shown: str) -> int:
    """Frames in an animation; reading it walks the file's block structure without decoding pixels."""
    try:
        return int(getattr(im, "n_frames", 1))
    except _DECODER_ERRORS as exc:
        raise _damaged(exc, im.format or "image", shown) from exc


def _load(im: ImageFile.ImageFile, shown: str) -> None:
    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecompressionBombError(
            f"The avatar at {shown} expands beyond Pillow's safety limit while decoding ({exc}); refused. "
            "The user needs to upload a normal photo."
        ) from exc
    except _DECODER_ERRORS as exc:
        raise _damaged(exc, im.format or "image", shown) from exc


def _damaged(exc: BaseException, fmt: str, shown: str) -> ImagingError:
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return _truncated(shown, None)
    return CorruptImageError(
        f"The avatar at {shown} looks like a {fmt} file but its data is damaged ({type(exc).__name__}: "
        f"{exc}). The user needs to upload the photo again."
    )


def _truncated(shown: str, size: int | None) -> TruncatedImageError:
    got = f" after {size} bytes" if size is not None else ""
    return TruncatedImageError(
        f"The avatar at {shown} is truncated: the image data ends{got} before the image does. The upload or "
        "the download was cut short; the user needs to upload the photo again."
    )


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation, 1 when absent. Malformed EXIF is common in real photos."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a malformed EXIF block means "no usable orientation", never a failed photo
        return 1
    return value if isinstance(value, int) else 1


# Colour management: browsers show an ICC-tagged photo converted to sRGB (react-depth-map uploads it to WebGL with
# the default UNPACK_COLORSPACE_CONVERSION, which applies the profile), so every reader of a photo converts once,
# here. A phone's Display P3 photo read as sRGB is visibly desaturated (up to 39/255 apart, issue 23).
_SRGB = ImageCms.createProfile("sRGB")
# Pillow mode -> (the ICC colour space it holds, the mode after conversion)
_MANAGED_MODES = {"RGB": ("RGB ", "RGB"), "RGBA": ("RGB ", "RGBA"), "CMYK": ("CMYK", "RGB")}


@functools.lru_cache(maxsize=32)
def _transform(digest: str, profile: bytes, mode: str) -> tuple[ImageCms.ImageCmsTransform, str] | None:
    """A cached transform to sRGB for one embedded profile (building one costs more than applying it)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except (OSError, ImageCms.PyCMSError):
        return None  # a damaged profile: the browser ignores it too and shows the values as sRGB
    space, out_mode = _MANAGED_MODES[mode]
    if source.profile.xcolor_space != space:
        return None
    description = (source.profile.profile_description or "").strip()
    if space == "RGB " and description.lower().startswith("srgb"):
        return None  # already sRGB: converting would only add rounding
    transform = ImageCms.buildTransform(
        source, _SRGB, mode, out_mode, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
    )
    return transform, description or "embedded"


def to_srgb(im: Image.Image) -> tuple[Image.Image, str | None]:
    """The photo converted from its embedded ICC profile (P3, Adobe RGB, a CMYK press profile) to sRGB, and the
    profile's description; ``(im, None)`` for untagged or sRGB-tagged photos.

    A profile that cannot be read or does not fit the pixels is ignored, as browsers ignore it; nothing here
    fails the avatar.
    """
    profile = im.info.get("icc_profile")
    if not profile or im.mode not in _MANAGED_MODES:
        return im, None
    built = _transform(hashlib.sha1(profile).hexdigest(), profile, im.mode)
    if built is None:
        return im, None
    transform, description = built
    try:
        out = ImageCms.applyTransform(im, transform)
    except (OSError, ValueError, ImageCms.PyCMSError):
        return im, None
    if out is None:
        return im, None
    return out, description


def _rounded_sixteen_bit(data: bytes, im: Image.Image) -> Image.Image:
    """A 16-bit colour PNG rounded to 8 bits as Chromium shows it (``round(v / 257)``), not truncated.

    Pillow keeps only the high byte of each 16-bit RGB(A) sample (measured against Chromium 156: 74 % of values
    agree, against 98 % for rounding; both within 1/255). OpenCV reads the full samples. Any failure keeps Pillow's.
    """
    if im.format != "PNG" or im.mode not in ("RGB", "RGBA") or len(data) < 26 or data[24] != 16:
        return im
    import cv2

    wide = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if wide is None or wide.dtype != np.uint16 or wide.shape[:2] != (im.height, im.width):
        return im
    order = cv2.COLOR_BGRA2RGBA if wide.ndim == 3 and wide.shape[2] == 4 else cv2.COLOR_BGR2RGB
    if wide.ndim != 3 or (wide.shape[2] == 4) != (im.mode == "RGBA"):
        return im
    levels = ((cv2.cvtColor(wide, order).astype(np.uint32) + 128) // 257).astype(np.uint8)
    out = Image.fromarray(levels, im.mode)
    out.info = dict(im.info)
    return out


def to_rgb(im: Image.Image, shown: str = "the avatar") -> Image.Image:
    """Any Pillow mode to 8-bit RGB: transparency composited on white, 16-bit scaled, not clipped."""
    if im.mode == "RGB":
        return im
    if im.mode in _SIXTEEN_BIT:
        wide = np.asarray(im).astype(np.float32)
        gray = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except ValueError as exc:
        raise UnsupportedFormatError(
            f"The avatar at {shown} uses the colour mode {im.mode}, which cannot be converted to RGB. "
            "Convert the photo to an ordinary RGB JPEG or PNG and upload it again."
        ) from exc
