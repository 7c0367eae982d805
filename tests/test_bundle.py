"""The editors' bundle (issue 29) as an editor gets it: build it once from the wheel (scripts/build_bundle.py, the
same script a release runs), start it on a screen of its own (Xvfb, 1366x768) with a fresh HOME and a clean
environment (no virtualenv, no PYTHON* variables, PATH=/usr/bin:/bin), and run its CLI on the demo portal.

Runs under CI=true (or DEPTHSTUDIO_TEST_BUNDLE=1); the build is most of its time. It uses this interpreter's
installed packages (``--reuse-site-packages``) so CI downloads nothing twice; the size and start-up budgets are the
build's printed figures (artifacts/bundle-build.json), not assertions here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from scripts.build_bundle import clean_env, loads_aligned

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
SAMPLE_NAMES = {"Eileen Collins", "Grace Hopper", "Cameraman (CC0)", "Chelsea the Cat"}
SCREEN = (1366, 768)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("DEPTHSTUDIO_TEST_BUNDLE")),
        reason="the bundle test runs under CI=true (or DEPTHSTUDIO_TEST_BUNDLE=1)",
    ),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle test drives Xvfb"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    build = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_bundle.py"), "--reuse-site-packages", "--no-start-check",
         "--report-only", "--compress-level", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    figures = json.loads(build.stdout.strip().splitlines()[-1])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bundle-build.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(f"\nbundle: built in {figures['build_s']} s, {figures['unpacked_mb']} MB unpacked, {figures['failures']}")
    return out / "depthstudio"


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A screen of an editor's laptop size; Xvfb writes its display number to the pipe once it accepts clients."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        number = ready.readline().strip()
    assert number, "Xvfb did not start"
    yield f":{number}"
    server.terminate()
    server.wait(timeout=30)


def run_cli(bundle: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bundle / "depthstudio"), *args], env=clean_env(home), cwd=home, capture_output=True, text=True, timeout=180
    )


def test_the_bundle_holds_onnx_runtime_the_data_and_a_launcher_but_no_torch(bundle):
    internal = bundle / "_internal"
    assert (internal / "onnxruntime").is_dir()
    assert (internal / "depthstudio" / "_shaders" / "parallax.frag").is_file()
    assert (internal / "depthstudio" / "_resources" / "web" / "depthstudio-viewer.js").is_file()
    assert (internal / "depthstudio" / "portal" / "migrations" / "env.py").is_file()
    assert not [p for p in internal.iterdir() if p.name.startswith(("torch", "transformers"))]
    # hf_xet is left out, its metadata too: huggingface_hub would otherwise take the Xet download path and fail.
    assert not [p for p in internal.iterdir() if p.name.startswith("hf_xet")]
    entry = (bundle / "depthstudio.desktop").read_text(encoding="utf-8")
    assert "Exec=depthstudio studio" in entry and (bundle / "depthstudio.svg").is_file()
    assert list(bundle.parent.glob("depthstudio-*-linux-*.tar.gz"))


def test_the_studio_opens_on_the_demo_portal_and_draws_in_3d(bundle, display, tmp_path):
    shot = ARTIFACTS / "bundle-studio.png"
    ARTIFACTS.mkdir(exist_ok=True)
    shot.unlink(missing_ok=True)
    env = {**clean_env(tmp_path / "home", display), "DEPTHSTUDIO_FIRST_FRAME": str(shot)}
    out = subprocess.run(
        [str(bundle / "depthstudio")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("FIRST_FRAME ")]
    _, _, moved, user = line.split(maxsplit=3)
    assert user in SAMPLE_NAMES  # the demo opens on a sample that has a depth map
    assert float(moved) > 1.0, "the frame does not move with the pointer: no 3D"
    with Image.open(shot) as img:
        assert img.size == SCREEN
        assert max(ImageStat.Stat(img.convert("L")).stddev) > 20  # a drawn window, not an empty screen


def test_the_cli_lists_the_demo_users_and_generates_and_serves_for_cron(bundle, tmp_path):
    home = tmp_path / "home"
    users = run_cli(bundle, home, "users", "--json", "--limit", "100")
    assert users.returncode == 0, users.stderr
    assert {json.loads(line)["name"] for line in users.stdout.splitlines()} >= SAMPLE_NAMES
    gen = run_cli(bundle, home, "generate-missing", "--backend", "synthetic", "--limit", "3", "--no-progress")
    assert gen.returncode == 0 and "3 generated" in gen.stdout, gen.stderr
    worker = run_cli(bundle, home, "worker", "--backend", "synthetic", "--until-empty")
    assert worker.returncode == 0 and "worker:" in worker.stdout, worker.stderr
    doctor = run_cli(bundle, home, "models", "doctor")
    assert doctor.returncode == 0 and "onnxruntime" in doctor.stdout, doctor.stderr


def test_the_bundle_renders_a_gif_and_asks_for_ffmpeg_only_for_mp4(bundle, tmp_path):
    """GIF export needs nothing outside the bundle; MP4 uses the system's ffmpeg (the bundle leaves imageio-ffmpeg's
    own binary out), and without one it says what to install instead of a traceback."""
    home = tmp_path / "home"
    users = run_cli(bundle, home, "users", "--json", "--search", "Grace Hopper")
    (user,) = [json.loads(line)["id"] for line in users.stdout.splitlines()]
    gif = run_cli(bundle, home, "render", user, "-o", str(tmp_path / "out.gif"))
    assert gif.returncode == 0, gif.stderr[-2000:]
    with Image.open(tmp_path / "out.gif") as img:
        assert img.n_frames > 1
    mp4 = run_cli(bundle, home, "render", user, "-o", str(tmp_path / "out.mp4"))
    if shutil.which("ffmpeg", path="/usr/bin:/bin"):
        assert mp4.returncode == 0 and (tmp_path / "out.mp4").stat().st_size > 0, mp4.stderr[-2000:]
    else:
        assert mp4.returncode != 0 and "Traceback" not in mp4.stderr, mp4.stderr[-2000:]
        assert "MP4 export needs ffmpeg" in mp4.stderr and "IMAGEIO_FFMPEG_EXE" in mp4.stderr, mp4.stderr
        assert not (tmp_path / "out.mp4").exists()


def test_desktop_entry_install_from_the_bundle_starts_the_bundle(bundle, tmp_path):
    home = tmp_path / "home"
    out = run_cli(bundle, home, "desktop-entry", "install")
    assert out.returncode == 0, out.stderr
    entry = (home / ".local" / "share" / "applications" / "depthstudio.desktop").read_text(encoding="utf-8")
    assert f"Exec={bundle / 'depthstudio'} studio\n" in entry  # the executable itself: no interpreter, no -m
    for desktop in (home / ".local" / "share" / "applications" / "depthstudio.desktop", bundle / "depthstudio.desktop"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout


def _libraries(internal: Path) -> list[Path]:
    return [p for p in internal.rglob("*") if ".so" in p.name and p.is_file() and not p.is_symlink()]


def test_every_library_left_in_the_stripped_bundle_loads_and_finds_its_dependencies(bundle):
    """The size cuts (strip, dropped Qt plugins and libraries) break nothing the loader needs, on every code path, not
    only those the studio and CLI tests run: each library's segments stay loadable, and each library it names
    (DT_NEEDED) is in the bundle or on the system."""
    internal = bundle / "_internal"
    libraries = _libraries(internal)
    figures = json.loads((ARTIFACTS / "bundle-build.json").read_text())
    assert figures["stripped_mb"] > 10  # the strip pass ran
    assert not [p.name for p in libraries if not loads_aligned(p)]
    system = set(
        re.findall(r"^\s+(\S+) \(", subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout, re.M)
    )
    present = {p.name for p in internal.rglob("*") if ".so" in p.name} | system
    missing: dict[str, str] = {}
    for library in libraries:
        dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True).stdout
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic):
            if needed not in present:
                missing[needed] = library.relative_to(internal).as_posix()
    assert not missing, missing
