"""Photo identity by content: is the photo at the avatar URL still the one the depth map was made from?

Portals that overwrite an upload in place keep the URL, so the compare-and-set on the URL alone would publish a
map of the old face over the new one. Before an upload the publisher asks the photo's server with a conditional
GET when this process saw the photo's validators (ETag / Last-Modified) at generation time, and otherwise
downloads it again within the fetch policy's limits (size, time, redirects, address guard); either way it compares
the sha256 of the bytes with the one the map records. ``storage.confirm_photo_content`` turns it off.
Local paths (the demo portal) are not re-read: only web URLs are overwritten behind a portal's back.
"""

from __future__ import annotations

import hashlib
import logging

from depthstudio.config import Config
from depthstudio.imaging import fetch_bytes
from depthstudio.imaging.fetch import fetch_if_changed
from depthstudio.imaging.validators import seen

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
