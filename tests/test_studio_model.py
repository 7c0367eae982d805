"""The studio's state and rules without a display: no QApplication, no Qt at all (import-linter forbids PySide6
in depthstudio.studio; the first test checks the running process too). Work runs through submit callables that
the test drives, so the order in which reads return is the test's to choose."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from depthstudio.config import Config
from depthstudio.portal.repository import Portal, Query, UserRow
from depthstudio.studio.model import StudioModel, UserShown
from depthstudio.studio.preview_loading import LoadedPreview
from depthstudio.studio.problems import Problem
from depthstudio.studio.view_modes import SHADER, VIEW_MODES, shown_mode
from tests.helpers import seed_result

REPO = Path(__file__).resolve().parent.parent


class Tasks:
    """A submit that holds the work until the test runs it (``run_all``), in the order the test picks."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[[], Any], Callable[[Any], None] | None, Callable[[Any], None] | None]] = []

    def __call__(self, fn: Callable[[], Any], done: Any = None, failed: Any = None, *, after: Any = None) -> None:
        self.waiting.append((fn, done, failed))

    def run(self, i: int = 0) -> None:
        fn, done, failed = self.waiting.pop(i)
        try:
            value = fn()
        except Exception as exc:
            if failed is not None:
                failed(exc)
            return
        if done is not None:
            done(value)

    def run_all(self) -> None:
        while self.waiting:
            self.run()


class ListRows:
    """The list as loaded: rows in order and the selection (what Qt's item and selection models hold)."""

    def __init__(self, rows: list[UserRow]) -> None:
        self.rows, self.selected = rows, []

    def row_count(self) -> int:
        return len(self.rows)

    def row_at(self, i: int) -> UserRow:
        return self.rows[i]

    def position_of(self, user_id: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.id == user_id), -1)

    def selected_rows(self) -> list[UserRow]:
        return [r for r in self.rows if r.id in self.selected]


@pytest.fixture
def portal() -> Iterator[Portal]:
    cfg = Config()
    cfg.fetch.crop_size = 128
    cfg.studio.reviewer = "test-editor"
    p = Portal.open(cfg)
    yield p
    p.close()


@pytest.fixture
def seeded(portal: Portal) -> list[str]:
    """Four users with a photo; the first three have a result awaiting review, the first a second one to compare."""
    users = [r.id for r in portal.list_users(Query(search="a"), limit=100) if r.avatar][:4]
    for uid in users[:3]:
        seed_result(portal, uid)
    seed_result(portal, users[0], backend="synthetic-b", qa_risk=0.7)
    return users


def _studio(portal: Portal, ids: list[str]) -> tuple[StudioModel, ListRows, Tasks, Tasks, list[tuple[str, Any]]]:
    rows = ListRows([r for r in (portal.get_user(u) for u in ids) if r is not None])
    tasks, writes = Tasks(), Tasks()
    studio = StudioModel(portal, portal.config, rows, tasks, writes)
    seen: list[tuple[str, Any]] = []
    for name in ("query_changed", "counts_changed", "user_shown", "preview_loaded", "rows_changed", "message"):
        getattr(studio, name).connect(lambda value, n=name: seen.append((n, value)))
    studio.problem.connect(lambda p: seen.append(("problem", p)))
    return studio, rows, tasks, writes, seen


def _events(seen: list[tuple[str, Any]], name: str) -> list[Any]:
    return [value for n, value in seen if n == name]


def test_the_studio_package_imports_no_qt():
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "import depthstudio.studio.model, depthstudio.studio.preview_loading, depthstudio.studio.view_modes\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'OpenGL')))"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_a_filter_and_a_search_make_the_query_and_the_counts_use_the_search(portal, seeded):
    studio, _rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.set_search("  a ")
    studio.set_filter("generated")
    (query,) = _events(seen, "query_changed")
    assert query.statuses == studio.filter.statuses and "generated" in query.statuses and query.search == "a"
    studio.refresh_counts()
    tasks.run_all()
    (counts,) = _events(seen, "counts_changed")
    assert counts == portal.status_counts(Query(search="a"))
    assert studio.shown_count() == counts["generated"] == 3


def test_an_older_count_landing_after_a_newer_one_is_dropped(portal, seeded):
    studio, _rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.refresh_counts()
    studio.set_search("zzz-nobody")
    studio.refresh_counts()
    tasks.run(1)  # the newer one first
    tasks.run(0)
    assert len(_events(seen, "counts_changed")) == 1 and studio.counts["all"] == 0


def test_showing_a_user_loads_its_preview_and_then_its_neighbours_for_j_and_k(portal, seeded):
    studio, rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.show_user(rows.rows[1])
    assert _events(seen, "user_shown") == [UserShown(rows.rows[1], True)]
    tasks.run()
    (loaded,) = _events(seen, "preview_loaded")
    assert isinstance(loaded, LoadedPreview) and loaded.content is not None and loaded.content.depth is not None
    assert len(tasks.waiting) == 3  # J's, K's and the one after J's neighbour, loaded ahead
    tasks.run_all()
    studio.show_user(rows.rows[0])  # K: drawn from what was loaded ahead, no read
    assert not tasks.waiting and len(_events(seen, "preview_loaded")) == 2
    assert _events(seen, "preview_loaded")[1].content.compare_depth is not None  # its two results, to compare


def test_a_load_for_a_user_no_longer_shown_is_dropped(portal, seeded):
    studio, rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.show_user(rows.rows[0])
    studio.show_user(rows.rows[1])  # J before the first load came back
    tasks.run(1)
    tasks.run(0)
    shown = _events(seen, "preview_loaded")
    assert len(shown) == 1 and shown[0].content.compare_depth is None  # the second user's (one result)


def test_a_change_of_a_user_forgets_its_loaded_preview_and_rereads_it_if_shown(portal, seeded):
    studio, rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.show_user(rows.rows[0])
    tasks.run_all()
    assert studio.previews.get(rows.rows[1]) is not None
    studio.users_changed([rows.rows[1].id, rows.rows[0].id])
    assert studio.previews.get(rows.rows[1]) is None
    assert _events(seen, "rows_changed") == [[rows.rows[1].id, rows.rows[0].id]]
    tasks.run_all()  # the counts, and the shown user read again
    assert len(_events(seen, "counts_changed")) == 1 and len(_events(seen, "user_shown")) == 2


def test_a_decision_is_written_on_the_write_thread_and_its_undo_restores_the_previous_one(portal, seeded):
    studio, rows, _tasks, writes, seen = _studio(portal, seeded)
    rows.selected = [seeded[0], seeded[1]]
    decision = studio.review("approved")
    assert decision is not None and decision.text == "approved 2 users"
    decision.redo()
    assert portal.get_user(seeded[0]).decision is None  # not yet: the write waits for its thread
    writes.run_all()
    assert {portal.get_user(u).decision for u in seeded[:2]} == {"approved"}
    assert _events(seen, "message")[-1] == "approved: 2 users (by test-editor)"
    assert sorted(_events(seen, "rows_changed")[-1]) == sorted(seeded[:2])
    decision.undo()
    writes.run_all()
    assert {portal.get_user(u).decision for u in seeded[:2]} == {None}
    assert portal.review_history(seeded[0])[0]["decision"] == "cleared"
    assert _events(seen, "message")[-1] == "cleared: 2 users (by test-editor)"


def test_reviewing_users_without_a_depth_map_asks_nothing_and_says_why(portal, seeded):
    studio, rows, _tasks, writes, seen = _studio(portal, seeded)
    rows.selected = [seeded[3]]
    assert studio.review("approved") is None
    assert not writes.waiting
    assert "no depth map yet" in _events(seen, "message")[0]


def test_a_failed_write_is_a_problem_with_a_sentence(portal, seeded, monkeypatch):
    studio, rows, _tasks, writes, seen = _studio(portal, seeded)
    rows.selected = [seeded[0]]
    decision = studio.review("rejected", "blurry")
    assert decision is not None
    monkeypatch.setattr(portal, "decide", lambda *a, **k: 1 / 0)
    decision.redo()
    writes.run_all()
    (problem,) = _events(seen, "problem")
    assert isinstance(problem, Problem) and problem.text.startswith("not recorded: unexpected ZeroDivisionError")


def test_the_publish_plan_counts_the_approved_and_names_what_is_skipped(portal, seeded):
    studio, _rows, tasks, _writes, _seen = _studio(portal, seeded)
    portal.decide(seeded[:1], "approved", reviewer="test-editor")
    studio.refresh_counts()
    tasks.run_all()
    n, question, details = studio.publish_plan()
    assert n == 1 and question == "Publish 1 approved depth map?"
    assert "Not published: 2 awaiting review." in details


def test_the_landing_row_on_opening_is_the_first_user_with_a_map_then_the_top(portal, seeded):
    studio, _rows, _tasks, _writes, _seen = _studio(portal, [seeded[3], seeded[2], seeded[1]])
    assert studio.landing_row() == 1
    assert studio.landing_row() == 0


def test_a_view_that_cannot_show_the_content_falls_back_to_the_3d_view(portal, seeded):
    studio, rows, tasks, _writes, seen = _studio(portal, seeded)
    studio.show_user(rows.rows[1])
    tasks.run()
    one_result = _events(seen, "preview_loaded")[0].content
    compare = VIEW_MODES["compare"]
    assert "has one" in (compare.unavailable(one_result) or "")
    assert shown_mode("compare", one_result) is SHADER
    assert shown_mode("split", one_result) is VIEW_MODES["split"]
    assert shown_mode("depth", None) is SHADER
    assert not VIEW_MODES["depth"].moves and VIEW_MODES["split"].moves
