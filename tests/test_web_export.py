"""``export-web``: per-user props with the global defaults and overrides, the folder, and the offline preview.

The preview is opened from ``file://`` in headless Chromium with the network switched off, as a designer
double-clicks it: it must show the avatars in 3D, animate, and request nothing but the page and data: URLs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.depth.postprocess import encode_png
from depthstudio.depth.synthetic import portrait_prior
from depthstudio.errors import Cancelled, ConfigError
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import prepare_textures, render_float, to_uint8
from depthstudio.render.web_export import MANIFEST, export_web
from tests.chromium import Chromium, Page, launch
from tests.conftest import REPO, SAMPLE_AVATARS
from tests.helpers import make_portal, portal_config

DEPTHS = REPO / "resources" / "demo" / "depth"
SAMPLES = ["astronaut.png", "chelsea.png", "grace_hopper.jpg", "camera.png", None]
NAMES = ["Eileen Collins", "Chelsea", "Grace Hopper", "Cameraman </script>", "No photo"]


def _png_of(path: Path) -> bytes:
    with Image.open(path) as img:
        buf = io.BytesIO()
        img.convert("L").save(buf, format="PNG")
        return buf.getvalue()


def _add_result(portal: Portal, user_id: str, avatar: str, png8: bytes, size: tuple[int, int]) -> None:
    queue = JobQueue(portal)
    queue.enqueue([(user_id, avatar)])
    job = queue.claim("test-worker")
    assert job is not None and job.user_id == user_id
    queue.complete(job, NewResult(avatar, "0" * 64, "test", "hand", size[0], size[1], png8))


def make_demo_portal(tmp: Path) -> Portal:
    """Users 0-1: hand-authored maps in the photo's frame; 2: a generated square-crop map; 3: none; 4: no photo."""
    db = f"sqlite:///{tmp / 'portal.sqlite3'}"
    urls = [(SAMPLE_AVATARS / s).as_uri() if s else None for s in SAMPLES]
    make_portal(db, urls, names=NAMES)
    portal = Portal.open(portal_config(db, tmp))
    for i in (0, 1):
        depth = DEPTHS / f"{Path(SAMPLES[i]).stem}.png"
        with Image.open(depth) as img:
            size = img.size
        _add_result(portal, f"u{i:05d}", urls[i], _png_of(depth), size)
    with Image.open(SAMPLE_AVATARS / SAMPLES[2]) as img:
        gray = np.asarray(img.convert("L").resize((128, 128)), dtype=np.float32) / 255.0
    _add_result(portal, "u00002", urls[2], encode_png(portrait_prior(gray), 8), (128, 128))
    portal.set_setting("shader_defaults", {"plane": 0.1, "counter_motion": 0.5}, by="test")
    portal.set_overrides(["u00002"], {"horizontal_threshold": 20.0, "occlusion_steps": 4}, by="test")
    return portal


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Portal, Path, object]]:
    tmp = tmp_path_factory.mktemp("export")
    portal = make_demo_portal(tmp)
    out = tmp / "web"
    summary = export_web(portal, None, out)
    yield portal, out, summary
    portal.close()


def _props(out: Path, user: str) -> dict:
    return json.loads((out / "users" / user / "params.json").read_text())


def test_each_user_gets_web_props_from_the_defaults_and_its_overrides(exported):
    _, out, summary = exported
    assert sorted(summary.ids("depth")) == ["u00000", "u00001", "u00002"]  # in name order
    assert summary.ids("plain") == ["u00003"]
    assert [(i.user_id, i.kind) for i in summary.items if i.outcome == "skipped"] == [("u00004", "no_photo")]
    defaults = ShaderParams(plane=0.1, counter_motion=0.5)
    assert _props(out, "u00000") == {"originalImg": "photo.png", "depthImg": "depth.png", **defaults.web_props()}
    custom = defaults.with_values(horizontal_threshold=20.0, occlusion_steps=4)
    assert _props(out, "u00002") == {"originalImg": "photo.png", "depthImg": "depth.png", **custom.web_props()}
    assert _props(out, "u00003") == {"originalImg": "photo.png", **defaults.web_props()}  # plain image
    assert {"horizontalThreshold", "verticalThreshold", "multiplier", "respondTo", "reverseMotion"} <= set(
        _props(out, "u00000")
    )


def test_the_folder_holds_the_viewer_the_shaders_and_the_manifest(exported):
    _, out, _ = exported
    assert (out / "depthstudio-viewer.js").read_text() == (REPO / "resources/web/depthstudio-viewer.js").read_text()
    for name in ("parallax.vert", "parallax.frag"):
        assert (out / "shaders" / name).read_text() == (REPO / "shaders" / name).read_text()
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(u["id"] for u in manifest["users"]) == ["u00000", "u00001", "u00002", "u00003"]
    assert not (out / "users" / "u00004").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".web.")]  # no partial folder left


def test_the_folder_holds_a_react_example_and_the_package_tarball(exported):
    _, out, _ = exported
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["react"] == {"example": "react/ExportedAvatars.tsx", "package": "react/depthstudio-react-0.1.0.tgz"}
    assert (out / "react/depthstudio-react-0.1.0.tgz").read_bytes() == (
        REPO / "resources/web/depthstudio-react-0.1.0.tgz"
    ).read_bytes()
    example = (out / "react/ExportedAvatars.tsx").read_text()
    assert 'import DepthAvatar from "@depthstudio/react";' in example
    assert example.count("<DepthAvatar\n") == 4  # one per exported user
    props = _props(out, "u00000")
    assert f'originalImg={{"/depthstudio/users/u00000/{props["originalImg"]}"}}' in example
    assert f"horizontalThreshold={{{json.dumps(props['horizontalThreshold'])}}}" in example


def test_photos_are_framed_like_their_depth_maps(exported):
    _, out, _ = exported
    with Image.open(out / "users/u00001/photo.png") as p, Image.open(SAMPLE_AVATARS / "chelsea.png") as o:
        assert p.size == o.size == (451, 300)  # hand-authored: the whole photo
        assert np.array_equal(np.asarray(p), np.asarray(o.convert("RGB")))
    with Image.open(out / "users/u00002/photo.png") as p, Image.open(SAMPLE_AVATARS / "grace_hopper.jpg") as o:
        assert p.size == (512, 512)  # generated: the square crop of the 512x600 photo, at full resolution
        crop, original = np.asarray(p).astype(int), np.asarray(o.convert("RGB")).astype(int)
        assert any(np.array_equal(crop, original[top : top + 512]) for top in range(0, 600 - 512 + 1))
    with Image.open(out / "users/u00002/depth.png") as d:
        assert d.size == (128, 128) and d.mode == "L"


def test_a_user_whose_photo_fails_is_reported_and_the_others_are_exported(exported, tmp_path):
    portal, _, _ = exported
    from sqlalchemy import update

    with portal.engine.begin() as conn:
        conn.execute(
            update(portal.users.table)
            .where(portal.users.id == "u00003")
            .values({portal.users.avatar.name: (tmp_path / "gone.png").as_uri()})
        )
    try:
        summary = export_web(portal, ["u00000", "u00003"], tmp_path / "web")
    finally:
        with portal.engine.begin() as conn:
            conn.execute(
                update(portal.users.table)
                .where(portal.users.id == "u00003")
                .values({portal.users.avatar.name: (SAMPLE_AVATARS / "camera.png").as_uri()})
            )
    assert summary.ids("depth") == ["u00000"]
    [failed] = [i for i in summary.items if i.outcome == "failed"]
    assert failed.user_id == "u00003" and "gone.png" in failed.message
    assert not summary.ok
    assert not (tmp_path / "web" / "users" / "u00003").exists()


def test_an_existing_folder_that_is_not_an_export_is_left_alone(exported, tmp_path):
    portal, _, _ = exported
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError) as err:
        export_web(portal, ["u00000"], target)
    assert err.value.kind == "export_target"
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # the half-built export was removed


def test_a_folder_with_a_foreign_users_json_is_left_alone(exported, tmp_path):
    """users.json is a common name: only the export's own manifest marks a folder as safe to replace."""
    portal, _, _ = exported
    target = tmp_path / "myproject"
    target.mkdir()
    (target / MANIFEST).write_text('[{"id": 1}]')
    (target / "important.txt").write_text("precious")
    for foreign in ('[{"id": 1}]', '{"generator": "something else"}', "not json"):
        (target / MANIFEST).write_text(foreign)
        with pytest.raises(ConfigError, match="not an earlier web export") as err:
            export_web(portal, ["u00000"], target)
        assert err.value.kind == "export_target"
        assert sorted(p.name for p in target.iterdir()) == ["important.txt", MANIFEST]
        assert (target / "important.txt").read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["myproject"]


def test_an_earlier_export_is_replaced(exported, tmp_path):
    portal, _, _ = exported
    export_web(portal, ["u00000", "u00001"], tmp_path / "web")
    export_web(portal, ["u00001"], tmp_path / "web")
    assert sorted(p.name for p in (tmp_path / "web" / "users").iterdir()) == ["u00001"]
    assert [p.name for p in tmp_path.iterdir()] == ["web"]


def test_a_repeated_user_id_is_exported_once(exported, tmp_path):
    portal, _, _ = exported
    summary = export_web(portal, ["u00001", "u00001", "u00000", "u00001"], tmp_path / "web")
    assert [i.user_id for i in summary.items] == ["u00001", "u00000"] and summary.ok
    assert sorted(p.name for p in (tmp_path / "web" / "users").iterdir()) == ["u00000", "u00001"]


def test_ids_that_differ_only_in_case_get_distinct_folders(tmp_path):
    """Bob and bob share a folder on case-insensitive disks (macOS, Windows) unless the names differ in more."""
    from sqlalchemy import update

    from depthstudio.render.web_export import _folder_name

    ids = list(dict.fromkeys(["Bob", "bob", "BOB", "con", _folder_name("Bob")]))  # the last: a hashed name as an id
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, [(SAMPLE_AVATARS / "camera.png").as_uri()] * len(ids), names=ids)
    portal = Portal.open(portal_config(db, tmp_path))
    try:
        with portal.engine.begin() as conn:
            for i, uid in enumerate(ids):
                conn.execute(
                    update(portal.users.table).where(portal.users.id == f"u{i:05d}").values({portal.users.id.name: uid})
                )
        summary = export_web(portal, ids, tmp_path / "web")
    finally:
        portal.close()
    assert summary.ids("plain") == ids
    manifest = json.loads((tmp_path / "web" / MANIFEST).read_text())
    folders = [Path(u["params"]).parent.name for u in manifest["users"]]
    assert len({f.casefold() for f in folders}) == len(ids)
    assert "con" not in folders  # a reserved device name on Windows
    assert sorted(p.name for p in (tmp_path / "web" / "users").iterdir()) == sorted(folders)


def test_a_repeated_user_on_the_command_line_is_not_a_traceback(tmp_path):
    make_demo_portal(tmp_path).close()
    done = _cli(["export-web", "u00001", "u00001", "-o", str(tmp_path / "site")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 with depth, 0 plain image, 0 skipped, 0 failed" in done.stdout
    assert "Traceback" not in done.stderr


def test_stored_parameters_out_of_range_are_clamped_like_the_studio_and_logged(tmp_path, caplog):
    """A range narrowed after values were saved must not block the export; the studio shows them clamped."""
    from depthstudio.render.params import SPECS_BY_NAME

    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, [(SAMPLE_AVATARS / "camera.png").as_uri()] * 2)
    portal = Portal.open(portal_config(db, tmp_path))
    try:
        portal.set_setting("shader_defaults", {"plane": 1.5}, by="test")
        portal.set_overrides(["u00001"], {"horizontal_threshold": 500, "occlusion_steps": -3}, by="test")
        with caplog.at_level("WARNING", logger="depthstudio.render.web_export"):
            summary = export_web(portal, None, tmp_path / "web")
    finally:
        portal.close()
    assert summary.ids("plain") == ["u00000", "u00001"] and summary.ok
    first, second = _props(tmp_path / "web", "u00000"), _props(tmp_path / "web", "u00001")
    assert first["clippingPlane"] == second["clippingPlane"] == SPECS_BY_NAME["plane"].maximum
    assert second["horizontalThreshold"] == SPECS_BY_NAME["horizontal_threshold"].maximum
    assert second["occlusionSteps"] == SPECS_BY_NAME["occlusion_steps"].minimum
    logged = [r.getMessage() for r in caplog.records]
    assert any("global shader defaults" in m and "plane" in m and "clamped" in m for m in logged), logged
    assert any("u00001" in m and "clamped" in m for m in logged), logged


def test_stored_parameters_of_the_wrong_kind_still_fail_that_user(tmp_path):
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, [(SAMPLE_AVATARS / "camera.png").as_uri()] * 2)
    portal = Portal.open(portal_config(db, tmp_path))
    try:
        portal.set_overrides(["u00001"], {"no_such_param": 1}, by="test")
        summary = export_web(portal, None, tmp_path / "web")
    finally:
        portal.close()
    assert summary.ids("plain") == ["u00000"]
    [failed] = [i for i in summary.items if i.outcome == "failed"]
    assert (failed.user_id, failed.kind) == ("u00001", "shader_param") and "no_such_param" in failed.message


def test_unknown_user_is_an_error_that_writes_nothing(exported, tmp_path):
    portal, _, _ = exported
    with pytest.raises(ConfigError, match="no user with id 'nobody'"):
        export_web(portal, ["nobody"], tmp_path / "web")
    assert not (tmp_path / "web").exists()


# --- the offline preview in Chromium ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    b = launch()
    yield b
    b.close()


def _frame(page: Page, index: int) -> np.ndarray:
    frame = page.eval(
        f"(() => {{ const v = viewers[{index}]; v.draw(); const p = v.pixels(); let s = '';"
        " for (let i = 0; i < p.data.length; i += 0x8000) s += String.fromCharCode(...p.data.subarray(i, i + 0x8000));"
        " return {w: p.width, h: p.height, data: btoa(s)}; })()"
    )
    return np.frombuffer(base64.b64decode(frame["data"]), np.uint8).reshape(frame["h"], frame["w"], 4)


@pytest.mark.web
def test_the_preview_runs_from_file_urls_offline_and_animates(exported, browser: Chromium):
    _, out, _ = exported
    page = browser.page(1000, 700)
    try:
        page.send("Page.bringToFront")
        page.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.goto((out / "index.html").as_uri())
        modes = dict(zip(page.eval("userIds"), page.eval("window.previewReady"), strict=True))
        assert modes == {"u00000": "webgl", "u00001": "webgl", "u00002": "webgl", "u00003": "image"}, page.console()
        plain = page.eval("userIds").index("u00003")
        assert page.eval(f"viewers[{plain}].fallbackReason") == "no depth map"
        assert page.eval("document.title") == "depthstudio web preview"
        assert "Cameraman </script>" in page.eval("document.body.innerText")  # names are data, not markup
        schemes = {url.split(":", 1)[0] for url in page.requested_urls()}
        assert schemes <= {"file", "data"}, page.requested_urls()

        page.mouse_move(990, 10)
        page.eval("new Promise(r => setTimeout(r, 100))")
        grace = page.eval("userIds").index("u00002")
        first = _frame(page, grace)
        page.eval("new Promise(r => setTimeout(r, 250))")
        second = _frame(page, grace)
        assert (np.abs(first.astype(int) - second.astype(int)) > 2).mean() > 0.01  # it moves on its own
    finally:
        page.close()


@pytest.mark.web
def test_the_preview_draws_what_the_studio_renders_for_that_user(exported, browser: Chromium):
    """Grace Hopper: square crop, override (threshold 20, occlusion 4) over the global defaults (plane 0.1)."""
    _, out, _ = exported
    page = browser.page(1000, 700)
    try:
        page.goto((out / "index.html").as_uri())
        page.eval("window.previewReady")
        grace = page.eval("userIds").index("u00002")
        assert page.eval(f"viewers[{grace}].mode") == "webgl"
        page.eval(f"viewers[{grace}].renderAt(0.7, -0.6)")
        web = _frame(page, grace)
        params = ShaderParams(plane=0.1, counter_motion=0.5, horizontal_threshold=20.0, occlusion_steps=4)
        with Image.open(out / "users/u00002/photo.png") as p, Image.open(out / "users/u00002/depth.png") as d:
            textures = prepare_textures(p, d)
        reference = to_uint8(render_float(textures, params, (0.7, -0.6), web.shape[1], web.shape[0]))
        over = (np.abs(web[..., :3].astype(int) - reference[..., :3]).max(axis=2) > 2).mean()
        assert over <= 0.001
    finally:
        page.close()


# --- the command ----------------------------------------------------------------------------------------------


def _cli(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEPTHSTUDIO_PORTAL_URL": f"sqlite:///{tmp / 'portal.sqlite3'}"}
    return subprocess.run(
        [sys.executable, "-m", "depthstudio", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_export_web_command(tmp_path):
    make_demo_portal(tmp_path).close()
    done = _cli(["export-web", "--all", "-o", str(tmp_path / "site")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 with depth, 1 plain image, 1 skipped, 0 failed" in done.stdout
    assert "u00004: skipped [no_photo]" in done.stdout
    assert (tmp_path / "site" / "index.html").exists()
    one = _cli(["export-web", "u00001", "-o", str(tmp_path / "one")], tmp_path)
    assert one.returncode == 0, one.stderr
    assert [p.name for p in (tmp_path / "one" / "users").iterdir()] == ["u00001"]
    unknown = _cli(["export-web", "nobody", "-o", str(tmp_path / "x")], tmp_path)
    assert unknown.returncode == 2 and "no user with id 'nobody'" in unknown.stderr
    neither = _cli(["export-web", "-o", str(tmp_path / "x")], tmp_path)
    assert neither.returncode == 2 and "give user ids or --all" in neither.stderr


def test_an_unwritable_target_is_an_error_not_a_traceback(tmp_path):
    make_demo_portal(tmp_path).close()
    (tmp_path / "a-file").write_text("not a folder")
    done = _cli(["export-web", "u00001", "-o", str(tmp_path / "a-file" / "site")], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "cannot create the export folder" in done.stderr and "Traceback" not in done.stderr


def test_a_cancelled_export_leaves_nothing_behind(exported, tmp_path):
    portal, _, _ = exported
    token = CancelToken()
    seen: list[str] = []

    def cancel_after_first(item) -> None:
        seen.append(item.user_id)
        token.cancel()

    with pytest.raises(Cancelled):
        export_web(portal, ["u00000", "u00001"], tmp_path / "web", on_item=cancel_after_first, cancel=token)
    assert seen == ["u00000"]
    assert list(tmp_path.iterdir()) == []


HOSTILE_NAMES = [
    "<!--<script>",
    "{{VIEWER}}",
    "{{DATA}} & {{TITLE}}",
    "Carol </script><img src=x onerror=window.pwned=1>",
    "line\u2028sep\u2029end <b>bold</b> &amp;",
]
HOSTILE_TITLE = "{{DATA}} <i>it</i> </title><script>window.pwned=1</script> {{VIEWER}} &amp;"


@pytest.mark.web
def test_hostile_names_and_title_stay_text_in_the_preview(browser: Chromium, tmp_path):
    """Names and the title are data: no markup, no script, no placeholder filled from them."""
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, [(SAMPLE_AVATARS / "camera.png").as_uri()] * len(HOSTILE_NAMES), names=HOSTILE_NAMES)
    portal = Portal.open(portal_config(db, tmp_path))
    try:
        export_web(portal, None, tmp_path / "web", title=HOSTILE_TITLE)
    finally:
        portal.close()
    page = browser.page(1000, 700)
    try:
        page.goto((tmp_path / "web" / "index.html").as_uri())
        assert page.eval("typeof window.previewReady") == "object", page.console()
        assert page.eval("window.previewReady") == ["image"] * len(HOSTILE_NAMES)
        captions = page.eval("[...document.querySelectorAll('figcaption')].map(f => f.firstChild.textContent)")
        assert sorted(captions) == sorted(HOSTILE_NAMES)
        assert page.eval("document.title") == HOSTILE_TITLE
        assert page.eval("document.querySelector('h1').textContent") == HOSTILE_TITLE
        assert page.eval("document.querySelectorAll('script, i, b').length") == 2  # the data and the module
        assert page.eval("document.querySelectorAll('img').length") == len(HOSTILE_NAMES)  # the avatars only
        assert page.eval("window.pwned") is None
    finally:
        page.close()


def _shown(page: Page, index: int) -> np.ndarray:
    """What the page displays for a viewer: its visible canvas copied through a 2D canvas, as RGBA."""
    frame = page.eval(
        f"(() => {{ const src = viewers[{index}].canvas; const c = document.createElement('canvas');"
        " c.width = src.width; c.height = src.height; const g = c.getContext('2d'); g.drawImage(src, 0, 0);"
        " const d = g.getImageData(0, 0, c.width, c.height).data; let s = '';"
        " for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode(...d.subarray(i, i + 0x8000));"
        " return {w: c.width, h: c.height, data: btoa(s)}; })()"
    )
    return np.frombuffer(base64.b64decode(frame["data"]), np.uint8).reshape(frame["h"], frame["w"], 4)


@pytest.mark.web
def test_a_page_with_more_avatars_than_chromium_has_webgl_contexts_shows_each_in_3d(browser: Chromium, tmp_path):
    """Chromium keeps 16 WebGL contexts per page alive; an export of 24 users must still draw every one."""
    count = 24
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    url = (SAMPLE_AVATARS / "camera.png").as_uri()
    make_portal(db, [url] * count)
    portal = Portal.open(portal_config(db, tmp_path))
    try:
        with Image.open(DEPTHS / "camera.png") as img:
            size = img.size
        for i in range(count):
            _add_result(portal, f"u{i:05d}", url, _png_of(DEPTHS / "camera.png"), size)
        summary = export_web(portal, None, tmp_path / "web")
    finally:
        portal.close()
    assert len(summary.ids("depth")) == count
    page = browser.page(1000, 700)
    try:
        page.send("Page.bringToFront")
        page.goto((tmp_path / "web" / "index.html").as_uri())
        assert page.eval("window.previewReady") == ["webgl"] * count, page.eval(
            "JSON.stringify(viewers.map(v => v.fallbackReason))"
        )
        frames = []
        for i in (0, 15, 16, count - 1):
            page.eval(f"viewers[{i}].container.scrollIntoView()")
            page.eval(f"viewers[{i}].renderAt(0.6, -0.4)")
            drawn = _frame(page, i)
            assert np.array_equal(_shown(page, i), drawn)  # the page shows the 3D frame, not a blank canvas
            frames.append(drawn)
        assert all(np.array_equal(f, frames[0]) for f in frames[1:])  # same photo, map and pointer
        page.eval("viewers[0].renderAt(0, 0)")
        assert (np.abs(_frame(page, 0).astype(int) - frames[0]).max(axis=2) > 2).mean() > 0.01  # the pointer moves it
        assert not [c for c in page.console() if "WebGL" in c or "shader" in c], page.console()
    finally:
        page.close()
