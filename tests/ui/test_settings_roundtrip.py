"""Settings → Save on a hand-written file: byte-identical except the edited key; the portal's two settings editable."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QLineEdit

from depthstudio.config import load_config
from depthstudio.ui.settings_dialog import SettingsDialog

HAND_WRITTEN = """\
# depthstudio on the Acme portal (hand-written; the comments matter)
[portal]
url = "sqlite:///{db}"  # a copy of production
table = "User"
avatar_column = "avatar"

[storage]
# the web server serves this folder at the base URL below
local_dir = "/srv/depthmaps"
local_public_base_url = "https://portal.example.com/depthmaps"

[fetch]
private_hosts = ["cdn.internal:8443"]   # our CDN, inside the firewall

[depth]
backend = "synthetic"
"""


def _open(qtbot, tmp_path: Path) -> tuple[SettingsDialog, Path, str]:
    path = tmp_path / "config.toml"
    text = HAND_WRITTEN.format(db=tmp_path / "portal.sqlite3")
    path.write_text(text, encoding="utf-8")
    dialog = SettingsDialog(load_config(path, environ={}), path=path)
    qtbot.addWidget(dialog)
    return dialog, path, text


def test_saving_one_edit_keeps_the_hand_written_file_byte_identical_but_that_key(qtbot, tmp_path):
    dialog, path, text = _open(qtbot, tmp_path)
    field = dialog.fields[("storage", "local_public_base_url")]
    assert field.text() == "https://portal.example.com/depthmaps"
    field.setText("https://static.example.com/maps")
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    expected = text.replace("https://portal.example.com/depthmaps", "https://static.example.com/maps")
    assert path.read_bytes() == expected.encode()


def test_private_hosts_are_edited_as_a_list_and_saved_as_one(qtbot, tmp_path):
    dialog, path, text = _open(qtbot, tmp_path)
    field = dialog.fields[("fetch", "private_hosts")]
    assert field.text() == "cdn.internal:8443"
    field.setText("cdn.internal:8443, img.internal")
    dialog.save()
    assert load_config(path, environ={}).fetch.private_hosts == ["cdn.internal:8443", "img.internal"]
    assert path.read_text(encoding="utf-8") == text.replace(
        '["cdn.internal:8443"]', '["cdn.internal:8443", "img.internal"]'
    )


def test_the_portal_settings_say_what_they_are_for(qtbot, tmp_path):
    dialog, _path, _text = _open(qtbot, tmp_path)
    hints = [label.text() for label in dialog.findChildren(QLabel) if label.objectName() == "hint"]
    for key in (("storage", "local_public_base_url"), ("fetch", "private_hosts")):
        field = dialog.fields[key]
        assert isinstance(field, QLineEdit) and field.toolTip() in hints
    assert any("file://" in h for h in hints) and any("private network" in h for h in hints)


def test_saving_without_edits_changes_nothing(qtbot, tmp_path):
    dialog, path, text = _open(qtbot, tmp_path)
    dialog.save()
    assert path.read_bytes() == text.encode()


WEB_PART = """
[web]
# the portal crops both URLs with c_fill,g_center
display_crop = "square"
target = "react-depth-map-fork"   # the portal runs the fork
"""


def test_editing_a_web_key_keeps_the_rest_byte_identical(qtbot, tmp_path):
    path = tmp_path / "config.toml"
    text = HAND_WRITTEN.format(db=tmp_path / "portal.sqlite3") + WEB_PART
    path.write_text(text, encoding="utf-8")
    dialog = SettingsDialog(load_config(path, environ={}), path=path)
    qtbot.addWidget(dialog)
    target = dialog.fields[("web", "target")]
    assert target.currentText() == "react-depth-map-fork"
    assert dialog.fields[("web", "display_crop")].currentText() == "square"
    target.setCurrentText("react-depth-map")
    dialog.save()
    assert path.read_bytes() == text.replace('"react-depth-map-fork"   #', '"react-depth-map"   #').encode()
    assert load_config(path, environ={}).web.target == "react-depth-map"


def test_a_web_key_set_on_a_file_without_a_web_section_adds_only_that_key(qtbot, tmp_path):
    dialog, path, text = _open(qtbot, tmp_path)
    dialog.fields[("web", "display_crop")].setCurrentText("square")
    dialog.save()
    written = path.read_text(encoding="utf-8")
    assert written.startswith(text), "everything hand-written stays as it was"
    assert [line for line in written[len(text) :].splitlines() if line.strip()] == ["[web]", 'display_crop = "square"']


def test_the_web_settings_say_what_they_are_for(qtbot, tmp_path):
    dialog, _path, _text = _open(qtbot, tmp_path)
    hints = [label.text() for label in dialog.findChildren(QLabel) if label.objectName() == "hint"]
    target, crop = dialog.fields[("web", "target")], dialog.fields[("web", "display_crop")]
    assert target.toolTip() in hints and crop.toolTip() in hints
    for choice in ("depthstudio", "react-depth-map", "react-depth-map-fork"):
        assert choice in target.toolTip()
    assert "none" in crop.toolTip() and "square" in crop.toolTip() and "g_auto" in crop.toolTip()
