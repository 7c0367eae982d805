"""Settings, error handling and the entry point: nothing a user does may end in a traceback or a crash."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton

from depthstudio.cli import EXIT_FATAL, EXIT_OK, AppContext
from depthstudio.cli.studio_cmd import open_studio
from depthstudio.config import Config, config_dir, load_config, mask
from depthstudio.ui.app import install_excepthook
from depthstudio.ui.settings_dialog import SettingsDialog


def _dialog(qtbot, portal, tmp_path) -> SettingsDialog:
    dialog = SettingsDialog(portal.config, path=tmp_path / "config.toml")
    qtbot.addWidget(dialog)
    return dialog


def test_settings_are_written_as_toml_the_cli_reads(qtbot, portal, tmp_path):
    dialog = _dialog(qtbot, portal, tmp_path)
    dialog.fields[("studio", "reviewer")].setText("alice")
    dialog.fields[("depth", "backend")].setCurrentText("synthetic")
    dialog.fields[("portal", "avatar_column")].setText("photo")
    dialog.fields[("web", "target")].setCurrentText("react-depth-map-fork")
    dialog.fields[("web", "display_crop")].setCurrentText("square")
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    loaded = load_config(tmp_path / "config.toml")
    assert loaded.studio.reviewer == "alice" and loaded.depth.backend == "synthetic"
    assert (loaded.web.target, loaded.web.display_crop) == ("react-depth-map-fork", "square")
    assert loaded.portal.avatar_column == "photo"
    # Only what was edited: the session's other values (here a test's crop size) are not settings of the file.
    assert loaded.fetch.crop_size == Config().fetch.crop_size
    assert len((tmp_path / "config.toml").read_text().splitlines()) == 12  # four sections, five keys, 3 blanks


def test_a_password_in_the_url_is_refused_and_never_shown(qtbot, portal, tmp_path):
    dialog = _dialog(qtbot, portal, tmp_path)
    dialog.fields[("portal", "url")].setText("postgresql://editor:hunter2@127.0.0.1/portal")
    dialog.save()
    assert not (tmp_path / "config.toml").exists()
    assert "keyring" in dialog.status.text() and "hunter2" not in dialog.status.text()


def test_secrets_are_shown_masked(qtbot, portal, tmp_path, monkeypatch):
    token = "r8_0123456789abcdefghij"
    monkeypatch.setenv("REPLICATE_API_TOKEN", token)
    dialog = _dialog(qtbot, portal, tmp_path)
    shown = [label.text() for label in dialog.findChildren(QLabel)]
    assert mask(token) in shown
    assert not any(token in text for text in shown)


def test_test_connection_reports_success_and_failure(qtbot, portal, tmp_path):
    dialog = _dialog(qtbot, portal, tmp_path)
    result = dialog.results["database"]
    dialog.findChild(QPushButton, "test_database").click()
    qtbot.waitUntil(lambda: result.text().startswith(("✓", "✗")), timeout=10000)
    assert result.text() == f"✓ connected: {portal.count_users()} users in the demo portal"

    dialog.fields[("portal", "url")].setText("postgresql://nobody@127.0.0.1:1/none")
    dialog.findChild(QPushButton, "test_database").click()
    qtbot.waitUntil(lambda: result.text().startswith("✗"), timeout=15000)
    assert "cannot connect to the portal database" in result.text() and "port 1" in result.text()

    dialog.findChild(QPushButton, "test_store").click()  # the local store cannot publish into a real portal
    qtbot.waitUntil(lambda: dialog.results["store"].text().startswith(("✓", "✗")), timeout=10000)
    assert dialog.results["store"].text().startswith("✗") and "Cloudinary" in dialog.results["store"].text()

    dialog.fields[("portal", "url")].setText("")  # the demo portal: file:// URLs are fine there
    dialog.findChild(QPushButton, "test_store").click()
    qtbot.waitUntil(lambda: dialog.results["store"].text().startswith("✓"), timeout=10000)
    assert dialog.results["store"].text().startswith("✓ writable:")


def test_exceptions_escaping_slots_or_threads_reach_the_status_bar(qtbot, make_window, monkeypatch):
    window = make_window()
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthook(window)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    qtbot.waitUntil(lambda: "boom in a slot" in window.statusBar().currentMessage(), timeout=2000)

    thread = threading.Thread(target=lambda: 1 / 0)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "ZeroDivisionError" in window.statusBar().currentMessage(), timeout=2000)
    assert window.isVisible()


def test_an_unreadable_photo_is_reported_on_the_preview_not_raised(qtbot, make_window, portal):
    row = next(r for r in portal.list_users(limit=100) if r.status == "missing")
    Path(row.avatar.removeprefix("file://")).unlink()
    window = make_window()
    window.list.setCurrentIndex(window.model.index_of(row.id))
    qtbot.waitUntil(lambda: "does not exist" in window.preview.message, timeout=5000)
    assert window.preview.content is None
    assert "does not exist" in window.statusBar().currentMessage()


def _close_soon(qtbot, predicate, action) -> None:
    def poll() -> None:
        target = predicate()
        if target is None:
            QTimer.singleShot(100, poll)
        else:
            action(target)

    QTimer.singleShot(100, poll)


def test_studio_command_shows_a_bad_config_in_a_dialog(qtbot, capsys):
    config_dir().mkdir(parents=True, exist_ok=True)
    (config_dir() / "config.toml").write_text("[portal\nurl = 1\n")
    seen: list[str] = []

    def close(box: QMessageBox) -> None:
        seen.append(box.text())
        box.close()

    _close_soon(qtbot, lambda: QApplication.activeModalWidget(), close)
    assert open_studio(AppContext(None, {})) == EXIT_FATAL
    assert seen and "not valid TOML" in seen[0]
    assert "Traceback" not in capsys.readouterr().err


def test_studio_command_opens_the_window_on_the_demo_portal(qtbot, monkeypatch):
    from depthstudio.ui.main_window import MainWindow

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    opened: list[int] = []

    def find_window() -> MainWindow | None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        return windows[0] if windows and windows[0].model.rowCount() else None

    def close(window: MainWindow) -> None:
        opened.append(window.model.rowCount())
        window.close()

    _close_soon(qtbot, find_window, close)
    assert open_studio(AppContext(None, {})) == EXIT_OK
    assert opened and opened[0] > 0


def test_test_backend_builds_the_chosen_backend(qtbot, portal, tmp_path):
    dialog = _dialog(qtbot, portal, tmp_path)
    dialog.fields[("depth", "backend")].setCurrentText("synthetic")
    dialog.findChild(QPushButton, "test_backend").click()
    label = dialog.results["backend"]
    qtbot.waitUntil(lambda: label.text().startswith(("✓", "✗")), timeout=10000)
    assert label.text().startswith("✓ synthetic backend ready"), label.text()
