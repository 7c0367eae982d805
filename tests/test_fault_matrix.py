"""Every fault kind through the whole job (Replicate -> result -> Cloudinary -> portal) on the real PostgreSQL.

Each case checks the user's final state and the message a person would read. The services are the protocol
servers in tests/servers, reached by the official clients.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from depthstudio.depth.replicate import ReplicateBackend, ReplicateOptions
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.jobs.generate import GenerateMissingJob
from depthstudio.portal.repository import Portal
from depthstudio.storage.cloudinary import CloudinaryStore
from depthstudio.storage.folder_store import LocalDirectoryStore
from tests.helpers import make_portal, maps_only, portal_config, write_avatars
from tests.servers.cloudinary_server import running_cloudinary_server
from tests.servers.replicate_server import ReplicateServer

FAST = ReplicateOptions(
    poll_initial_s=0.02,
    poll_max_s=0.1,
    http_timeout_s=5.0,
    deadline_s=10.0,
    rate_limit_retries=1,
    max_retry_after_s=1.0,
)


@pytest.fixture
def services():
    with ReplicateServer() as replicate, running_cloudinary_server() as cloud:
        yield replicate, cloud


def _job(pg_url, tmp_path, replicate, cloud, *, users=1, options=FAST, store_timeout=5.0, attempts=2):
    make_portal(pg_url, write_avatars(tmp_path / "avatars", users, size=64))
    cfg = portal_config(pg_url, tmp_path, retries=attempts)
    portal = Portal.open(cfg)
    backend = ReplicateBackend(replicate.token, base_url=replicate.url, options=options)
    store = CloudinaryStore(cloud.cloudinary_url, upload_prefix=cloud.upload_prefix, timeout_s=store_timeout)
    return portal, GenerateMissingJob(portal, backend, store, cfg, publish=True, concurrency=2)


def _published(portal: Portal, cloud, n: int = 1) -> None:
    assert portal.status_counts()["published"] == n
    assert len(maps_only(cloud.assets)) == n
    assert len(cloud.assets) == 3 * n  # each map with its plate and matte, no second copy of any


@pytest.mark.parametrize(
    ("fault", "value"),
    [("rate_limit_creates", 1), ("server_error_creates", 1), ("server_error_polls", 2)],
)
def test_transient_replicate_faults_are_retried_to_success(fault, value, pg_url, tmp_path, services):
    replicate, cloud = services
    replicate.faults.retry_after = "0"
    setattr(replicate.faults, fault, value)
    if fault == "server_error_polls":
        replicate.faults.latency_s = 0.1  # still processing after the create: the client polls
    portal, job = _job(
        pg_url,
        tmp_path,
        replicate,
        cloud,
        options=ReplicateOptions(**{**FAST.__dict__, "sync_wait_s": 0}) if fault == "server_error_polls" else FAST,
    )
    summary = job.run()
    assert summary.ok, summary.failures
    _published(portal, cloud)


@pytest.mark.parametrize(
    ("setup", "kind", "words"),
    [
        (lambda f: setattr(f, "rate_limit_creates", 100), "rate_limited", "rate"),
        (lambda f: setattr(f, "outcome", "failed"), "prediction_failed", "CUDA out of memory"),
        (lambda f: setattr(f, "output", "garbage"), "bad_output", "image"),
        (lambda f: setattr(f, "stall_create_s", 1.0), "timeout", "time"),
    ],
    ids=["429-persistent", "failed-prediction", "garbage-png", "timeout"],
)
def test_replicate_faults_that_persist_fail_the_user_with_the_reason(setup, kind, words, pg_url, tmp_path, services):
    replicate, cloud = services
    replicate.faults.retry_after = "0"
    setup(replicate.faults)
    options = (
        ReplicateOptions(**{**FAST.__dict__, "sync_wait_s": 0, "http_timeout_s": 0.3}) if kind == "timeout" else FAST
    )
    portal, job = _job(pg_url, tmp_path, replicate, cloud, options=options)
    summary = job.run()
    row = portal.get_user("u00000")
    assert row.status == "failed" and row.error_kind == kind, (row.error_kind, row.error)
    assert words.lower() in row.error.lower()
    assert [f.error_kind for f in summary.failures] == [kind]
    assert row.depth_url is None and cloud.assets == {}
    assert replicate.token not in row.error


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("server_error", {}),
        ("rate_limit", {"retry_after_s": 0.2}),
        ("slow", {"delay_s": 1.0}),
        ("drop_after_store", {}),
        ("truncated", {}),
    ],
)
def test_transient_cloudinary_faults_are_retried_without_a_second_asset(fault, options, pg_url, tmp_path, services):
    replicate, cloud = services
    cloud.inject(fault, **options)
    portal, job = _job(pg_url, tmp_path, replicate, cloud, store_timeout=0.5, attempts=3)
    summary = job.run()
    assert summary.ok, summary.failures
    _published(portal, cloud)
    assert replicate.count("create") == 1  # the retry published the stored result; it did not regenerate


def test_cloudinary_failing_for_good_leaves_the_result_for_a_later_publish(pg_url, tmp_path, services):
    replicate, cloud = services
    cloud.inject("server_error", times=10)
    portal, job = _job(pg_url, tmp_path, replicate, cloud, attempts=2)
    job.run()
    row = portal.get_user("u00000")
    assert row.status == "failed" and row.error_kind == "server_error" and "Cloudinary" in row.error
    assert row.result_id is not None and row.depth_url is None


def test_the_database_connection_dropping_mid_run_is_survived(pg_url, tmp_path):
    make_portal(pg_url, write_avatars(tmp_path / "avatars", 40, size=48))
    cfg = portal_config(pg_url, tmp_path, retries=3)
    portal = Portal.open(cfg)
    job = GenerateMissingJob(
        portal, SyntheticBackend(latency_s=0.05), LocalDirectoryStore(tmp_path / "s"), cfg, publish=True, concurrency=4
    )
    killed = []

    def drop_connections() -> None:
        admin = create_engine(pg_url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
        db = pg_url.rsplit("/", 1)[1]
        for _ in range(3):
            time.sleep(0.3)
            with admin.connect() as conn:
                killed.append(
                    conn.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid()"
                        ),
                        {"db": db},
                    ).scalar_one()
                )
        admin.dispose()

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    summary = job.run()
    dropper.join()
    assert sum(killed) > 0  # connections really were cut while the job ran
    assert portal.status_counts()["published"] + len(summary.failures) == 40
    assert portal.status_counts()["published"] == 40, [(f.user_id, f.error_kind, f.message) for f in summary.failures]


@contextlib.contextmanager
def _tiny_disk(path: Path, size_kb: int):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a small tmpfs for the disk-full test: {done.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_in_the_local_store_fails_clearly_and_recovers(pg_url, tmp_path):
    make_portal(pg_url, write_avatars(tmp_path / "avatars", 2, size=48))
    cfg = portal_config(pg_url, tmp_path, retries=2)
    portal = Portal.open(cfg)
    with _tiny_disk(tmp_path / "disk", 64) as disk:  # room for two maps with their plates and mattes
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as fh:
            fh.write(b"\0" * 64 * 1024)
        store = LocalDirectoryStore(disk / "maps")
        summary = GenerateMissingJob(portal, SyntheticBackend(), store, cfg, publish=True).run()
        assert {f.error_kind for f in summary.failures} == {"disk_full"}
        row = portal.get_user("u00000")
        assert row.status == "failed" and "full" in row.error
        assert row.depth_url is None
        filler.unlink()  # the operator frees space; the failed users are retried
        again = GenerateMissingJob(portal, SyntheticBackend(), store, cfg, publish=True, include_failed=True).run()
        assert again.ok and portal.status_counts()["published"] == 2
