"""Review → "Undo publish…": the core's ``unpublish`` for the selected users, confirmed first, run off the GUI
thread (on the window's write thread, after any decision still being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from depthstudio.jobs.unpublish import UnpublishError, UnpublishOutcome, unpublish
from depthstudio.ui.plain import display
from depthstudio.ui.workers import describe

if TYPE_CHECKING:
    from depthstudio.ui.main_window import MainWindow


def undo_publish(window: MainWindow, *, confirm: bool = True) -> None:
    """Ask, then put back each selected published user's previous portal value (compare-and-set)."""
    rows = [r for r in window.selected_rows() if r.status == "published"]
    if not rows:
        window.show_message("nothing to undo: the selected users are not published by depthstudio")
        return
    n = len(rows)
    if confirm:
        who = display(rows[0].name or rows[0].id) if n == 1 else f"{n} users"
        box = QMessageBox(QMessageBox.Icon.Question, "Undo publish", f"Undo the publish of {who}?", parent=window)
        box.setTextFormat(Qt.TextFormat.PlainText)
        back = "the user goes" if n == 1 else "the users go"
        box.setInformativeText(
            "The portal gets back the depth map value it had before (only where it still shows ours); "
            f"{back} back to awaiting review. The stored files are kept."
        )
        undo = box.addButton("Undo publish", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        window.unpublish_box = box
        box.exec()
        if box.clickedButton() is not undo:
            return
    ids = [r.id for r in rows]
    window.model.expect_changes(ids)

    def work() -> tuple[list[UnpublishOutcome], list[tuple[str, UnpublishError]]]:
        done, refused = [], []
        for uid in ids:
            try:
                done.append(unpublish(window.portal, uid, by=window.reviewer))
            except UnpublishError as err:
                refused.append((uid, err))
        return done, refused

    def finished(result: tuple[list[UnpublishOutcome], list[tuple[str, UnpublishError]]]) -> None:
        done, refused = result
        window._users_changed(ids)
        text = f"publish undone for {len(done)} of {n} user{'s' if n != 1 else ''}"
        if refused:
            window.show_error(
                f"{text}; not undone: {refused[0][1]}" + (f" (+{len(refused) - 1} more)" if len(refused) > 1 else "")
            )
        else:
            window.show_message(text)

    window.writes.submit(work, done=finished, failed=lambda exc: window.show_error(f"undo failed: {describe(exc)}"))
