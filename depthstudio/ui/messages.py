"""The message area: the last errors and warnings in full, each with what can be done about it.

The status bar has one line and the next user's messages replace it; a sentence that says what to do next is
often the end of a long message. So every error and warning is also kept here, whole, with its time, the user it
was about, and its actions: Settings… (when it names a setting), Retry (when the failed thing can be tried
again), Copy details. The status bar's "⚠ n" button opens it; so does View → Messages (M).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from depthstudio.ui.plain import display

KEEP = 30  # older messages drop off; the log file has them all
# A message that names a setting ("depth.local_weights"), a secret or the settings themselves has a fix there.
_SETTING = re.compile(
    r"\b(portal|studio|depth|storage|fetch|job|retention|web)\.[a-z_]+\b|\b(token|keyring|settings|set-secret)\b", re.I
)


def names_a_setting(text: str) -> bool:
    return bool(_SETTING.search(re.sub(r"https?://\S+", "", text)))


@dataclass
class Message:
    text: str
    level: str = "error"  # error | warning
    about: str = ""  # the user it concerns, by name, or ""
    retry: Callable[[], None] | None = None
    when: datetime = field(default_factory=datetime.now)

    def details(self) -> str:
        """What Copy details puts on the clipboard: enough for a bug report or a message to the operator."""
        about = f" (user: {self.about})" if self.about else ""
        return f"{self.when:%Y-%m-%d %H:%M:%S} {self.level}{about}: {self.text}"


class MessagesPanel(QDockWidget):
    open_settings = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Messages", parent)
        self.setObjectName("messagesDock")
        self.messages: list[Message] = []
        self.cards: list[QFrame] = []
        body = QWidget()
        self.column = QVBoxLayout(body)
        self.column.setContentsMargins(6, 6, 6, 6)
        self.column.addStretch(1)
        self.empty = QLabel("No errors or warnings since the studio opened.")
        self.empty.setObjectName("hint")
        self.column.insertWidget(0, self.empty)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setWidget(body)
        self.setWidget(area)
        self.button = QToolButton()  # for the status bar
        self.button.setObjectName("messagesButton")
        self.button.setToolTip("The last errors and warnings in full, with what to do (M)")
        self.button.clicked.connect(self.toggle)
        self._update_button()

    def add(self, message: Message) -> None:
        self.messages.insert(0, message)
        card = self._card(message)
        self.cards.insert(0, card)
        self.column.insertWidget(0, card)
        while len(self.messages) > KEEP:
            self.messages.pop()
            self.cards.pop().deleteLater()
        self.empty.setVisible(not self.messages)
        self._update_button()

    def toggle(self) -> None:
        self.setVisible(not self.isVisible())
        if self.isVisible():
            self.raise_()

    def _update_button(self) -> None:
        errors = sum(1 for m in self.messages if m.level == "error")
        self.button.setText(f"⚠ {len(self.messages)}" if self.messages else "Messages")
        self.button.setProperty("errors", errors)

    def _card(self, message: Message) -> QFrame:
        card = QFrame()
        card.setObjectName("messageCard")
        layout = QVBoxLayout(card)
        layout.setContentsMargins(6, 4, 6, 4)
        head = QLabel(f"{message.when:%H:%M:%S} · {message.level}" + (f" · {message.about}" if message.about else ""))
        head.setObjectName("hint")
        head.setTextFormat(Qt.TextFormat.PlainText)
        text = QLabel(display(message.text, newlines=True))
        text.setObjectName("messageText")
        text.setTextFormat(Qt.TextFormat.PlainText)  # messages quote names and URLs written by strangers
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(head)
        layout.addWidget(text)
        row = QHBoxLayout()
        if names_a_setting(message.text):
            settings = QPushButton("Settings…")
            settings.setObjectName("messageSettings")
            settings.clicked.connect(self.open_settings.emit)
            row.addWidget(settings)
        if message.retry is not None:
            retry = QPushButton("Retry")
            retry.setObjectName("messageRetry")
            retry.clicked.connect(message.retry)
            row.addWidget(retry)
        copy = QPushButton("Copy details")
        copy.setObjectName("messageCopy")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(message.details()))
        row.addWidget(copy)
        row.addStretch(1)
        layout.addLayout(row)
        return card
