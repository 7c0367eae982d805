"""Photos are colour-managed at decode like a browser shows them: an embedded ICC profile is converted to sRGB once.

The real browser is the reference in tests/test_real_component.py (a P3-tagged photo drawn by react-depth-map);
here a second witness, the P3 -> sRGB conversion computed from the colour spaces' published definitions.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from depthstudio.imaging import FetchPolicy, decode_image
from tests.icc import colorants, display_p3

SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))


def _decode(img: Image.Image, **save: object) -> tuple[np.ndarray, dict[str, str]]:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **save)
    decoded = decode_image(buf.getvalue(), FetchPolicy(), shown="test.png")
    return np.asarray(decoded.image), decoded.extra


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _srgb_encode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def _p3_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """P3 values -> linear -> XYZ (D50) -> linear sRGB -> sRGB values, clipped like relative colorimetric."""
    linear = _srgb_decode(rgb / 255.0)
    xyz = linear @ colorants().T
    srgb_linear = xyz @ np.linalg.inv(colorants(SRGB_PRIMARIES)).T
    return np.clip(_srgb_encode(np.clip(srgb_linear, 0, 1)) * 255.0, 0, 255)


def test_a_display_p3_photo_is_converted_to_srgb():
    rng = np.random.default_rng(23)
    values = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    decoded, extra = _decode(Image.fromarray(values), icc_profile=display_p3())
    expected = _p3_to_srgb(values.astype(np.float64))
    assert np.abs(decoded.astype(np.float64) - expected).max() <= 1.5
    assert extra["icc_profile"].startswith("Display P3")
    assert np.abs(decoded.astype(int) - values.astype(int)).max() > 20  # read as sRGB it would be far off


@pytest.mark.parametrize("profile", [None, "srgb"])
def test_untagged_and_srgb_photos_keep_their_values(profile: str | None):
    values = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    save = (
        {} if profile is None else {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()}
    )
    decoded, extra = _decode(Image.fromarray(values), **save)
    assert np.array_equal(decoded, values)
    assert "icc_profile" not in extra


def test_a_damaged_profile_is_ignored_like_a_browser_ignores_it():
    values = np.full((4, 4, 3), 120, np.uint8)
    decoded, extra = _decode(Image.fromarray(values), icc_profile=b"not a profile at all" * 8)
    assert np.array_equal(decoded, values)
    assert "icc_profile" not in extra


def test_a_tagged_photo_with_transparency_is_converted_then_put_on_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    decoded, _ = _decode(Image.fromarray(rgba, "RGBA"), icc_profile=display_p3())
    assert np.array_equal(decoded[0, 0], [255, 255, 255])
    assert np.abs(decoded[1, 1] - _p3_to_srgb(np.array([200.0, 100.0, 50.0]))).max() <= 1.5
