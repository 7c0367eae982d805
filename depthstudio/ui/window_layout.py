"""The main window's widgets, built and laid out; the window connects them (as uic's ``setupUi`` would).

Each builder returns its widgets by name, so the window holds no layout code and a test finds a button by the
name the window gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from depthstudio.portal.status import FILTERS
from depthstudio.studio.model import SORT_LABELS
from depthstudio.studio.view_modes import VIEW_MODES
from depthstudio.ui.chipbar import ChipBar
from depthstudio.ui.elided import ElidedLabel
from depthstudio.ui.flow import FlowLayout

SIDE_MIN_WIDTH = 280  # the parameters' column at its narrowest: its rows then put the label over the slider


def _chip(text: str, tip: str = "", *, checkable: bool = True) -> QToolButton:
    button = QToolButton()
    button.setObjectName("chip")
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    return button


def hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setTextFormat(Qt.TextFormat.PlainText)  # names and notes are written by strangers
    return label


@dataclass
class FilterBar:
    widget: QWidget
    chips: ChipBar  # the chips that do not fit go into a menu with their counts: never widen the window or cut
    group: QButtonGroup
    buttons: dict[str, QToolButton]  # by filter key
    settings: QPushButton


def filter_bar(owner: QObject) -> FilterBar:
    bar = QWidget()
    bar.setObjectName("filterBar")
    layout = QHBoxLayout(bar)
    layout.setContentsMargins(8, 6, 8, 6)
    layout.setSpacing(4)
    chips = ChipBar()
    layout.addWidget(chips, 1)
    group = QButtonGroup(owner)
    buttons: dict[str, QToolButton] = {}
    for i, f in enumerate(FILTERS):
        button = _chip(f.label, f"{f.label} (key {i + 1})" if i < 9 else f.label)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        group.addButton(button)
        buttons[f.key] = button
        chips.add(button)
    buttons["all"].setChecked(True)
    settings = QPushButton("Settings…")
    settings.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    layout.addWidget(settings)
    return FilterBar(bar, chips, group, buttons, settings)


@dataclass
class ListColumn:
    widget: QWidget
    search: QLineEdit
    sort_box: QComboBox
    header: QLabel


def list_column(user_list: QWidget, sort: str) -> ListColumn:
    """Search and sort sit over the list they act on, so the chips get the window's whole width and show whole."""
    search = QLineEdit()
    search.setPlaceholderText("Search by name…")
    search.setClearButtonEnabled(True)
    search.setMinimumWidth(120)
    sort_box = QComboBox()
    for key, label in SORT_LABELS.items():
        sort_box.addItem(label, key)
    sort_box.setCurrentIndex(sort_box.findData(sort))
    left = QWidget()
    layout = QVBoxLayout(left)
    layout.setContentsMargins(0, 0, 0, 0)
    query_row = QHBoxLayout()
    query_row.setContentsMargins(4, 4, 0, 0)
    query_row.addWidget(search, 1)
    query_row.addWidget(sort_box)
    layout.addLayout(query_row)
    header = hint("Loading…")
    layout.addWidget(header)
    layout.addWidget(user_list, 1)
    return ListColumn(left, search, sort_box, header)


@dataclass
class UserHeader:
    title: ElidedLabel
    info: QLabel


def user_header() -> UserHeader:
    title = ElidedLabel("")
    title.setObjectName("userTitle")
    title.setTextFormat(Qt.TextFormat.PlainText)
    info = hint()
    info.setWordWrap(True)
    # Two lines' height whatever the text: the preview and the buttons below never move under the pointer.
    info.setFixedHeight(info.fontMetrics().lineSpacing() * 2 + 4)
    info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return UserHeader(title, info)


@dataclass
class ViewBar:
    row: FlowLayout
    group: QButtonGroup
    buttons: dict[str, QToolButton]  # by view mode key (studio.view_modes)
    zoom: QToolButton
    motion: QToolButton
    orbit: QToolButton


def view_bar(owner: QObject) -> ViewBar:
    row = FlowLayout()
    group = QButtonGroup(owner)
    buttons: dict[str, QToolButton] = {}
    for mode in VIEW_MODES.values():
        button = _chip(mode.label, mode.tip)
        group.addButton(button)
        buttons[mode.key] = button
        row.addWidget(button)
    buttons["shader"].setChecked(True)
    row.add_stretch()
    zoom = _chip("1:1", "The photo at its real pixel size (Z); then the wheel zooms and a drag pans")
    motion = _chip("Motion", "Follow the pointer, eased like the web (Space)")
    orbit = _chip("Orbit", "Circle on its own while the pointer is away or still (O)")
    for b in (zoom, motion, orbit):
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # a click must not take the keys away from the list
        row.addWidget(b)
    return ViewBar(row, group, buttons, zoom, motion, orbit)


@dataclass
class ReviewBar:
    row: FlowLayout
    approve: QPushButton
    reject: QPushButton
    reject_note: QPushButton
    generate: QPushButton


def review_bar() -> ReviewBar:
    approve = QPushButton("Approve  (A)")
    approve.setObjectName("approve")
    reject = QPushButton("Reject  (X)")
    reject.setObjectName("reject")
    reject_note = QPushButton("Reject + note…  (⇧X)")
    reject_note.setToolTip("Reject with a note for whoever regenerates it (Shift+X)")
    generate = QPushButton("Generate  (G)")
    generate.setToolTip("(Re)generate the depth map of the selected users")
    row = FlowLayout()
    for b in (approve, reject, reject_note, generate):
        row.addWidget(b)
    return ReviewBar(row, approve, reject, reject_note, generate)


def side_panel(params: QWidget) -> tuple[QScrollArea, QListWidget]:
    """The parameters over the review history, scrolled as one column; returns (the column, the history)."""
    side = QWidget()
    layout = QVBoxLayout(side)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(params)
    title = QLabel("Review history")
    title.setObjectName("sectionTitle")
    title.setContentsMargins(8, 8, 8, 0)
    history = QListWidget()
    history.setObjectName("history")
    # Long entries wrap: a note is read whole, and no sideways scroll bar appears for it.
    history.setWordWrap(True)
    history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    history.setResizeMode(QListWidget.ResizeMode.Adjust)
    layout.addWidget(title)
    layout.addWidget(history, 1)
    right = QScrollArea()
    right.setWidgetResizable(True)
    right.setWidget(side)
    right.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    right.setMinimumWidth(SIDE_MIN_WIDTH)
    return right, history


def column(*items: QWidget | FlowLayout, stretch: QWidget | None = None) -> QWidget:
    """A widget holding ``items`` top to bottom; ``stretch`` takes the height left."""
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    for item in items:
        if isinstance(item, QWidget):
            layout.addWidget(item, 1 if item is stretch else 0)
        else:
            layout.addLayout(item)
    return widget


class SquareFrame(QWidget):
    """Keeps the preview square and centred, like the avatar on the web page, whatever the window's shape."""

    def __init__(self, child: QWidget) -> None:
        super().__init__()
        self.child = child
        child.setParent(self)

    def resizeEvent(self, event: QResizeEvent) -> None:
        side = min(self.width(), self.height())
        self.child.setGeometry((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        super().resizeEvent(event)


PREFERRED_SIZE = QSize(1480, 900)


def first_size(available: QSize) -> QSize:
    """The window's first size: the preferred one, shrunk to the screen's free area (a 1366x768 laptop less its
    panel) with room left for a window manager's frame, so no edge of the studio opens off screen."""
    return QSize(
        min(PREFERRED_SIZE.width(), available.width() - 16), min(PREFERRED_SIZE.height(), available.height() - 40)
    )
