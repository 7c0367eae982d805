"""The embedded demo portal: created on first start, seeded with the hand-authored sample maps, honestly labelled."""

from __future__ import annotations

from depthstudio.config import Config
from depthstudio.jobs.demo_results import seed_demo
from depthstudio.portal.repository import Portal, Query


def test_demo_seeds_hand_authored_maps_across_review_states():
    cfg = Config()
    portal = Portal.open(cfg)
    assert seed_demo(portal, cfg) == 4
    by_name = {r.name: r for r in portal.list_users(Query(), limit=1000)}
    assert by_name["Eileen Collins"].status == "published"
    assert by_name["Eileen Collins"].depth_url.startswith("file://")
    assert by_name["Grace Hopper"].status == "approved"
    assert by_name["Chelsea the Cat"].status == "generated"
    assert {by_name[n].backend for n in ("Eileen Collins", "Chelsea the Cat")} == {"hand-authored"}
    assert by_name["Nobody Yet (no photo)"].status == "no_photo"
    assert portal.status_counts()["missing"] >= 30
    assert seed_demo(portal, cfg) == 0  # once only


def test_demo_depth_maps_are_real_pngs_matching_their_photos():
    cfg = Config()
    portal = Portal.open(cfg)
    seed_demo(portal, cfg)
    row = next(r for r in portal.list_users(Query(statuses=["generated"])) if r.name == "Chelsea the Cat")
    png = portal.result_png(row.result_id)
    assert png.startswith(b"\x89PNG")
    result = portal.result(row.result_id)
    # the map covers the whole 451x300 photo, longer side at crop_size (issue 23: never the square crop)
    assert (result.width, result.height) == (cfg.fetch.crop_size, round(300 * cfg.fetch.crop_size / 451))
    assert result.qa is not None and not result.qa["flags"]  # a sound map is not flagged
