"""The listing's fast paths (page ids first for the name sort, the state table first for state filters) give
exactly the rows and order of filtering every user, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import event, text

from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal, Query
from depthstudio.portal.status import STATUSES
from tests.helpers import make_portal, portal_config, set_avatar, tiny_result


def _portal_in_every_status(db_url: str, tmp_path) -> Portal:
    n = 40
    avatars: list[str | None] = [f"https://img.example/{i}.png" for i in range(n)]
    avatars[9] = avatars[19] = None
    names: list[str] = [f"Name {i % 7}" for i in range(n)]  # repeated names: the id breaks the ties
    names[3] = "Ünïcode"
    make_portal(db_url, avatars, names=names)
    with_null = Portal.open(portal_config(db_url, tmp_path))
    with with_null.engine.begin() as conn:
        conn.execute(text("UPDATE \"User\" SET name = NULL WHERE id IN ('u00005', 'u00025')"))
        conn.execute(text("UPDATE \"User\" SET \"avatarDepthMap\" = 'https://cdn/x.png' WHERE id = 'u00008'"))
    q = JobQueue(with_null)
    q.enqueue([(f"u{i:05d}", avatars[i]) for i in range(10, 30) if avatars[i]], max_attempts=1)
    claimed = {}
    while (job := q.claim("w")) is not None:
        claimed[job.user_id] = job
    for i, (uid, job) in enumerate(sorted(claimed.items())):
        if i % 5 == 0:
            q.fail(job, kind="not_an_image", message="HTML", retry_in=None)
        elif i % 5 == 1:
            q.release(job)
        elif i % 5 != 2:
            q.complete(job, tiny_result(avatars[int(uid[1:])], qa_risk=0.8 if i % 3 == 0 else 0.1))
    done = [u for u, _ in sorted(claimed.items())]
    with_null.decide(done[3:5], "approved", reviewer="ed")
    with_null.decide(done[8:9], "rejected", reviewer="ed")
    set_avatar(db_url, done[13], "https://img.example/new.png")
    return with_null


def test_every_filter_and_page_matches_filtering_all_users(db_url, tmp_path):
    portal = _portal_in_every_status(db_url, tmp_path)
    everyone = portal.list_users(Query(sort="attention"), limit=1000)
    assert len({r.status for r in everyone}) == len(STATUSES), "the portal has every status"
    by_name = sorted(everyone, key=lambda r: (r.name is None, r.name or "", r.id))
    pages = [r.id for off in range(0, 40, 7) for r in portal.list_users(Query(), offset=off, limit=7)]
    listed = portal.list_users(Query(), limit=1000)
    assert len(pages) == 40 and pages == [r.id for r in listed]
    assert {r.id: r for r in listed} == {r.id: r for r in everyone}, "the same rows, field for field"
    nulls_last = [r.id for r in by_name]
    nulls_first = [r.id for r in by_name if r.name is None] + [r.id for r in by_name if r.name is not None]
    assert pages in (nulls_last, nulls_first)  # NULL names sort as each database sorts them, same as before
    for statuses in [(s,) for s in STATUSES] + [("approved", "rejected"), ("missing", "failed")]:
        for sort in ("name", "risk"):
            query = Query(statuses=statuses, sort=sort)
            got = portal.list_users(query, limit=1000)
            assert sorted(r.id for r in got) == sorted(r.id for r in everyone if r.status in statuses), query
            assert portal.count_users(query) == len(got)
        query = Query(statuses=statuses)  # by name: the page's ids come from the users table (_in_statuses)
        shown = [r for r in listed if r.status in statuses]
        got = portal.list_users(query, limit=1000)
        assert got == shown, query  # the same rows, field for field, in the same order as the unfiltered list
        paged = [r.id for off in range(0, len(shown), 3) for r in portal.list_users(query, offset=off, limit=3)]
        assert paged == [r.id for r in shown], query
    flagged = portal.list_users(Query(flagged=True), limit=1000)
    assert sorted(r.id for r in flagged) == sorted(r.id for r in everyone if r.qa_risk >= 0.5)
    counts = portal.status_counts()
    assert counts["flagged"] == len(flagged) > 0
    assert all(counts[s] == sum(r.status == s for r in everyone) for s in STATUSES)
    searched = portal.list_users(Query(search="name 3"), limit=1000)
    assert [r.id for r in searched] == [r.id for r in listed if r.name == "Name 3"]
    assert portal.status_counts(Query(search="name 3"))["all"] == len(searched)


def test_a_state_filter_looks_up_the_users_with_state_instead_of_walking_every_user(tmp_path):
    """On SQLite (no statistics) the inner join alone walked the whole users table; a big portal has 100k."""
    url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    portal = _portal_in_every_status(url, tmp_path)
    statements: list[tuple[str, object]] = []

    def record(_conn: object, _cursor: object, sql: str, params: object, *_rest: object) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))

    for query in (Query(statuses=("generated",)), Query(statuses=("failed", "rejected"), sort="risk")):
        statements.clear()
        event.listen(portal.engine, "before_cursor_execute", record)
        portal.list_users(query, limit=50)
        portal.count_users(query)
        event.remove(portal.engine, "before_cursor_execute", record)
        assert len(statements) == 2
        for sql, params in statements:
            with portal.engine.connect() as conn:
                plan = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            assert not [step for step in plan if step.startswith("SCAN") and "User" in step], (query, plan)
