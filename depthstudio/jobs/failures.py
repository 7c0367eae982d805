"""Failures as a work queue: every failed user in the database, grouped by what went wrong, in plain words.

A failure's ``kind`` (see ``depthstudio.errors``) is a machine word; editors need a sentence and a next step. Each
known kind says whether trying again can help (a network fault, a busy service: *temporary*) or the user or the
operator must do something first (a corrupt photo, a missing token: *needs action*), and what that is. A kind
not listed here is temporary if any attempt of its job was retried, which the runner does only for transient
faults.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass

from depthstudio.portal.attempt_history import attempt_tallies, failed_runs
from depthstudio.portal.repository import Portal, Query, UserRow
from depthstudio.portal.status import Status


@dataclass(frozen=True)
class Explanation:
    title: str  # the group's name: what went wrong, in plain words
    transient: bool  # trying again later can help, with nobody doing anything
    todo: str  # what to do next

    @property
    def phrase(self) -> str:
        """The title inside a sentence: "the photo file is corrupt", "no API token is set"."""
        return self.title[:1].lower() + self.title[1:]


_UPLOAD_AGAIN = "ask the user to upload a new photo"
_FIX_URL = "the portal's avatar value cannot be used: ask the user to upload the photo again"
_LATER = "retry; if it keeps failing, check the service or the network"

KINDS: dict[str, Explanation] = {
    # the photo itself
    "corrupt": Explanation("The photo file is corrupt", False, _UPLOAD_AGAIN),
    "truncated": Explanation("The photo file is cut off", False, _UPLOAD_AGAIN),
    "empty": Explanation("The photo file is empty", False, _UPLOAD_AGAIN),
    "not_an_image": Explanation("The avatar is not an image (a web page or other file)", False, _UPLOAD_AGAIN),
    "unsupported_format": Explanation(
        "The photo's format cannot be read", False, "ask the user to upload a JPEG, PNG or WebP photo"
    ),
    "decompression_bomb": Explanation("The photo has far too many pixels", False, "ask the user for a smaller photo"),
    "too_many_pixels": Explanation("The photo has too many pixels", False, "ask the user for a smaller photo"),
    "too_large": Explanation(
        "The photo file is too large", False, "ask the user for a smaller photo, or raise fetch.max_bytes"
    ),
    "unsuitable_photo": Explanation(
        "The photo cannot make a good 3D avatar", False, "ask the user for a larger, ordinary portrait photo"
    ),
    "no_photo": Explanation("The user has no photo any more", False, "nothing to do until the user uploads one"),
    # where the photo is
    "not_found": Explanation("The photo file is missing", False, _FIX_URL),
    "unreadable": Explanation("The photo file cannot be read here", False, "check the file's permissions"),
    "http_status": Explanation(
        "The photo's web server refused it", False, "open the avatar URL; if it is gone, " + _UPLOAD_AGAIN
    ),
    "invalid_url": Explanation("The avatar URL is malformed", False, _FIX_URL),
    "unsupported_scheme": Explanation("The avatar URL is of a kind that is not fetched", False, _FIX_URL),
    "local_path_refused": Explanation(
        "The avatar is a local file path", False, _FIX_URL + " (or allow local paths in Settings)"
    ),
    "private_address": Explanation(
        "The avatar URL points into a private network", False, _FIX_URL + " (or allow private addresses)"
    ),
    "too_many_redirects": Explanation("The avatar URL redirects without end", False, _FIX_URL),
    "tls": Explanation("The photo's server has a bad certificate", False, "the server's owner must fix it"),
    # the network and services: temporary
    "dns": Explanation("The photo's host name did not resolve", True, "retry when the network or DNS is back"),
    "connect": Explanation("Could not connect to the photo's server", True, _LATER),
    "network": Explanation("The network connection failed", True, _LATER),
    "connection": Explanation("The connection to the store failed", True, _LATER),
    "timeout": Explanation("The request timed out", True, _LATER),
    "server_error": Explanation("The service had an internal error", True, _LATER),
    "rate_limited": Explanation("The service asked us to slow down", True, "retry in a few minutes"),
    "cold_start_timeout": Explanation("The depth model took too long to start", True, "retry: it is warm now"),
    "prediction_failed": Explanation("The depth model failed on this photo", True, _LATER),
    "prediction_canceled": Explanation("The depth prediction was cancelled at the service", True, "retry"),
    "output_download": Explanation("The depth map could not be downloaded", True, _LATER),
    "bad_response": Explanation("The store sent an unexpected answer", True, _LATER),
    "disk_full": Explanation("The disk is full", True, "free disk space, then retry"),
    "out_of_memory": Explanation("Out of memory", True, "close other programs or lower the batch size, then retry"),
    "unreachable": Explanation("The database could not be reached", True, "retry when the database is back"),
    "database_unreachable": Explanation("The database connection kept dropping", True, "retry"),
    "closed": Explanation("The depth backend was shut down mid-way", True, "retry"),
    # settings: the operator must act, then retry
    "missing_token": Explanation(
        "No API token is set", False, "set the token in Settings (or REPLICATE_API_TOKEN), then retry"
    ),
    "auth": Explanation("The service refused the credentials", False, "check the token or key in Settings"),
    "model_not_found": Explanation("The depth model is not found", False, "check the model and version in Settings"),
    "no_weights": Explanation(
        "The model's weights are not downloaded", False, "run `depthstudio models fetch`, then retry"
    ),
    "bad_weights": Explanation("The model's weights are damaged", False, "download them again, then retry"),
    "unsupported_model": Explanation("The configured model is not supported", False, "choose another in Settings"),
    "device_unavailable": Explanation("The compute device is not available", False, "choose another in Settings"),
    "clock_skew": Explanation("This computer's clock is wrong", False, "set the clock right, then retry"),
    "bad_request": Explanation("The service refused the request", False, "check the backend settings"),
    "rejected": Explanation("The store refused the upload", False, "check the store settings"),
    # depthstudio's own checks
    "bad_output": Explanation(
        "The model returned an unusable depth map", False, "try another depth backend for this user"
    ),
    "not_png": Explanation("The depth map is not a PNG", False, "try another depth backend"),
    "worker_lost": Explanation(
        "The worker stopped on every attempt", False, "the photo may crash the decoder: " + _UPLOAD_AGAIN
    ),
}


# Whose fault a failure is. The photo's: only a new photo can change the outcome, so the user waits for one (or for
# ``--retry-failed``). Everything else is the environment's (settings, the fetch guard, the network, a service's 5xx or
# quota, a model download): it heals without the user, so plain runs retry it on their own, with backoff.
PHOTO, ENVIRONMENT = "photo", "environment"
_PHOTO_KINDS = frozenset(
    {
        "corrupt",
        "truncated",
        "empty",
        "not_an_image",
        "unsupported_format",
        "decompression_bomb",
        "too_many_pixels",
        "too_large",
        "unsuitable_photo",
        "no_photo",
        "not_found",
        "unreadable",
        "invalid_url",
        "unsupported_scheme",
        "too_many_redirects",
        "bad_output",
        "not_png",
        "worker_lost",
    }
)
# The fetcher's sentence for a refused status ("The server answered 503 Service Unavailable ..."): the kind alone
# ("http_status") does not say whether the photo is gone (404, 410, 403) or the server is busy (5xx, 408, 425, 429).
_ANSWERED = re.compile(r"answered (\d{3})\b")


def fault_of(kind: str | None, message: str | None = None) -> str:
    """``PHOTO`` or ``ENVIRONMENT`` for a failure's kind (and, for an HTTP status, its message)."""
    if kind == "http_status":
        m = _ANSWERED.search(message or "")
        status = int(m.group(1)) if m else 0
        return ENVIRONMENT if status >= 500 or status in (408, 425, 429) else PHOTO
    return PHOTO if kind in _PHOTO_KINDS else ENVIRONMENT


def explain(kind: str | None, *, retried: bool = False) -> Explanation:
    """The explanation of a kind; an unknown one is named in words and is temporary if it was retried."""
    if kind in KINDS:
        return KINDS[kind]
    words = (kind or "unknown error").replace("_", " ").strip().capitalize()
    todo = "retry" if retried else "see the message; retry once its cause is fixed"
    return Explanation(words, retried, todo)


@dataclass(frozen=True)
class FailedUser:
    user_id: str
    name: str | None
    kind: str
    message: str
    attempts: int  # every attempt at this photo, over all runs


@dataclass(frozen=True)
class FailureGroup:
    kind: str
    explanation: Explanation
    users: tuple[FailedUser, ...]


def _failed_users(portal: Portal, page: int) -> list[UserRow]:
    """Every user whose job failed on the photo they have now, a page at a time."""
    rows: list[UserRow] = []
    while True:
        chunk = portal.list_users(Query(statuses=[Status.FAILED]), offset=len(rows), limit=page)
        rows += chunk
        if len(chunk) < page:
            return rows


def failure_groups(portal: Portal, *, page: int = 1000) -> list[FailureGroup]:
    """Every failed user, grouped by kind: the temporary groups first, then the largest."""
    rows = _failed_users(portal, page)
    tried = attempt_tallies(portal, {r.id: r.avatar or "" for r in rows})
    by_kind: dict[str, list[FailedUser]] = defaultdict(list)
    for r in rows:
        n = tried[r.id].attempts if r.id in tried else r.attempts
        by_kind[r.error_kind or "unknown"].append(FailedUser(r.id, r.name, r.error_kind or "unknown", r.error or "", n))
    retried = {uid for uid, tally in tried.items() if tally.retried}
    groups = [
        FailureGroup(kind, explain(kind, retried=any(u.user_id in retried for u in users)), tuple(users))
        for kind, users in by_kind.items()
    ]
    return sorted(groups, key=lambda g: (not g.explanation.transient, -len(g.users), g.explanation.title))


def retryable_ids(groups: list[FailureGroup]) -> list[str]:
    return [u.user_id for g in groups if g.explanation.transient for u in g.users]


RETRY_FLAG = "--retry-failed"


@dataclass(frozen=True)
class HeldBack:
    """A failed user that a plain run does not retry now, and why."""

    user_id: str
    name: str | None
    kind: str
    fault: str  # PHOTO or ENVIRONMENT
    runs: int  # runs that failed on this photo
    next_try: dt.datetime | None  # an environment failure waiting for its backoff; None: given up or the photo's fault

    @property
    def gave_up(self) -> bool:
        return self.fault == ENVIRONMENT and self.next_try is None


@dataclass(frozen=True)
class HealPlan:
    """The failed users a plain run retries on its own (``due``), and those it holds back."""

    due: list[tuple[str, str]]  # (user id, avatar)
    held: list[HeldBack]

    def lines(self, retry_hint: str = f"{RETRY_FLAG} retries them now") -> list[str]:
        """What the summary says about the held-back users: how many, why, and what retries them (the CLI's flag
        by default; the studio names its own action)."""
        if not self.held:
            return []
        photo = sum(1 for h in self.held if h.fault == PHOTO)
        gave_up = [h for h in self.held if h.gave_up]
        waiting = [h for h in self.held if h.fault == ENVIRONMENT and not h.gave_up]
        why = []
        if photo:
            why.append(f"{photo} for a fault of the photo (retried when the photo changes)")
        if waiting:
            soonest = min(h.next_try for h in waiting if h.next_try is not None)
            why.append(f"{len(waiting)} waiting to retry (next after {soonest:%Y-%m-%d %H:%M} UTC)")
        if gave_up:
            runs = max(h.runs for h in gave_up)
            why.append(f"{len(gave_up)} given up after failing {runs} runs in a row (fix the cause)")
        return [f"held back: {len(self.held)} failed user(s): {'; '.join(why)}; {retry_hint}"]


def heal_plan(portal: Portal, *, runs: int, backoff_s: float, now: dt.datetime | None = None) -> HealPlan:
    """Sort every failed user into due (an environment failure whose backoff has passed, fewer than ``runs`` failed
    runs on this photo) and held back (the photo's fault, still backing off, or given up).

    The n-th failed run on a photo waits ``backoff_s * 2**(n-1)`` from its end; each run is one job row.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = _failed_users(portal, 1000)
    history = failed_runs(portal, {r.id: r.avatar or "" for r in rows})
    due: list[tuple[str, str]] = []
    held: list[HeldBack] = []
    for r in rows:
        kind = r.error_kind or "unknown"
        fault = fault_of(kind, r.error)
        n, last = (history[r.id].runs, history[r.id].last_ended_at) if r.id in history else (1, now)
        if fault == PHOTO or n >= runs:
            held.append(HeldBack(r.id, r.name, kind, fault, n, None))
        else:
            next_try = last + dt.timedelta(seconds=backoff_s * 2 ** max(0, n - 1))
            if next_try <= now:
                due.append((r.id, r.avatar or ""))
            else:
                held.append(HeldBack(r.id, r.name, kind, fault, n, next_try))
    return HealPlan(due, held)
