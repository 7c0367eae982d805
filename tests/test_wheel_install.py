"""The product as a user installs it: build the wheel, install it into a fresh virtualenv with a fresh HOME, leave the
checkout, and use it. Runs under CI=true (or DEPTHSTUDIO_WHEEL_TEST=1); it takes about a minute.

To stay quick the fresh virtualenv layers on the site-packages of the interpreter running the tests (a .pth line
per folder) for the third-party dependencies; depthstudio itself comes only from the built wheel, which the first
check proves.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SAMPLE_NAMES = {"Eileen Collins", "Grace Hopper", "Cameraman (CC0)", "Chelsea the Cat"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("DEPTHSTUDIO_WHEEL_TEST")),
        reason="the wheel smoke test runs under CI=true (or DEPTHSTUDIO_WHEEL_TEST=1)",
    ),
]


@dataclass
class Installed:
    root: Path
    python: Path
    env: dict[str, str]
    cwd: Path
    report: list[str]

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "bin" / "depthstudio"), *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _layered_site_dirs() -> list[str]:
    dirs = [*site.getsitepackages(), *(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
    # A folder on the path that holds depthstudio itself (the checkout) is left out; a venv inside the checkout is
    # fine: its editable-install hook is a .pth file, which a folder named in a .pth line does not run.
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir() and not (Path(d) / "depthstudio").exists()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    report: list[str] = []
    started = time.monotonic()
    # Build from a copy of the working tree's files (tracked or new, not ignored): a stale build/ folder in the
    # checkout could otherwise put deleted files into the wheel, and the checkout stays untouched.
    listed = (
        subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    source = tmp / "source"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(tmp / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("depthstudio-*.whl")
    report.append(
        f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB, built in {time.monotonic() - started:.1f} s"
    )
    started = time.monotonic()
    root = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (site_dir,) = (root / "lib").glob("python3*/site-packages")
    (site_dir / "_layered_dependencies.pth").write_text("\n".join(_layered_site_dirs()) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q"]
    subprocess.run([*pip, "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True)
    report.append(f"installed into a fresh virtualenv in {time.monotonic() - started:.1f} s")
    home, cwd = tmp / "home", tmp / "elsewhere"
    home.mkdir()
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPTHSTUDIO_", "PYTHON", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", HF_HUB_OFFLINE="1")
    yield Installed(root, root / "bin" / "python", env, cwd, report)
    print("\n".join(["", "wheel smoke test:", *report]))
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "wheel-smoke.txt").write_text("\n".join(report) + "\n")


def test_the_package_comes_from_the_wheel_with_its_data(installed):
    out = subprocess.run(
        [
            str(installed.python),
            "-c",
            "import depthstudio.resources as r; print(r.__file__); print(r.resource('shaders'))",
        ],
        env=installed.env,
        cwd=installed.cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    module, shaders = out.stdout.split()
    assert Path(module).is_relative_to(installed.root) and Path(shaders).is_relative_to(installed.root)
    assert (Path(shaders) / "parallax.frag").is_file()
    installed.report.append(f"ok: depthstudio and its shaders load from {installed.root.name}/, not the checkout")


def test_users_lists_the_four_samples(installed):
    out = installed.run("users", "--json", "--limit", "100")
    assert out.returncode == 0, out.stderr
    names = {json.loads(line)["name"] for line in out.stdout.splitlines()}
    assert names >= SAMPLE_NAMES
    installed.report.append(f"ok: `depthstudio users` lists {len(names)} demo users, the 4 samples among them")


def _sample_id(installed: Installed, name: str) -> str:
    out = installed.run("users", "--json", "--search", name)
    return next(json.loads(line)["id"] for line in out.stdout.splitlines() if json.loads(line)["name"] == name)


def test_render_a_sample_as_an_animated_gif(installed):
    gif = installed.cwd / "out.gif"
    out = installed.run("render", _sample_id(installed, "Grace Hopper"), "-o", str(gif))
    assert out.returncode == 0, out.stderr
    with Image.open(gif) as img:
        assert img.format == "GIF" and img.n_frames > 1
        frames = img.n_frames
    installed.report.append(f"ok: `render USER -o out.gif`: {frames} frames, {gif.stat().st_size / 1e3:.0f} kB")


def test_export_web_all(installed):
    out_dir = installed.cwd / "web"
    out = installed.run("export-web", "--all", "-o", str(out_dir))
    assert out.returncode == 0, out.stderr
    index = (out_dir / "index.html").read_text(encoding="utf-8")
    assert "Grace Hopper" in index and (out_dir / "depthstudio-viewer.js").is_file()
    installed.report.append(f"ok: `export-web --all -o DIR`: {len(list(out_dir.iterdir()))} entries")


@pytest.mark.postgres
def test_db_upgrade_on_a_fresh_postgresql_database(installed, pg_url):
    from tests.helpers import make_portal

    make_portal(pg_url, ["https://portal.example.com/a.png"])
    out = installed.run("--portal-url", pg_url, "db", "upgrade")
    assert out.returncode == 0 and "upgraded" in out.stdout, out.stderr
    assert installed.run("--portal-url", pg_url, "db", "status").returncode == 0
    installed.report.append(f"ok: `db upgrade` on a fresh PostgreSQL database: {out.stdout.strip()}")


@pytest.mark.gl
def test_the_studio_draws_a_sample_in_3d_like_the_reference(installed):
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        pytest.fail("no display: run the tests under xvfb-run -a")
    shot = REPO / "artifacts" / "wheel-studio.png"
    shot.parent.mkdir(exist_ok=True)
    script = REPO / "tests" / "wheel" / "studio_frame.py"
    out = subprocess.run(
        [str(installed.python), str(script), str(shot)],
        env=installed.env,
        cwd=installed.cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["package"]).is_relative_to(installed.root) and not result["gl_error"]
    assert result["moved_vs_still"] > 1.0, "the frame does not move with the pointer: no 3D"
    assert result["mean_diff"] < 0.5 and result["p995_diff"] <= 8, result
    installed.report.append(
        f"ok: studio on the demo draws {result['user']} in 3D at {result['size']}: mean |frame - numpy reference| "
        f"{result['mean_diff']:.3f}, 99.5th percentile {result['p995_diff']:.0f} (artifacts/wheel-studio.png)"
    )


def test_the_wheel_holds_every_tracked_shader_and_resource(installed):
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "shaders", "resources"], capture_output=True, text=True, check=True
    ).stdout.split()
    (wheel,) = Path(installed.root).parent.joinpath("dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {"shaders": "depthstudio/_shaders", "resources": "depthstudio/_resources"}
    missing = [f for f in tracked if packaged[f.split("/")[0]] + f[f.index("/") :] not in names]
    assert not missing
    assert "depthstudio/portal/migrations/script.py.mako" in names


# --- the server install: no Qt, no OpenGL ---------------------------------------------------------------------

QT_AND_GL = ("PySide6", "shiboken6", "OpenGL", "pyside6", "PyOpenGL")


def _without_qt(site_dirs: list[str], farm: Path) -> list[str]:
    """Each dependency folder as a folder of links to everything in it except Qt and OpenGL: as if never installed."""
    views = []
    for i, d in enumerate(site_dirs):
        view = farm / f"site{i}"
        view.mkdir(parents=True)
        for entry in Path(d).iterdir():
            if not entry.name.startswith(QT_AND_GL) and not entry.name.endswith(".pth"):
                (view / entry.name).symlink_to(entry)
        views.append(str(view))
    return views


def test_a_server_install_without_qt_runs_generate_missing_and_a_worker(installed, tmp_path):
    from tests.helpers import make_portal, write_avatars

    (wheel,) = installed.root.parent.joinpath("dist").glob("*.whl")
    root = tmp_path / "server-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (site_dir,) = (root / "lib").glob("python3*/site-packages")
    views = _without_qt(_layered_site_dirs(), tmp_path / "deps")
    (site_dir / "_layered_dependencies.pth").write_text("\n".join(views) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(root / "bin" / "python"), "install", "-q"]
    subprocess.run([*pip, "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True)
    python = str(root / "bin" / "python")
    for module in ("PySide6", "OpenGL"):
        probe = subprocess.run([python, "-c", f"import {module}"], env=installed.env, capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    db = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    make_portal(db, write_avatars(tmp_path / "avatars", 6, size=48))
    env = {**installed.env, "DEPTHSTUDIO_PORTAL_URL": db, "DEPTHSTUDIO_FETCH_ALLOW_LOCAL_PATHS": "true"}
    env["DEPTHSTUDIO_FETCH_CROP_SIZE"] = "64"
    cli = [str(root / "bin" / "depthstudio")]
    gen = subprocess.run(
        [*cli, "generate-missing", "--backend", "synthetic", "--limit", "3", "--no-progress"],
        env=env, cwd=installed.cwd, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert gen.returncode == 0 and "3 generated" in gen.stdout, gen.stderr
    from depthstudio.config import Config, PortalConfig
    from depthstudio.portal.job_queue import JobQueue
    from depthstudio.portal.repository import Portal

    portal = Portal.open(Config(portal=PortalConfig(url=db)))
    JobQueue(portal).enqueue(portal.ids_needing_depth())
    portal.close()
    worker = subprocess.run(
        [*cli, "worker", "--backend", "synthetic", "--until-empty"],
        env=env, cwd=installed.cwd, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    portal = Portal.open(Config(portal=PortalConfig(url=db)))
    assert portal.status_counts()["generated"] == 6
    portal.close()
    installed.report.append("ok: without PySide6 and PyOpenGL, `generate-missing` and `worker --until-empty` ran")


def test_zz_a_broken_install_names_the_missing_file(installed):
    """Last in the module: it breaks the shared installation on purpose."""
    (viewer,) = installed.root.glob("lib/python3*/site-packages/depthstudio/_resources/web/depthstudio-viewer.js")
    viewer.unlink()
    out = installed.run("export-web", "--all", "-o", str(installed.cwd / "web-broken"))
    assert out.returncode == 2 and "resources/web/depthstudio-viewer.js is missing" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    installed.report.append(f"ok: a broken install fails with one sentence: {out.stderr.strip()[:110]}…")
