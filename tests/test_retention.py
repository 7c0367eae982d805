"""Retention: ``prune`` frees the PNGs of superseded results beyond the newest N per user and never those of the
current, the live (published and shown) or a carried result; ``--dry-run`` reports the same figures and changes
nothing; new results no longer store the 16-bit map nobody reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select, update

from depthstudio.portal.repository import Portal
from depthstudio.portal.results import record_result
from depthstudio.portal.retention import prune
from depthstudio.portal.tables import jobs, result_blobs, results, reviews
from tests.helpers import make_portal, portal_config, tiny_result, write_avatars

REPO = Path(__file__).resolve().parent.parent
PNG8, PLATE, MATTE = b"8" * 100, b"p" * 300, b"m" * 50


def _portal(db_url: str, tmp_path: Path, users: int, per_user: int) -> tuple[Portal, dict[str, list[int]]]:
    """Each user gets ``per_user`` results, oldest first, each decided on (so reviews exist to keep)."""
    avatars = write_avatars(tmp_path / "avatars", users, size=32)
    make_portal(db_url, avatars)
    portal = Portal.open(portal_config(db_url, tmp_path))
    made: dict[str, list[int]] = {}
    for i, avatar in enumerate(avatars):
        uid = f"u{i:05d}"
        for _ in range(per_user):
            rid = record_result(portal, uid, replace(tiny_result(avatar), png8=PNG8, plate_png=PLATE, matte_png=MATTE))
            portal.decide([uid], "approved", reviewer="ed")
            made.setdefault(uid, []).append(rid)
    return portal, made


def _with_blobs(portal: Portal) -> set[int]:
    with portal.engine.connect() as conn:
        return set(conn.execute(select(result_blobs.c.result_id)).scalars())


def _publish_directly(portal: Portal, user_id: str, result_id: int) -> None:
    """The state a publish of ``result_id`` leaves: its URL on the result and in the portal's column."""
    url = f"https://res.example.org/{user_id}-{result_id}.png"
    u = portal.users
    with portal.engine.begin() as conn:
        conn.execute(update(results).where(results.c.id == result_id).values(published_url=url))
        conn.execute(update(u.table).where(u.id == user_id).values({u.depth.name: url}))


def test_a_dry_run_reports_rows_and_bytes_and_changes_nothing(db_url, tmp_path):
    portal, _ = _portal(db_url, tmp_path, users=3, per_user=3)
    before = _with_blobs(portal)
    report = prune(portal, keep=1, dry_run=True)
    assert (report.rows, report.png8_bytes) == (6, 6 * len(PNG8))
    assert report.layer_bytes == 6 * (len(PLATE) + len(MATTE))  # with their plates and mattes
    assert _with_blobs(portal) == before


def test_prune_keeps_the_newest_the_current_the_live_and_the_carried_and_frees_the_rest(db_url, tmp_path):
    portal, made = _portal(db_url, tmp_path, users=3, per_user=4)
    _publish_directly(portal, "u00001", made["u00001"][0])  # the oldest is what the portal shows
    with portal.engine.begin() as conn:  # an open job still carries u00002's second result to publish
        conn.execute(
            jobs.insert().values(
                user_id="u00002", status="queued", avatar_url="x", publish=True,
                result_id=made["u00002"][1], created_at=func.now(), updated_at=func.now(),
            )
        )  # fmt: skip
    dry = prune(portal, keep=2, dry_run=True)
    report = prune(portal, keep=2)
    kept = _with_blobs(portal)
    assert kept == {
        *made["u00000"][2:],
        *made["u00001"][2:],
        made["u00001"][0],
        *made["u00002"][2:],
        made["u00002"][1],
    }
    assert report.rows == dry.rows == 12 - len(kept) and report.bytes == dry.bytes
    with portal.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 12  # history stays
        assert conn.execute(select(func.count()).select_from(reviews)).scalar_one() == 12
        all_ids = set(conn.execute(select(results.c.id)).scalars())
    pruned = all_ids - _with_blobs(portal)  # a pruned result is one without its blob row
    assert pruned == {rid for ids in made.values() for rid in ids} - kept
    assert portal.get_user("u00000").status == "approved"  # type: ignore[union-attr]
    assert prune(portal, keep=2).rows == 0


def test_a_result_that_goes_live_before_its_batch_runs_is_kept(db_url, tmp_path):
    portal, made = _portal(db_url, tmp_path, users=1, per_user=3)
    oldest = made["u00000"][0]
    # Between the listing and the batch's transaction another studio publishes the oldest map.
    report = prune(portal, keep=1, on_batch=lambda ids: _publish_directly(portal, "u00000", oldest))
    assert oldest in _with_blobs(portal) and report.rows == 1
    assert prune(portal, keep=1, dry_run=True).rows == 0


def test_the_prune_command_reports_a_dry_run_then_frees_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DEPTHSTUDIO_FAILPOINT"}
    env["PYTHONPATH"] = str(REPO)
    db = tmp_path / "p.sqlite3"
    script = [sys.executable, str(REPO / "scripts" / "make_prune_portal.py"), str(db), "--users", "10"]
    subprocess.run(script, env=env, check=True, capture_output=True, timeout=120)

    def cli(*args: str) -> dict[str, int]:
        cmd = [sys.executable, "-m", "depthstudio", "--portal-url", f"sqlite:///{db}", "prune", "--json", *args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    dry = cli("--dry-run", "--keep", "1")
    assert dry["rows"] == 15 and dry["bytes"] > 0 and dry["dry_run"]  # 5 users publish the oldest of three
    assert cli("--keep", "1")["bytes"] == dry["bytes"]
    assert cli("--dry-run", "--keep", "1")["rows"] == 0
