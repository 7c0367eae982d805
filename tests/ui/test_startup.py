"""The studio's first window appears at once and connects in the background: a spinner, then the list or the error."""

from __future__ import annotations

from depthstudio.config import Config, PortalConfig
from depthstudio.ui.startup import StartupWindow
from tests.test_db_open import silent_listener  # noqa: F401 - the fixture
from tests.ui.conftest import studio_config


def test_a_database_that_never_answers_shows_a_spinner_at_once_then_the_error_with_settings(qtbot, silent_listener):  # noqa: F811
    cfg = Config(portal=PortalConfig(url=f"postgresql+psycopg://editor:hunter2pw@127.0.0.1:{silent_listener}/p"))
    cfg.portal.connect_timeout_s = 2
    opened = []
    window = StartupWindow(cfg, opened.append)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitExposed(window)
    # The listener holds the connection without a word, so this is the state while the database is silent.
    assert window.connecting and not window.settings_button.isVisible()
    assert f"127.0.0.1:{silent_listener}" in window.status.text() and "hunter2pw" not in window.status.text()
    qtbot.waitUntil(window.settings_button.isVisible, timeout=20000)
    text = window.status.text()
    assert "Cannot open the portal" in text and f"127.0.0.1:{silent_listener}" in text and "hunter2pw" not in text
    assert not window.connecting and window.retry_button.isVisible() and opened == []


def test_the_demo_portal_opens_into_the_main_window_and_the_first_window_goes(qtbot):
    from depthstudio.ui.main_window import MainWindow

    windows = []

    def open_main(portal):
        windows.append(MainWindow(portal, portal.config))
        qtbot.addWidget(windows[-1])
        return windows[-1]

    startup = StartupWindow(studio_config(), open_main)
    qtbot.addWidget(startup)
    startup.show()
    startup.start()
    qtbot.waitUntil(lambda: bool(windows) and windows[0].isVisible(), timeout=30000)
    assert not startup.isVisible()
    qtbot.waitUntil(lambda: windows[0].model.rowCount() > 0, timeout=10000)
    startup.portal.close()
