"""The preview draws the shared shader in the window's real GL context, pixel-matched to the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from depthstudio.portal.repository import Query
from depthstudio.render.motion import pointer_target
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import prepare_textures, render_float, to_uint8
from depthstudio.resources import resources_dir
from depthstudio.ui.preview import original_of
from tests.ui.conftest import require_gl

MOUSE = (0.8, -0.6)


def _select(qtbot, window, user_id: str) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.preview.content is not None and window.current.id == user_id, timeout=5000)
    qtbot.waitUntil(lambda: not window.tasks.pending and not window.params.loading, timeout=5000)


def _reference(window, params: ShaderParams, mouse=MOUSE, *, depth=None) -> np.ndarray:
    content = window.preview.content
    textures = prepare_textures(content.photo, content.depth if depth is None else depth)
    w, h = window.preview.width(), window.preview.height()
    return to_uint8(render_float(textures, params, mouse, w, h))[..., :3].astype(np.int16)


def _assert_matches(frame: np.ndarray, reference: np.ndarray) -> None:
    diff = np.abs(frame.astype(np.int16) - reference)
    # llvmpipe and numpy agree to the last bit on most pixels; a sample landing on a texel boundary may round
    # the other way, which the displacement can carry to a neighbouring texel at a sharp edge.
    assert diff.mean() < 0.5, f"mean difference {diff.mean():.3f}"
    assert np.percentile(diff, 99.5) <= 8, f"99.5th percentile {np.percentile(diff, 99.5)}"


def test_preview_renders_the_shader_like_the_reference_and_follows_the_sliders(qtbot, make_window, seeded, portal):
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[1])
    assert window.preview.has_depth
    window.preview.set_mouse(MOUSE)
    before = window.preview.frame_rgb()
    _assert_matches(before, _reference(window, window.params.current()))

    slider = window.params.rows["horizontal_threshold"].slider
    slider.setFocus()
    for _ in range(20):  # a keyboard drag towards the minimum: more horizontal motion
        qtbot.keyClick(slider, Qt.Key.Key_Left)
    params = window.params.current()
    assert params.horizontal_threshold == 15.0
    after = window.preview.frame_rgb()
    assert np.abs(after.astype(np.int16) - before).mean() > 1.0, "the frame did not change with the slider"
    _assert_matches(after, _reference(window, params))

    window.params.flush()
    qtbot.waitUntil(lambda: portal.get_overrides(seeded[1]) == {"horizontal_threshold": 15.0}, timeout=5000)


def test_split_view_shows_the_original_shader_left_and_the_fixed_one_right(qtbot, make_window, seeded):
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[1])
    window.preview.set_mouse(MOUSE)
    window.view_buttons["split"].click()
    frame = window.preview.frame_rgb()
    params = window.params.current()
    original, fixed = _reference(window, original_of(params)), _reference(window, params)
    half = frame.shape[1] // 2
    _assert_matches(frame[:, :half], original[:, :half])
    _assert_matches(frame[:, half:], fixed[:, half:])
    assert [text for _, text in window.preview.captions()] == ["original web shader (plane 0.5)", "fixed"]
    assert np.abs(original - fixed).mean() > 1.0, "plane 0.5 and 0.05 should differ visibly at this pointer"


def test_user_without_depth_map_gets_the_plain_photo_whatever_the_pointer(qtbot, make_window, seeded, portal):
    window = make_window()
    require_gl(window)
    missing = next(r for r in portal.list_users(limit=100) if r.status == "missing")
    _select(qtbot, window, missing.id)
    assert not window.preview.has_depth
    window.preview.set_mouse(MOUSE)
    frame = window.preview.frame_rgb()
    window.preview.set_mouse((-MOUSE[0], -MOUSE[1]))
    assert np.array_equal(frame, window.preview.frame_rgb())
    flat = np.zeros((8, 8), np.uint8)
    _assert_matches(frame, _reference(window, window.params.current(), (0.0, 0.0), depth=flat))
    assert "no depth map" in window.preview.captions()[0][1]


def test_depth_and_compare_views(qtbot, make_window, seeded):
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[0])  # two results: compare is possible
    assert window.view_buttons["compare"].isEnabled()
    window.preview.set_mouse(MOUSE)

    window.view_buttons["depth"].click()
    depth_frame = window.preview.frame_rgb()
    assert np.allclose(depth_frame[..., 0], depth_frame[..., 2], atol=1), "the depth view is grayscale"

    window.view_buttons["compare"].click()
    compare = window.preview.frame_rgb()
    assert compare.shape == depth_frame.shape
    assert compare[:, compare.shape[1] // 4].std() > 5, "the left pane shows a picture"
    assert compare[:, 3 * compare.shape[1] // 4].std() > 5, "the right pane shows a picture"

    # The 1:1 view (the photo's own pixels, zoom and pan): tests/ui/test_studio_small_things.py


def test_motion_eases_towards_the_pointer_and_orbits_when_idle(qtbot, make_window, seeded):
    window = make_window()
    require_gl(window)
    _select(qtbot, window, seeded[1])
    window.preview.set_mouse((0.0, 0.0))
    assert window.motion_button.isChecked() and window.preview.motion_enabled  # on from the first open
    qtbot.keyClick(window.list, Qt.Key.Key_O)  # O toggles auto-orbit
    assert window.orbit_button.isChecked() and window.preview.orbit_enabled
    qtbot.waitUntil(lambda: abs(window.preview.pointer.mouse_x) > 0.05, timeout=5000)
    first = window.preview.pointer.mouse
    qtbot.wait(200)
    assert window.preview.pointer.mouse != first, "the eased pointer keeps moving along the orbit"
    preview = window.preview
    spot = QPoint(preview.width() // 4, preview.height() // 2)
    qtbot.mouseMove(preview, spot)
    expected = pointer_target(spot.x(), spot.y(), preview.width(), preview.height())
    qtbot.waitUntil(lambda: preview.pointer.target_x == pytest.approx(expected[0], abs=0.01), timeout=2000)
    qtbot.waitUntil(lambda: abs(preview.pointer.mouse_x - expected[0]) < 0.05, timeout=5000)  # eased towards it
    qtbot.keyClick(window.list, Qt.Key.Key_Space)  # Space freezes the picture
    assert not window.preview.motion_enabled
    frozen = window.preview.pointer.mouse
    assert not window.preview.animating  # the clock that moves the pointer is stopped, not just slowed
    QApplication.sendPostedEvents()
    QApplication.processEvents()
    assert window.preview.pointer.mouse == frozen


def test_a_depth_map_the_portal_already_has_is_previewed(qtbot, make_window, portal):
    """No depthstudio result, but the portal's depth column points at a map: the web shows it, so must we."""
    depth_file = resources_dir() / "demo" / "depth" / "camera.png"
    row = next(r for r in portal.list_users(Query(), limit=100) if r.avatar and r.status == "missing")
    with portal.engine.begin() as conn:
        table = portal.users.table
        conn.execute(update(table).where(table.c.id == row.id).values({portal.users.depth.name: depth_file.as_uri()}))
    assert portal.get_user(row.id).result_id is None
    window = make_window()
    _select(qtbot, window, row.id)
    content = window.preview.content
    assert window.preview.has_depth
    expected = np.asarray(Image.open(depth_file).convert("L"))
    assert np.array_equal(content.depth, expected)
    assert content.photo.width == content.photo.height  # the square crop the map covers (textures map by UV)


def test_the_preview_shows_the_avatar_through_the_portals_display_crop(portal):
    """[web] display_crop = square: photo and map are cut at the same centred square, as the website cuts them."""
    from depthstudio.imaging import load_avatar
    from depthstudio.studio.preview_loading import load_preview as _load_preview
    from tests.ui.conftest import seed_result

    row = next(
        r
        for r in portal.list_users(Query(), limit=200)
        if r.avatar and len(set(load_avatar(r.avatar, portal.config.fetch.policy()).original.size)) == 2
    )
    original = load_avatar(row.avatar, portal.config.fetch.policy()).original
    w, h = original.size
    ramp = np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :], (h, 1))  # left 0 .. right 1
    seed_result(portal, row.id, depth=ramp)
    row = portal.get_user(row.id)
    portal.config.web.display_crop = "square"
    try:
        content, _note, _history = _load_preview(portal, row)
    finally:
        portal.config.web.display_crop = "none"
    side = min(w, h)
    assert content is not None and content.photo.size == (side, side) and content.depth.shape == (side, side)
    if w > h:  # the map was cut at the same columns as the photo: its ramp no longer starts at 0
        assert content.depth[:, 0].min() > 0 and content.depth[:, -1].max() < 255


def test_a_new_display_crop_in_settings_redraws_the_shown_avatar_through_it(qtbot, make_window, tmp_path, monkeypatch):
    """Settings → display crop "square": the shown avatar (and any neighbour loaded ahead for J/K) is framed anew,
    not left in the old crop until the editor moves on and back."""
    from PySide6.QtCore import QTimer

    from depthstudio.imaging import load_avatar
    from tests.ui.conftest import seed_result

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the dialog saves the user's config file: here, a temp one
    window = make_window()
    portal = window.portal
    row = next(
        r
        for r in portal.list_users(Query(), limit=200)
        if r.avatar and len(set(load_avatar(r.avatar, portal.config.fetch.policy()).original.size)) == 2
    )
    w, h = load_avatar(row.avatar, portal.config.fetch.policy()).original.size
    seed_result(portal, row.id, depth=np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :], (h, 1)))
    window.apply_query()
    qtbot.waitUntil(lambda: window.model.index_of(row.id).isValid(), timeout=5000)
    _select(qtbot, window, row.id)
    assert len(set(window.preview.content.photo.size)) == 2  # "none": the whole, non-square photo

    def choose_square() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.fields[("web", "display_crop")].setCurrentText("square")
        dialog.save()

    QTimer.singleShot(0, choose_square)
    try:
        window.open_settings()
        qtbot.waitUntil(lambda: len(set(window.preview.content.photo.size)) == 1, timeout=5000)
    finally:
        portal.config.web.display_crop = "none"
