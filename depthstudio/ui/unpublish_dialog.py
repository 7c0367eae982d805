"""Review → "Undo publish…": the core's ``unpublish`` for the selected users, confirmed first, run off the GUI
thread (on the studio's write thread, after any decision still being written)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from depthstudio.jobs.unpublish import UnpublishError, UnpublishOutcome, unpublish
from depthstudio.portal.repository import UserRow
from depthstudio.studio.model import StudioModel
from depthstudio.studio.problems import Problem
from depthstudio.ui.plain import display
from depthstudio.ui.workers import describe


def ask(parent: QWidget | None, rows: list[UserRow]) -> bool:
    """The confirmation: what comes back on the portal, and that the files stay."""
    n = len(rows)
    who = display(rows[0].name or rows[0].id) if n == 1 else f"{n} users"
    box = QMessageBox(QMessageBox.Icon.Question, "Undo publish", f"Undo the publish of {who}?", parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    back = "the user goes" if n == 1 else "the users go"
    box.setInformativeText(
        "The portal gets back the depth map value it had before (only where it still shows ours); "
        f"{back} back to awaiting review. The stored files are kept."
    )
    undo = box.addButton("Undo publish", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is undo


def undo_publish(studio: StudioModel, parent: QWidget | None = None) -> None:
    """Ask, then put back each selected published user's previous portal value (compare-and-set)."""
    rows = [r for r in studio.selected_rows() if r.status == "published"]
    if not rows:
        studio.message.emit("nothing to undo: the selected users are not published by depthstudio")
        return
    if not ask(parent, rows):
        return
    n = len(rows)
    ids = [r.id for r in rows]
    studio.rows_changing.emit(ids)

    def work() -> tuple[list[UnpublishOutcome], list[tuple[str, UnpublishError]]]:
        done, refused = [], []
        for uid in ids:
            try:
                done.append(unpublish(studio.portal, uid, by=studio.reviewer))
            except UnpublishError as err:
                refused.append((uid, err))
        return done, refused

    def finished(result: tuple[list[UnpublishOutcome], list[tuple[str, UnpublishError]]]) -> None:
        done, refused = result
        studio.users_changed(ids)
        text = f"publish undone for {len(done)} of {n} user{'s' if n != 1 else ''}"
        if refused:
            more = f" (+{len(refused) - 1} more)" if len(refused) > 1 else ""
            studio.problem.emit(Problem(f"{text}; not undone: {refused[0][1]}{more}"))
        else:
            studio.message.emit(text)

    studio.writes(work, done=finished, failed=lambda exc: studio.problem.emit(Problem(f"undo failed: {describe(exc)}")))
