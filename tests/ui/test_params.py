"""Parameter editing: one editor per spec, per-user overrides over global defaults, undo/redo, copy, saving."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import text as sql

from depthstudio.render.param_layers import DEFAULTS_SETTING
from depthstudio.render.params import PARAM_SPECS


def _select(qtbot, window, user_id):
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(
        lambda: window.current.id == user_id and not window.tasks.pending and not window.params.loading, timeout=5000
    )


def _saved(qtbot, window):
    window.params.flush()
    qtbot.waitUntil(lambda: not window.params.saving, timeout=5000)


def test_every_parameter_of_the_dataclass_has_an_editor(make_window):
    window = make_window()
    assert list(window.params.rows) == [s.name for s in PARAM_SPECS]
    for spec in PARAM_SPECS:
        row = window.params.rows[spec.name]
        assert (row.slider is not None) == (spec.kind in ("float", "int"))
        if row.slider is not None:
            assert row.field.minimum() == spec.minimum and row.field.maximum() == spec.maximum


def test_user_override_undo_redo_and_saving(qtbot, make_window, seeded, portal):
    window = make_window()
    _select(qtbot, window, seeded[1])
    field = window.params.rows["plane"].field
    field.setValue(0.5)
    window.params.rows["multiplier"].field.setValue(2.0)
    assert window.params.current().plane == 0.5 and window.preview.params.multiplier == 2.0
    _saved(qtbot, window)
    assert portal.get_overrides(seeded[1]) == {"plane": 0.5, "multiplier": 2.0}

    window.list.setFocus()
    qtbot.keyClick(window.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.params.current().multiplier == 1.0 and window.params.current().plane == 0.5
    assert window.params.rows["multiplier"].field.value() == 1.0
    _saved(qtbot, window)
    assert portal.get_overrides(seeded[1]) == {"plane": 0.5}

    window.undo_stack.redo()
    assert window.params.current().multiplier == 2.0
    window.params.reset_layer()
    assert window.params.current().plane == 0.05
    _saved(qtbot, window)
    assert portal.get_overrides(seeded[1]) == {}


def test_slider_drag_is_one_undo_step(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[1])
    slider = window.params.rows["vertical_threshold"].slider
    start = window.undo_stack.count()
    for value in range(30, 60, 3):
        slider.setValue(value)
    assert window.undo_stack.count() == start + 1
    assert window.params.current().vertical_threshold == 5.0 + 57
    window.undo_stack.undo()
    assert window.params.current().vertical_threshold == 35.0


def test_global_defaults_apply_to_users_without_override(qtbot, make_window, seeded, portal):
    window = make_window()
    _select(qtbot, window, seeded[1])
    window.params.rows["horizontal_threshold"].field.setValue(50)  # seeded[1]'s own override
    window.params.global_button.click()
    window.params.rows["vertical_threshold"].field.setValue(80)
    window.params.rows["horizontal_threshold"].field.setValue(70)
    _saved(qtbot, window)
    assert portal.get_setting(DEFAULTS_SETTING) == {"vertical_threshold": 80.0, "horizontal_threshold": 70.0}
    window.params.user_button.click()
    assert window.params.current().horizontal_threshold == 50.0, "the user's override wins"
    assert window.params.current().vertical_threshold == 80.0
    _select(qtbot, window, seeded[2])
    assert window.params.current().horizontal_threshold == 70.0


def test_copy_parameters_to_selected_users_is_undoable(qtbot, make_window, seeded, portal):
    window = make_window()
    _select(qtbot, window, seeded[0])
    window.params.rows["occlusion_steps"].field.setValue(8)
    window.params.rows["reverse_motion"].field.setChecked(True)
    for uid in seeded[1:]:
        index = window.model.index_of(uid)
        window.list.selectionModel().select(index, window.list.selectionModel().SelectionFlag.Select)
    window.params.copy_button.click()
    qtbot.waitUntil(lambda: "copied" in window.statusBar().currentMessage(), timeout=5000)
    _saved(qtbot, window)
    for uid in seeded[1:]:
        assert portal.get_overrides(uid) == {"occlusion_steps": 8, "reverse_motion": True}
    window.undo_stack.undo()
    _saved(qtbot, window)
    assert all(portal.get_overrides(uid) == {} for uid in seeded[1:])
    assert portal.get_overrides(seeded[0]) == {"occlusion_steps": 8, "reverse_motion": True}


def _copied(qtbot, window) -> dict:
    QApplication.clipboard().setText("")
    window.params.web_button.click()
    qtbot.waitUntil(lambda: QApplication.clipboard().text() != "", timeout=5000)
    return json.loads(QApplication.clipboard().text())


def test_web_props_copied_are_the_effective_parameters_with_the_images(qtbot, make_window, seeded, portal):
    window = make_window()
    _select(qtbot, window, seeded[1])
    window.params.rows["multiplier"].field.setValue(1.5)
    props = _copied(qtbot, window)
    assert props["multiplier"] == 1.5 and props["horizontalThreshold"] == 35.0 and props["clippingPlane"] == 0.05
    row = portal.get_user(seeded[1])
    assert props["originalImg"] == row.avatar
    # not published yet: the shown result as a local file, so the props draw the map the editor sees
    assert props["depthImg"].startswith("file://") and props["depthImg"].endswith(f"-{row.result_id}.png")
    assert Path(url2pathname(urlparse(props["depthImg"]).path)).read_bytes() == portal.result_png(row.result_id)


def test_a_react_depth_map_target_disables_what_it_ignores_and_previews_what_it_draws(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[1])
    window.params.rows["multiplier"].field.setValue(2.0)
    window.params.portal.config.web.target = "react-depth-map"
    window.params._refresh()
    rows = window.params.rows
    assert not rows["multiplier"].widget.isEnabled() and not rows["plane"].widget.isEnabled()
    assert rows["horizontal_threshold"].widget.isEnabled()
    assert "never reads multiplier" in rows["multiplier"].field.toolTip()
    assert window.preview.params.multiplier == 1.0 and window.preview.params.plane == 0.5  # what it draws
    props = _copied(qtbot, window)
    assert set(props) == {"originalImg", "depthImg", "horizontalThreshold", "verticalThreshold", "reverseMotion",
                          "respondTo"}  # fmt: skip
    window.params.portal.config.web.target = "depthstudio"
    window.params._refresh()
    assert rows["multiplier"].widget.isEnabled() and window.preview.params.multiplier == 2.0


def test_copy_jsx_gives_the_shown_users_element_with_these_parameters(qtbot, make_window, seeded, portal):
    with portal.engine.begin() as conn:  # the portal's published map for this user
        conn.execute(
            sql('UPDATE "User" SET "avatarDepthMap" = :u WHERE id = :id'), {"u": "https://cdn/d.png", "id": seeded[1]}
        )
    window = make_window()
    _select(qtbot, window, seeded[1])
    window.params.rows["multiplier"].field.setValue(1.5)
    QApplication.clipboard().setText("")
    window.params.jsx_button.click()
    qtbot.waitUntil(lambda: QApplication.clipboard().text().startswith("import DepthAvatar"), timeout=5000)
    text = QApplication.clipboard().text()
    row = portal.get_user(seeded[1])
    assert f"  originalImg={{{json.dumps(row.avatar, ensure_ascii=False)}}}\n" in text
    assert '  depthImg={"https://cdn/d.png"}\n' in text
    assert "  multiplier={1.5}\n" in text and "  clippingPlane={0.05}\n" in text


def test_copy_jsx_without_a_published_map_leaves_depth_img_out(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[2])
    QApplication.clipboard().setText("")
    window.params.jsx_button.click()
    qtbot.waitUntil(lambda: QApplication.clipboard().text().startswith("import DepthAvatar"), timeout=5000)
    assert "originalImg" in QApplication.clipboard().text() and "depthImg" not in QApplication.clipboard().text()


def test_copy_jsx_for_a_react_depth_map_target_is_its_element_with_the_props_it_reads(qtbot, make_window, seeded):
    window = make_window()
    _select(qtbot, window, seeded[1])
    window.params.portal.config.web.target = "react-depth-map"
    QApplication.clipboard().setText("")
    window.params.jsx_button.click()
    qtbot.waitUntil(lambda: QApplication.clipboard().text().startswith("import ImageDepthMap"), timeout=5000)
    text = QApplication.clipboard().text()
    assert 'import ImageDepthMap from "react-depth-map";\n\n<ImageDepthMap\n' in text
    assert "horizontalThreshold={35.0}" in text and "multiplier" not in text and "clippingPlane" not in text
    window.params.portal.config.web.target = "depthstudio"
