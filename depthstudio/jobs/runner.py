"""The bulk runner: worker threads that drain the job queue, the one engine behind the CLI, the studio and
``depthstudio worker``.

``concurrency`` is how many depth-backend calls are in flight at once (what a hosted backend's rate limit or a
local model's memory bounds). The runner keeps more items than that in hand: while C threads wait on the backend,
the others fetch and check the next photos and record the finished results, so a backend slot never waits for the
runner's own CPU work (with one thread per slot, the slots freed together by a wave of replies sat idle until
each thread had post-processed, recorded and claimed again, one after another under the GIL).

The runner's own CPU stages (decoding and checking a photo; post-processing, QA and the layers of a map) run on
at most as many threads at once as the machine has cores. They are dozens of short numpy/OpenCV/Pillow calls
that each let the GIL go and take it back; with thirty threads in them at once, every such call handed the GIL
to another thread and waited to get it back (bulk_job.py, L = 0, C = 16: a million context switches for 3,000
users, a third of the CPU in the kernel). The waits that are not CPU (fetching the photo, the backend call, the
database) stay outside that bound. How many threads work at all follows what they wait on (``pacing.py``): an
instant backend on a local SQLite needs the cores' worth, a 250 ms backend every slot's.

It is Qt-free and reports through plain callbacks (called from worker threads; the studio bridges them to
signals). ``stop()`` finishes the items in flight and claims no more; ``cancel()`` abandons them too, putting
their jobs back in the queue, so the database is consistent either way.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext

import cv2
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from depthstudio.cancel import CancelToken
from depthstudio.config import Config, JobConfig, StorageConfig
from depthstudio.depth.backend import DepthBackend
from depthstudio.depth.photo_qa import require_suitable, with_photo_checks
from depthstudio.depth.postprocess import PostprocessOptions, make_depth_map
from depthstudio.errors import Cancelled, DepthstudioError, PortalError
from depthstudio.imaging import FetchPolicy, decode_avatar, fetch_bytes
from depthstudio.imaging.validators import seen
from depthstudio.jobs.failpoints import failpoint
from depthstudio.jobs.grouping import GroupCall
from depthstudio.jobs.pacing import Pacer
from depthstudio.jobs.progress import (
    CANCELLED,
    FAILED,
    GENERATED,
    LOST,
    RETRY,
    ItemEvent,
    Progress,
    Summary,
    Tally,
)
from depthstudio.jobs.publish import publish_result
from depthstudio.portal.job_queue import ClaimedJob, JobQueue, boot_id
from depthstudio.portal.pool import fit_pool
from depthstudio.portal.repository import Portal
from depthstudio.portal.results import NewResult
from depthstudio.portal.vocabulary import JobStatus
from depthstudio.render.result_plates import attach_layers
from depthstudio.retry import RetryPolicy
from depthstudio.storage.store import DepthStore

log = logging.getLogger(__name__)


MAX_AHEAD = 16  # threads preparing or recording items beyond the backend's slots, at most
CLAIM_AHEAD = 7  # jobs a claim round takes beyond the threads waiting for one, at most (kept for the next ones)
MARK_DELAY_S = 0.05  # how long started ready jobs wait for a claim round to carry their marks (see _heartbeats)


class _OpenCVThreads:
    """OpenCV single-threaded while any multi-threaded run is on, its own setting restored after the last.

    The runner's threads already keep the cores busy; OpenCV's pool splitting each small image op across them
    as well only added contention: with it, the CPU per user at concurrency 16 was 17.3 ms instead of 12.4 ms.
    """

    _lock = threading.Lock()
    _runs = 0
    _saved = 0

    @classmethod
    @contextmanager
    def single(cls) -> Iterator[None]:
        with cls._lock:
            if cls._runs == 0:
                cls._saved = cv2.getNumThreads()
                cv2.setNumThreads(1)
            cls._runs += 1
        try:
            yield
        finally:
            with cls._lock:
                cls._runs -= 1
                if cls._runs == 0:
                    cv2.setNumThreads(cls._saved)


class _LeaseLost(Exception):
    """The job's lease went to another worker while this one was busy with it."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or ``taskset`` limits it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_id_for_pid(pid: int) -> str:
    """``host/boot:pid:nonce``: the boot id tells two machines with one host name apart (dead-PID expiry)."""
    return f"{socket.gethostname()}/{boot_id()}:{pid}:{uuid.uuid4().hex[:6]}"


def default_worker_id() -> str:
    return worker_id_for_pid(os.getpid())


class BulkRunner:
    def __init__(
        self,
        portal: Portal,
        backend: DepthBackend,
        store: DepthStore | None,
        *,
        policy: FetchPolicy,
        concurrency: int = JobConfig.concurrency,
        lease_s: float = JobConfig.lease_s,
        backoff_s: float = JobConfig.backoff_s,
        delete_superseded: bool = StorageConfig.delete_superseded,
        worker_id: str | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_item: Callable[[ItemEvent], None] | None = None,
        postprocess: PostprocessOptions | None = None,
        ahead: int | None = None,
        cpu_threads: int | None = None,
        pacer_clocks: tuple[Callable[[], float], Callable[[], float]] = (time.monotonic, time.thread_time),
    ) -> None:
        self.concurrency = max(1, concurrency)
        # Threads beyond the backend slots: enough to refill every slot at once when a wave of replies frees them.
        self.threads = self.concurrency + (min(self.concurrency, MAX_AHEAD) if ahead is None else max(0, ahead))
        fit_pool(portal, self.threads)  # before the queue takes the portal's engine
        self.portal = portal
        self.queue = JobQueue(portal, lease_s=lease_s)
        self._rounds_in_process = self.queue.rounds_in_process
        self.backend = backend
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self.cpu_threads = max(1, cpu_threads or available_cores())
        self._cpu_stage = threading.BoundedSemaphore(self.cpu_threads)
        # (wall clock, this thread's CPU clock): a test runs the pacer on its own time, not the scheduler's
        self._pacer_clocks = pacer_clocks
        self.pacer = self._new_pacer()  # a new one per run (tests change ``threads``)
        self.store = store
        self.policy = policy
        self.lease_s = lease_s
        self.backoff_s = backoff_s
        self._retry = RetryPolicy(attempts=1, first_s=backoff_s, max_s=math.inf)  # only its delay() is used
        self.delete_superseded = delete_superseded
        self.worker_id = worker_id or default_worker_id()
        self.on_progress = on_progress
        self.on_item = on_item
        self.postprocess = postprocess
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._lost: set[int] = set()  # in-flight jobs another worker has taken over: stop spending on them
        self.give_up_s = 120.0  # how long the queue may stay unreachable before the run stops as failed
        self.fatal: str | None = None
        self.token = CancelToken()
        self._lock = threading.Lock()
        self._in_flight: dict[int, ClaimedJob] = {}  # every job this run holds a lease on, ready ones too
        # Claimed ahead by a claim round and not yet picked up: a thread takes one of these without a round of
        # its own. A round is one network wait whatever it takes, so taking eight cost what taking one did.
        self._ready: deque[ClaimedJob] = deque()
        # Attempts of ready jobs a thread has started, to unmark in the next claim round or heartbeat (whichever
        # comes first): a death of this worker is charged to a job only once it started (``AttemptOutcome.AHEAD``).
        self._started: list[int] = []
        self._marks = threading.Event()  # set when ``_started`` gained one: the heartbeat thread flushes them
        self._last_claim = 0.0  # (monotonic) when the last claim round started
        self.claim_ahead = min(self.threads - 1, CLAIM_AHEAD)
        self.batch: str | None = None
        self.tally = Tally(0, lock=self._lock)
        # Threads that need a job, or have a result to record, at the same moment share one transaction.
        self.claims: GroupCall[None, ClaimedJob | None] = GroupCall(self._claim_round)
        self.completions: GroupCall[tuple[ClaimedJob, NewResult], int | None] = GroupCall(self._complete_round)

    def _new_pacer(self) -> Pacer:
        clock, cpu_clock = self._pacer_clocks
        return Pacer(self.threads, self.cpu_threads, clock=clock, cpu_clock=cpu_clock)

    @property
    def progress(self) -> Progress:
        """This run's counts (the current run's, or the last one's)."""
        return self.tally.progress

    @classmethod
    def from_config(
        cls,
        portal: Portal,
        backend: DepthBackend,
        store: DepthStore | None,
        config: Config,
        *,
        concurrency: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_item: Callable[[ItemEvent], None] | None = None,
    ) -> BulkRunner:
        """A runner with every knob from the configuration (the CLI, the studio and the workers agree)."""
        return cls(
            portal,
            backend,
            store,
            policy=config.fetch.policy(),
            concurrency=concurrency or config.job.concurrency,
            lease_s=config.job.lease_s,
            backoff_s=config.job.backoff_s,
            delete_superseded=config.storage.delete_superseded,
            on_progress=on_progress,
            on_item=on_item,
            postprocess=PostprocessOptions.from_dict(config.depth.postprocess),
        )

    # --- control (any thread) -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish what is in flight, claim nothing new."""
        self._stop.set()
        self.pacer.close()

    def cancel(self) -> None:
        """Abandon in-flight items too; their jobs go back to the queue."""
        self._stop.set()
        self.pacer.close()
        self.token.cancel()

    # --- running ------------------------------------------------------------------------------------------

    def run(
        self, *, until_empty: bool = True, poll_s: float = 2.0, total: int | None = None, batch: str | None = None
    ) -> Summary:
        """Drain the queue (``until_empty``) or serve it forever (a worker) until stopped.

        With ``batch`` the run stays in its lane: it claims, counts and waits for that batch's jobs only (a
        ``generate-missing --limit`` or the studio's selection); without, it serves the whole queue (a worker).
        """
        self._finished.clear()
        self.batch = batch
        self.queue.expire_dead_local_leases(socket.gethostname())
        if total is None:
            total = self.queue.pending(batch=batch)
        self.tally = Tally(total, lock=self._lock)
        self.pacer = self._new_pacer()
        self._emit_progress()
        beat = threading.Thread(target=self._heartbeats, name="depthstudio-heartbeat", daemon=True)
        beat.start()
        threads = [
            threading.Thread(target=self._loop, args=(i, until_empty, poll_s), name=f"depthstudio-worker-{i}")
            for i in range(self.threads)
        ]
        self.queue.keep_connections()  # the claim and result rounds keep their connections for the run
        with _OpenCVThreads.single() if self.threads > 1 else nullcontext():
            for t in threads:
                t.start()
            try:
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
            finally:
                self._stop.set()  # (parked threads see it within their poll; all have ended here unless interrupted)
                self._release_ready()
                self._finished.set()
                self._marks.set()  # (wakes the heartbeat thread)
                beat.join(1.0)
                self.queue.close()
        self._emit_progress()
        return self.tally.summary(cancelled=self.token.cancelled, fatal=self.fatal)

    def _loop(self, index: int, until_empty: bool, poll_s: float) -> None:
        failing_since: float | None = None
        while not self._stop.is_set():
            with self.pacer.working(index, self._stop.is_set) as allowed:
                if not allowed:  # parked until the run stopped or drained
                    return
                try:
                    job = self._next_job()
                    drained = job is None and until_empty and self._nothing_left()
                    error: Exception | None = None
                except Exception as exc:
                    job, drained, error = None, False, exc
                if job is not None:
                    self._work_on(job)
            if error is not None:  # the database is away: wait (pool_pre_ping reconnects), give up after a while
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > self.give_up_s:
                    with self._lock:
                        self.fatal = f"the database stayed unreachable for {self.give_up_s:.0f} s: {error}"
                    log.error("%s; stopping", self.fatal)
                    self._stop.set()
                    return
                log.warning("cannot reach the queue (%s); retrying", type(error).__name__)
                if self._wait(poll_s):
                    return
                continue
            failing_since = None
            if job is None:
                if drained:
                    self.pacer.close()  # nothing left to claim: the parked threads have nothing to wait for
                    return
                if self._wait(poll_s if not until_empty else min(poll_s, 0.2)):
                    return

    def _work_on(self, job: ClaimedJob) -> None:
        failpoint("after_claim")
        with self._lock:
            self._in_flight[job.id] = job
            self.progress.in_flight += 1
        try:
            self._process(job)
        except Exception:  # even recording the failure failed (database gone): the lease will expire
            log.exception("could not record the outcome for user %s; the job will be retried", job.user_id)
        finally:
            with self._lock:
                self._in_flight.pop(job.id, None)
                self._lost.discard(job.id)
                self.progress.in_flight -= 1

    def _next_job(self) -> ClaimedJob | None:
        # Ready jobs again after a claim round found none: the round that answered this thread's empty-handed
        # neighbours may have put its jobs claimed ahead there meanwhile (the queue then holds none, and a thread
        # that left on that None would leave them waiting for the threads still working).
        if job := self._take_ready():
            return job
        with self._round():
            job = self.claims.call(None)
        return job or self._take_ready()

    def _take_ready(self) -> ClaimedJob | None:
        with self._lock:
            if not self._ready:
                return None
            job = self._ready.popleft()
            self._started.append(job.attempt_id)
            self._marks.set()
            return job

    def _flush_started(self) -> None:
        started = self._take_started()
        if not started:
            return
        try:
            self.queue.mark_started(started)
        except Exception as exc:  # the next round or heartbeat carries them
            self._restore_started(started)
            log.warning("could not mark started jobs: %s", type(exc).__name__)

    def _take_started(self) -> list[int]:
        with self._lock:
            started, self._started = self._started, []
        return started

    def _restore_started(self, started: list[int]) -> None:
        """The round that was to carry these marks failed: the next one carries them."""
        with self._lock:
            self._started.extend(started)

    def _release_ready(self) -> None:
        """The jobs claimed ahead that no thread started go back to the queue, their attempt uncounted."""
        with self._lock:
            left, self._ready = list(self._ready), deque()
        for job in left:
            try:
                self.queue.release(job)
            except Exception as exc:  # the database is away: the lease runs out and the job is claimable again
                log.warning("could not give back job %s (%s); its lease will expire", job.id, type(exc).__name__)
            with self._lock:
                self._in_flight.pop(job.id, None)
                self._lost.discard(job.id)

    def _nothing_left(self) -> bool:
        """A lane ends when none of its jobs is left to claim (its in-flight items end with their threads); the
        whole queue's drain also waits for jobs other workers hold, whose lease may lapse to this run."""
        if self.batch is not None:
            return self.queue.waiting(self.batch) == 0
        return self.queue.pending() == 0

    def _wait(self, seconds: float) -> bool:
        return self._stop.wait(seconds)

    def _heartbeats(self) -> None:
        """Renew the leases of in-flight items until every worker thread has returned; between renewals, tell
        the queue which ready jobs threads have started when no claim round has carried that within
        ``MARK_DELAY_S`` (a wave of starts is one statement; a busy run's claim rounds carry them all)."""
        interval = max(0.5, self.lease_s / 3)
        due = time.monotonic() + interval
        while not self._finished.is_set():
            if self._marks.wait(max(0.0, due - time.monotonic())):
                self._marks.clear()
                if self._finished.wait(MARK_DELAY_S):
                    return
                if time.monotonic() - self._last_claim < MARK_DELAY_S:  # claim rounds are running: they carry them
                    with self._lock:
                        if self._started:
                            self._marks.set()  # (looked at again in MARK_DELAY_S)
                    continue
                self._flush_started()
                continue
            if self._finished.is_set():
                return
            due = time.monotonic() + interval
            with self._lock:
                held = list(self._in_flight.values())
            started = self._take_started()
            try:
                renewed = self.queue.heartbeat_many(held, started)
            except Exception as exc:
                self._restore_started(started)
                log.warning("heartbeat failed: %s", type(exc).__name__)
                continue
            for job in held:
                # A job that finished since the snapshot also fails the heartbeat: only warn for live ones.
                if job.id not in renewed and job.id in self._in_flight:
                    log.warning("lost the lease on job %s (user %s); abandoning it", job.id, job.user_id)
                    with self._lock:
                        self._lost.add(job.id)

    def _claim_round(self, batch: list[tuple[None, Future[ClaimedJob | None]]]) -> None:
        """One claim for every thread that is waiting for a job, and ``claim_ahead`` more for the threads that
        will ask next (held, and heartbeated, from now on); those it found none for get None."""
        ahead = 0 if self._stop.is_set() else self.claim_ahead
        started = self._take_started()
        self._last_claim = time.monotonic()
        try:
            claimed = self.queue.claim_many(
                self.worker_id, len(batch) + ahead, batch=self.batch, direct=len(batch), started=started
            )
        except BaseException:
            self._restore_started(started)
            raise
        with self._lock:
            for job in claimed:
                self._in_flight[job.id] = job
            self._ready.extend(claimed[len(batch) :])
        for i, (_, future) in enumerate(batch):
            future.set_result(claimed[i] if i < len(claimed) else None)

    def _complete_round(self, batch: list[tuple[tuple[ClaimedJob, NewResult], Future[int | None]]]) -> None:
        """The results of every thread that has one ready, in one transaction; if it fails for a reason that is
        not the database being away, each is recorded on its own, so one bad result fails its user alone."""
        try:
            answers = self.queue.complete_many([item for item, _ in batch])
        except (PortalError, PoolTimeout):
            raise
        except Exception:
            if len(batch) == 1:
                raise
            log.warning("recording %d results together failed; recording them one by one", len(batch))
            for (job, new), future in batch:
                try:
                    future.set_result(self.queue.complete(job, new))
                except Exception as exc:
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            future.set_result(answer)

    def _round(self) -> AbstractContextManager[None]:
        """A claim or result round on SQLite is this process's own CPU work (the database runs in it), not a wait
        the pacer should cover with another thread; on a database server it is a wait. It wraps the whole group
        call: a thread waiting for the round that another thread leads waits for that CPU work too (counted as
        a wait, it raised the limit on a loaded machine, where the leader's round takes longer)."""
        return self.pacer.busy() if self._rounds_in_process else nullcontext()

    # --- one item -----------------------------------------------------------------------------------------

    def _process(self, job: ClaimedJob) -> None:
        try:
            result_id = job.result_id if job.result_id is not None else self._generate(job)
            if result_id is None:
                self._item(ItemEvent(job.user_id, LOST, message="another worker took this job over"), final=False)
                return
            outcome, why = GENERATED, None
            if job.publish and self.store is not None:
                published = publish_result(
                    self.portal, self.store, result_id, delete_superseded=self.delete_superseded, require_approval=False
                )
                failpoint("after_publish")
                outcome, why = published.item_outcome, published.why
            elif job.publish:
                log.info("user %s: map kept for a later publish (this run has no store)", job.user_id)
            # A job still open after ``complete`` (it publishes, or it carried an earlier map) is closed here.
            if (job.publish or job.result_id is not None) and not self.queue.finish(job):
                self._item(ItemEvent(job.user_id, LOST, message="another worker took this job over"), final=False)
                return
            self._item(ItemEvent(job.user_id, outcome, message=why, result_id=result_id, attempt=job.attempts))
        except Cancelled:
            self.queue.release(job)
            self._item(ItemEvent(job.user_id, CANCELLED), final=False)
        except _LeaseLost:
            self._item(ItemEvent(job.user_id, LOST, message="another worker took this job over"), final=False)
        except DepthstudioError as err:
            self._failed(job, err.kind, str(err), err.transient, err.retry_after)
        except DBAPIError as exc:  # the database kept failing beyond the per-transaction reconnects
            self._failed(job, "database", f"database error: {type(exc.orig).__name__}", True)
        except PoolTimeout:  # every pooled connection busy for a while: a wait, not a bug in this user
            self._failed(job, "database", "no free database connection (pool timeout); retrying", True)
        except Exception as exc:  # a bug must fail this user, never the batch
            log.exception("unexpected error for user %s", job.user_id)
            self._failed(job, "internal", f"unexpected {type(exc).__name__}: {exc}", False)

    def _generate(self, job: ClaimedJob) -> int | None:
        if job.no_photo:
            raise DepthstudioError("the user has no photo (or no longer exists) in the portal", kind="no_photo")
        data, content_type = fetch_bytes(job.avatar_url, self.policy, cancel=self.token)
        self.token.raise_if_cancelled()
        with self.pacer.busy(), self._cpu_stage:
            avatar = decode_avatar(job.avatar_url, data, content_type, self.policy)
            photo_qa = require_suitable(avatar, self.policy.crop_size)  # before any backend call is spent on it
        failpoint("after_fetch")
        self._check_lease(job)
        with self._backend_slot(job):
            prediction = self.backend.predict(avatar, cancel=self.token)
        self.token.raise_if_cancelled()
        failpoint("after_predict")
        self._check_lease(job)
        with self.pacer.busy(), self._cpu_stage:
            depth_map = make_depth_map(prediction, avatar, self.postprocess)
            depth_map.qa = with_photo_checks(depth_map.qa, photo_qa)
            new = NewResult.from_depth_map(
                depth_map,
                avatar_url=job.avatar_url,
                avatar_sha256=avatar.sha256,
                backend=prediction.backend,
                model=prediction.model,
            )
            attach_layers(new, avatar.image)
            known = seen.for_content(job.avatar_url, avatar.sha256)  # what this very fetch was told, if anything
            if known:
                new.photo_etag, new.photo_last_modified = known.etag, known.last_modified
        with self._round():
            result_id = self.completions.call((job, new))
        failpoint("after_complete")
        return result_id

    @contextmanager
    def _backend_slot(self, job: ClaimedJob) -> Iterator[None]:
        """One of the ``concurrency`` backend calls; the wait for it ends on cancel or a lost lease."""
        with self.pacer.busy():  # a queue for a bounded resource, not a wait more threads would cover
            while not self._slots.acquire(timeout=0.1):
                self.token.raise_if_cancelled()
                self._check_lease(job)
        try:
            yield
        finally:
            self._slots.release()

    def _check_lease(self, job: ClaimedJob) -> None:
        if job.id in self._lost:
            raise _LeaseLost

    def _failed(
        self, job: ClaimedJob, kind: str, message: str, transient: bool, retry_after: float | None = None
    ) -> None:
        """Transient faults come back later by the one retry rule (``RetryPolicy.delay``): the service's
        Retry-After when it gave one, else our doubling backoff; a job may wait as long as it is told."""
        retry_in = self._retry.delay(job.attempts, retry_after) if transient else None
        status = self.queue.fail(job, kind=kind, message=message, retry_in=retry_in)
        if status == JobStatus.QUEUED:
            with self._lock:
                self.progress.retried += 1
            self._item(ItemEvent(job.user_id, RETRY, kind, message, attempt=job.attempts), final=False)
        elif status == JobStatus.FAILED:
            self._item(ItemEvent(job.user_id, FAILED, kind, message, attempt=job.attempts))
        else:
            self._item(ItemEvent(job.user_id, LOST, kind, message), final=False)

    def _item(self, event: ItemEvent, *, final: bool = True) -> None:
        self.tally.record(event, final=final)
        if event.outcome in (FAILED, RETRY):
            log.info("user %s: %s (%s): %s", event.user_id, event.outcome, event.error_kind, event.message)
        self.tally.report(event, self.on_item, self.on_progress)

    def _emit_progress(self) -> None:
        self.tally.report(None, self.on_item, self.on_progress)
