"""Sliders a designer can tune with: Shift drags ten times finer, the wheel steps once a notch, a double-click
resets the parameter, the spin buttons can be seen; a drag, fine or not, is still one undo step."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from depthstudio.render.params import SPECS_BY_NAME

NAME = "horizontal_threshold"
LEFT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
SHIFT, PLAIN = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.NoModifier


def _ready(qtbot, window, user_id):
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(
        lambda: window.current.id == user_id and not window.tasks.pending and not window.params.loading, timeout=5000
    )


def _mouse(widget, kind, x: float, buttons, modifiers) -> None:
    button = LEFT if kind != QEvent.Type.MouseMove else NONE
    pos = QPointF(x, widget.height() / 2)
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def _drag(slider, dx: int, modifiers) -> int:
    """Press on the handle, move ``dx`` px in five moves, release; the value moved by."""
    before = slider.value()
    span = slider.maximum() - slider.minimum()
    x = 7 + (slider.width() - 14) * (before - slider.minimum()) / span  # the handle's centre (14 px wide)
    _mouse(slider, QEvent.Type.MouseButtonPress, x, LEFT, modifiers)
    for i in range(1, 6):
        _mouse(slider, QEvent.Type.MouseMove, x + dx * i / 5, LEFT, modifiers)
    _mouse(slider, QEvent.Type.MouseButtonRelease, x + dx, NONE, modifiers)
    return slider.value() - before


def test_shift_drags_ten_times_finer_and_each_drag_is_one_undo_step(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window, seeded[1])
    slider = window.params.rows[NAME].slider
    start = window.undo_stack.count()
    coarse = _drag(slider, 60, PLAIN)
    assert window.undo_stack.count() == start + 1
    fine = _drag(slider, 60, SHIFT)
    assert window.undo_stack.count() == start + 2
    assert coarse >= 10 and 0 < fine <= coarse / 5, (coarse, fine)
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert window.params.current().horizontal_threshold == SPECS_BY_NAME[NAME].default


def _wheel(slider) -> None:
    pos = QPointF(slider.width() / 2, slider.height() / 2)
    event = QWheelEvent(pos, slider.mapToGlobal(pos), QPoint(), QPoint(0, 120), NONE, PLAIN,
                        Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(slider, event)


def test_one_wheel_notch_is_one_step_on_a_focused_slider_and_scrolls_past_the_others(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window, seeded[1])
    row = window.params.rows[NAME]
    before = row.field.value()
    window.list.setFocus()
    _wheel(row.slider)
    assert row.field.value() == before  # scrolling the panel past a slider changes nothing
    row.slider.setFocus()
    _wheel(row.slider)
    assert row.field.value() == before + SPECS_BY_NAME[NAME].step


def test_double_click_resets_the_parameter_as_its_own_undo_step(qtbot, make_window, seeded):
    window = make_window()
    _ready(qtbot, window, seeded[1])
    row = window.params.rows[NAME]
    row.field.setValue(120)
    assert NAME in window.params.user_layer and row.label.text().endswith("•")
    steps = window.undo_stack.count()
    qtbot.mouseDClick(row.slider, LEFT)
    assert NAME not in window.params.user_layer and not row.label.text().endswith("•")
    assert row.field.value() == SPECS_BY_NAME[NAME].default
    assert window.undo_stack.count() == steps + 1
    window.undo_stack.undo()
    assert window.params.user_layer[NAME] == 120


def test_the_spin_buttons_can_be_seen(qtbot, make_window):
    window = make_window()
    box = window.params.rows[NAME].field
    image = box.grab().toImage()
    ratio = image.devicePixelRatio()
    light = 0
    for x in range(int((box.width() - 16) * ratio), image.width()):
        for y in range(image.height()):
            if QColor(image.pixel(x, y)).lightness() > 180:
                light += 1
    assert light >= 20, f"only {light} light pixels in the spin buttons"  # two arrows of ~30 px each
