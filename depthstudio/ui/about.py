"""Help → About: what is running (version, depth backend and model, Qt) and under which licences the model
weights and the demo photos may be used, read from where those facts live so the dialog cannot drift."""

from __future__ import annotations

import platform
import re
from importlib.metadata import PackageNotFoundError, version

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.resources import resource

# The Replicate default runs the MiDaS DPT-BEiT-L-512 weights (MIT, like all MiDaS/DPT weights).
REPLICATE_LICENCES = {"cjwbw/midas": "MIT (MiDaS v3.1 weights)"}


def studio_version() -> str:
    try:
        return version("depthstudio")
    except PackageNotFoundError:
        return "not installed (running from a checkout)"


def model_licence(config: Config) -> str:
    from depthstudio.depth.models import MODELS  # the pinned model files, with their licences

    local = MODELS.get(config.depth.local_model)
    local_text = f"{config.depth.local_model}: {local.licence if local else 'see the model card on its hub page'}"
    remote = REPLICATE_LICENCES.get(config.depth.replicate_model, "see the model's page on Replicate")
    return f"{local_text}\nReplicate {config.depth.replicate_model}: {remote}"


def demo_photo_licences() -> str:
    """One line per sample avatar, from the licence table that ships with them."""
    try:
        text = resource("resources", "demo", "avatars", "LICENSES.md").read_text(encoding="utf-8")
    except ConfigError as exc:
        return str(exc)
    lines = []
    for row in text.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) == 4 and re.search(r"\.(png|jpe?g)$", cells[0]):
            lines.append(f"{cells[0]}: {cells[3]}")
    return "\n".join(lines)


class AboutDialog(QDialog):
    def __init__(self, config: Config, backend: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About depthstudio")
        form = QFormLayout()
        self.facts = {
            "Version": studio_version(),
            "Depth backend": backend or "not decided yet (it is chosen when the first job starts)",
            "Model licences": model_licence(config),
            "Demo photos": demo_photo_licences(),
            "Runs on": f"Python {platform.python_version()}, Qt {qVersion()}, PySide6 {pyside_version}",
        }
        for name, value in self.facts.items():
            label = QLabel(value)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setObjectName(f"about_{name.split()[0].lower()}")
            form.addRow(name, label)
        title = QLabel("depthstudio: 3D parallax avatars from a portal's photos")
        title.setObjectName("sectionTitle")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
