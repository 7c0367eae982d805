"""The photo checks' table (``depthstudio_photo_checks``): which current maps' photos are due to be asked about,
what the asking found, and the compare-and-set that takes a map of a changed photo off the portal.

Asking the photos' servers, and why, is :mod:`depthstudio.jobs.photo_check`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import String, cast, delete, insert, or_, select, update

from depthstudio.imaging.validators import Validators
from depthstudio.portal.engine import retry_on_disconnect, writer
from depthstudio.portal.portal_base import PortalBase, utcnow
from depthstudio.portal.tables import photo_checks, results, user_state


@dataclass(frozen=True)
class PhotoToCheck:
    """A current result whose photo is due: ``stored`` are the validators of its last check (empty: none)."""

    user_id: str
    result_id: int
    avatar: str
    sha256: str
    published_url: str | None
    stored: Validators


@dataclass(frozen=True)
class PhotoChecked:
    """What asking found: the validators to ask with next time, and whether the photo changed in place."""

    photo: PhotoToCheck
    validators: Validators
    changed: bool


def photos_due(portal: PortalBase, due: dt.datetime, chunk: int) -> Iterator[list[PhotoToCheck]]:
    """Current results whose photo is a web URL still in the portal column, not known changed, not checked since
    ``due``; in pages of ``chunk`` by result id (keyset: the pages stay correct while earlier ones are recorded)."""
    u = portal.users
    uid = u.id if isinstance(u.id.type, String) else cast(u.id, String(255))
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
        yield [
            PhotoToCheck(str(user_id), int(result_id), avatar, sha, published, Validators(etag, modified))
            for user_id, result_id, avatar, sha, published, etag, modified in rows
        ]


@retry_on_disconnect
def record_photo_checks(portal: PortalBase, found: list[PhotoChecked], now: dt.datetime) -> list[str]:
    """One transaction per page: the checks, the changed marks, and the compare-and-set that clears a published
    map of a changed photo (only while the column still holds that map and the avatar that photo's URL).
    Returns the users whose map was cleared."""
    if not found:
        return []
    u = portal.users
    cleared: list[str] = []
    with writer(portal.engine).begin() as conn:
        ids = [f.photo.result_id for f in found]
        conn.execute(delete(photo_checks).where(photo_checks.c.result_id.in_(ids)))
        conn.execute(
            insert(photo_checks),
            [
                {
                    "result_id": f.photo.result_id,
                    "etag": f.validators.etag,
                    "last_modified": f.validators.last_modified,
                    "checked_at": now,
                    "changed_at": now if f.changed else None,
                }
                for f in found
            ],
        )
        for f in found:
            c = f.photo
            if f.changed and c.published_url:
                hit = conn.execute(
                    update(u.table)
                    .where(u.id == u.portal_id(c.user_id), u.depth == c.published_url, u.avatar == c.avatar)
                    .values({u.depth.name: None})
                )
                if hit.rowcount:
                    cleared.append(c.user_id)
    return cleared


def mark_photo_changed(portal: PortalBase, result_id: int) -> None:
    """The publisher found the photo changed in place: the result is stale from now on, not "approved" forever."""
    now = utcnow()
    with writer(portal.engine).begin() as conn:
        conn.execute(delete(photo_checks).where(photo_checks.c.result_id == result_id))
        conn.execute(insert(photo_checks).values(result_id=result_id, checked_at=now, changed_at=now))
