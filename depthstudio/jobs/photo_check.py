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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from depthstudio.config import Config
from depthstudio.errors import ImagingError
from depthstudio.imaging import fetch_bytes
from depthstudio.imaging.fetch import fetch_if_changed
from depthstudio.imaging.validators import Validators, seen
from depthstudio.portal.photo_checks import PhotoChecked, PhotoToCheck, photos_due, record_photo_checks
from depthstudio.portal.portal_base import utcnow

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
    pending: list[PhotoChecked] = []

    def check(item: tuple[PhotoToCheck, Validators]) -> None:
        c, known = item
        if stop is not None and stop():
            return
        pace.wait()
        try:
            if known:
                body = fetch_if_changed(c.avatar, policy, known)
            else:
                body, _ = fetch_bytes(c.avatar, policy)
        except ImagingError as err:
            with lock:
                report.unreachable[err.kind] = report.unreachable.get(err.kind, 0) + 1
            return
        if body is None:  # 304: the server vouches for the bytes it described last time
            result = PhotoChecked(c, known, False)
        else:
            digest = hashlib.sha256(body).hexdigest()
            result = PhotoChecked(c, seen.for_content(c.avatar, digest) or Validators(), digest != c.sha256)
        with lock:
            pending.append(result)

    due = now - dt.timedelta(seconds=config.fetch.revalidate_after_s)
    for page in photos_due(portal, due, chunk):
        # The validators of the last check, else those this process saw with the very bytes the map was made from.
        batch = [(c, c.stored or seen.for_content(c.avatar, c.sha256) or Validators()) for c in page]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            list(pool.map(check, batch))
        _tally(pending, record_photo_checks(portal, pending, now), report)
        pending.clear()
        if stop is not None and stop():
            break
    report.elapsed_s = time.monotonic() - started
    return report


def _tally(found: list[PhotoChecked], cleared: list[str], report: Revalidation) -> None:
    changed_ids = [f.photo.user_id for f in found if f.changed]
    report.checked += len(found)
    report.unchanged += len(found) - len(changed_ids)
    report.changed += changed_ids
    report.cleared += cleared
    for user_id in changed_ids:
        log.warning("user %s: the photo changed in place since its depth map was made; the user is stale", user_id)
