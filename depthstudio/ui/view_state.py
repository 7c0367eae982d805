"""The studio's view choices (list sort, preview view) kept between sessions, in an INI file in the config folder.

A file beside ``config.toml`` rather than Qt's per-user default location, so that ``DEPTHSTUDIO_CONFIG_DIR``
(a second profile, the tests) keeps them apart like the rest of the configuration.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QSettings

from depthstudio.config import config_dir


class ViewState:
    def __init__(self) -> None:
        self._settings = QSettings(str(config_dir() / "studio-view.ini"), QSettings.Format.IniFormat)

    def get(self, key: str, allowed: Iterable[str], default: str) -> str:
        """The stored choice, or ``default`` when none is stored or it is no longer one of ``allowed``."""
        value = self._settings.value(key, default)
        return value if isinstance(value, str) and value in set(allowed) else default

    def set(self, key: str, value: str) -> None:
        self._settings.setValue(key, value)
        self._settings.sync()
