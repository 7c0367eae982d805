"""Help: the shortcut overlay fits one laptop screen, grouped, review keys first; About says what runs and the
licences that apply."""

from __future__ import annotations

from importlib.metadata import version

from PySide6.QtWidgets import QAbstractScrollArea, QGroupBox, QLabel


def test_the_shortcut_overlay_fits_a_laptop_screen_grouped_with_the_review_keys_first(qtbot, make_window):
    window = make_window()
    window.show_shortcuts()
    overlay = window.shortcut_overlay
    qtbot.waitUntil(overlay.isVisible, timeout=2000)
    hint = overlay.sizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700 - 60, hint  # a 1024x700 screen less a title bar
    assert overlay.findChildren(QAbstractScrollArea) == []  # nothing below a fold
    groups = [g.title() for g in overlay.findChildren(QGroupBox)]
    assert groups[0] == "Review" and {"View", "File", "Help", "Everywhere"} <= set(groups)
    review = overlay.findChildren(QGroupBox)[0]
    keys = {label.text() for label in review.findChildren(QLabel) if label.objectName() == "shortcutKeys"}
    assert {"A, P", "X, R", "J", "K"} <= keys
    everywhere = next(g for g in overlay.findChildren(QGroupBox) if g.title() == "Everywhere")
    assert any(label.text() == "↓ / ↑" for label in everywhere.findChildren(QLabel))


def test_about_names_the_version_the_model_licence_and_the_demo_photos_licences(qtbot, make_window):
    window = make_window()
    window.show_about()
    dialog = window.about_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    facts = dialog.facts
    assert facts["Version"] == version("depthstudio")
    assert "onnx-community/depth-anything-v2-small: Apache-2.0" in facts["Model licences"]
    photos = facts["Demo photos"].splitlines()
    assert len(photos) == 4 and all("public domain" in p or "CC0" in p for p in photos)
    assert "astronaut.png" in facts["Demo photos"]
