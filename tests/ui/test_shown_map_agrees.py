"""The studio's preview and the web export read the same map for a user (one rule: ``shown_map``)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import update

from depthstudio.portal.job_queue import JobQueue
from depthstudio.render.web_export import render_inputs
from depthstudio.studio.preview_loading import load_preview as _load_preview


def _studio_depth(portal, uid):
    content, _message, _history = _load_preview(portal, portal.get_user(uid))
    return None if content is None or content.depth is None else np.asarray(content.depth)


def _web_depth(portal, uid):
    depth = render_inputs(portal, uid).depth
    return None if depth is None else np.asarray(depth, dtype=np.uint8)


def test_studio_and_web_export_show_the_same_map(qtbot, portal, seeded):
    awaiting, rejected, renewed = seeded
    portal.decide([rejected], "rejected", reviewer="ed")
    # A new photo with a job queued for it: the map of the old photo fits neither the studio nor the web.
    table, avatar = portal.users.table, portal.users.avatar
    new_photo = portal.get_user(awaiting).avatar
    with portal.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == renewed).values({avatar.name: new_photo}))
    JobQueue(portal).enqueue([(renewed, new_photo)])
    assert portal.get_user(renewed).status == "queued"
    for uid in (awaiting, renewed):
        studio, web = _studio_depth(portal, uid), _web_depth(portal, uid)
        assert (studio is None) == (web is None), uid
        if studio is not None:
            assert np.array_equal(studio, web), uid
    assert _studio_depth(portal, awaiting) is not None
    # The one deliberate difference: the editor still sees the map they rejected; the web does not.
    assert _studio_depth(portal, rejected) is not None
    web_rejected = _web_depth(portal, rejected)
    assert web_rejected is None or not np.array_equal(web_rejected, _studio_depth(portal, rejected))
