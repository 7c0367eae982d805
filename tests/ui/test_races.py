"""Late answers from worker threads: they must never undo what the editor did after asking."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt

from depthstudio.errors import DepthstudioError
from depthstudio.ui.workers import JobController


def _settled(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: (
            not window.model.busy
            and not window.tasks.pending
            and not window.writes.pending
            and not window.params.saving
            and not window.params.loading
        ),
        timeout=10000,
    )


def _select(qtbot, window, user_id: str) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.current is not None and window.current.id == user_id, timeout=5000)
    _settled(qtbot, window)


@pytest.fixture
def gate(make_window) -> Iterator[threading.Event]:
    """Released at the latest when the test ends, before the window's teardown waits for its threads."""
    event = threading.Event()
    yield event
    event.set()


def _held(fn: Callable[..., Any], gate: threading.Event) -> Callable[..., Any]:
    """``fn`` that, on a worker thread, waits for ``gate``: an answer held back until the test lets it through."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            assert gate.wait(10)
        return fn(*args, **kwargs)

    return call


def test_a_late_reload_does_not_switch_back_to_the_previous_user(qtbot, make_window, seeded, portal, monkeypatch, gate):
    window = make_window()
    _select(qtbot, window, seeded[1])
    monkeypatch.setattr(portal, "get_user", _held(portal.get_user, gate))
    window.studio.users_changed([seeded[1]])  # a job finished for the current user: it is re-read...
    window.move(1)  # ...while the editor already pressed J
    moved_to = window.model.row_at(window.list.currentIndex().row()).id
    assert moved_to != seeded[1]
    gate.set()
    _settled(qtbot, window)
    assert window.current.id == moved_to
    assert window.params.user_id == moved_to


def test_an_edit_before_the_stored_overrides_arrive_cannot_erase_them(
    qtbot, make_window, seeded, portal, monkeypatch, gate
):
    uid = seeded[2]
    portal.set_overrides([uid], {"horizontal_threshold": 20.0, "plane": 0.3}, by="t")
    window = make_window()
    _settled(qtbot, window)
    monkeypatch.setattr(portal, "get_overrides", _held(portal.get_overrides, gate))
    window.list.setCurrentIndex(window.model.index_of(uid))
    qtbot.waitUntil(lambda: window.params.user_id == uid, timeout=5000)
    field = window.params.rows["multiplier"].field
    assert not field.isEnabled()
    field.setValue(2.0)  # the designer nudges a slider before the stored layer is in
    window.params.flush()
    gate.set()
    _settled(qtbot, window)
    assert window.params.rows["plane"].field.value() == 0.3 and field.isEnabled()
    assert portal.get_overrides(uid) == {"horizontal_threshold": 20.0, "plane": 0.3}

    field.setValue(2.0)  # once it is in, an edit adds to it
    window.params.flush()
    _settled(qtbot, window)
    assert portal.get_overrides(uid) == {"horizontal_threshold": 20.0, "plane": 0.3, "multiplier": 2.0}


def test_approve_then_undo_commit_in_that_order(qtbot, make_window, seeded, portal, monkeypatch, gate):
    window = make_window()
    _select(qtbot, window, seeded[1])
    decide = portal.decide

    def slow_approval(ids, decision, **kwargs):  # e.g. a locked SQLite file or a slow round trip
        if decision == "approved":
            assert gate.wait(10)
        return decide(ids, decision, **kwargs)

    monkeypatch.setattr(portal, "decide", slow_approval)
    window.decide("approved")
    window.undo_stack.undo()
    # The gate holds the approval on the write pool's thread; the undo waits in the queue behind it, not on a
    # thread of its own (a free thread starts a task at submit), so it cannot commit first.
    assert window.writes.pool.activeThreadCount() == 1
    gate.set()
    _settled(qtbot, window)
    assert portal.get_user(seeded[1]).decision is None
    assert [h["decision"] for h in portal.review_history(seeded[1])][:2] == ["cleared", "approved"]


def test_a_task_that_reports_after_its_owner_was_destroyed_is_dropped(qtbot):
    """A window closed while a read runs: the read's answer must not reach the deleted widgets."""
    import shiboken6
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QWidget

    from depthstudio.ui.workers import TaskRunner

    owner = QWidget()
    pool = QThreadPool()
    runner = TaskRunner(pool, owner)
    gate, answered = threading.Event(), []
    runner.submit(lambda: gate.wait(10) and "read", done=answered.append, failed=answered.append)
    shiboken6.delete(owner)  # the window goes, its runner with it, while the task still waits
    assert not shiboken6.isValid(runner)
    gate.set()
    assert pool.waitForDone(10000)
    qtbot.wait(50)  # the queued report is delivered (and dropped) on this thread
    assert answered == []


class _Job:
    """A core job object as the controller drives it: ``run`` returns a summary or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def run(self) -> str:
        if self.error is not None:
            raise self.error
        return "summary"

    def cancel(self) -> None:
        pass


def test_a_job_controller_is_no_longer_running_when_it_announces_the_end(qtbot):
    """The window re-enables Generate on "finished"; a click then must not be refused as "still running" because
    the worker thread had not yet exited (seen in CI: ``bulk.running`` True right after ``stopped``)."""
    controller = JobController()
    seen: list[bool] = []
    record = lambda *_: seen.append(controller.running)  # noqa: E731
    # a direct connection runs in the worker thread at the emit, while that thread is certainly still alive
    controller.finished.connect(record, Qt.ConnectionType.DirectConnection)
    controller.crashed.connect(record, Qt.ConnectionType.DirectConnection)
    controller.start("ok", lambda _c: _Job())
    assert controller.wait(10)
    controller.start("bad", lambda _c: _Job(DepthstudioError("the backend refused", kind="backend")))
    assert controller.wait(10)
    assert seen == [False, False]
