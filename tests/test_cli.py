"""The CLI as cron runs it: real subprocesses, exit codes, summaries, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from depthstudio.portal.repository import Portal
from depthstudio.portal.tables import results
from tests.helpers import make_portal, portal_config, write_avatars

REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], env_extra: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DEPTHSTUDIO_FAILPOINT"}
    env.update(PYTHONPATH=str(REPO), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "depthstudio", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _portal(tmp_path: Path, n: int) -> tuple[str, dict[str, str]]:
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, write_avatars(tmp_path / "avatars", n, size=48))
    env = {
        "DEPTHSTUDIO_PORTAL_URL": db,
        "DEPTHSTUDIO_FETCH_CROP_SIZE": "64",
        "DEPTHSTUDIO_JOB_BACKOFF_S": "0",
        "DEPTHSTUDIO_STORAGE_LOCAL_DIR": str(tmp_path / "store"),
        # a real portal needs the folder's public URL; the test's "web server" is the file system itself
        "DEPTHSTUDIO_STORAGE_LOCAL_PUBLIC_BASE_URL": (tmp_path / "store").resolve().as_uri(),
    }
    return db, env


def test_generate_missing_resumes_after_kill_without_redoing_finished_users(tmp_path):
    db, env = _portal(tmp_path, 1000)
    killed = _run(
        ["generate-missing", "--backend", "synthetic", "--concurrency", "4"],
        {**env, "DEPTHSTUDIO_FAILPOINT": "after_complete@400"},
    )
    assert killed.returncode == -signal.SIGKILL
    portal = Portal.open(portal_config(db, tmp_path))
    done_before = portal.status_counts()["generated"]
    assert 390 <= done_before < 1000
    resumed = _run(["generate-missing", "--backend", "synthetic", "--concurrency", "4", "--no-progress"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert "generate-missing:" in resumed.stdout
    assert portal.status_counts()["generated"] == 1000
    with portal.engine.connect() as conn:
        per_user = Counter(u for (u,) in conn.execute(select(results.c.user_id)))
    assert len(per_user) == 1000 and set(per_user.values()) == {1}  # nobody generated twice


def test_partial_failure_exit_code_and_reason_in_the_summary(tmp_path):
    _db, env = _portal(tmp_path, 4)
    (tmp_path / "avatars" / "avatar-00001.png").write_bytes(b"")
    out = _run(["generate-missing", "--backend", "synthetic", "--no-progress"], env)
    assert out.returncode == 3
    assert "u00001" in out.stdout and "empty" in out.stdout.lower()
    listed = _run(["users", "--status", "failed", "--json"], env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["u00001"] and rows[0]["error_kind"]


def test_dry_run_lists_and_changes_nothing(tmp_path):
    db, env = _portal(tmp_path, 3)
    out = _run(["generate-missing", "--backend", "synthetic", "--dry-run", "--limit", "2"], env)
    assert out.returncode == 0
    assert [line.split("\t")[0] for line in out.stdout.splitlines()] == ["u00000", "u00001"]
    assert Portal.open(portal_config(db, tmp_path)).status_counts()["missing"] == 3


def test_review_then_publish_writes_the_portal_column(tmp_path):
    db, env = _portal(tmp_path, 2)
    assert _run(["generate-missing", "--backend", "synthetic", "--no-progress"], env).returncode == 0
    assert _run(["review", "u00000", "--approve"], env).returncode == 0
    out = _run(["publish", "--no-progress"], env)
    assert out.returncode == 0 and "1 published" in out.stdout
    row = Portal.open(portal_config(db, tmp_path)).get_user("u00000")
    assert row.status == "published" and row.depth_url.startswith("file://")


def test_bad_config_is_a_clear_fatal_error(tmp_path):
    _, env = _portal(tmp_path, 1)
    out = _run(["users"], {**env, "DEPTHSTUDIO_PORTAL_TABLE": "Users"})
    assert out.returncode == 2
    assert "error: the users table 'Users' does not exist" in out.stderr and "Traceback" not in out.stderr


def test_config_show_masks_secrets(tmp_path):
    _, env = _portal(tmp_path, 1)
    token = "r8_SuperSecretToken1234567890"
    out = _run(
        ["config", "show"],
        {
            **env,
            "REPLICATE_API_TOKEN": token,
            "DEPTHSTUDIO_PORTAL_URL": "postgresql://ann:hunter2pass@db.example/portal",
        },
    )
    assert out.returncode == 0
    assert token not in out.stdout and "hunter2pass" not in out.stdout
    assert "r8_" in out.stdout and "***" in out.stdout


def test_render_user_is_what_the_web_shows_with_their_overrides(tmp_path):
    import numpy as np
    from PIL import Image

    from depthstudio.config import Config
    from depthstudio.jobs.demo_results import seed_demo
    from depthstudio.render.reference import prepare_textures, render
    from depthstudio.render.web_export import render_inputs

    cfg = Config()
    portal = Portal.open(cfg)
    seed_demo(portal, cfg)
    uid = next(r.id for r in portal.list_users() if r.name == "Grace Hopper")
    portal.set_overrides([uid], {"plane": 0.3, "multiplier": 0.8}, by="designer")
    out = tmp_path / "grace.png"
    done = _run(["render", uid, "-o", str(out), "--size", "96", "--pointer", "0.7,-0.2", "--renderer", "reference"], {})
    assert done.returncode == 0, done.stderr
    inputs = render_inputs(portal, uid)
    assert inputs.params.plane == 0.3
    expected = render(
        prepare_textures(inputs.photo, np.asarray(inputs.depth) / 255.0), inputs.params, (0.7, -0.2), 96, 96
    )
    got = np.asarray(Image.open(out).convert("RGB"))
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1

    plain = next(r.id for r in portal.list_users() if r.status == "missing")
    refused = _run(["render", plain, "-o", str(tmp_path / "x.png")], {})
    assert refused.returncode == 2 and "no depth map yet" in refused.stderr
