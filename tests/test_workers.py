"""Several worker processes on the real PostgreSQL, and kill -9 at every step of a job.

Workers are real ``depthstudio worker`` processes; the Cloudinary store talks to the protocol server in this
process through the official SDK, so asset counts are the server's own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, func, select, text

from depthstudio.portal.demo import portal_users_table
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import attempts, jobs, results
from tests.helpers import make_portal, portal_config, set_avatar, wait_for, write_avatars
from tests.servers.cloudinary_server import running_cloudinary_server
from tests.servers.photo_server import PhotoServer

REPO = Path(__file__).resolve().parent.parent
KILL_POINTS = [
    f"{step}@{n}"
    for step in (
        "after_claim",
        "after_fetch",
        "after_predict",
        "after_complete",
        "after_store_put",
        "after_portal_write",
        "after_publish",
    )
    for n in (1, 2, 4)
]


@pytest.fixture
def cloud():
    with running_cloudinary_server() as server:
        yield server


def _env(db: str, cloud, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEPTHSTUDIO_FAILPOINT"}
    env.update(
        DEPTHSTUDIO_PORTAL_URL=db,
        DEPTHSTUDIO_STORAGE_KIND="cloudinary",
        DEPTHSTUDIO_STORAGE_CLOUDINARY_UPLOAD_PREFIX=cloud.upload_prefix,
        CLOUDINARY_URL=cloud.cloudinary_url,
        DEPTHSTUDIO_FETCH_CROP_SIZE="64",
        DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS="true",  # the test avatars are files (set here: module fixtures use it)
        DEPTHSTUDIO_JOB_BACKOFF_S="0",
        DEPTHSTUDIO_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def _worker(env: dict[str, str], concurrency: int = 2) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "depthstudio",
            "worker",
            "--until-empty",
            "--backend",
            "synthetic",
            "--concurrency",
            str(concurrency),
            "--poll",
            "0.2",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _portal_state(db: str) -> dict[str, tuple[str | None, str | None]]:
    engine = create_engine(db)
    table = portal_users_table(MetaData())
    with engine.connect() as conn:
        rows = {r.id: (r.avatar, r.avatarDepthMap) for r in conn.execute(select(table))}
    engine.dispose()
    return rows


def _public_id(url: str | None) -> str | None:
    """The asset behind a delivery URL, without the version (a re-upload after a crash bumps it)."""
    return None if url is None else re.sub(r"/v\d+/", "/", url)


def _enqueue_all(db: str, tmp_path: Path) -> Portal:
    portal = Portal.open(portal_config(db, tmp_path))
    JobQueue(portal).enqueue(portal.ids_needing_depth(), publish=True)
    return portal


def test_four_workers_process_a_thousand_users_exactly_once(pg_url, cloud, tmp_path):
    avatars = write_avatars(tmp_path / "avatars", 1000, size=48)
    make_portal(pg_url, avatars)
    portal = _enqueue_all(pg_url, tmp_path)
    procs = [_worker(_env(pg_url, cloud, tmp_path), concurrency=3) for _ in range(4)]
    outputs = [p.communicate(timeout=600)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    with portal.engine.connect() as conn:
        per_user = Counter(u for (u,) in conn.execute(select(results.c.user_id)))
        tries = conn.execute(select(func.count()).select_from(attempts)).scalar_one()
        workers = conn.execute(select(func.count(func.distinct(attempts.c.worker)))).scalar_one()
        left = conn.execute(select(func.count()).select_from(jobs).where(jobs.c.status != "done")).scalar_one()
    assert len(per_user) == 1000 and set(per_user.values()) == {1}  # every user once, none twice
    assert tries == 1000 and left == 0  # no job was ever picked up by two workers
    assert workers > 1  # the work really was shared
    assert len(cloud.assets) == 3 * 1000 and {a.writes for a in cloud.assets.values()} == {1}
    state = _portal_state(pg_url)
    assert all(depth is not None for _, depth in state.values())
    assert len({depth for _, depth in state.values()}) == 1000
    assert portal.status_counts()["published"] == 1000


def _clean_run(tmp_path: Path, avatars: list[str]) -> dict[str, str | None]:
    db = f"sqlite:///{tmp_path / 'clean.sqlite3'}"
    make_portal(db, avatars)
    _enqueue_all(db, tmp_path)
    with running_cloudinary_server() as cloud:
        p = _worker(_env(db, cloud, tmp_path))
        out = p.communicate(timeout=120)[0].decode()
        assert p.returncode == 0, out
    return {uid: _public_id(depth) for uid, (_, depth) in _portal_state(db).items()}


@pytest.fixture(scope="module")
def crash_inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    avatars = write_avatars(tmp / "avatars", 5, size=48)
    return avatars, _clean_run(tmp, avatars)


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_kill_9_at_any_step_then_rerun_equals_a_clean_run(kill_point, crash_inputs, pg_url, cloud, tmp_path):
    avatars, clean = crash_inputs
    make_portal(pg_url, avatars)
    portal = _enqueue_all(pg_url, tmp_path)
    crashed = _worker(_env(pg_url, cloud, tmp_path, DEPTHSTUDIO_FAILPOINT=kill_point), concurrency=1)
    out = crashed.communicate(timeout=120)[0].decode()
    assert crashed.returncode == -signal.SIGKILL, f"the worker did not die at {kill_point}: {out}"
    rerun = _worker(_env(pg_url, cloud, tmp_path), concurrency=1)
    out = rerun.communicate(timeout=120)[0].decode()
    assert rerun.returncode == 0, out

    state = _portal_state(pg_url)
    assert {uid: _public_id(depth) for uid, (_, depth) in state.items()} == clean
    assert len(cloud.assets) == 3 * 5  # each map with its plate and matte; zero duplicate assets
    with portal.engine.connect() as conn:
        per_user = Counter(u for (u,) in conn.execute(select(results.c.user_id)))
    assert set(per_user.values()) == {1}  # no map generated twice for the same photo
    assert portal.status_counts()["published"] == 5


def test_no_stale_write_when_the_photo_changes_after_a_crash(pg_url, cloud, tmp_path):
    avatars = write_avatars(tmp_path / "avatars", 3, size=48)
    make_portal(pg_url, avatars)
    portal = _enqueue_all(pg_url, tmp_path)
    crashed = _worker(_env(pg_url, cloud, tmp_path, DEPTHSTUDIO_FAILPOINT="after_store_put@1"), concurrency=1)
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    first = portal.list_users()[0].id
    new_photo = write_avatars(tmp_path / "new", 1, size=40)[0]
    set_avatar(pg_url, first, new_photo)  # the user uploads a new photo while the job is half done
    rerun = _worker(_env(pg_url, cloud, tmp_path), concurrency=1)
    assert rerun.wait(120) == 0
    state = _portal_state(pg_url)
    assert state[first] == (new_photo, None)  # the old photo's map never reached the column
    assert portal.get_user(first).status == "stale"


def _held_by(portal: Portal, pid: int) -> tuple[set[str], set[str]]:
    """(users whose jobs worker ``pid`` holds, those of them whose attempt is still marked claimed-ahead)."""
    with portal.engine.connect() as conn:
        rows = conn.execute(
            select(jobs.c.user_id, attempts.c.outcome)
            .join(attempts, attempts.c.job_id == jobs.c.id)
            .where(jobs.c.status == "running", jobs.c.lease_owner.contains(f":{pid}:"))
            .where(attempts.c.finished_at.is_(None))
        ).all()
    return {u for u, _ in rows}, {u for u, outcome in rows if outcome == "ahead"}


def _quiet(portal: Portal) -> bool:
    """No statement of another session runs in this database (a frozen worker's last one has committed)."""
    with portal.engine.connect() as conn:
        return not conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state = 'active'"
            )
        ).scalar_one()


def test_workers_killed_from_outside_are_charged_only_for_the_users_they_had_started(pg_url, cloud, tmp_path):
    """Each round a worker starts users until every thread waits on a held photo (the photo host's gate: the
    witness of which users it had started), and is SIGKILLed from outside; no user is charged a death for which
    its photo was never requested, and the last clean worker publishes every user exactly once."""
    n = 30
    files = write_avatars(tmp_path / "avatars", n, size=48)
    server = PhotoServer()
    witnessed: Counter[str] = Counter()
    with server.serving():
        urls = [server.put(f"/p/{i}.png", Path(f.removeprefix("file://")).read_bytes()) for i, f in enumerate(files)]
        make_portal(pg_url, urls)
        portal = Portal.open(portal_config(pg_url, tmp_path))
        # More attempts than kill rounds: the oldest users are started (and rightly charged) in every round.
        JobQueue(portal).enqueue(portal.ids_needing_depth(), publish=True, max_attempts=5)
        by_path = {"/" + u.avatar.split("/", 3)[3]: u.id for u in portal.list_users()}
        env = _env(pg_url, cloud, tmp_path, DEPTHSTUDIO_FETCH_ALLOW_PRIVATE="true")  # the photo host: 127.0.0.1
        for _ in range(4):
            gates = {path: threading.Event() for path in by_path}
            server.held = set()
            server.hold = gates
            worker = _worker(env, concurrency=4)

            def settled(pid: int = worker.pid) -> bool:
                """Every job the worker holds is either at the photo host or still marked as claimed ahead."""
                held, ahead = _held_by(portal, pid)
                started = {by_path[p] for p in set(server.held)}
                return bool(started) and held <= started | ahead

            for _try in range(20):  # freeze it where the gate says, and make sure nothing landed meanwhile
                wait_for(settled, "the worker's threads all waiting on photos")
                worker.send_signal(signal.SIGSTOP)
                wait_for(lambda: _quiet(portal), "the frozen worker's statements to end")
                if settled():
                    break
                worker.send_signal(signal.SIGCONT)
            started = {by_path[p] for p in set(server.held)}
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(30) == -signal.SIGKILL
            witnessed.update(started)
            for gate in gates.values():
                gate.set()  # the dead worker's requests end; the next worker gets fresh gates
        server.hold = {}
        final = _worker(env, concurrency=4)
        out = final.communicate(timeout=120)[0].decode()
        assert final.returncode == 0, out

    with portal.engine.connect() as conn:
        charged = Counter(
            u
            for (u,) in conn.execute(
                select(jobs.c.user_id)
                .join(attempts, attempts.c.job_id == jobs.c.id)
                .where(attempts.c.outcome == "lost")
            )
        )
        let_off = conn.execute(select(func.count()).where(attempts.c.outcome == "unstarted")).scalar_one()
        still_open = conn.execute(select(func.count()).where(attempts.c.finished_at.is_(None))).scalar_one()
        per_user = Counter(u for (u,) in conn.execute(select(results.c.user_id)))
    assert let_off > 0  # the rounds did kill workers holding jobs claimed ahead (what this test is about)
    for user, deaths in charged.items():
        assert deaths <= witnessed[user], f"{user} charged {deaths} deaths, started in {witnessed[user]} of them"
    assert still_open == 0
    assert portal.status_counts()["published"] == n  # nobody failed, everybody published ...
    assert set(per_user.values()) == {1} and len(per_user) == n  # ... once
    assert len(cloud.assets) == 3 * n  # no orphan asset
