"""Reads of the queue's history that the failures view and the self-healing run make: per user, the attempts at
the photo the user has now, and the failed jobs (runs) on it. The judging (whose fault, when to try again) is the
jobs' (``depthstudio.jobs.failures``); the tables are read only here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import case, func, select

from depthstudio.portal.portal_base import PortalBase
from depthstudio.portal.tables import attempts, jobs
from depthstudio.portal.vocabulary import UNCOUNTED, AttemptOutcome, JobStatus

_CHUNK = 500  # user ids per query (SQLite's bound-parameter limit, and short statements)


@dataclass(frozen=True)
class AttemptTally:
    """The attempts at a user's current photo over every job."""

    attempts: int
    retried: bool  # any of them ended with a transient fault and went back to the queue


@dataclass(frozen=True)
class FailedRuns:
    """The failed jobs (one per run) on a user's current photo."""

    runs: int
    last_ended_at: dt.datetime


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def attempt_tallies(portal: PortalBase, avatars: dict[str, str]) -> dict[str, AttemptTally]:
    """The tally per user id of ``avatars`` (user id: current photo); attempts at an older photo do not count,
    nor attempts that were no try at the photo (cancelled, held ahead)."""
    found: dict[str, AttemptTally] = {}
    with portal.engine.connect() as conn:
        for ids in _chunks(list(avatars)):
            stmt = (
                select(
                    jobs.c.user_id,
                    jobs.c.avatar_url,
                    func.count(attempts.c.id),
                    func.sum(case((attempts.c.outcome == AttemptOutcome.RETRY, 1), else_=0)),
                )
                .join(attempts, attempts.c.job_id == jobs.c.id)
                .where(jobs.c.user_id.in_(ids), attempts.c.outcome.is_not(None))
                .where(attempts.c.outcome.not_in(UNCOUNTED))
                .group_by(jobs.c.user_id, jobs.c.avatar_url)
            )
            for uid, avatar, n, retries in conn.execute(stmt):
                if avatar == avatars.get(uid):
                    found[uid] = AttemptTally(int(n), bool(retries))
    return found


def failed_runs(portal: PortalBase, avatars: dict[str, str]) -> dict[str, FailedRuns]:
    """The failed runs per user id of ``avatars`` (user id: current photo), on that photo only."""
    found: dict[str, FailedRuns] = {}
    with portal.engine.connect() as conn:
        for ids in _chunks(list(avatars)):
            stmt = (
                select(jobs.c.user_id, jobs.c.avatar_url, func.count(), func.max(jobs.c.updated_at))
                .where(jobs.c.user_id.in_(ids), jobs.c.status == JobStatus.FAILED)
                .group_by(jobs.c.user_id, jobs.c.avatar_url)
            )
            for uid, avatar, n, last in conn.execute(stmt):
                if avatar == avatars.get(uid):
                    found[uid] = FailedRuns(int(n), last)
    return found
