"""@depthstudio/react on the real stack: its build, a Next.js app (`next build` + `next start` on 127.0.0.1) and
Debian's Chromium driven by playwright-core (web/e2e/browser.mjs). Tolerance of the still frame: as in
tests/test_web_viewer.py (SwiftShader filters like the numpy reference; 0.1 % of pixels may exceed 2/255 where a
lookup lands within a float ulp of a depth step).
"""

from __future__ import annotations

import base64
import re
import tarfile
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from depthstudio.render.motion import pointer_target
from depthstudio.render.params import ShaderParams
from depthstudio.render.react_export import TARBALL, jsx_snippet, react_example
from depthstudio.render.reference import prepare_textures, render_float, to_uint8
from tests import node_web
from tests.conftest import REPO, SAMPLE_AVATARS

pytestmark = pytest.mark.web

OVER = 2
MAX_FRACTION_OVER = 0.001


@pytest.fixture(scope="module")
def package() -> str:
    node_web.install()
    return node_web.build_package()


@pytest.fixture(scope="module")
def site(package: str) -> Iterator[str]:
    with node_web.next_server() as base:
        yield base


def _frame(found: dict) -> np.ndarray:
    f = found["frame"]
    return np.frombuffer(base64.b64decode(f["data"]), np.uint8).reshape(f["height"], f["width"], 4)


def _reference(mouse: tuple[float, float], w: int, h: int) -> np.ndarray:
    with (
        Image.open(SAMPLE_AVATARS / "astronaut.png") as img,
        Image.open(REPO / "resources/demo/depth/astronaut.png") as d,
    ):
        textures = prepare_textures(img, d)
    return to_uint8(render_float(textures, ShaderParams(), mouse, w, h))


def _over(a: np.ndarray, b: np.ndarray) -> float:
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16)).max(axis=2)
    return float((d > OVER).mean())


def test_the_package_builds_within_its_size_budget(package: str):
    size = int(re.search(r"(\d+) B min\+gzip", package).group(1))
    print(f"\n{package}")
    assert 0 < size <= 8 * 1024
    dist = node_web.WEB / "react" / "dist"
    assert (dist / "index.js").read_text().startswith('"use client";')  # Next.js: a client component
    assert "export declare function DepthAvatar" in (dist / "DepthAvatar.d.ts").read_text()
    # One shader source: the shipped GLSL is the file in shaders/ (comments dropped), not a copy.
    frag = node_web.run(
        ["node", "-e", "import('./react/build.mjs').then(m => process.stdout.write(m.shaderText('parallax.frag')))"]
    )
    js = (dist / "index.js").read_text()
    assert "relativeDepth" in frag and (frag in js or frag.replace("\n", "\\n") in js)


def test_vitest_units(package: str):
    node_web.run(["npx", "vitest", "run"])


def test_types_compile_in_a_strict_consumer(package: str):
    """A portal's TypeScript (tsc --strict, NodeNext) imports the package and passes react-depth-map's props; the
    JSX that export-web and "Copy web props" write compiles too."""
    layered = {"originalImg": "photo.png", "depthImg": "depth.png", **ShaderParams(layered=True).web_props()}
    users = [
        {"id": "1", "name": "Ada", "folder": "u1", "props": layered},
        {"id": "2", "name": None, "folder": "u2", "props": {"originalImg": "photo.png", **ShaderParams().web_props()}},
    ]
    generated = node_web.WEB / "consumer" / "generated"
    generated.mkdir(exist_ok=True)
    (generated / "ExportedAvatars.tsx").write_text(react_example(users))
    snippet = jsx_snippet({"originalImg": "/a.jpg", **ShaderParams().web_props()})
    (generated / "Snippet.tsx").write_text(snippet.replace("\n\n<", "\n\nexport const avatar = <"))
    node_web.run(["npx", "tsc", "-p", "consumer"])


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.canvases = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "canvas":
            self.canvases += 1


def test_the_server_html_carries_the_plain_images_with_their_size(site: str):
    with urllib.request.urlopen(f"{site}/?n=60", timeout=30) as r:
        html = r.read().decode()
    parsed = _Images()
    parsed.feed(html)
    avatars = [i for i in parsed.images if (i.get("src") or "").startswith("/demo/avatars/")]
    assert len(avatars) == 60
    assert all(i.get("width") and i.get("height") for i in avatars)  # the box is reserved: no layout shift
    assert avatars[1]["alt"] == "Speaker 2" and (avatars[1]["width"], avatars[1]["height"]) == ("512", "600")
    assert parsed.canvases == 0


def test_sixty_avatars_animate_on_one_context_without_console_errors(site: str):
    found = node_web.browser("speakers", site)
    assert found["errors"] == []
    assert found["contexts"] == {"created": 1, "lost": 0}
    assert found["webgl"] == found["canvases"] == 48  # every user with a depth map in 3D; 12 plain photos
    assert found["images"] == 60  # the server's photos stay under the canvases (the fallback)
    assert found["changed"]  # the pointer moved the first avatar


def test_a_still_pointer_matches_the_numpy_reference(site: str):
    found = node_web.browser("still", site)
    assert found["errors"] == []
    web = _frame(found)
    assert web.shape == (192, 192, 4)
    mouse = pointer_target(640, 180, 800, 600)
    assert found["target"] == pytest.approx(list(mouse))
    assert found["mouse"] == pytest.approx(list(mouse), abs=1e-3)
    assert _over(web, _reference(tuple(found["mouse"]), 192, 192)) <= MAX_FRACTION_OVER
    # The measure can fail: a pointer one step off is far beyond the budget.
    assert _over(web, _reference((mouse[0] - 0.2, mouse[1]), 192, 192)) > 50 * MAX_FRACTION_OVER


def test_reduced_motion_shows_the_still_photos_without_webgl(site: str):
    found = node_web.browser("reduced", site)
    assert found["errors"] == []
    assert found["canvases"] == 0 and found["images"] == 10
    assert found["contexts"] == {"created": 0, "lost": 0}


def test_a_lost_context_shows_the_photos_and_the_avatars_come_back(site: str):
    found = node_web.browser("lose", site)
    assert found["errors"] == []
    assert found["running"]["canvases"] == 8
    assert found["lost"]["canvases"] == 0 and found["lost"]["images"] == 10  # the plain photos
    assert found["lost"]["contexts"] == {"created": 1, "lost": 1}
    assert found["restored"]["canvases"] == found["restored"]["webgl"] == 8
    assert found["restored"]["contexts"]["created"] == 1  # restored, not a second context
    frame = _frame(found)
    assert frame[..., :3].std() > 10  # drawn again, not a blank canvas


def test_pointer_events_before_the_images_load_break_nothing(site: str):
    """react-depth-map's eased pointer turns NaN (one flat colour) here; ours draws and follows the pointer."""
    found = node_web.browser("early", site)
    assert found["errors"] == []
    assert found["beforeLoad"]["canvases"] == 0  # the depth map was held back: the plain photo meanwhile
    web = _frame(found)
    assert _over(web, _reference(tuple(found["mouse"]), 192, 192)) <= MAX_FRACTION_OVER


@pytest.mark.parametrize(("scenario", "react"), [("strict", "19."), ("strict18", "18.")])
def test_strict_mode_double_mount_and_unmount_leak_nothing(site: str, scenario: str, react: str):
    """React's development build mounts every effect twice; one viewer per avatar survives, none after unmount.
    On both peers: React 19 and React 18 (web/e2e/strict.jsx bundled with npm aliases)."""
    found = node_web.browser(scenario, site)
    assert found["react"].startswith(react)
    assert found["errors"] == []
    mounted, unmounted = found["mounted"], found["unmounted"]
    assert mounted["viewers"] == mounted["canvases"] == 6  # 8 avatars, 2 without a depth map
    assert mounted["contexts"] == {"created": 1, "lost": 0}
    # pointermove, touchmove, touchstart per live viewer; none left by the first (discarded) mount
    assert mounted["listeners"] == 3 * 6
    assert unmounted == {"viewers": 0, "moving": 0, "listeners": 0}


def _tar_files(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_the_shipped_tarball_is_the_package_as_built_now(package: str, tmp_path):
    """resources/web's tarball (what export-web hands out) holds what `npm pack` of the current source gives."""
    node_web.run(["npm", "pack", "--pack-destination", str(tmp_path)], cwd=node_web.WEB / "react")
    fresh = _tar_files(tmp_path / TARBALL)
    assert set(fresh) >= {"package/dist/index.js", "package/dist/index.d.ts", "package/package.json"}
    assert _tar_files(REPO / "resources" / "web" / TARBALL) == fresh, "run `npm run pack` in web/react"


def test_the_canvas_resolution_is_capped_at_twice_the_css_size(site: str):
    found = node_web.browser("dpr", site)
    assert found["errors"] == []
    assert found["ratio"] == 3 and found["cssWidth"] == 192
    assert (found["width"], found["height"]) == (384, 384)  # maxPixelRatio 2, not the screen's 3


def test_phone_tilt_moves_the_avatar_from_how_the_phone_is_held(site: str):
    found = node_web.browser("gyro", site)
    assert found["errors"] == []
    assert found["held"] == [0, 0]  # the first reading is the rest position
    assert found["tilted"] == [-0.5, 0]  # 10 degrees to the right: half of the full pointer offset
