"""Which map a user shows, decided once: our current result, else the portal's map, else the plain photo."""

from __future__ import annotations

from depthstudio.portal.shown_map import shown_map
from tests.helpers import seed_every_status


def test_each_status_shows_the_map_that_fits_the_current_photo(db_url, tmp_path):
    portal, _ = seed_every_status(db_url, tmp_path)
    rows = {r.id: r for r in portal.list_users(limit=100)}
    web = {uid: shown_map(row) for uid, row in rows.items()}
    with_result = {uid for uid, s in web.items() if s.result_id is not None}
    assert with_result == {"u00004", "u00005"}  # generated and approved; stale (u7) and rejected (u6) not
    assert web["u00008"].portal_url == "https://cdn/x.png" and web["u00008"].result_id is None
    assert web["u00007"] == shown_map(rows["u00007"], reviewing=True)  # a map of the old photo: nobody shows it
    assert shown_map(rows["u00006"], reviewing=True).result_id == rows["u00006"].result_id
    assert all(web[u].result_id == rows[u].result_id for u in with_result)
