"""Our web viewer and the numpy reference against the REAL react-depth-map 1.0.9 from npm, in headless Chromium.

The published component (and the portal's fork: the same file with its plane at 0.05) draws each case in Debian's
Chromium, driven by playwright-core (tests/real_component.py); its canvas is read back in the same task as its own
animation frame drew it. Our viewer draws the same photo, box and devicePixelRatio with the mouse value read from
the component's ``mouse`` uniform, and the numpy reference renders the component's canvas (``web_canvas``).
The component is the reference; tests/test_web_viewer.py remains the second witness for our own modes.

Budget, as in test_web_viewer.py: nothing over 2/255 except 0.1 % of pixels (a lookup within one float ulp of a
depth step may take the other side of the edge); measured, the real canvas and ours agree bit for bit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from depthstudio.imaging import FetchPolicy, decode_image
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import Textures, prepare_textures, render_float, to_uint8, web_canvas
from depthstudio.render.target import target
from tests import real_component
from tests.conftest import REPO, SAMPLE_AVATARS
from tests.icc import display_p3

pytestmark = pytest.mark.web

DEPTHS = REPO / "resources" / "demo" / "depth"
OVER = 2
MAX_FRACTION_OVER = 0.001
VIEWPORT = (1000, 800)
# Pointer positions in the viewport: the centre (mouse 0) and two deflections; each is eased for STEPS frames of
# the component's own loop (1 - 0.95^12: 46 % of the way), and the exact eased value is read from its uniform.
POINTERS = [(500, 400), (60, 720), (930, 110)]
STEPS = 12
# What a designer tuned; each target draws it its own way (Target.drawn: the multiplier and our modes ignored).
TUNED = ShaderParams(horizontal_threshold=15, vertical_threshold=25, multiplier=3.0, plane=0.2, occlusion_steps=4)


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16)).max(axis=2)
    return int(d.max()), float((d > OVER).mean())


@dataclass(frozen=True)
class Photo:
    name: str  # file under /img/
    depth: str

    def textures(self, folder: Path) -> Textures:
        """What depthstudio decodes (EXIF applied, ICC to sRGB) and uploads."""
        decoded = decode_image((folder / self.name).read_bytes(), FetchPolicy(), shown=self.name)
        with Image.open(folder / self.depth) as depth:
            return prepare_textures(decoded.image, depth)


SHAPES = {
    "portrait": Photo("grace_hopper.jpg", "grace_hopper_depth.png"),  # 512x600: 452.34 px high at 386
    "landscape": Photo("chelsea.png", "chelsea_depth.png"),  # 451x300: 255.43 px high at 384
    "square": Photo("astronaut.png", "astronaut_depth.png"),
}
P3 = Photo("p3.jpg", "astronaut_depth.png")
ROTATED = Photo("rotated.jpg", "rotated_depth.png")


def _p3_photo(path: Path) -> None:
    """The astronaut's pixel values tagged Display P3 (a phone's photo): the browser shows them more saturated."""
    with Image.open(SAMPLE_AVATARS / "astronaut.png") as img:
        img.convert("RGB").save(path, quality=95, icc_profile=display_p3())


def _rotated_photo(folder: Path) -> None:
    """Grace Hopper stored on its side with EXIF Orientation 6 (as a phone held upright writes it)."""
    with Image.open(SAMPLE_AVATARS / "grace_hopper.jpg") as img:
        upright = img.convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 rotates it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(folder / "rotated.jpg", quality=95, exif=exif)
    with Image.open(DEPTHS / "grace_hopper.png") as depth:  # the map covers the displayed (upright) frame
        depth.save(folder / "rotated_depth.png")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("img")
    for photo in SHAPES.values():
        shutil.copy(SAMPLE_AVATARS / photo.name, folder / photo.name)
        shutil.copy(DEPTHS / f"{Path(photo.name).stem}.png", folder / photo.depth)
    _p3_photo(folder / P3.name)
    _rotated_photo(folder)
    return folder


@pytest.fixture(scope="module")
def base(images: Path) -> Iterator[str]:
    with real_component.serve(images) as url:
        yield url


def _job(photo: Photo, width: int, scale: float, component: str = "react-depth-map") -> dict[str, Any]:
    props = target(component).props(TUNED, f"/img/{photo.name}", f"/img/{photo.depth}")
    ours = target(component).drawn(TUNED).web_props()
    return {
        "component": component,
        "props": props,
        "width": width,
        "scale": scale,
        "pointers": POINTERS,
        "steps": STEPS,
        "viewerProps": {"originalImg": props["originalImg"], "depthImg": props["depthImg"], **ours},
        "photo": photo,
    }


# Two box widths per devicePixelRatio (DPR 2 at half the CSS width: the same device pixels, half the frames' cost).
WIDTHS = {1.0: (384, 386), 2.0: (192, 193)}
CASES = [
    *(_job(photo, width, scale) for photo in SHAPES.values() for scale in (1.0, 2.0) for width in WIDTHS[scale]),
    _job(SHAPES["portrait"], 386, 1.0, "react-depth-map-fork"),
    _job(SHAPES["landscape"], 193, 2.0, "react-depth-map-fork"),
    _job(P3, 384, 1.0),
    _job(ROTATED, 384, 1.0),
    _job(ROTATED, 193, 2.0, "react-depth-map-fork"),
]


def _case_id(job: dict[str, Any]) -> str:
    return f"{job['component']}-{Path(job['photo'].name).stem}-{job['width']}@{job['scale']:g}"


@pytest.fixture(scope="module")
def drawn(base: str) -> dict[str, dict[str, Any]]:
    """Every case drawn once, in one browser (the browser and the bundle cost more than the frames)."""
    jobs = [{k: v for k, v in job.items() if k != "photo"} for job in CASES]
    results = real_component.draw(base, jobs, VIEWPORT)
    return {_case_id(job): result for job, result in zip(CASES, results, strict=True)}


@pytest.mark.parametrize("job", CASES, ids=_case_id)
def test_our_viewer_and_the_reference_draw_what_the_real_component_draws(
    job: dict[str, Any], drawn: dict[str, dict[str, Any]], images: Path
):
    result = drawn[_case_id(job)]
    photo: Photo = job["photo"]
    textures = photo.textures(images)
    canvas = web_canvas(job["width"], *textures.photo_size, job["scale"])
    params = target(job["component"]).drawn(TUNED)
    report = []
    for (x, y), frame in zip(POINTERS, result["frames"], strict=True):
        real, ours = frame["real"], frame["ours"]
        assert (real.info["width"], real.info["height"]) == (canvas.width, canvas.height)
        assert real.info["resolution"] == pytest.approx(canvas.resolution, rel=1e-6)
        mouse = tuple(real.info["mouse"])
        reference = to_uint8(render_float(textures, params, mouse, canvas.width, canvas.height, canvas=canvas))
        assert ours.rgba.shape == real.rgba.shape
        ours_max, ours_over = _diff(ours.rgba, real.rgba)
        ref_max, ref_over = _diff(reference, real.rgba)
        report.append(f"({x},{y}) mouse {mouse[0]:+.3f},{mouse[1]:+.3f}: viewer {ours_max}/255, numpy {ref_max}/255")
        assert ours_over <= MAX_FRACTION_OVER, report
        assert ref_over <= MAX_FRACTION_OVER, report
    print(f"\n{_case_id(job)} canvas {canvas.width}x{canvas.height}: " + "; ".join(report))
    moved = result["frames"][1]["real"].rgba
    assert _diff(moved, result["frames"][0]["real"].rgba)[1] > 50 * MAX_FRACTION_OVER  # the pointer moved it


def test_the_fork_is_the_published_file_with_the_plane_at_005():
    published = "a (tex1.r - 0.5)*mouse.x, b (tex1.r - 0.5)*mouse.y"
    assert real_component.patch_fork(published) == "a (tex1.r - 0.05)*mouse.x, b (tex1.r - 0.05)*mouse.y"
    with pytest.raises(AssertionError, match="two"):
        real_component.patch_fork("(tex1.r - 0.5)")


def test_the_published_component_ignores_multiplier(base: str):
    """Its threshold uniform is the two thresholds alone, whatever ``multiplier`` says; thresholds do count."""
    job = _job(SHAPES["square"], 128, 1.0)
    job.update(pointers=[(60, 720)], viewerProps=None)
    jobs = [
        {**{k: v for k, v in job.items() if k != "photo"}, "props": {**job["props"], **extra}}
        for extra in ({"multiplier": 7}, {}, {"horizontalThreshold": 105, "verticalThreshold": 175})
    ]
    with_multiplier, plain, divided = (r["frames"][0]["real"].rgba for r in real_component.draw(base, jobs, VIEWPORT))
    assert np.array_equal(with_multiplier, plain)
    assert _diff(with_multiplier, divided)[1] > 50 * MAX_FRACTION_OVER


def test_a_contact_sheet_of_the_real_component_and_ours(drawn: dict[str, dict[str, Any]], tmp_path: Path):
    """Portrait, landscape, EXIF-rotated and P3 photos, deflected: the real component (left) beside our viewer.

    Written for a person to look at (``DEPTHSTUDIO_UPDATE_SCREENSHOTS=1`` keeps it in docs/screenshots).
    """
    rows = [
        drawn[_case_id(job)]["frames"][1]
        for job in CASES
        if job["scale"] == 1.0 and job["width"] == 384 and job["component"] == "react-depth-map"
    ]
    pad = 8
    width = 2 * 384 + 3 * pad
    height = sum(f["real"].rgba.shape[0] for f in rows) + pad * (len(rows) + 1)
    sheet = Image.new("RGB", (width, height), (40, 40, 40))
    y = pad
    for frame in rows:
        for col, key in enumerate(("real", "ours")):
            sheet.paste(Image.fromarray(frame[key].rgba[..., :3]), (pad + col * (384 + pad), y))
        y += frame["real"].rgba.shape[0] + pad
    shot = tmp_path / "real-component.png"
    sheet.save(shot)
    assert len(rows) == 5  # three shapes, the P3 photo and the rotated one
    if os.environ.get("DEPTHSTUDIO_UPDATE_SCREENSHOTS"):
        target_path = REPO / "docs" / "screenshots" / "real-component.png"
        sheet.quantize(256).save(target_path, optimize=True)
