"""Bulk jobs from the window: the core's job objects on a worker thread, with progress, cancel, failures, retry."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from sqlalchemy import func, select

from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.errors import BackendError, DepthstudioError
from depthstudio.jobs.progress import Progress
from depthstudio.portal.repository import Query
from depthstudio.portal.tables import jobs
from depthstudio.portal.vocabulary import JobStatus
from depthstudio.ui.bulk import ended
from tests.ui.test_screenshots import _save


def _run(qtbot, window, start, timeout: int = 60000):
    """Start a job and wait for its end; a job that crashed fails the test with its message."""
    with qtbot.waitSignal(window.bulk.stopped, timeout=timeout) as stopped:
        start()
    state, text = stopped.args
    assert state in ("done", "cancelled"), text
    return window.bulk.last_summary


def _button(box, text: str):
    return next(b for b in box.buttons() if b.text() == text)


def _running_jobs(portal) -> int:
    with portal.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(jobs).where(jobs.c.status == JobStatus.RUNNING)
        ).scalar_one()


def test_generate_all_missing_reaches_100_percent_and_refreshes_the_list(qtbot, make_window, portal):
    missing = portal.count_users(Query(statuses=["missing"]))
    window = make_window(latency_s=0.02)
    window.filter_buttons["missing"].click()
    seen: list[float] = []
    window.bulk.controller.progress.connect(lambda p: seen.append(p.fraction))

    def start():
        window.bulk.generate_button.click()
        assert window.bulk.cancel_button.isEnabled() and not window.bulk.generate_button.isEnabled()

    summary = _run(qtbot, window, start)
    assert not summary.cancelled and summary.progress.done == missing
    assert window.bulk.progress_bar.value() == 1000 and seen[-1] == 1.0
    assert window.bulk.progress_bar.format() == f"Generate all missing: {missing}/{missing} — done"
    assert f"{missing} generated" in window.bulk.status.text()
    assert portal.count_users(Query(statuses=["missing"])) == 0
    qtbot.waitUntil(lambda: window.filter_buttons["generated"].text() == f"Awaiting review  {missing}", timeout=5000)
    # The list reloads after the job: wait for the reloaded first page, not just any state of it.
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and window.model.row_at(0).status == "generated", timeout=5000)
    assert _running_jobs(portal) == 0


def test_generate_all_missing_with_nothing_missing_builds_no_backend_and_says_where_users_stand(
    qtbot, make_window, portal
):
    window = make_window()
    _run(qtbot, window, window.bulk.generate_button.click)
    awaiting = portal.status_counts()["generated"]
    built: list[object] = []

    def offline(config, **_kw):  # what an offline machine without the weights does when a model is built
        built.append(config)
        raise BackendError("the model's weights are not downloaded", kind="no_weights")

    window.bulk.backend_factory = offline
    with qtbot.waitSignal(window.bulk.stopped, timeout=20000) as stopped:
        window.bulk.generate_button.click()
    assert stopped.args == ["done", f"nothing to do: 0 published, {awaiting} awaiting review"]
    assert window.bulk.progress_bar.format() == "Generate all missing: nothing to do" and built == []
    _save(window, "bulk-nothing-to-do.png")


def test_generate_all_missing_says_which_failed_users_it_held_back_and_why(qtbot, make_window, portal):
    from tests.ui.test_failures_queue import fail_user

    corrupt, offline = [r.id for r in portal.list_users(Query(statuses=["missing"]), limit=2)]
    fail_user(portal, corrupt, "corrupt", "the file is damaged")  # the photo's fault: waits for a new photo
    fail_user(portal, offline, "connect", "could not connect")  # the environment's: retried on its own
    window = make_window()
    window.config.job.heal_backoff_s = 0
    with qtbot.waitSignal(window.bulk.stopped, timeout=60000) as stopped:
        window.bulk.generate_button.click()
    state, text = stopped.args
    assert state == "done" and text.endswith(
        "; held back: 1 failed user(s): 1 for a fault of the photo (retried when the photo changes); "
        "select them under Failed and press Generate (G) to retry them now"
    ), text
    assert portal.get_user(offline).status == "generated" and portal.get_user(corrupt).status == "failed"


def test_cancel_mid_run_stops_and_leaves_no_running_job(qtbot, make_window, portal):
    window = make_window(latency_s=0.4)
    window.bulk.generate_button.click()
    qtbot.waitUntil(lambda: getattr(window.bulk.last_progress, "done", 0) >= 2, timeout=20000)
    rows = lambda: [window.model.row_at(i).status for i in range(window.model.rowCount())]  # noqa: E731
    qtbot.waitUntil(lambda: "generated" in rows(), timeout=5000)  # the list follows the job while it runs
    summary = _run(qtbot, window, window.bulk.cancel_button.click, timeout=20000)
    assert summary.cancelled and summary.progress.done < summary.progress.total
    assert not window.bulk.running and window.bulk.generate_button.isEnabled()
    p = summary.progress
    assert window.bulk.progress_bar.format() == f"Generate all missing: cancelled after {p.done} of {p.total}"
    assert _running_jobs(portal) == 0


def test_a_run_that_stops_before_starting_says_so_and_why(qtbot, make_window, portal):
    window = make_window()

    def no_model(_config):
        raise DepthstudioError("the model could not be downloaded: check the network", kind="download")

    window.bulk.backend_factory = no_model
    with qtbot.waitSignal(window.bulk.stopped, timeout=20000) as stopped:
        window.bulk.generate_button.click()
    assert stopped.args[0] == "stopped"
    assert window.bulk.progress_bar.format() == "Generate all missing: stopped before starting"
    assert "could not be downloaded" in window.bulk.status.toolTip()
    assert _running_jobs(portal) == 0


def test_the_bar_says_how_far_a_run_got_before_it_stopped():
    progress = Progress(total=17, done=3, failed=1)
    assert ended("stopped", progress) == "stopped after 3 of 17"
    assert ended("cancelled", progress) == "cancelled after 3 of 17"
    assert ended("done", Progress(total=17, done=17)) == "17/17 — done"


def test_failures_are_listed_with_reasons_and_retry_regenerates_them(qtbot, make_window, portal):
    rows = [r for r in portal.list_users(Query(statuses=["missing"]), limit=3)]
    bad = frozenset(r.avatar for r in rows[:2])
    window = make_window()
    window.bulk.backend_factory = lambda _cfg: SyntheticBackend(fail_for=bad)
    with qtbot.waitSignal(window.failures.loaded, timeout=10000):  # the run's end opens the failures view
        _run(qtbot, window, window.bulk.generate_button.click)
    assert window.failures.isVisible() and not window.bulk.failure_list.isVisible()
    items = [window.bulk.failure_list.topLevelItem(i) for i in range(window.bulk.failure_list.topLevelItemCount())]
    assert {item.text(1) for item in items} == {"The depth model failed on this photo"}
    listed = {item.data(0, Qt.ItemDataRole.UserRole): item.text(2) for item in items}
    assert set(listed) == {r.id for r in rows[:2]}
    assert {item.text(0) for item in items} == {r.name for r in rows[:2]}
    assert all("told to fail" in reason for reason in listed.values())
    assert portal.count_users(Query(statuses=["failed"])) == 2
    assert window.bulk.retry_button.isEnabled()

    window.bulk.backend_factory = lambda _cfg: SyntheticBackend()
    _run(qtbot, window, window.bulk.retry_button.click)
    assert window.bulk.failure_list.topLevelItemCount() == 0
    assert portal.count_users(Query(statuses=["failed"])) == 0


def test_generate_key_regenerates_the_selected_user(qtbot, make_window, seeded, portal):
    window = make_window()
    window.list.setCurrentIndex(window.model.index_of(seeded[1]))
    before = len(portal.results_for_user(seeded[1]))
    window.list.setFocus()
    _run(qtbot, window, lambda: qtbot.keyClick(window.list, Qt.Key.Key_G))
    assert len(portal.results_for_user(seeded[1])) == before + 1
    assert portal.get_user(seeded[1]).status == "generated"


def test_publish_approved_writes_the_portal_column(qtbot, make_window, seeded, portal):
    portal.decide(seeded[:2], "approved", reviewer="test-editor")
    window = make_window()
    qtbot.waitUntil(lambda: window.counts.get("approved") == 2, timeout=5000)

    def confirmed() -> None:
        QTimer.singleShot(
            0, lambda: _button(QApplication.activeModalWidget(), "Publish").click()
        )  # inside the dialog's loop
        window.bulk.publish_button.click()

    assert _run(qtbot, window, confirmed).progress.done == 2
    for uid in seeded[:2]:
        row = portal.get_user(uid)
        assert row.status == "published" and row.depth_url and row.depth_url.startswith("file://")
        assert Path(row.depth_url.removeprefix("file://")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert portal.get_user(seeded[2]).depth_url is None, "only approved users are published"
    qtbot.waitUntil(lambda: window.filter_buttons["published"].text() == "Published  2", timeout=5000)
