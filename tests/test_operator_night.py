"""The operator's night, through the installed ``depthstudio`` command as cron runs it: work is planned before a
model is built (a quiet night needs no network and exits 0), the environment's failures heal on later plain runs
with backoff and are given up after a few, the photo's failures wait for a new photo, and the summary is one line
per failure group with the held-back users and the flag that retries them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from depthstudio.portal.demo import placeholder_avatar
from tests.helpers import make_portal
from tests.servers.http_files import FileServer

REPO = Path(__file__).resolve().parent.parent


def _command() -> list[str]:
    """The console script pip installed beside this interpreter (what cron calls), else the module."""
    script = Path(sys.executable).with_name("depthstudio")
    found = shutil.which("depthstudio", path=str(script.parent)) if script.exists() else None
    return [found] if found else [sys.executable, "-m", "depthstudio"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DEPTHSTUDIO_FAILPOINT"}
    full.update(env)
    return subprocess.run([*_command(), *args], env=full, capture_output=True, text=True, timeout=300, cwd=REPO)


def _png(i: int) -> bytes:
    buf = io.BytesIO()
    placeholder_avatar(i, size=48).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def photos() -> Iterator[FileServer]:
    server = FileServer()
    with server.serving():
        yield server


def _night_portal(db: str, tmp_path: Path, server: FileServer, n: int) -> dict[str, str]:
    """A portal whose ``n`` photos are on an HTTP host at 127.0.0.1 that the fetch guard refuses until it is
    allowed (the configuration mistake of the issue): the env returned allows it."""
    urls = [server.add(f"/photos/u{i:05d}.png", body=_png(i), content_type="image/png") for i in range(n)]
    make_portal(db, urls, names=[f"Person {chr(65 + i)}" for i in range(n)])
    return {
        "DEPTHSTUDIO_PORTAL_URL": db,
        "DEPTHSTUDIO_FETCH_CROP_SIZE": "64",
        "DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS": "false",
        "DEPTHSTUDIO_FETCH_PRIVATE_HOSTS": f"127.0.0.1:{server.port}",
        "DEPTHSTUDIO_JOB_BACKOFF_S": "0",
        "DEPTHSTUDIO_JOB_RETRIES": "1",
        "DEPTHSTUDIO_JOB_HEAL_BACKOFF_S": "0",
        "DEPTHSTUDIO_STORAGE_LOCAL_DIR": str(tmp_path / "store"),
        "DEPTHSTUDIO_STORAGE_LOCAL_PUBLIC_BASE_URL": "https://cdn.example.org/depth",
    }


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'portal.sqlite3'}"


def test_a_quiet_night_builds_no_backend_and_exits_0(tmp_path, photos):
    db = _sqlite(tmp_path)
    env = _night_portal(db, tmp_path, photos, 3)
    first = run(["generate-missing", "--backend", "synthetic", "--publish", "--no-progress"], env)
    assert first.returncode == 0, first.stdout + first.stderr
    # The local backend cannot be built here (offline, no weights): a run that built it would exit 2.
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    quiet = run(["generate-missing", "--backend", "local", "--no-progress"], offline)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "generate-missing: nothing to do: 3 published, 0 awaiting review" in quiet.stdout
    assert "depth backend" not in quiet.stderr
    photos.add("/photos/u00003.png", body=_png(3), content_type="image/png")
    from tests.helpers import set_avatar

    set_avatar(db, "u00001", photos.url("/photos/u00003.png"))
    dry = run(["generate-missing", "--backend", "local", "--dry-run"], offline)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.split("\t")[0] == "u00001" and "1 users would be queued" in dry.stderr
    worked = run(["generate-missing", "--backend", "local", "--no-progress"], offline)
    assert worked.returncode == 2  # with work, the backend is built, and here it cannot be: the control case


def test_a_config_mistake_heals_on_the_next_plain_run_and_a_photo_fault_waits(tmp_path, photos):
    db = _sqlite(tmp_path)
    env = _night_portal(db, tmp_path, photos, 4)
    photos.add("/photos/u00003.png", body=b"gone", status=404, content_type="text/plain")
    mistaken = {k: v for k, v in env.items() if k != "DEPTHSTUDIO_FETCH_PRIVATE_HOSTS"}
    night1 = run(["generate-missing", "--backend", "synthetic", "--no-progress"], mistaken)
    assert night1.returncode == 3
    group = [line for line in night1.stdout.splitlines() if line.startswith("  private_address")]
    assert group == [
        "  private_address (environment): 4 failed, the avatar URL points into a private network: "
        "Person A (u00000), Person B (u00001), Person C (u00002), Person D (u00003)"
    ], night1.stdout
    both = night1.stdout + night1.stderr
    assert both.count("u00002") == 1  # once, in its group: not once per line printed as it happened

    night2 = run(["generate-missing", "--backend", "synthetic", "--no-progress", "--json"], env)  # fixed
    assert night2.returncode == 3
    report = json.loads(night2.stdout.splitlines()[-1])
    assert report["outcomes"] == {"generated": 3, "failed": 1}
    assert [(f["id"], f["kind"], f["fault"]) for f in report["failures"]] == [("u00003", "http_status", "photo")]

    night3 = run(["generate-missing", "--backend", "synthetic", "--no-progress"], env)
    assert night3.returncode == 0, night3.stdout + night3.stderr
    assert night3.stdout.splitlines() == [
        "generate-missing: nothing to do: 0 published, 3 awaiting review",
        "held back: 1 failed user(s): 1 for a fault of the photo (retried when the photo changes); "
        "--retry-failed retries them now",
    ]
    photos.add("/photos/u00003.png", body=_png(3), content_type="image/png")
    forced = run(["generate-missing", "--backend", "synthetic", "--no-progress", "--retry-failed"], env)
    assert forced.returncode == 0 and "1 generated" in forced.stdout, forced.stdout


def test_environment_failures_back_off_across_runs_then_are_given_up(tmp_path, photos):
    db = _sqlite(tmp_path)
    env = _night_portal(db, tmp_path, photos, 2)
    photos.add("/photos/u00001.png", body=b"busy", status=503, content_type="text/plain")
    night1 = run(["generate-missing", "--backend", "synthetic", "--no-progress"], env)
    assert night1.returncode == 3 and "  http_status (environment): 1 failed" in night1.stdout, night1.stdout

    waiting = run(
        ["generate-missing", "--backend", "synthetic", "--no-progress"],
        {**env, "DEPTHSTUDIO_JOB_HEAL_BACKOFF_S": "3600"},
    )
    assert waiting.returncode == 0
    assert "held back: 1 failed user(s): 1 waiting to retry (next after " in waiting.stdout, waiting.stdout

    night2 = run(
        ["generate-missing", "--backend", "synthetic", "--no-progress", "--json"],
        {**env, "DEPTHSTUDIO_JOB_HEAL_RUNS": "2"},
    )
    assert json.loads(night2.stdout.splitlines()[-1])["outcomes"] == {"failed": 1}  # retried on its own, failed again
    night3 = run(
        ["generate-missing", "--backend", "synthetic", "--no-progress"], {**env, "DEPTHSTUDIO_JOB_HEAL_RUNS": "2"}
    )
    assert night3.returncode == 0
    assert "1 given up after failing 2 runs in a row (fix the cause)" in night3.stdout, night3.stdout

    photos.add("/photos/u00001.png", body=_png(1), content_type="image/png")  # the host is back
    forced = run(["generate-missing", "--backend", "synthetic", "--no-progress", "--retry-failed"], env)
    assert forced.returncode == 0 and "1 generated" in forced.stdout, forced.stdout


def test_users_accepts_the_studios_words_for_statuses(tmp_path, photos):
    db = _sqlite(tmp_path)
    env = _night_portal(db, tmp_path, photos, 2)
    assert run(["generate-missing", "--backend", "synthetic", "--no-progress"], env).returncode == 0
    for words in (["awaiting"], ["awaiting review"], ["Awaiting-Review"], ["generated"]):
        listed = run(["users", "--json", *[a for w in words for a in ("--status", w)]], env)
        assert listed.returncode == 0, listed.stderr
        assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["u00000", "u00001"]
    shown = run(["users"], env).stdout.splitlines()
    assert shown[0] == "awaiting review: 2  (total 2)" and shown[1].split()[1:3] == ["awaiting", "review"], shown
    refused = run(["users", "--status", "waiting"], env)
    assert refused.returncode == 2 and "unknown status 'waiting'" in refused.stderr


def test_a_photo_overwritten_in_place_is_found_by_the_next_night_and_redone(tmp_path, photos):
    db = _sqlite(tmp_path)
    env = {**_night_portal(db, tmp_path, photos, 2), "DEPTHSTUDIO_FETCH_REVALIDATE_AFTER_S": "0"}
    assert run(["generate-missing", "--backend", "synthetic", "--publish", "--no-progress"], env).returncode == 0
    photos.add("/photos/u00001.png", body=_png(5), content_type="image/png")  # same URL, new photo
    dry = run(["generate-missing", "--backend", "synthetic", "--dry-run"], env)
    assert dry.stdout == ""  # a dry run asks no server and changes nothing
    night = run(["generate-missing", "--backend", "synthetic", "--publish", "--no-progress"], env)
    assert night.returncode == 0, night.stdout + night.stderr
    lines = night.stdout.splitlines()
    assert lines[0].startswith("generate-missing: 1 user in ") and ": 1 published" in lines[0], lines
    assert lines[1].startswith("photos changed in place: 1 (u00001): stale now and queued; 1 published map(s)")
    quiet = run(["generate-missing", "--backend", "synthetic", "--no-progress"], env)
    assert quiet.stdout.splitlines() == ["generate-missing: nothing to do: 2 published, 0 awaiting review"]


def _delete_user(db: str, user_id: str) -> None:
    from sqlalchemy import MetaData, create_engine, delete

    from depthstudio.portal.demo import portal_users_table

    engine = create_engine(db)
    table = portal_users_table(MetaData())
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id == user_id))
    engine.dispose()


def _portal_maps(db: str) -> dict[str, str | None]:
    from sqlalchemy import MetaData, create_engine, select

    from depthstudio.portal.demo import portal_users_table

    engine = create_engine(db)
    table = portal_users_table(MetaData())
    with engine.connect() as conn:
        maps = {uid: m for uid, m in conn.execute(select(table.c.id, table.c.avatarDepthMap))}
    engine.dispose()
    return maps


def test_a_week_of_nights_through_the_installed_command(db_url, tmp_path, photos):
    """Cron's view on SQLite and PostgreSQL: a configuration mistake then fixed, a photo gone (the photo's fault), a
    photo host outage while a photo is overwritten in place and a user joins, the host back, a quiet night with no
    model to load, and a user deleted from the portal. Every published URL points at a file the store holds."""
    env = {**_night_portal(db_url, tmp_path, photos, 4), "DEPTHSTUDIO_FETCH_REVALIDATE_AFTER_S": "0"}
    publish = ["generate-missing", "--backend", "synthetic", "--publish", "--no-progress", "--json"]
    mistaken = {k: v for k, v in env.items() if k != "DEPTHSTUDIO_FETCH_PRIVATE_HOSTS"}

    def night(run_env: dict[str, str], args: list[str] = publish) -> tuple[int, dict, list[str]]:
        out = run(args, run_env)
        lines = out.stdout.splitlines()
        return out.returncode, json.loads(lines[-1]) if "--json" in args else {}, lines

    rc, report, _ = night(mistaken)
    assert (
        rc == 3 and report["outcomes"] == {"failed": 4} and {f["fault"] for f in report["failures"]} == {"environment"}
    )

    photos.add("/photos/u00003.png", body=b"gone", status=404, content_type="text/plain")
    rc, report, _ = night(env)
    assert rc == 3 and report["outcomes"] == {"published": 3, "failed": 1}, report

    saved = dict(photos.routes)
    for path in [
        *saved,
        "/photos/u00004.png",
    ]:  # the photo host is down for the night (5xx), while u00000's photo is overwritten in place
        photos.add(path, body=b"down", status=503, content_type="text/plain")
    _add_user(db_url, "u00004", "Person E", photos.url("/photos/u00004.png"))
    rc, report, lines = night(env)
    assert rc == 3 and report["outcomes"] == {"failed": 1}, report["failures"]  # the new user; nobody else was touched
    assert [(f["id"], f["fault"]) for f in report["failures"]] == [("u00004", "environment")], report["failures"]
    assert any(line.startswith("photos not re-validated (tried again next run): 3 (3 http_status)") for line in lines)

    photos.routes.update(saved)
    photos.add("/photos/u00000.png", body=_png(9), content_type="image/png")
    photos.add("/photos/u00004.png", body=_png(4), content_type="image/png")
    rc, report, lines = night(env)
    assert rc == 0, lines
    assert report["outcomes"] == {"published": 2}, lines  # the changed photo redone, the outage healed by itself
    assert any(line.startswith("photos changed in place: 1 (u00000)") for line in lines)
    assert any("1 for a fault of the photo" in line for line in lines)

    offline = {**env, "HF_HUB_OFFLINE": "1"}
    rc, _, lines = night(offline, ["generate-missing", "--backend", "local", "--no-progress"])
    assert rc == 0 and lines[0] == "generate-missing: nothing to do: 4 published, 0 awaiting review", lines

    _delete_user(db_url, "u00002")
    rc, _, lines = night(offline, ["generate-missing", "--backend", "local", "--no-progress"])
    assert rc == 0 and lines[0] == "generate-missing: nothing to do: 3 published, 0 awaiting review", lines
    listed = run(["users", "--json", "--limit", "10"], env)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["u00000", "u00001", "u00003", "u00004"]

    maps = _portal_maps(db_url)
    assert maps["u00003"] is None and all(maps[u] for u in ("u00000", "u00001", "u00004"))
    stored = {p.name for p in (tmp_path / "store").glob("*.png")}
    assert {m.rsplit("/", 1)[1] for m in maps.values() if m} <= stored  # nothing published points at nothing


def _add_user(db: str, user_id: str, name: str, avatar: str) -> None:
    from sqlalchemy import MetaData, create_engine, insert

    from depthstudio.portal.demo import portal_users_table

    engine = create_engine(db)
    table = portal_users_table(MetaData())
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=user_id, name=name, email=f"{user_id}@example.org", avatar=avatar))
    engine.dispose()
