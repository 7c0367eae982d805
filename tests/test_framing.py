"""Stored maps cover the displayed photo's whole frame (EXIF applied) at its aspect ratio (issue 23).

The portal crops photo and map with one URL transformation; a map cut to our own square crop was misaligned with
the portal's crop of the photo. Results made before are square maps of the old crop: they are still drawn
through that crop (``map_frame``) and never stretched over the whole photo.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.postprocess import make_depth_map
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.errors import ImagingError, RenderError
from depthstudio.imaging import FetchPolicy, load_avatar
from depthstudio.imaging.crop import map_frame, photo_for_map, square_crop_box
from depthstudio.imaging.types import CropBox
from depthstudio.render.web_export import photo_in_depth_frame
from tests.conftest import SAMPLE_AVATARS


def _photo(path: Path, size: tuple[int, int], orientation: int | None = None) -> Path:
    with Image.open(SAMPLE_AVATARS / "astronaut.png") as img:
        pixels = img.convert("RGB").resize(size)
    if orientation is None:
        pixels.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        pixels.save(path, quality=92, exif=exif)
    return path


PHOTOS = {
    "portrait-480x640": ((480, 640), None, (480, 640)),
    "landscape-640x400": ((640, 400), None, (640, 400)),
    "exif-rotated-640x480-shown-480x640": ((640, 480), 6, (480, 640)),
}


@pytest.mark.parametrize("name", PHOTOS)
def test_a_generated_map_has_the_displayed_photos_shape(name: str, tmp_path: Path):
    stored, orientation, shown = PHOTOS[name]
    suffix = ".jpg" if orientation else ".png"
    avatar = load_avatar(
        str(_photo(tmp_path / f"p{suffix}", stored, orientation)), FetchPolicy(allow_local_paths=True, crop_size=512)
    )
    assert avatar.original.size == shown
    result = make_depth_map(SyntheticBackend().predict(avatar), avatar)
    h, w = result.depth.shape
    assert max(w, h) == 512
    assert abs(w / h - shown[0] / shown[1]) < 1 / min(w, h)  # the photo's aspect, to the rounding of a pixel
    with Image.open(io.BytesIO(result.png8)) as png:
        assert png.size == (w, h)
    assert not result.qa["checks"]["mismatch"]["flagged"]  # QA checks the map against the whole frame


def test_a_map_on_the_full_size_original_is_resized_to_the_frame_not_cropped(tmp_path: Path):
    """Replicate-style output (frame "original"): the whole map is kept, at the model input's size."""
    avatar = load_avatar(
        str(_photo(tmp_path / "p.png", (480, 640))), FetchPolicy(allow_local_paths=True, crop_size=256)
    )
    ramp = np.tile(np.linspace(0.0, 1.0, 640, dtype=np.float32)[:, None], (1, 480))  # top 0 .. bottom 1
    result = make_depth_map(DepthPrediction(ramp, "original", "test", "ramp"), avatar)
    assert result.depth.shape == (256, 192)
    assert result.depth[0].max() < 0.01 and result.depth[-1].min() > 0.99  # both ends of the photo are there


def test_maps_at_the_photos_aspect_cover_the_whole_frame():
    assert map_frame(512, 600, 437, 512) == CropBox(0, 0, 512, 600)
    assert map_frame(451, 300, 512, 341) == CropBox(0, 0, 451, 300)
    assert map_frame(512, 512, 512, 512) == CropBox(0, 0, 512, 512)


def test_an_older_square_map_of_a_portrait_is_drawn_through_its_old_square_crop():
    assert map_frame(512, 600, 512, 512) == square_crop_box(512, 600) == CropBox(0, 9, 512, 521)
    photo = Image.new("RGB", (512, 600))
    photo.paste((255, 0, 0), (0, 0, 512, 9))  # above the old square: must not appear in the frame
    framed = photo_for_map(photo, (512, 512))
    assert framed.size == (512, 512)
    assert np.asarray(framed)[..., 0].max() == 0


def test_a_map_framed_neither_way_is_refused():
    with pytest.raises(ImagingError, match="generate it again"):
        map_frame(512, 600, 300, 200)


def test_the_web_export_frames_the_photo_like_an_older_square_map(tmp_path: Path):
    avatar = load_avatar(str(_photo(tmp_path / "p.png", (480, 640))), FetchPolicy(allow_local_paths=True))
    assert photo_in_depth_frame(avatar, (437, 582)).size == (480, 640)  # a new map: the whole photo
    old = photo_in_depth_frame(avatar, (512, 512))
    assert old.size == (480, 480)  # the old square crop, at the photo's resolution
    with pytest.raises(RenderError, match="generate it again"):
        photo_in_depth_frame(avatar, (100, 300))
