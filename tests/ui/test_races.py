"""Late answers from worker threads: they must never undo what the editor did after asking."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def _settled(qtbot, window) -> None:
    qtbot.waitUntil(
        lambda: not window.model.busy and not window.tasks.pending and not window.params.saving, timeout=10000
    )


def _select(qtbot, window, user_id: str) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.current is not None and window.current.id == user_id, timeout=5000)
    _settled(qtbot, window)


def _held(fn: Callable[..., Any], gate: threading.Event) -> Callable[..., Any]:
    """``fn`` that, on a worker thread, waits for ``gate``: an answer held back until the test lets it through."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            assert gate.wait(10)
        return fn(*args, **kwargs)

    return call


def test_a_late_reload_does_not_switch_back_to_the_previous_user(qtbot, make_window, seeded, portal, monkeypatch):
    window = make_window()
    _select(qtbot, window, seeded[1])
    gate = threading.Event()
    monkeypatch.setattr(portal, "get_user", _held(portal.get_user, gate))
    window._users_changed([seeded[1]])  # a job finished for the current user: it is re-read...
    window.move(1)  # ...while the editor already pressed J
    moved_to = window.model.row_at(window.list.currentIndex().row()).id
    assert moved_to != seeded[1]
    gate.set()
    _settled(qtbot, window)
    assert window.current.id == moved_to
    assert window.params.user_id == moved_to
