"""One bookkeeping for every bulk job: what counts as done, failed and retried, and what observers are told."""

from __future__ import annotations

from depthstudio.jobs.progress import FAILED, GENERATED, LOST, RETRY, ItemEvent, Tally


def test_final_outcomes_count_as_done_and_failures_are_kept_in_order():
    tally = Tally(2)
    tally.record(ItemEvent("a", RETRY, "http", "503"), final=False)
    tally.record(ItemEvent("a", FAILED, "http", "503 again"))
    tally.record(ItemEvent("b", LOST), final=False)
    tally.record(ItemEvent("b", GENERATED))
    tally.record(ItemEvent("c", GENERATED))  # a job another run queued, taken over by this one
    p = tally.progress
    assert (p.done, p.failed, p.total) == (3, 1, 3)
    assert p.outcomes == {RETRY: 1, FAILED: 1, LOST: 1, GENERATED: 2}
    summary = tally.summary(cancelled=False)
    assert [f.message for f in summary.failures] == ["503 again"] and not summary.ok
    assert summary.line().startswith("3 users in ") and ": 1 failed, 2 generated" in summary.line()


def test_observers_hear_the_item_then_the_progress_and_the_summary_is_a_snapshot():
    heard: list[object] = []
    tally = Tally(1)
    event = ItemEvent("a", FAILED, "bad", "no")
    tally.record(event)
    tally.report(event, heard.append, lambda p: heard.append(("progress", p.done)))
    tally.report(None, heard.append, lambda p: heard.append(("progress", p.done)))
    assert heard == [event, ("progress", 1), ("progress", 1)]
    summary = tally.summary(cancelled=True, fatal="database gone")
    tally.record(ItemEvent("b", FAILED))
    assert len(summary.failures) == 1 and summary.line().endswith("cancelled, stopped: database gone")
