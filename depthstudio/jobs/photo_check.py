"""Photo identity by content: is the photo at the avatar URL still the one the depth map was made from?

Portals that overwrite an upload in place keep the URL, so the compare-and-set on the URL alone would publish a
map of the old face over the new one. Before an upload the publisher asks the photo's server with a conditional
GET when this process saw the photo's validators (ETag / Last-Modified) at generation time, and otherwise
downloads it again within the fetch policy's limits (size, time, redirects, address guard); either way it compares
the sha256 of the bytes with the one the map records. ``storage.confirm_photo_content`` turns it off.
Local paths (the demo portal) are not re-read: only web URLs are overwritten behind a portal's back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import String, cast, delete, insert, or_, select, update

from depthstudio.config import Config
from depthstudio.errors import ImagingError
from depthstudio.imaging import fetch_bytes
from depthstudio.imaging.fetch import fetch_if_changed
from depthstudio.imaging.validators import Validators, seen
from depthstudio.portal.base import utcnow
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.tables import photo_checks, results, user_state

if TYPE_CHECKING:
    from depthstudio.portal.repository import Portal

log = logging.getLogger(__name__)


def photo_unchanged(config: Config, avatar_url: str, avatar_sha256: str) -> bool:
    """True if the photo's content still hashes to ``avatar_sha256`` (or the check is off or not applicable).

    A fetch that fails raises its ``ImagingError`` (transient ones are retried by the job), so a server that is
    down delays the publish instead of letting an unconfirmed map through.
    """
    if not config.storage.confirm_photo_content or not avatar_url.lower().startswith(("http://", "https://")):
        return True
    policy = config.fetch.policy()
    known = seen.for_content(avatar_url, avatar_sha256)
    if known is not None:
        body = fetch_if_changed(avatar_url, policy, known)
        if body is None:  # 304 Not Modified: the server vouches for the very bytes the map was made from
            return True
    else:
        body, _ = fetch_bytes(avatar_url, policy)
    same = hashlib.sha256(body).hexdigest() == avatar_sha256
    if not same:
        log.warning("the photo at %s changed in place since its depth map was made; not publishing it", avatar_url)
    return same


# --- re-validation of the photos behind existing maps ---------------------------------------------------------


@dataclass
class Revalidation:
    """What one re-validation pass found; ``changed`` users are stale from now on."""

    checked: int = 0
    unchanged: int = 0
    changed: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # changed users whose published map was taken off the portal
    unreachable: dict[str, int] = field(default_factory=dict)  # error kind -> photos that could not be checked
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.checked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def lines(self) -> list[str]:
        """Nothing on a night where every photo was the one its map was made from; else what changed and what
        happens to it."""
        out = []
        if self.changed:
            shown = ", ".join(self.changed[:5]) + (
                f" and {len(self.changed) - 5} more" if len(self.changed) > 5 else ""
            )
            out.append(
                f"photos changed in place: {len(self.changed)} ({shown}): stale now and queued; "
                f"{len(self.cleared)} published map(s) taken off the portal until the new one is published "
                "(a map of the old photo would move the new face wrongly; the portal shows the plain photo)"
            )
        if self.unreachable:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.unreachable.items()))
            out.append(f"photos not re-validated (tried again next run): {sum(self.unreachable.values())} ({kinds})")
        return out


class _Pace:
    """At most ``per_s`` starts a second across threads (0: no limit)."""

    def __init__(self, per_s: float) -> None:
        self.gap = 1.0 / per_s if per_s > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            start = max(self.next, time.monotonic())
            self.next = start + self.gap
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@dataclass(frozen=True)
class _Candidate:
    user_id: str
    result_id: int
    avatar: str
    sha256: str
    published_url: str | None
    known: Validators


def revalidate(
    portal: Portal,
    config: Config,
    *,
    threads: int = 8,
    now: dt.datetime | None = None,
    chunk: int = 500,
    stop: Callable[[], bool] | None = None,
) -> Revalidation:
    """Ask the server of every web photo behind a current map whether it is still the photo the map was made from.

    Conditional requests (the validators from the last check, else from this process's own fetch) cost a 304; a
    server that gave neither validator is asked for the bytes again (bounded by the fetch policy) and the sha256
    compared. At most ``fetch.revalidate_per_s`` requests a second; a photo checked within
    ``fetch.revalidate_after_s`` is not asked again. A changed photo makes its user stale, and a published map of
    the old photo is cleared from the portal by compare-and-set: what the portal itself does on a new upload.
    A photo that cannot be checked now (network, 5xx) stays as it was and is asked again next run. ``stop``
    (the studio closing) ends the pass early: the photos not asked yet are asked next time.
    """
    started = time.monotonic()
    report = Revalidation()
    now = now or utcnow()
    policy = config.fetch.policy()
    pace = _Pace(config.fetch.revalidate_per_s)
    lock = threading.Lock()
    pending: list[tuple[_Candidate, Validators, bool]] = []  # (candidate, validators now, changed)

    def check(c: _Candidate) -> None:
        if stop is not None and stop():
            return
        pace.wait()
        try:
            if c.known:
                body = fetch_if_changed(c.avatar, policy, c.known)
            else:
                body, _ = fetch_bytes(c.avatar, policy)
        except ImagingError as err:
            with lock:
                report.unreachable[err.kind] = report.unreachable.get(err.kind, 0) + 1
            return
        if body is None:  # 304: the server vouches for the bytes it described last time
            result = (c, c.known, False)
        else:
            digest = hashlib.sha256(body).hexdigest()
            result = (c, seen.for_content(c.avatar, digest) or Validators(), digest != c.sha256)
        with lock:
            pending.append(result)

    for batch in _candidates(portal, config, now, chunk):
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            list(pool.map(check, batch))
        _record(portal, pending, now, report)
        pending.clear()
        if stop is not None and stop():
            break
    report.elapsed_s = time.monotonic() - started
    return report


def _candidates(portal: Portal, config: Config, now: dt.datetime, chunk: int) -> Iterator[list[_Candidate]]:
    """Current results whose photo is a web URL still in the portal column, not known changed, not checked lately;
    in pages of ``chunk`` by result id (keyset: the pages stay correct while earlier ones are recorded)."""
    u = portal.users
    uid = u.id if isinstance(u.id.type, String) else cast(u.id, String(255))
    due = now - dt.timedelta(seconds=config.fetch.revalidate_after_s)
    after = -1
    while True:
        stmt = (
            select(
                user_state.c.user_id,
                results.c.id,
                results.c.avatar_url,
                results.c.avatar_sha256,
                results.c.published_url,
                photo_checks.c.etag,
                photo_checks.c.last_modified,
            )
            .select_from(
                user_state.join(results, results.c.id == user_state.c.result_id)
                .join(u.table, uid == user_state.c.user_id)
                .outerjoin(photo_checks, photo_checks.c.result_id == results.c.id)
            )
            .where(
                results.c.id > after,
                u.avatar == results.c.avatar_url,
                or_(results.c.avatar_url.like("http://%"), results.c.avatar_url.like("https://%")),
                photo_checks.c.changed_at.is_(None),
                or_(photo_checks.c.checked_at.is_(None), photo_checks.c.checked_at <= due),
            )
            .order_by(results.c.id)
            .limit(chunk)
        )
        with portal.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return
        after = rows[-1][1]
        batch = []
        for user_id, result_id, avatar, sha, published, etag, modified in rows:
            known = Validators(etag, modified) if (etag or modified) else seen.for_content(avatar, sha) or Validators()
            batch.append(_Candidate(str(user_id), int(result_id), avatar, sha, published, known))
        yield batch


@retry_on_disconnect
def _record(
    portal: Portal, found: list[tuple[_Candidate, Validators, bool]], now: dt.datetime, report: Revalidation
) -> None:
    """One transaction per page: the checks, the changed marks, and the compare-and-set that clears a published
    map of a changed photo (only while the column still holds that map and the avatar that photo's URL)."""
    if not found:
        return
    u = portal.users
    cleared: list[str] = []
    with writer(portal.engine).begin() as conn:
        ids = [c.result_id for c, _, _ in found]
        conn.execute(delete(photo_checks).where(photo_checks.c.result_id.in_(ids)))
        conn.execute(
            insert(photo_checks),
            [
                {
                    "result_id": c.result_id,
                    "etag": v.etag,
                    "last_modified": v.last_modified,
                    "checked_at": now,
                    "changed_at": now if changed else None,
                }
                for c, v, changed in found
            ],
        )
        for c, _, changed in found:
            if changed and c.published_url:
                hit = conn.execute(
                    update(u.table)
                    .where(u.id == u.portal_id(c.user_id), u.depth == c.published_url, u.avatar == c.avatar)
                    .values({u.depth.name: None})
                )
                if hit.rowcount:
                    cleared.append(c.user_id)
    changed_ids = [c.user_id for c, _, changed in found if changed]
    report.checked += len(found)
    report.unchanged += len(found) - len(changed_ids)
    report.changed += changed_ids
    report.cleared += cleared
    for user_id in changed_ids:
        log.warning("user %s: the photo changed in place since its depth map was made; the user is stale", user_id)


def mark_changed(portal: Portal, result_id: int) -> None:
    """The publisher found the photo changed in place: the result is stale from now on, not "approved" forever."""
    now = utcnow()
    with writer(portal.engine).begin() as conn:
        conn.execute(delete(photo_checks).where(photo_checks.c.result_id == result_id))
        conn.execute(insert(photo_checks).values(result_id=result_id, checked_at=now, changed_at=now))
