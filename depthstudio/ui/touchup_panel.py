"""The studio's touch-up panel: depth-map and matte edits on the current result, previewed live, saved as new.

Nothing is written until "Save as new result": every change re-renders the edited map, plate and matte on a
worker thread (the latest change wins) and shows them in the main preview; closing the panel puts the stored
result back. Saving records a new result with the options (depthstudio.render.touchup), which becomes the
user's current one, waiting for review like a generated map.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from depthstudio.portal.repository import Portal
from depthstudio.render.result_plates import encode_layer_pngs
from depthstudio.render.touchup import Touched, TouchUp, apply_touchup, save_touchup, source_depth
from depthstudio.studio.preview_loading import PreviewContent
from depthstudio.ui.preview import PreviewWidget
from depthstudio.ui.workers import TaskRunner, describe

log = logging.getLogger(__name__)

DEBOUNCE_MS = 120  # a dragged spin box re-renders once it pauses, not at every step


class TouchUpPanel(QDialog):
    """Non-modal: the main preview keeps its motion, view modes and sliders while the panel is open."""

    saved = Signal(int)  # the new result's id

    def __init__(
        self,
        portal: Portal,
        result_id: int,
        content: PreviewContent,
        preview: PreviewWidget,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Touch up result #{result_id}")
        self.portal = portal
        self.result_id = result_id
        self.original = content
        self.preview = preview
        self.tasks = TaskRunner(parent=self)
        self._generation = 0
        self._source: np.ndarray | None = None
        self.last: Touched | None = None
        self.new_result_id: int | None = None

        self.invert = QCheckBox("Invert (depth model: white = far)")
        self.dilate = self._spin(0, 32, " px", "Grow the near side so hair and shoulder edges move with the subject")
        self.smooth = self._spin(0, 16, " px", "Guided smoothing radius (follows the photo's edges)")
        self.contrast = self._dspin(0.25, 4.0, 0.05, 1.0, "Depth contrast about mid-grey")
        self.gamma = self._dspin(0.25, 4.0, 0.05, 1.0, "Depth gamma (> 1 pushes mid depths back)")
        self.matte_threshold = self._dspin(0.0, 1.0, 0.05, 0.5, "Matte threshold: higher trims the soft edge")
        self.matte_feather = self._dspin(0.05, 1.0, 0.05, 0.5, "Matte feather: half-width of its ramp")
        form = QFormLayout()
        form.addRow(self.invert)
        form.addRow("Dilate", self.dilate)
        form.addRow("Smooth", self.smooth)
        form.addRow("Contrast", self.contrast)
        form.addRow("Gamma", self.gamma)
        form.addRow("Matte threshold", self.matte_threshold)
        form.addRow("Matte feather", self.matte_feather)
        self.status = QLabel("Unchanged: the stored result is shown")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.reset_button = QPushButton("Reset")
        self.save_button = QPushButton("Save as new result")
        self.save_button.setEnabled(False)
        buttons.addButton(self.reset_button, QDialogButtonBox.ButtonRole.ResetRole)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        self.reset_button.clicked.connect(self.reset)
        self.save_button.clicked.connect(self.save)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._render)
        self.invert.toggled.connect(self._changed)
        for box in (self.dilate, self.smooth, self.contrast, self.gamma, self.matte_threshold, self.matte_feather):
            box.valueChanged.connect(self._changed)
        self.tasks.submit(lambda: source_depth(portal, result_id), done=self._loaded, failed=self._failed)

    @staticmethod
    def _spin(lo: int, hi: int, suffix: str, tip: str) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        box.setSuffix(suffix)
        box.setToolTip(tip)
        return box

    @staticmethod
    def _dspin(lo: float, hi: float, step: float, value: float, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(2)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    def options(self) -> TouchUp:
        return TouchUp(
            invert=self.invert.isChecked(),
            dilate_px=self.dilate.value(),
            smooth_radius=self.smooth.value(),
            contrast=round(self.contrast.value(), 2),
            gamma=round(self.gamma.value(), 2),
            matte_threshold=round(self.matte_threshold.value(), 2),
            matte_feather=round(self.matte_feather.value(), 2),
        )

    def reset(self) -> None:
        for box, value in ((self.dilate, 0), (self.smooth, 0), (self.contrast, 1.0), (self.gamma, 1.0)):
            box.setValue(value)
        self.matte_threshold.setValue(0.5)
        self.matte_feather.setValue(0.5)
        self.invert.setChecked(False)

    # --- live preview ---------------------------------------------------------------------------------------

    def _loaded(self, depth: np.ndarray) -> None:
        self._source = depth
        self._changed()

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(f"Touch-up failed: {describe(exc)}")
        log.warning("touch-up failed: %s", describe(exc))

    def _changed(self, *_: object) -> None:
        self._generation += 1
        self.save_button.setEnabled(False)
        self._timer.start()

    def _render(self) -> None:
        if self._source is None:
            return
        options = self.options()
        if options.is_identity:
            self.last = None
            self.preview.set_content(self.original)
            self.status.setText("Unchanged: the stored result is shown")
            return
        generation, source, photo = self._generation, self._source, self.original.photo
        self.status.setText("Rendering the touch-up…")

        def work() -> tuple[Touched, dict[str, bytes]]:
            touched = apply_touchup(photo, source, options)
            return touched, encode_layer_pngs(touched.plate, touched.matte)

        self.tasks.submit(work, done=lambda out: self._rendered(generation, *out), failed=self._failed)

    def _rendered(self, generation: int, touched: Touched, layers: dict[str, bytes]) -> None:
        if generation != self._generation or not self.isVisible():
            return  # a later change is on its way, or the panel closed meanwhile
        self.last = touched
        photo: Image.Image = self.original.photo
        caption = "touch-up preview (not saved)"
        self.preview.set_content(PreviewContent(photo, touched.levels, caption, layers=layers, caption=caption))
        self.status.setText("Previewing the touch-up (not saved)")
        self.save_button.setEnabled(True)

    # --- saving ---------------------------------------------------------------------------------------------

    def save(self) -> None:
        options, photo = self.options(), self.original.photo
        self.save_button.setEnabled(False)
        self.status.setText("Saving…")
        self.tasks.submit(
            lambda: save_touchup(self.portal, self.result_id, photo, options), done=self._saved, failed=self._failed
        )

    def _saved(self, new_id: int) -> None:
        self.new_result_id = new_id
        self.status.setText(f"Saved as result #{new_id}, waiting for review")
        self.saved.emit(new_id)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.new_result_id is None:
            self.preview.set_content(self.original)  # non-destructive: the stored result is back
        super().closeEvent(event)


def open_touchup(
    portal: Portal, result_id: int | None, content: PreviewContent | None, preview: PreviewWidget, parent: QWidget
) -> TouchUpPanel | None:
    """The panel for the shown result, or None when there is nothing to touch up (no result or no map)."""
    if result_id is None or content is None or content.depth is None:
        return None
    panel = TouchUpPanel(portal, result_id, content, preview, parent)
    panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    panel.show()
    return panel
