"""Build the editors' desktop bundle: one folder (and a .tar.gz / .zip) that runs the studio and the CLI with no
Python installed, then print its figures against the budgets of issue 29.

    python scripts/build_bundle.py                        # wheel from this checkout, fresh venv from PyPI
    python scripts/build_bundle.py --wheel dist/depthstudio-0.1.0-py3-none-any.whl
    python scripts/build_bundle.py --reuse-site-packages  # no downloads: the dependencies of this interpreter

Why PyInstaller (not Briefcase): it freezes an ordinary virtualenv in which the *wheel* is installed, so the bundle
holds exactly what ``pip install`` gives a user, one-folder mode starts without unpacking to a temporary directory,
and one spec builds on Linux, macOS (a ``.app``) and Windows (an ``.exe``). Briefcase builds from its own project
description and, on Linux, wants a system package or a Flatpak/AppImage toolchain per target.

The bundle holds no torch: the local runtime is ONNX Runtime, a core dependency; the ``local`` extra (torch,
transformers) is neither installed nor collected. It holds psycopg (the ``postgres`` extra) for operators' cron jobs.
Left out to keep it small: imageio-ffmpeg's own ffmpeg (170 MB; MP4 export uses the system's ffmpeg, or the one
``IMAGEIO_FFMPEG_EXE`` names; ``--with-ffmpeg`` keeps it), Qt's translations (the studio is English), Qt's GTK
platform theme with the GTK stack it pulls in, and hf_xet (huggingface_hub downloads over plain HTTP without it).

Strip: every library and extension module of the bundle is run through ``strip --strip-unneeded`` (Linux, about 48
MB less; ``--no-strip`` keeps the symbols for debugging C code), except where stripping would leave segments the
loader refuses (libraries auditwheel patched with patchelf: numpy's OpenBLAS).

Figures printed: build seconds; the unpacked size (budget ``--max-mb``, the build fails above it) and where it goes
(the 15 largest top-level entries of the library folder, every shared library over 2 MB); cold start to
the first 3D frame of the bundle and of the wheel, both on a fresh HOME, on this machine, in this run (budget
``--max-start-ratio``; needs a display: run under ``xvfb-run -a`` on a server). The last line is JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import site
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENTRY = REPO / "packaging" / "bundle_main.py"
NAME = "depthstudio"

# Never collected: torch and the training-side packages (the bundle's runtime is ONNX Runtime), test tools, Tk.
EXCLUDED_MODULES = [
    "torch", "torchvision", "transformers", "onnx", "onnxscript", "hf_xet",
    "tkinter", "_tkinter", "pytest", "_pytest", "IPython", "matplotlib", "scipy",
    # Stdlib that only developers run; the studio and the CLI import none of it.
    "lib2to3", "idlelib", "ensurepip", "pydoc_data", "test",
    # Qt modules the studio does not import (it uses QtCore, QtGui, QtWidgets, QtOpenGL(Widgets)); with QtNetwork go
    # its libQt6Network and its tls/networkinformation plugins.
    "PySide6.QtNetwork", "PySide6.QtDBus",
]  # fmt: skip
# Dropped from what PyInstaller's hooks collect (paths inside the bundle, "/"-separated). The GTK platform theme
# only restyles Qt's file dialogs on GNOME; with it go the GTK libraries nothing else in the bundle loads.
# hf_xet's metadata goes with its module: huggingface_hub asks importlib.metadata whether hf_xet is there, and would
# take the Xet path (and fail) instead of plain HTTP.
DROPPED_PREFIXES = [
    "PySide6/Qt/translations/",
    "PySide6/Qt/plugins/platformthemes/libqgtk3",
    "hf_xet-",
    # The studio runs on X11 (xcb; under Wayland, Qt falls back to XWayland): no Wayland, EGLFS, framebuffer, VNC or
    # Vulkan-display platforms, no evdev/TUIO input, no Qt image formats the studio never hands to Qt (it decodes
    # avatars with Pillow/OpenCV; Qt reads its own PNG, JPEG, GIF, ICO and the SVG icons).
    "PySide6/Qt/plugins/wayland-", "PySide6/Qt/plugins/egldeviceintegrations/", "PySide6/Qt/plugins/generic/",
    "PySide6/Qt/plugins/platforms/libqwayland", "PySide6/Qt/plugins/platforms/libqeglfs",
    "PySide6/Qt/plugins/platforms/libqlinuxfb", "PySide6/Qt/plugins/platforms/libqvnc",
    "PySide6/Qt/plugins/platforms/libqvkkhrdisplay", "PySide6/Qt/plugins/platforms/libqminimalegl",
    "PySide6/Qt/plugins/imageformats/libqtiff", "PySide6/Qt/plugins/imageformats/libqwebp",
    "PySide6/Qt/plugins/imageformats/libqicns", "PySide6/Qt/plugins/imageformats/libqtga",
    "PySide6/Qt/plugins/imageformats/libqwbmp",
    # The Python binding of QtOpenGL (9 MB): PyInstaller takes it as a dependency of QtOpenGLWidgets, but the studio
    # draws with PyOpenGL and imports no QtOpenGL class; the Qt library (libQt6OpenGL) stays, QOpenGLWidget needs it.
    "PySide6/QtOpenGL.",
]  # fmt: skip
# importlib.metadata reads a distribution's METADATA and entry points (keyring finds its backends there); the
# installer's file list is for pip alone.
DROPPED_SUFFIXES = [".dist-info/RECORD"]
DROPPED_LIBRARIES = [
    "libgtk-3.so", "libgdk-3.so", "libgdk_pixbuf-2.0.so", "libatk-1.0.so", "libatk-bridge-2.0.so", "libatspi.so",
    "libcairo-gobject.so", "libcairo.so", "libpango-1.0.so", "libpangocairo-1.0.so", "libpangoft2-1.0.so",
    "libepoxy.so", "libthai.so", "libdatrie.so", "libpixman-1.so",
    # Only the dropped Wayland and EGLFS plugins (and the excluded QtNetwork: no library in the bundle needs it) load
    # these.
    "libQt6Network.so",
    "libQt6WaylandClient.so", "libQt6WlShellIntegration.so", "libQt6WaylandEglClientHwIntegration.so",
    "libQt6EglFSDeviceIntegration.so", "libQt6EglFsKmsSupport.so", "libwayland-",
]  # fmt: skip
FFMPEG_PREFIX = "imageio_ffmpeg/binaries/"

SPEC = """\
# Written by scripts/build_bundle.py; PyInstaller runs it with the build virtualenv's interpreter.
import sys
from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

# The CLI imports its command modules by name (depthstudio.cli.COMMAND_MODULES), so every module is named here.
# PyOpenGL picks its platform module (glx, egl, ...) and its array handlers by name at run time.
hidden = collect_submodules("depthstudio") + collect_submodules("OpenGL.platform") + collect_submodules("OpenGL.arrays")
datas = (
    collect_data_files("depthstudio")  # shaders, web viewer, demo portal, icons (depthstudio._shaders/_resources)
    + collect_data_files("depthstudio.portal.migrations", include_py_files=True)  # Alembic reads them as files
    + copy_metadata("depthstudio", recursive=True)  # importlib.metadata: versions in About and doctor
)
dropped = {dropped!r}
libraries = {libraries!r}
suffixes = {suffixes!r}


def keep(entry):
    dest = entry[0].replace("\\\\", "/")
    base = dest.rsplit("/", 1)[-1]
    return not (dest.startswith(tuple(dropped)) or dest.endswith(tuple(suffixes)) or base.startswith(tuple(libraries)))


a = Analysis([{entry!r}], hiddenimports=hidden, datas=datas, excludes={excludes!r})
a.binaries = [b for b in a.binaries if keep(b)]
a.datas = [d for d in a.datas if keep(d)]
pyz = PYZ(a.pure)
# A console executable on every system: the same file is the cron job's CLI, whose output must reach a terminal.
exe = EXE(pyz, a.scripts, [], exclude_binaries=True, name={name!r}, console=True, upx=False)
coll = COLLECT(exe, a.binaries, a.datas, name={name!r}, upx=False)
if sys.platform == "darwin":
    app = BUNDLE(coll, name={name!r} + ".app", bundle_identifier="org.depthstudio.studio")
"""


def run(command: list[str], **kwargs: object) -> None:
    print("+", " ".join(str(c) for c in command), flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def build_wheel(work: Path) -> Path:
    """The wheel of this checkout's files (tracked or new, not ignored), built from a copy: a stale build/ folder in
    the checkout can never leak into it."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True
    ).stdout.decode()
    source = work / "source"
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    # Without build isolation where setuptools is here (no download); a bare interpreter builds in isolation.
    isolation = ["--no-build-isolation"] if _has("setuptools") else []
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(work / "wheel"), str(source)])
    (wheel,) = (work / "wheel").glob(f"{NAME}-*.whl")
    return wheel


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _site_dirs() -> list[str]:
    """This interpreter's package folders, less any that holds depthstudio itself (a checkout on the path)."""
    dirs = [*site.getsitepackages(), *(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))]
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir() and not (Path(d) / NAME).exists()]


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_env(venv: Path, wheel: Path, reuse: bool) -> Path:
    """A fresh virtualenv holding the wheel (with the ``postgres`` extra) and PyInstaller, and nothing from ``local``.

    ``reuse``: instead of downloading the dependencies, layer this interpreter's package folders under the venv (one
    .pth line each) and install only the wheel; PyInstaller then comes from here too. Torch may be in those
    folders (a developer's environment); it is excluded from the analysis all the same.
    """
    python = venv_python(venv)
    if reuse:
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        (site_dir,) = (p for p in venv.glob("**/site-packages") if p.is_dir())
        (site_dir / "_layered_dependencies.pth").write_text("\n".join(_site_dirs()) + "\n")
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
        run([*pip, "--no-deps", "--no-index", "--ignore-installed", str(wheel)])
    else:
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(python), "-m", "pip", "install", "-q", f"{wheel}[postgres]", "pyinstaller>=6.10"])
    return python


def run_pyinstaller(python: Path, work: Path, dist: Path, with_ffmpeg: bool) -> Path:
    dropped = [*DROPPED_PREFIXES, *([] if with_ffmpeg else [FFMPEG_PREFIX])]
    spec = work / f"{NAME}.spec"
    spec.write_text(
        SPEC.format(
            entry=str(ENTRY),
            excludes=EXCLUDED_MODULES,
            dropped=dropped,
            libraries=DROPPED_LIBRARIES,
            suffixes=DROPPED_SUFFIXES,
            name=NAME,
        )
    )
    # A fresh work folder each time, so no --clean; no UPX: compressed Qt libraries load slower and break signing.
    # Run from the work folder: from the checkout, ``python -m`` would put the checkout's depthstudio (which has no
    # _shaders/_resources packages) ahead of the wheel's.
    run([
        str(python), "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", str(dist), "--workpath", str(work / "pyinstaller"), str(spec),
    ], cwd=work)  # fmt: skip
    return dist / (f"{NAME}.app" if sys.platform == "darwin" else NAME)


def loads_aligned(path: Path) -> bool:
    """Whether every PT_LOAD segment of a 64-bit little-endian ELF file keeps (vaddr - offset) page- and
    p_align-aligned, which the dynamic loader demands. ``strip`` breaks this in libraries that auditwheel patched
    with patchelf (numpy's OpenBLAS: "ELF load command address/offset not page-aligned")."""
    data = path.read_bytes()
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, offset, vaddr, _, _, _, align = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and ((vaddr - offset) % 4096 or (align > 1 and (vaddr - offset) % align)):
            return False
    return True


def strip_libraries(bundle: Path) -> tuple[int, list[str]]:
    """``strip --strip-unneeded`` every ELF library and extension module in the bundle's library folder (the
    executable keeps its appended archive untouched); a stripped copy replaces the original only where its segments
    still load (:func:`loads_aligned`). Symbols dropped are those no other object links against: debuggers and
    tracebacks of C code lose names, Python tracebacks keep theirs. Returns the bytes saved and the files kept
    unstripped because stripping would break them. Linux only (macOS and Windows binaries are signed or
    already stripped)."""
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return 0, []
    saved, kept = 0, []
    for path in sorted((bundle / "_internal").rglob("*")):
        if path.is_symlink() or not path.is_file() or ".so" not in path.name:
            continue
        with path.open("rb") as head:
            if head.read(6) != b"\x7fELF\x02\x01":
                continue
        stripped = path.with_name(path.name + ".stripped")
        done = subprocess.run([strip, "--strip-unneeded", "-o", str(stripped), str(path)], capture_output=True)
        if done.returncode != 0 or not stripped.is_file():
            stripped.unlink(missing_ok=True)
            continue
        before, after = path.stat().st_size, stripped.stat().st_size
        if after < before and loads_aligned(stripped):
            shutil.copymode(path, stripped)
            os.replace(stripped, path)
            saved += before - after
        else:
            if after < before:
                kept.append(path.relative_to(bundle).as_posix())
            stripped.unlink()
    return saved, kept


def executable(bundle: Path) -> Path:
    if sys.platform == "darwin":
        return bundle / "Contents" / "MacOS" / NAME
    return bundle / (f"{NAME}.exe" if os.name == "nt" else NAME)


def add_launcher(bundle: Path, python: Path) -> None:
    """The freedesktop entry and icon beside the executable, written by the wheel's own code (depthstudio.desktop),
    for a system-wide install with the executable on PATH; ``depthstudio desktop-entry install`` run from the
    bundle writes a per-user one that names the executable's full path."""
    code = (
        "import sys; from depthstudio.desktop import desktop_entry; "
        f"sys.stdout.write(desktop_entry([{NAME!r}, 'studio']))"
    )
    entry = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    (bundle / f"{NAME}.desktop").write_text(entry, encoding="utf-8")
    (icon,) = bundle.glob(f"_internal/{NAME}/_resources/icons/{NAME}.svg")
    shutil.copyfile(icon, bundle / f"{NAME}.svg")


def archive(bundle: Path, out: Path, version: str, level: int) -> Path:
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    stem = f"{NAME}-{version}-{system}-{platform.machine().lower()}"
    if sys.platform.startswith("linux"):
        target = out / f"{stem}.tar.gz"
        with tarfile.open(target, "w:gz", compresslevel=level) as tar:
            tar.add(bundle, arcname=NAME)
        return target
    return Path(shutil.make_archive(str(out / stem), "zip", bundle.parent, bundle.name))


def unpacked_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def itemise(bundle: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Where the unpacked bytes go: each top-level entry of the bundle's library folder (a package, a ``.libs``
    folder of a wheel, a loose library) with its size, largest first, and every shared library over 2 MB (path
    relative to that folder). Symlinks count nothing, as in :func:`unpacked_bytes`."""
    internal = next((p for p in (bundle / "_internal", bundle / "Contents" / "Frameworks") if p.is_dir()), bundle)
    tops: dict[str, int] = {}
    large: list[tuple[str, int]] = []
    for path in internal.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.lstat().st_size
        relative = path.relative_to(internal).as_posix()
        top = relative.split("/", 1)[0]
        tops[top] = tops.get(top, 0) + size
        if size > 2_000_000 and (".so" in path.name or path.suffix in (".dylib", ".dll", ".pyd")):
            large.append((relative, size))
    by_size = sorted(tops.items(), key=lambda item: -item[1])
    return by_size, sorted(large, key=lambda item: -item[1])


def print_itemised(tops: list[tuple[str, int]], large: list[tuple[str, int]], top: int = 15) -> None:
    total = sum(size for _, size in tops) or 1
    print(f"largest of {len(tops)} top-level entries (MB, share of the library folder):")
    for name, size in tops[:top]:
        print(f"  {size / 1e6:7.1f}  {100 * size / total:4.1f}%  {name}")
    rest = sum(size for _, size in tops[top:])
    print(f"  {rest / 1e6:7.1f}  {100 * rest / total:4.1f}%  ({len(tops[top:])} others)")
    print(f"shared libraries over 2 MB ({len(large)}, {sum(s for _, s in large) / 1e6:.1f} MB):")
    for name, size in large:
        print(f"  {size / 1e6:7.1f}  {name}")


def clean_env(home: Path, display: str | None = None) -> dict[str, str]:
    """What an editor's desktop gives the bundle: a (fresh) HOME, the system's PATH and the display (``display``,
    or this session's); no virtualenv and no PYTHON* variables."""
    home.mkdir(parents=True, exist_ok=True)
    if sys.platform.startswith("linux"):
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
        env.update({k: os.environ[k] for k in ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY") if k in os.environ})
    else:  # macOS and Windows need more of the system's environment; still no virtualenv and no PYTHON* variables
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DEPTHSTUDIO_"))}
        env.update(HOME=str(home), USERPROFILE=str(home))
    if display:
        env["DISPLAY"] = display
    return env


def first_frame_s(command: list[str], home: Path, shot: Path, timeout_s: float = 180.0) -> float:
    """Seconds from the process's start to its first 3D frame (packaging/bundle_main.py prints them), with a clean
    environment: only the display, a fresh HOME and a system PATH: no virtualenv, no PYTHON* variables."""
    env = clean_env(home)
    env["DEPTHSTUDIO_FIRST_FRAME"] = str(shot)
    out = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in out.stdout.splitlines() if line.startswith("FIRST_FRAME ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"no first frame from {command[0]} ({out.returncode}):\n{out.stdout}\n{out.stderr[-3000:]}")
    return float(lines[0].split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a built depthstudio wheel (default: build one from the checkout)")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="where the folder and the archive go")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--reuse-site-packages", action="store_true", help="no downloads: this interpreter's packages")
    parser.add_argument("--with-ffmpeg", action="store_true", help="keep imageio-ffmpeg's ffmpeg (+170 MB)")
    parser.add_argument("--no-strip", action="store_true", help="keep the libraries' symbols (debugging C code)")
    parser.add_argument("--compress-level", type=int, default=6, help="gzip level of the .tar.gz (1: fastest)")
    parser.add_argument("--repeat", type=int, default=3, help="cold starts timed per side (median)")
    parser.add_argument("--no-start-check", action="store_true", help="skip the cold-start comparison")
    parser.add_argument("--max-mb", type=float, default=350.0, help="unpacked size budget (MB, 10^6 bytes)")
    parser.add_argument("--max-start-ratio", type=float, default=1.5, help="bundle / wheel cold-start budget")
    parser.add_argument(
        "--report-only", action="store_true", help="print the budgets' verdicts but exit 0 (tests check behaviour)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="depthstudio-bundle-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        phases: dict[str, float] = {}

        def lap(phase: str) -> None:
            phases[phase] = round(time.monotonic() - started - sum(phases.values()), 1)

        wheel = args.wheel.resolve() if args.wheel else build_wheel(work)
        version = wheel.name.split("-")[1]
        lap("wheel")
        python = make_env(work / "venv", wheel, args.reuse_site_packages)
        lap("venv")
        out = args.out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / NAME, ignore_errors=True)
        shutil.rmtree(out / f"{NAME}.app", ignore_errors=True)
        bundle = run_pyinstaller(python, work, out, args.with_ffmpeg)
        if sys.platform.startswith("linux"):
            add_launcher(bundle, python)
        lap("pyinstaller")
        stripped_bytes, unstrippable = (0, []) if args.no_strip else strip_libraries(bundle)
        lap("strip")
        packed = archive(bundle, out, version, args.compress_level)
        lap("archive")
        build_s = time.monotonic() - started
        size_mb = unpacked_bytes(bundle) / 1e6
        figures: dict[str, object] = {
            "bundle": str(bundle), "archive": str(packed), "build_s": round(build_s, 1),
            "build_phases_s": phases, "unpacked_mb": round(size_mb, 1),
            "archive_mb": round(packed.stat().st_size / 1e6, 1),
            "max_mb": args.max_mb,
        }  # fmt: skip
        print(f"built {bundle} in {build_s:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in phases.items())})")
        print(
            f"unpacked size: {size_mb:.1f} MB (budget {args.max_mb:.0f} MB); {packed.name}: {figures['archive_mb']} MB"
        )
        figures["stripped_mb"] = round(stripped_bytes / 1e6, 1)
        left = f"; left unstripped (strip would break their segments): {', '.join(unstrippable)}"
        print(f"strip --strip-unneeded saved {stripped_bytes / 1e6:.1f} MB{left if unstrippable else ''}")
        tops, large = itemise(bundle)
        print_itemised(tops, large)
        figures["largest_mb"] = {name: round(size / 1e6, 1) for name, size in tops[:15]}
        figures["libraries_over_2mb"] = {name: round(size / 1e6, 1) for name, size in large}
        failures = [] if size_mb <= args.max_mb else [f"the bundle is {size_mb:.1f} MB, over {args.max_mb:.0f} MB"]

        if not args.no_start_check:
            shots = out / "bundle-first-frame"
            shutil.rmtree(shots, ignore_errors=True)
            shots.mkdir()
            runs: dict[str, list[float]] = {"bundle": [], "wheel": []}
            commands = {"bundle": [str(executable(bundle))], "wheel": [str(python), str(ENTRY)]}
            for i in range(args.repeat):  # alternating, so a busy moment on the machine hits both sides alike
                for side, command in commands.items():
                    runs[side].append(first_frame_s(command, work / f"home-{side}-{i}", shots / f"{side}-{i}.png"))
            bundle_s, wheel_s = statistics.median(runs["bundle"]), statistics.median(runs["wheel"])
            ratio = bundle_s / wheel_s
            figures.update(
                first_frame_bundle_s=round(bundle_s, 3), first_frame_wheel_s=round(wheel_s, 3),
                start_ratio=round(ratio, 2), max_start_ratio=args.max_start_ratio, screenshots=str(shots),
            )  # fmt: skip
            print(
                f"cold start to the first 3D frame (fresh HOME, median of {args.repeat}): bundle {bundle_s:.2f} s, "
                f"wheel {wheel_s:.2f} s, ratio {ratio:.2f} (budget {args.max_start_ratio})"
            )
            if ratio > args.max_start_ratio:
                failures.append(f"the bundle starts {ratio:.2f}x slower than the wheel, over {args.max_start_ratio}x")
        figures["failures"] = failures
        print(json.dumps(figures))
        for failure in failures:
            print(f"error: {failure}", file=sys.stderr)
        return 1 if failures and not args.report_only else 0


if __name__ == "__main__":
    sys.exit(main())
