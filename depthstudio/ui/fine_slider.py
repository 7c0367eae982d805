"""A slider a designer can tune with: Shift drags ten times finer, one wheel notch is one step (once the slider
has the focus), a double-click resets the parameter; and spin buttons that can be seen on the dark theme.

Fine drag re-anchors where Shift is pressed, so the handle never jumps when the modifier changes mid-drag.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QSlider, QStyle, QStyleOptionSlider, QWidget

from depthstudio.resources import resource

FINE = 10  # Shift: a pixel of drag moves this many times less


class FineSlider(QSlider):
    reset_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click or Tab focuses it; the wheel alone does not
        self._anchor: tuple[float, int] | None = None  # (pointer x, value) where the fine drag started
        self._dragging = False

    def _groove_px(self) -> int:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        groove = self.style().subControlRect(
            QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, self
        )
        return max(1, groove.width())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._dragging = event.button() == Qt.MouseButton.LeftButton
        if self._dragging and event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._anchor = (event.position().x(), self.value())  # no jump to the pointer: the handle creeps
            self.setSliderDown(True)
            event.accept()
            return
        self._anchor = None
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._dragging:
            super().mouseMoveEvent(event)
            return
        fine = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        x = event.position().x()
        if fine:
            if self._anchor is None:
                self._anchor = (x, self.value())
                self.setSliderDown(True)
            start_x, start_value = self._anchor
            span = self.maximum() - self.minimum()
            self.setValue(round(start_value + (x - start_x) / self._groove_px() * span / FINE))
            event.accept()
            return
        if self._anchor is not None:  # Shift released mid-drag: coarse again from here, without a jump
            self._anchor = None
            self.setSliderPosition(self.value())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
        if self._anchor is not None:
            self._anchor = None
            self.setSliderDown(False)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.reset_requested.emit()
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120 or event.angleDelta().x() / 120
        if not notches or not self.hasFocus():
            # Unfocused, the wheel scrolls the panel: scrolling past a slider must not change a parameter.
            event.ignore()
            return
        self.setValue(self.value() + round(notches) * self.singleStep())  # one notch, one step
        event.accept()


def spin_button_style() -> str:
    """Up/down buttons drawn with arrows the theme can be seen with (the dark sheet hides Qt's own)."""
    up = resource("resources", "icons", "spin-up.svg").as_posix()
    down = resource("resources", "icons", "spin-down.svg").as_posix()
    return f"""
QAbstractSpinBox {{ padding-right: 18px; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{
    subcontrol-origin: border; width: 16px; background: #2d3036; border-left: 1px solid #3a3e45;
}}
QAbstractSpinBox::up-button {{ subcontrol-position: top right; border-top-right-radius: 4px; }}
QAbstractSpinBox::down-button {{ subcontrol-position: bottom right; border-bottom-right-radius: 4px; }}
QAbstractSpinBox::up-button:hover, QAbstractSpinBox::down-button:hover {{ background: #3d6fd1; }}
QAbstractSpinBox::up-arrow {{ image: url("{up}"); width: 10px; height: 6px; }}
QAbstractSpinBox::down-arrow {{ image: url("{down}"); width: 10px; height: 6px; }}
QAbstractSpinBox::up-arrow:disabled, QAbstractSpinBox::down-arrow:disabled {{ image: none; }}
"""
