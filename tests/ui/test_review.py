"""Browsing and reviewing in the real window: filters with counts, search, sort, keyboard culling with undo."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog

from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Query
from depthstudio.ui.user_list_model import ROW_ROLE
from depthstudio.ui.userlist import _detail
from tests.ui.conftest import seed_result


def _rows(window):
    return [window.model.index(i).data(ROW_ROLE) for i in range(window.model.rowCount())]


def _settled(qtbot, window):
    qtbot.waitUntil(
        lambda: not window.model.busy and not window.tasks.pending and not window.writes.pending, timeout=5000
    )


def test_filter_chips_show_counts_and_narrow_the_list(qtbot, make_window, seeded, portal):
    window = make_window()
    _settled(qtbot, window)
    counts = portal.status_counts()
    assert window.filter_buttons["generated"].text() == f"Awaiting review  {counts['generated']}"
    assert counts["generated"] == 3
    assert window.filter_buttons["all"].text() == f"All  {counts['all']}"

    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    assert sorted(r.id for r in _rows(window)) == sorted(seeded)

    window.list.setFocus()
    qtbot.keyClick(window.list, Qt.Key.Key_2)  # 2 = Missing
    _settled(qtbot, window)
    assert window.filter.key == "missing" and window.filter_buttons["missing"].isChecked()
    assert {r.status for r in _rows(window)} == {"missing"}
    assert window.model.total == counts["missing"]

    qtbot.keyClick(window.list, Qt.Key.Key_9)  # 9 = QA-flagged: the user with the 0.7-risk result
    _settled(qtbot, window)
    assert [r.id for r in _rows(window)] == [seeded[0]]


def test_search_is_debounced_and_counts_follow_it(qtbot, make_window, seeded):
    window = make_window()
    window.search.setFocus()
    qtbot.keyClicks(window.search, "chelsea")
    assert window.model.rowCount() > 1, "no query per keystroke: the search waits for a pause"
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    _settled(qtbot, window)
    assert _rows(window)[0].name == "Chelsea the Cat"
    assert window.filter_buttons["all"].text() == "All  1"
    assert window.filter.key == "all", "typing digits or letters in the search box triggers no shortcut"


def test_sort_by_qa_risk_and_failed_rows_show_their_reason(qtbot, make_window, seeded, portal):
    missing = next(r for r in portal.list_users(limit=100) if r.status == "missing")
    queue = JobQueue(portal)
    queue.enqueue([(missing.id, missing.avatar)], max_attempts=1)
    job = queue.claim("test")
    queue.fail(job, kind="bad_image", message="the photo is not a readable image", retry_in=None)

    window = make_window()
    window.sort_box.setCurrentIndex(list(window.sort_box.itemData(i) for i in range(4)).index("risk"))
    _settled(qtbot, window)
    assert _rows(window)[0].id == seeded[0]

    window.set_sort("attention")
    _settled(qtbot, window)
    failed = _rows(window)[0]
    assert failed.id == missing.id and failed.status == "failed"
    assert _detail(failed) == "bad image: the photo is not a readable image"  # the kind in words
    assert "the photo is not a readable image" in window.model.index(0).data(Qt.ItemDataRole.ToolTipRole)


def test_keyboard_review_records_decisions_moves_on_and_undoes(qtbot, make_window, seeded, portal):
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    window.list.setFocus()
    order = [r.id for r in _rows(window)]
    window.list.setCurrentIndex(window.model.index(0))

    qtbot.keyClick(window.list, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: portal.get_user(order[0]).decision == "approved", timeout=5000)
    assert portal.get_user(order[0]).reviewer == "test-editor"
    assert window.current.id == order[1], "approving moves to the next user"

    qtbot.keyClick(window.list, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: portal.get_user(order[1]).status == "rejected", timeout=5000)
    assert window.current.id == order[2]

    qtbot.keyClick(window.list, Qt.Key.Key_K)
    assert window.current.id == order[1]
    qtbot.keyClick(window.list, Qt.Key.Key_J)
    assert window.current.id == order[2]

    qtbot.keyClick(window.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: portal.get_user(order[1]).decision is None, timeout=5000)
    assert portal.get_user(order[1]).status == "generated"
    assert [h["decision"] for h in portal.review_history(order[1])] == ["cleared", "rejected"]
    assert portal.get_user(order[0]).decision == "approved", "undo takes back only the last decision"
    _settled(qtbot, window)
    assert window.filter_buttons["approved"].text() == "Approved  1"


def test_reject_with_note_and_multi_select(qtbot, make_window, seeded, portal):
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    window.list.selectAll()

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        dialog.setTextValue("halo around the hair")
        dialog.accept()

    QTimer.singleShot(300, answer)
    window.list.setFocus()
    qtbot.keyClick(window.list, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: portal.count_users(Query(statuses=["rejected"])) == 3, timeout=5000)
    notes = {portal.get_user(u).note for u in seeded}
    assert notes == {"halo around the hair"}


def test_approving_a_user_without_depth_map_changes_nothing(qtbot, make_window, portal):
    window = make_window()
    missing = next(r for r in _rows(window) if r.status == "missing")
    window.list.setCurrentIndex(window.model.index_of(missing.id))
    window.list.setFocus()
    qtbot.keyClick(window.list, Qt.Key.Key_A)
    assert "no depth map" in window.statusBar().currentMessage()
    assert portal.review_history(missing.id) == []


def test_a_decision_skips_a_user_regenerated_since_the_editor_saw_the_map(qtbot, make_window, seeded, portal):
    window = make_window()
    _settled(qtbot, window)
    window.list.setCurrentIndex(window.model.index_of(seeded[1]))
    qtbot.waitUntil(lambda: window.current.id == seeded[1], timeout=5000)
    _settled(qtbot, window)
    shown = window.current.result_id
    newer = seed_result(portal, seeded[1], backend="synthetic-b")  # another studio regenerated it meanwhile
    window.decide("approved")
    _settled(qtbot, window)
    row = portal.get_user(seeded[1])
    assert row.result_id == newer != shown and row.decision is None
    assert "1 skipped" in window.statusBar().currentMessage()
    assert window.model.row_at(window.model.index_of(seeded[1]).row()).result_id == newer


def test_the_list_header_follows_the_chip_after_a_decision(qtbot, make_window, seeded, portal):
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    assert window.list_header.text().strip() == "3 users · awaiting review"
    window.list.setFocus()
    window.list.setCurrentIndex(window.model.index(0))
    qtbot.keyClick(window.list, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: window.filter_buttons["generated"].text() == "Awaiting review  2", timeout=5000)
    _settled(qtbot, window)
    assert window.model.rowCount() == 3, "the decided user stays in place under the cursor"
    assert window.list_header.text().strip() == "2 users · awaiting review", "the header says what the chip says"


def test_undo_is_its_own_entry_in_the_review_history(qtbot, make_window, seeded, portal):
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    window.list.setFocus()
    window.list.setCurrentIndex(window.model.index(0))
    uid = window.current.id
    qtbot.keyClick(window.list, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: portal.get_user(uid).decision == "approved", timeout=5000)
    window.list.setCurrentIndex(window.model.index(0))
    qtbot.waitUntil(lambda: window.history.count() == 1 and "approved" in window.history.item(0).text(), timeout=5000)
    qtbot.keyClick(window.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.history.count() == 2, timeout=5000)
    shown = [window.history.item(i).text() for i in range(window.history.count())]
    assert [h["decision"] for h in portal.review_history(uid)] == ["cleared", "approved"]
    assert "decision cleared (back to awaiting review) by test-editor" in shown[0], "the undo, newest first"
    assert "approved by test-editor" in shown[1], "the approval stays in the history"


def test_a_preview_read_before_a_decision_is_not_kept_for_after_its_undo(qtbot, make_window, seeded, portal):
    """A load that read the history before an approval and returns after its undo must not be kept: the undone
    row has its old fields again, so the old history would be shown. A gate holds the load between its read and
    its return."""
    window = make_window()
    window.filter_buttons["generated"].click()
    _settled(qtbot, window)
    uid = window.model.row_at(1).id
    read, release = threading.Event(), threading.Event()
    real = portal.review_history

    def gated(user_id):
        history = real(user_id)
        if user_id == uid and not read.is_set():
            read.set()
            assert release.wait(10)
        return history

    portal.review_history = gated
    window.studio.previews.clear()  # the neighbours loaded ahead: selecting the user must read it now, through the gate
    window.list.setFocus()
    window.list.setCurrentIndex(window.model.index(1))
    qtbot.waitUntil(read.is_set, timeout=5000)  # the history is read (empty), the load not yet returned
    qtbot.keyClick(window.list, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: portal.get_user(uid).decision == "approved" and not window.writes.pending, timeout=5000)
    qtbot.keyClick(window.list, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: portal.get_user(uid).decision is None and not window.writes.pending, timeout=5000)
    release.set()  # the load started before both writes returns after them
    _settled(qtbot, window)
    window.list.setCurrentIndex(window.model.index(0))  # away and back: the preview comes from what was kept
    qtbot.waitUntil(lambda: window.current.id != uid and not window.tasks.pending, timeout=5000)
    window.list.setCurrentIndex(window.model.index(1))
    qtbot.waitUntil(lambda: window.current.id == uid and not window.tasks.pending, timeout=5000)
    shown = [window.history.item(i).text() for i in range(window.history.count())]
    assert len(shown) == 2 and "cleared" in shown[0] and "approved" in shown[1], shown
