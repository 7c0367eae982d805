"""``generate-missing`` and ``publish`` as Qt-free job objects: the CLI and the studio drive the same code."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from depthstudio.config import Config
from depthstudio.depth.backend import DepthBackend
from depthstudio.errors import DepthstudioError
from depthstudio.jobs.failures import HealPlan, heal_plan
from depthstudio.jobs.progress import FAILED, ItemEvent, Progress, Summary, Tally
from depthstudio.jobs.publish import publish_result
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.pool import fit_pool
from depthstudio.portal.repository import Portal, Query
from depthstudio.portal.status import Status
from depthstudio.storage.store import DepthStore

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """Who a generate run would queue, decided before any backend exists: no work, no model (no download, no token
    check), so a quiet night needs neither the network nor the weights."""

    users: list[tuple[str, str]]  # (user id, avatar)
    heal: HealPlan = field(default_factory=lambda: HealPlan([], []))
    retry_hint: str | None = None  # what retries the held-back users where this plan is shown (default: the CLI's)

    @property
    def notes(self) -> list[str]:
        return self.heal.lines(self.retry_hint) if self.retry_hint else self.heal.lines()


def plan_run(
    portal: Portal,
    config: Config,
    *,
    include_failed: bool = False,
    limit: int | None = None,
    user_ids: list[str] | None = None,
) -> RunPlan:
    """Users without a valid map (missing, stale, a job a dead run left), plus the failed users due for a retry:
    every failure with ``include_failed``, else the environment's failures whose backoff has passed."""
    if user_ids is not None:
        wanted = []
        for uid in user_ids:
            row = portal.get_user(uid)
            # A queued or generating user is asked for too: a job left behind by a dead run joins this lane.
            if row is not None and row.avatar:
                wanted.append((row.id, row.avatar))
        return RunPlan(wanted[:limit] if limit is not None else wanted)
    users = portal.ids_needing_depth(include_failed=include_failed, include_active=True, limit=limit)
    if include_failed:
        return RunPlan(users)
    heal = heal_plan(portal, runs=config.job.heal_runs, backoff_s=config.job.heal_backoff_s)
    merged = sorted(set(users) | set(heal.due))
    return RunPlan(merged[:limit] if limit is not None else merged, heal)


def idle_line(portal: Portal) -> str:
    """A quiet run's summary: where the users stand, in the studio's words."""
    counts = portal.status_counts()
    return f"nothing to do: {counts[Status.PUBLISHED]} published, {counts[Status.GENERATED]} {Status.GENERATED.label}"


class NothingToDo:
    """The job a run with an empty plan runs instead of building a backend: it only reports."""

    def __init__(self, portal: Portal, plan: RunPlan) -> None:
        self.portal, self.planned = portal, plan

    def run(self) -> Summary:
        summary = Tally(0).summary(cancelled=False)
        summary.idle = idle_line(self.portal)
        summary.notes = self.planned.notes
        return summary

    def stop(self) -> None:
        """Nothing in flight."""

    cancel = stop


class GenerateMissingJob:
    """Queue every user without a valid depth map (missing or stale), then drain the queue.

    Resuming after a kill needs nothing special: the killed run's jobs are still in the queue (queued, or
    running with a lease that expires) and finished users are no longer missing, so a rerun does only the rest.
    """

    def __init__(
        self,
        portal: Portal,
        backend: DepthBackend,
        store: DepthStore | None,
        config: Config,
        *,
        publish: bool | None = None,
        limit: int | None = None,
        include_failed: bool = False,
        concurrency: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_item: Callable[[ItemEvent], None] | None = None,
        user_ids: list[str] | None = None,
        planned: RunPlan | None = None,
    ) -> None:
        self.portal = portal
        self.planned = planned
        self.config = config
        self.publish = (not config.studio.review_required) if publish is None else publish
        self.limit = limit
        self.include_failed = include_failed
        self.user_ids = user_ids
        self.batch = uuid.uuid4().hex[:12]
        self._interrupted = False
        self.runner = BulkRunner.from_config(
            portal, backend, store, config, concurrency=concurrency, on_progress=on_progress, on_item=on_item
        )

    def plan(self) -> list[tuple[str, str]]:
        """The (user id, avatar) pairs this run would queue; ``user_ids`` (the studio's selection) narrows it."""
        return self._planned().users

    def _planned(self) -> RunPlan:
        if self.planned is None:
            self.planned = plan_run(
                self.portal, self.config, include_failed=self.include_failed, limit=self.limit, user_ids=self.user_ids
            )
        return self.planned

    def run(self) -> Summary:
        # Before enqueueing: jobs held by dead processes of this machine are then free to join this run's lane.
        self.runner.queue.expire_dead_local_leases(socket.gethostname())
        planned = self._planned()
        self.runner.queue.enqueue(
            planned.users,
            publish=self.publish,
            max_attempts=self.config.job.retries,
            batch=self.batch,
        )
        summary = self.runner.run(until_empty=True, batch=self.batch)
        summary.notes = planned.notes
        if self._interrupted:
            # What this run queued but never started goes back to "missing"/"stale" instead of lingering as
            # "queued"; a rerun queues it again, so nothing is lost.
            self.runner.queue.cancel_queued(batch=self.batch)
            summary.cancelled = True
        return summary

    def stop(self) -> None:
        """Finish the items in flight, start no more."""
        self._interrupted = True
        self.runner.stop()

    def cancel(self) -> None:
        """Abandon the items in flight too (their jobs are released, then cancelled with the rest)."""
        self._interrupted = True
        self.runner.cancel()


class PublishApprovedJob:
    """Publish every approved result (or the given users'), with the compare-and-set of ``publish_result``."""

    def __init__(
        self,
        portal: Portal,
        store: DepthStore,
        config: Config,
        *,
        user_ids: list[str] | None = None,
        concurrency: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_item: Callable[[ItemEvent], None] | None = None,
    ) -> None:
        self.portal = portal
        self.store = store
        self.config = config
        self.user_ids = user_ids
        self.concurrency = concurrency or config.job.concurrency
        fit_pool(portal, self.concurrency)
        self.on_progress = on_progress
        self.on_item = on_item
        self._stop = threading.Event()

    def plan(self) -> list[tuple[str, int]]:
        rows = []
        if self.user_ids is not None:
            for uid in self.user_ids:
                row = self.portal.get_user(uid)
                if row is not None and row.status == Status.APPROVED and row.result_id is not None:
                    rows.append((row.id, row.result_id))
            return rows
        offset = 0
        while True:
            page = self.portal.list_users(Query(statuses=[Status.APPROVED]), offset=offset, limit=1000)
            rows += [(r.id, r.result_id) for r in page if r.result_id is not None]
            if len(page) < 1000:
                return rows
            offset += 1000

    def run(self) -> Summary:
        todo = self.plan()
        tally = Tally(len(todo))

        def one(item: tuple[str, int]) -> None:
            if self._stop.is_set():
                return
            user_id, result_id = item
            try:
                out = publish_result(
                    self.portal,
                    self.store,
                    result_id,
                    delete_superseded=self.config.storage.delete_superseded,
                    require_approval=True,
                )
                event = ItemEvent(user_id, out.item_outcome, message=out.why, result_id=result_id)
            except DepthstudioError as err:
                event = ItemEvent(user_id, FAILED, err.kind, str(err), result_id=result_id)
            except Exception as exc:
                log.exception("unexpected error publishing %s", user_id)
                event = ItemEvent(user_id, FAILED, "internal", f"unexpected {type(exc).__name__}: {exc}")
            tally.record(event)
            tally.report(event, self.on_item, self.on_progress)

        tally.report(None, self.on_item, self.on_progress)
        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            list(pool.map(one, todo))
        return tally.summary(cancelled=self._stop.is_set())

    def stop(self) -> None:
        self._stop.set()

    cancel = stop
