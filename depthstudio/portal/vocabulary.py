"""The words depthstudio's tables store: a job's status and an attempt's outcome, one enum each.

The SQL (the active-job index, the queue's statements, PostgreSQL's one-statement rounds) and the code name them
from here, so a word is spelt once. Each is a ``StrEnum`` whose values are the strings the rows already hold: no
migration, and a value read back compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A user has at most one active job (the partial unique index on the jobs table).
ACTIVE: tuple[JobStatus, ...] = (JobStatus.QUEUED, JobStatus.RUNNING)


class AttemptOutcome(StrEnum):
    """How an attempt ended; NULL while it runs."""

    DONE = "done"
    RETRY = "retry"  # a transient fault: the job went back to the queue
    FAILED = "failed"
    CANCELLED = "cancelled"  # released mid-item; the attempt does not count
    LOST = "lost"  # its worker died (or the lease was taken over)
    # A job claimed ahead (held for a thread, not yet started): a worker's death is not charged to it. The runner
    # clears the mark once a thread starts the job; a job whose worker dies with the mark on goes back uncharged,
    # its attempt closed as UNSTARTED.
    AHEAD = "ahead"
    UNSTARTED = "unstarted"


# Attempts that do not count as tries at a photo (the failures view counts the others).
UNCOUNTED: tuple[AttemptOutcome, ...] = (AttemptOutcome.CANCELLED, AttemptOutcome.AHEAD, AttemptOutcome.UNSTARTED)
