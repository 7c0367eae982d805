"""``generate-missing`` and ``publish`` as Qt-free job objects: the CLI and the studio drive the same code."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from depthstudio.config import Config
from depthstudio.depth.backend import DepthBackend
from depthstudio.errors import DepthstudioError
from depthstudio.jobs.progress import FAILED, PUBLISHED, STALE_OUTCOME, ItemEvent, Progress, Summary, Tally
from depthstudio.jobs.publish import STALE, publish_result
from depthstudio.jobs.runner import BulkRunner
from depthstudio.portal.repository import Portal, Query
from depthstudio.storage.base import DepthStore

log = logging.getLogger(__name__)


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
    ) -> None:
        self.portal = portal
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
        if self.user_ids is not None:
            wanted = []
            for uid in self.user_ids:
                row = self.portal.get_user(uid)
                # A queued or generating user is asked for too: a job left behind by a dead run joins this lane.
                if row is not None and row.avatar:
                    wanted.append((row.id, row.avatar))
            return wanted[: self.limit] if self.limit is not None else wanted
        return self.portal.ids_needing_depth(include_failed=self.include_failed, include_active=True, limit=self.limit)

    def run(self) -> Summary:
        # Before enqueueing: jobs held by dead processes of this machine are then free to join this run's lane.
        self.runner.queue.expire_dead_local_leases(socket.gethostname())
        self.runner.queue.enqueue(
            self.plan(),
            publish=self.publish,
            max_attempts=self.config.job.retries,
            batch=self.batch,
        )
        summary = self.runner.run(until_empty=True, batch=self.batch)
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
        self.on_progress = on_progress
        self.on_item = on_item
        self._stop = threading.Event()

    def plan(self) -> list[tuple[str, int]]:
        rows = []
        if self.user_ids is not None:
            for uid in self.user_ids:
                row = self.portal.get_user(uid)
                if row is not None and row.status == "approved" and row.result_id is not None:
                    rows.append((row.id, row.result_id))
            return rows
        offset = 0
        while True:
            page = self.portal.list_users(Query(statuses=["approved"]), offset=offset, limit=1000)
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
                event = ItemEvent(user_id, STALE_OUTCOME if out.outcome == STALE else PUBLISHED, result_id=result_id)
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
