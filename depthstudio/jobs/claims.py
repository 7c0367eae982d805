"""A claim on a queued job: what a worker holds while it works on one user (``jobs.queue`` makes them).

Its own module so that both queue implementations (``jobs.queue`` and PostgreSQL's rounds in ``jobs.queue_pg``)
name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    user_id: str
    avatar_url: str
    publish: bool
    attempts: int  # including this one
    max_attempts: int
    worker: str
    attempt_id: int
    result_id: int | None = None  # set when an earlier attempt generated the map but did not finish publishing
    token: str = ""  # this claim's fencing token, as written on the job row
    no_photo: bool = False  # the user had no photo (or no longer existed) when the job was claimed
