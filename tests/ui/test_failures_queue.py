"""The failures view as a work queue: every failed user in the database, grouped in plain words, retried and visited."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from depthstudio.jobs.failures import failure_groups
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal, Query

CORRUPT = "the avatar's file is damaged: cannot decode"
DNS = "cannot resolve img.example.org"


def fail_user(portal: Portal, user_id: str, kind: str, message: str, *, tries: int = 1) -> None:
    """A job that failed ``tries`` times (retried in between) and then for good, as an earlier run leaves it."""
    row = portal.get_user(user_id)
    queue = JobQueue(portal)
    queue.enqueue([(row.id, row.avatar)], max_attempts=tries)
    for attempt in range(tries):
        job = queue.claim("earlier-run")
        assert job is not None and job.user_id == user_id
        queue.fail(job, kind=kind, message=message, retry_in=0.0 if attempt < tries - 1 else None)


def _earlier_failures(portal: Portal) -> dict[str, list[str]]:
    """Failures left by earlier runs (none by this window): two corrupt photos, two temporary faults."""
    ids = [r.id for r in portal.list_users(Query(statuses=["missing"]), limit=4)]
    fail_user(portal, ids[0], "corrupt", CORRUPT)
    fail_user(portal, ids[1], "corrupt", CORRUPT)
    fail_user(portal, ids[2], "dns", DNS, tries=3)
    fail_user(portal, ids[3], "server_error", "the service answered 503")
    return {"corrupt": ids[:2], "temporary": ids[2:]}


def _open(qtbot, window):
    with qtbot.waitSignal(window.failures.loaded, timeout=10000):
        next(a for a in window.menus["View"].actions() if a.text() == "Failed users…").trigger()
    assert window.failures.isVisible()
    return window.failures


def _user_items(panel):
    tree = panel.tree
    return [
        tree.topLevelItem(g).child(c)
        for g in range(tree.topLevelItemCount())
        for c in range(tree.topLevelItem(g).childCount())
    ]


def test_every_failed_user_in_the_database_is_listed_by_kind_in_plain_words(qtbot, make_window, portal):
    failed = _earlier_failures(portal)
    window = make_window()
    panel = _open(qtbot, window)
    heads = [panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())]
    titles = [h.text(0) for h in heads]
    assert len(titles) == 3  # corrupt, dns, server_error
    for text in titles + [h.text(2) for h in heads]:
        assert not re.search(r"\b[a-z]+_[a-z]+\b", text), text  # no snake_case kinds
    corrupt = next(h for h in heads if h.text(0).startswith("The photo file is corrupt"))
    assert corrupt.text(0).endswith("2 users")
    assert corrupt.text(2) == "needs action: ask the user to upload a new photo"
    assert {corrupt.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(2)} == set(failed["corrupt"])
    dns = next(h for h in heads if "did not resolve" in h.text(0))
    assert dns.text(2) == "temporary: retry" and dns.child(0).text(1) == "3 attempts"
    assert "2 temporary, 2 need action first" in panel.summary.text()


def test_attempts_are_counted_over_every_run_at_the_same_photo(qtbot, make_window, portal):
    user = portal.list_users(Query(statuses=["missing"]), limit=1)[0].id
    for _ in range(3):  # three runs (Retry failed, three times), one attempt each
        fail_user(portal, user, "corrupt", CORRUPT)
    (group,) = failure_groups(portal)
    assert [u.attempts for u in group.users] == [3]
    window = make_window()
    panel = _open(qtbot, window)
    assert _user_items(panel)[0].text(1) == "3 attempts"


def test_retry_failed_is_enabled_from_the_database_and_retries_only_the_temporary_ones(qtbot, make_window, portal):
    failed = _earlier_failures(portal)
    window = make_window()
    # No job ran in this window, yet the database has temporary failures: the button works.
    qtbot.waitUntil(window.bulk.retry_button.isEnabled, timeout=10000)
    assert window.bulk.retry_button.text() == "Retry failed (2)"
    with qtbot.waitSignal(window.bulk.stopped, timeout=60000):
        window.bulk.retry_button.click()
    assert {portal.get_user(u).status for u in failed["temporary"]} == {"generated"}
    assert {portal.get_user(u).status for u in failed["corrupt"]} == {"failed"}  # a new photo is needed first
    qtbot.waitUntil(lambda: not window.bulk.retry_button.isEnabled(), timeout=10000)
    assert [g.kind for g in failure_groups(portal)] == ["corrupt"]


def test_the_panel_retries_its_temporary_failures_in_one_action(qtbot, make_window, portal):
    failed = _earlier_failures(portal)
    window = make_window()
    panel = _open(qtbot, window)
    assert panel.retry_button.text() == "Retry temporary failures (2)"
    with qtbot.waitSignal(window.bulk.stopped, timeout=60000):
        panel.retry_button.click()
    assert {portal.get_user(u).status for u in failed["temporary"]} == {"generated"}
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10000)
    assert not panel.retry_button.isEnabled()


def test_double_click_goes_to_the_user_and_the_panel_closes(qtbot, make_window, portal):
    failed = _earlier_failures(portal)
    window = make_window()
    window.filter_buttons["published"].click()  # the failed users are not in the list shown
    panel = _open(qtbot, window)
    item = next(i for i in _user_items(panel) if i.data(0, Qt.ItemDataRole.UserRole) == failed["corrupt"][1])
    panel.tree.scrollToItem(item)
    at = panel.tree.visualItemRect(item).center()
    qtbot.mouseClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=at)  # a double-click starts as a click
    qtbot.mouseDClick(panel.tree.viewport(), Qt.MouseButton.LeftButton, pos=at)
    qtbot.waitUntil(lambda: window.current is not None and window.current.id == failed["corrupt"][1], timeout=10000)
    assert window.list.currentIndex().data(Qt.ItemDataRole.UserRole + 1).id == failed["corrupt"][1]
    assert window.filter.key == "failed"
    assert "upload a new photo" in window.user_info.text()
    close = next(b for b in panel.findChildren(type(panel.retry_button)) if b.text() == "Close")
    close.click()
    assert not panel.isVisible()
