"""First start of the demo portal: the sample avatars get their hand-authored depth maps as results.

They are labelled backend ``hand-authored`` (see resources/demo/depth/README.md), never passed off as model
output, and spread over the review states so every part of the studio has something to show: one published,
one approved, the others awaiting review. The placeholder users stay ``missing`` for "Generate all missing".
"""

from __future__ import annotations

import logging

from depthstudio.config import Config
from depthstudio.depth.backend import DepthPrediction
from depthstudio.depth.postprocess import make_depth_map
from depthstudio.errors import DepthstudioError
from depthstudio.imaging import load_avatar
from depthstudio.jobs.publish import publish_result
from depthstudio.portal.demo import HAND_AUTHORED, SAMPLES, hand_authored_depth
from depthstudio.portal.repository import Portal, Query
from depthstudio.portal.results import NewResult, record_result
from depthstudio.portal.reviews import Decision
from depthstudio.storage.folder_store import LocalDirectoryStore

log = logging.getLogger(__name__)
SEEDED = "demo_seeded"
_STATES = {"astronaut": "published", "grace_hopper": "approved"}


def seed_demo(portal: Portal, config: Config) -> int:
    """Idempotent (a setting marks it done); returns how many results it recorded."""
    if not config.is_demo or portal.get_setting(SEEDED):
        return 0
    by_avatar = {
        (row.avatar or "").rsplit("/", 1)[-1]: row
        for row in portal.list_users(Query(search=""), limit=len(SAMPLES) + 200)
        if row.avatar
    }
    seeded = 0
    store = LocalDirectoryStore(config.local_store_dir())
    for file in SAMPLES:
        row = by_avatar.get(file)
        if row is None or row.avatar is None or row.result_id is not None:
            continue  # absent, or seeded by an earlier, interrupted start
        try:
            seeded += _seed_one(portal, config, store, row.id, row.avatar, file.rsplit(".", 1)[0])
        except DepthstudioError as err:  # the demo must never stop the app from opening
            log.warning("demo user %s not seeded: %s", row.name, err)
    portal.set_setting(SEEDED, True, by="demo")
    return seeded


def _seed_one(
    portal: Portal, config: Config, store: LocalDirectoryStore, user_id: str, avatar_url: str, stem: str
) -> int:
    depth = hand_authored_depth(stem)
    if depth is None:
        return 0
    avatar = load_avatar(avatar_url, config.fetch.policy())
    if depth.shape != (avatar.original.height, avatar.original.width):
        log.warning("hand-authored depth for %s does not match the photo's size; skipped", stem)
        return 0
    prediction = DepthPrediction(disparity=depth, frame="original", backend=HAND_AUTHORED, model=stem)
    dm = make_depth_map(prediction, avatar)
    new = NewResult.from_depth_map(
        dm, avatar_url=avatar_url, avatar_sha256=avatar.sha256, backend=HAND_AUTHORED, model="resources/demo/depth"
    )
    result_id = record_result(portal, user_id, new)
    state = _STATES.get(stem)
    if state in ("approved", "published"):
        portal.decide([user_id], Decision.APPROVED, reviewer="demo")
    if state == "published":
        publish_result(portal, store, result_id)
    return 1
