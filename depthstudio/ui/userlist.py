"""Drawing the user list: thumbnail, name, a coloured status badge, and the failure reason for failed rows."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from depthstudio.jobs.failures import explain
from depthstudio.portal.repository import QA_FLAG_THRESHOLD, UserRow
from depthstudio.portal.status import Status, status_color, status_label
from depthstudio.studio.sources import HAND_AUTHORED, HAND_AUTHORED_LABEL
from depthstudio.ui.plain import display
from depthstudio.ui.user_list_model import ROW_ROLE, THUMB_ROLE, UserListModel

ROW_HEIGHT = 60
THUMB = 48


class UserDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(200, ROW_HEIGHT)  # as wide as the list is: names and details elide, never scroll sideways

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        row: UserRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        painter.save()
        rect = option.rect  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        palette = option.palette  # type: ignore[attr-defined]
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        thumb_rect = QRect(rect.left() + 6, rect.top() + (rect.height() - THUMB) // 2, THUMB, THUMB)
        image = index.data(THUMB_ROLE)
        if image is not None:
            painter.drawImage(thumb_rect, image)
        else:
            painter.fillRect(thumb_rect, QColor("#3a3d42") if row.avatar else QColor("#d6d8db"))
        color = QColor(status_color(row.status))
        painter.fillRect(QRect(rect.left(), rect.top(), 3, rect.height()), color)

        x = thumb_rect.right() + 10
        width = rect.right() - x - 6
        name_font = QFont(option.font)  # type: ignore[attr-defined]
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(text_color)
        fm = QFontMetrics(name_font)
        painter.drawText(
            QRect(x, rect.top() + 6, width, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole)), Qt.TextElideMode.ElideRight, width),
        )

        small = QFont(option.font)  # type: ignore[attr-defined]
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        painter.setFont(small)
        sfm = QFontMetrics(small)
        badge = status_label(row.status)
        badge_w = sfm.horizontalAdvance(badge) + 12
        badge_rect = QRect(x, rect.top() + 8 + fm.height(), badge_w, sfm.height() + 2)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(badge_rect, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)

        detail = _detail(row)
        if detail:
            painter.setPen(QColor(Status.FAILED.color) if row.status == Status.FAILED and not selected else text_color)
            rest = QRect(
                badge_rect.right() + 8, badge_rect.top(), rect.right() - badge_rect.right() - 14, badge_rect.height()
            )
            painter.drawText(
                rest,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                sfm.elidedText(display(detail), Qt.TextElideMode.ElideRight, rest.width()),
            )
        painter.restore()


def _detail(row: UserRow) -> str:
    if row.status == "failed":
        kind = explain(row.error_kind).phrase  # plain words, not the machine kind
        return f"{kind}: {row.error}" if row.error else kind
    if row.status == "rejected" and row.note:
        return row.note
    if row.qa_risk >= QA_FLAG_THRESHOLD:
        return f"QA risk {row.qa_risk:.2f}"
    if row.backend:
        return HAND_AUTHORED_LABEL if row.backend == HAND_AUTHORED else row.backend
    return ""


class UserListView(QListView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(UserDelegate(self))
        self.setUniformItemSizes(True)  # lets Qt lay out 100k rows without asking each for its size
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMinimumWidth(240)  # names elide (whole in the title above the preview), never scroll sideways
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    # --- the list as the Qt-free studio model reads it (studio.model.Rows) ----------------------------------

    def _rows(self) -> UserListModel:
        model = self.model()
        assert isinstance(model, UserListModel)
        return model

    def row_count(self) -> int:
        return self._rows().rowCount()

    def row_at(self, i: int) -> UserRow:
        return self._rows().row_at(i)

    def position_of(self, user_id: str) -> int:
        index = self._rows().index_of(user_id)
        return index.row() if index.isValid() else -1

    def selected_rows(self) -> list[UserRow]:
        rows = self._rows()
        return [rows.row_at(i.row()) for i in sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())]
