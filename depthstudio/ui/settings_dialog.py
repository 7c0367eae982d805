"""Settings: the portal database and its column mapping, the depth backend, the store, and their secrets.

The form edits a copy of the configuration and writes the changed keys into the TOML file the CLI reads
(``depthstudio.config_file``: the user's comments, order and other keys stay); secrets go to the OS keyring
(never into the file) and are only ever shown masked. "Test" buttons build the real objects from the form's
values on a worker thread, so a slow or dead server never freezes the dialog.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from depthstudio.config import DISPLAY_CROPS, WEB_TARGETS, Config, config_dir, get_secret, mask, set_secret
from depthstudio.config_file import changes, save_settings
from depthstudio.depth.factory import BACKENDS
from depthstudio.errors import ConfigError
from depthstudio.ui.workers import TaskRunner, describe

log = logging.getLogger(__name__)

# (section, key, label) of the plain text settings the dialog edits.
TEXT_FIELDS = {
    "portal": [
        ("url", "Database URL (empty: demo portal)"),
        ("table", "Users table"),
        ("schema", "Schema"),
        ("id_column", "Id column"),
        ("name_column", "Name column"),
        ("avatar_column", "Avatar column"),
        ("depth_column", "Depth map column"),
    ],
    "depth": [
        ("replicate_model", "Replicate model"),
        ("replicate_version", "Replicate version"),
        ("local_model", "Local model"),
    ],
    "storage": [
        ("local_dir", "Local folder (empty: data dir)"),
        ("local_public_base_url", "Public base URL of the folder"),
        ("cloudinary_folder", "Cloudinary folder"),
    ],
    "fetch": [("private_hosts", "Private hosts allowed")],
    "studio": [("reviewer", "Reviewer name (empty: OS user)")],
}
# What each setting is for, shown under its field: the two a real portal needed were the hardest to guess.
HELP = {
    ("portal", "url"): "SQLAlchemy URL of the portal's database; Prisma's ?schema=NAME is honoured.",
    ("storage", "local_public_base_url"): (
        "The https:// address at which the portal's web server serves the local folder. A real portal needs it "
        "(or Cloudinary): a website cannot show file:// URLs."
    ),
    ("fetch", "private_hosts"): (
        "Hosts (host or host:port, comma-separated) on a private network that avatars may be fetched from, such "
        "as an internal CDN. Every other private address stays refused."
    ),
    ("web", "target"): (
        "The component the portal's website draws avatars with. depthstudio: our viewer, every mode; "
        "react-depth-map: 1.0.9 as published (plane 0.5, multiplier ignored); react-depth-map-fork: plane 0.05. "
        "The preview, renders and Copy web props follow it; what it cannot draw is greyed."
    ),
    ("web", "display_crop"): (
        "The one crop the portal applies to both the photo URL and the map URL: none (the whole photo) or square "
        "(the centred square, Cloudinary's c_fill). Never a content-aware gravity (g_auto, g_face): it cuts the "
        "photo and the map differently."
    ),
}
LISTS = {("fetch", "private_hosts")}  # edited as comma-separated text

CHOICES = {
    ("web", "target"): WEB_TARGETS,
    ("web", "display_crop"): DISPLAY_CROPS,
    ("depth", "backend"): BACKENDS,
    ("depth", "device"): ("auto", "cuda", "mps", "cpu"),
    ("storage", "kind"): ("local", "cloudinary"),
}


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password is not None
    except ArgumentError:
        raise ConfigError(f"the database URL is not valid: {url!r}") from None


def _add_row(form: QFormLayout, label: str, field: QWidget, help_text: str | None) -> None:
    """A form row; a field with help gets it under the field in the same row (the form keeps its rhythm)."""
    if not help_text:
        form.addRow(label, field)
        return
    field.setToolTip(help_text)
    hint = QLabel(help_text)
    hint.setObjectName("hint")
    hint.setWordWrap(True)
    cell = QWidget()
    column = QVBoxLayout(cell)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    column.addWidget(field)
    column.addWidget(hint)
    form.addRow(label, cell)


class _SecretField(QWidget):
    """A masked view of a stored secret with a field to replace it; nothing is shown in full, ever."""

    def __init__(self, name: str, report: Callable[[str], None]) -> None:
        super().__init__()
        self.name = name
        self.report = report
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.current = QLabel()
        self.current.setObjectName(f"secret_{name}")
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("new value")
        save = QPushButton("Save to keyring")
        save.clicked.connect(self.save)
        layout.addWidget(self.current)
        layout.addWidget(self.edit, 1)
        layout.addWidget(save)
        self.refresh()

    def refresh(self) -> None:
        self.current.setText(mask(get_secret(self.name)))

    def save(self) -> None:
        value = self.edit.text().strip()
        if not value:
            self.report("type the new value first")
            return
        try:
            set_secret(self.name, value)
        except Exception as exc:
            self.report(f"the keyring refused the secret: {type(exc).__name__}")
            return
        self.edit.clear()
        self.refresh()
        self.report(f"{self.name} saved to the keyring: {mask(value)}")


class SettingsDialog(QDialog):
    def __init__(self, config: Config, parent: QWidget | None = None, *, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("depthstudio settings")
        self.setMinimumWidth(640)
        self.config = config
        self.path = path or (Path(config.source) if config.source.endswith(".toml") else config_dir() / "config.toml")
        self.saved_path: Path | None = None
        self.tasks = TaskRunner(parent=self)
        self.fields: dict[tuple[str, str], QLineEdit | QComboBox | QCheckBox] = {}
        self.results: dict[str, QLabel] = {}

        tabs = QTabWidget()
        tabs.addTab(self._tab("portal", tests=[("Test connection", "database", self._test_database)],
                              secrets=["portal_db_password"]), "Portal")  # fmt: skip
        tabs.addTab(
            self._tab(
                "depth",
                choices=["backend", "device"],
                tests=[("Test backend", "backend", self._test_backend)],
                secrets=["replicate_token"],
            ),
            "Depth",
        )
        tabs.addTab(
            self._tab(
                "storage",
                choices=["kind"],
                tests=[("Test store", "store", self._test_store)],
                secrets=["cloudinary_url"],
            ),
            "Store",
        )
        tabs.addTab(self._tab("web", choices=["target", "display_crop"]), "Web")
        tabs.addTab(self._tab("fetch"), "Avatars")
        studio = self._tab("studio")
        review = QCheckBox("Review before publishing (off: generated maps are published at once)")
        review.setChecked(config.studio.review_required)
        self.fields[("studio", "review_required")] = review
        studio.layout().addRow("", review)  # type: ignore[union-attr]
        tabs.addTab(studio, "Studio")

        self.status = QLabel(f"Writes {self.path}")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

    def _tab(
        self,
        section: str,
        *,
        choices: Sequence[str] = (),
        tests: Sequence[tuple[str, str, Callable[[Config], str]]] = (),
        secrets: Sequence[str] = (),
    ) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        values = getattr(self.config, section)
        for key in choices:
            combo = QComboBox()
            combo.addItems(list(CHOICES[(section, key)]))
            combo.setCurrentText(str(getattr(values, key)))
            combo.setObjectName(f"{section}_{key}")
            self.fields[(section, key)] = combo
            _add_row(form, key.replace("_", " ").capitalize(), combo, HELP.get((section, key)))
        for key, label in TEXT_FIELDS.get(section, []):
            value = getattr(values, key)
            edit = QLineEdit(", ".join(value) if (section, key) in LISTS else str(value))
            edit.setObjectName(f"{section}_{key}")
            self.fields[(section, key)] = edit
            _add_row(form, label, edit, HELP.get((section, key)))
        for name in secrets:
            form.addRow(name.replace("_", " ").capitalize(), _SecretField(name, self._report))
        for label, kind, test in tests:
            button = QPushButton(label)
            button.setObjectName(f"test_{kind}")
            result = QLabel("")
            result.setWordWrap(True)
            result.setObjectName(f"result_{kind}")
            self.results[kind] = result
            button.clicked.connect(lambda _=False, k=kind, t=test: self._run_test(k, t))
            form.addRow(button, result)
        return page

    # --- values -------------------------------------------------------------------------------------------

    def edited_config(self) -> Config:
        cfg = copy.deepcopy(self.config)
        for (section, key), widget in self.fields.items():
            if isinstance(widget, QCheckBox):
                value: Any = widget.isChecked()
            elif isinstance(widget, QComboBox):
                value = widget.currentText()
            elif (section, key) in LISTS:
                value = [item.strip() for item in widget.text().split(",") if item.strip()]
            else:
                value = widget.text().strip()
            setattr(getattr(cfg, section), key, value)
        if cfg.portal.url and _has_password(cfg.portal.url):
            raise ConfigError(
                "put the database password in the keyring (Portal db password), not in the URL: the file is plain text"
            )
        return cfg

    def _report(self, text: str) -> None:
        self.status.setText(text)

    def save(self) -> None:
        try:
            cfg = self.edited_config()
            save_settings(self.path, changes(self.config, cfg))
        except Exception as exc:
            self._report(f"not saved: {describe(exc)}")
            return
        self.config.__dict__.update(copy.deepcopy(cfg).__dict__)
        self.saved_path = self.path
        self.accept()

    # --- tests --------------------------------------------------------------------------------------------

    def _run_test(self, kind: str, test: Callable[[Config], str]) -> None:
        label = self.results[kind]
        try:
            cfg = self.edited_config()
        except Exception as exc:
            label.setText(f"✗ {describe(exc)}")
            return
        label.setText("testing…")
        self.tasks.submit(
            lambda: test(cfg),
            done=lambda text: label.setText(f"✓ {text}"),
            failed=lambda exc: label.setText(f"✗ {describe(exc)}"),
        )

    @staticmethod
    def _test_database(cfg: Config) -> str:
        from depthstudio.portal.repository import Portal

        portal = Portal.open(cfg, upgrade=cfg.is_demo)  # a test only reads: it never creates a real portal's tables
        try:
            n = portal.count_users()
        finally:
            portal.close()
        where = "the demo portal" if cfg.is_demo else f"table {cfg.portal.table!r}"
        return f"connected: {n:,} users in {where}"

    @staticmethod
    def _test_backend(cfg: Config) -> str:
        from depthstudio.ui.bulk import default_backend_factory

        backend = default_backend_factory(cfg)
        try:
            check = getattr(backend, "check_connection", None)
            if callable(check):
                return str(check())
            return f"{backend.name} backend ready ({backend.model}); it has no live check, a first job will tell"
        finally:
            backend.close()

    @staticmethod
    def _test_store(cfg: Config) -> str:
        from depthstudio.storage import open_store as make_store

        store = make_store(cfg)
        check = getattr(store, "check_connection", None)
        if callable(check):
            return str(check())
        if cfg.storage.kind == "local":
            folder = cfg.local_store_dir()
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".depthstudio-write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
            return f"writable: {folder}"
        return f"{cfg.storage.kind} store configured; it has no live check in this build"
