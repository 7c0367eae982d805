"""Review → "Publish approved": the confirmation says how many, where to, and what is left out."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from depthstudio.studio.model import StudioModel
from depthstudio.ui.plain import display


def confirm_publish(studio: StudioModel, parent: QWidget | None) -> bool:
    """Ask before publishing the approved users (Cancel is the default); with none approved, say so instead."""
    n, text, details = studio.publish_plan()
    if n == 0:
        studio.message.emit("nothing to publish: no user is approved (A approves the selected user)")
        return False
    box = QMessageBox(QMessageBox.Icon.Question, "Publish approved", display(text), parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setInformativeText(display(details, newlines=True))
    publish = box.addButton("Publish", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is publish
