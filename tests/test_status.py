"""One table of statuses: every status has its label, colour, filter chip and sort rank, and the SQL agrees."""

from __future__ import annotations

import re

from depthstudio.portal.repository import Query
from depthstudio.portal.status import FILTERS, STATUSES, Status, status_color, status_label
from tests.helpers import seed_every_status


def test_every_status_has_a_label_a_colour_and_a_rank():
    for status in Status:
        assert status.label.strip() and status_label(status.value) == status.label
        assert re.fullmatch(r"#[0-9a-f]{6}", status.color) and status_color(status.value) == status.color
        assert isinstance(status.info.attention, int)


def test_every_status_is_listed_by_exactly_one_chip_so_the_chips_add_up_to_all():
    keys = [f.key for f in FILTERS]
    assert len(keys) == len(set(keys)) and keys[0] == "all"
    listed = [s for f in FILTERS for s in f.statuses]
    assert sorted(listed) == sorted(STATUSES)
    assert {s.info.filter for s in Status} <= set(keys)
    assert [f.key for f in FILTERS if not f.statuses] == ["all", "flagged"]
    assert next(f for f in FILTERS if f.key == "flagged").flagged


def test_an_unknown_status_shows_as_stored_in_grey():
    assert status_label("archived") == "archived" and status_color("archived") == "#888888"


def test_the_listing_sql_yields_only_known_statuses_and_sorts_attention_by_rank(db_url, tmp_path):
    portal, _ = seed_every_status(db_url, tmp_path)
    rows = portal.list_users(Query(sort="attention"), limit=100)
    assert {r.status for r in rows} == set(STATUSES)
    ranks = [Status(r.status).info.attention for r in rows]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]
    assert set(portal.status_counts()) == {*STATUSES, "all", "flagged"}
