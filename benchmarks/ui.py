"""Studio responsiveness on a large portal: first list page, filter/search, slider -> frame, cold start.

Run under a display with GL (the preview is the real QOpenGLWidget):

    xvfb-run -a -s '-screen 0 1600x1000x24' /work/venv/bin/python benchmarks/ui.py --users 100000
    xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python benchmarks/ui.py --smoke   # seconds: CI runs it

Each figure is a median over ``--repeat`` runs, next to a baseline measured in the same run: the repository's
SQL alone (what the window adds on top of the database) and the numpy reference renderer (what the GL preview
saves over drawing the frame on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST = ["Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Grace", "Hedy", "Ivan", "Joan", "Ken", "Lynn"]
LAST = ["Almeida", "Berg", "Costa", "Dubois", "Fischer", "Garcia", "Huang", "Jansen", "Lopez", "Moreau", "Rossi"]
IDLE = "idle CPU % (motion on, pointer still)"  # over --idle-s seconds


def build_portal(folder: Path, users: int, seeded: int) -> str:
    """A Prisma-shaped portal with ``users`` rows (avatars cycle over 50 files) and ``seeded`` results."""
    from depthstudio.portal.repository import Portal
    from tests.helpers import make_portal, portal_config, write_avatars
    from tests.ui.conftest import seed_result

    url = f"sqlite:///{folder / 'portal.sqlite3'}"
    files = write_avatars(folder / "avatars", 50, size=128)
    rng = random.Random(1)
    names = [f"{rng.choice(FIRST)} {rng.choice(LAST)} {i}" for i in range(users)]
    make_portal(url, [files[i % len(files)] for i in range(users)], names=names)
    portal = Portal.open(portal_config(url, folder))
    for row in portal.list_users(limit=seeded):
        seed_result(portal, row.id)
    portal.close()
    return url


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000.0


def wait(app, predicate, timeout: float = 60.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        app.processEvents()
        if time.perf_counter() > deadline:
            raise TimeoutError("the window did not get there in time")
        time.sleep(0.0005)


def in_process(
    url: str, folder: Path, repeat: int, idle_s: float = 3.0, grid_s: float = 2.0
) -> dict[str, tuple[float, float | None]]:
    from PySide6.QtCore import QEventLoop, QTimer

    from depthstudio.depth.synthetic import SyntheticBackend
    from depthstudio.portal.repository import Portal, Query
    from depthstudio.render.reference import prepare_textures, render_float
    from depthstudio.ui.app import application
    from depthstudio.ui.main_window import MainWindow
    from tests.helpers import portal_config

    app = application()
    portal = Portal.open(portal_config(url, folder))
    results: dict[str, tuple[float, float | None]] = {}

    # First shown list page: window construction -> first page of rows in the model and painted.
    first, sql = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        portal.list_users(Query(), limit=200)
        portal.count_users(Query())
        sql.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        window = MainWindow(portal, portal.config, backend_factory=lambda _c: SyntheticBackend())
        window.show()
        wait(app, lambda w=window: w.model.rowCount() > 0)
        window.list.viewport().repaint()
        first.append(time.perf_counter() - t0)
        wait(app, lambda w=window: not w.model.busy and not w.tasks.pending)
        window.close()
        window.deleteLater()
        app.processEvents()
    results["first list page (window -> rows painted)"] = (median_ms(first), median_ms(sql))

    window = MainWindow(portal, portal.config, backend_factory=lambda _c: SyntheticBackend())
    window.resize(1480, 900)
    window.show()
    wait(app, lambda: window.model.rowCount() > 0 and not window.model.busy and window.preview.isValid())

    loaded_at: list[float] = []
    window.model.loaded.connect(lambda: loaded_at.append(time.perf_counter()))

    def after(action) -> tuple[float, float]:
        """(first page shown, counts and header updated) after ``action``, in seconds."""
        wait(app, lambda: not window.model.busy and not window.tasks.pending)
        loaded_at.clear()
        t0 = time.perf_counter()
        action()
        wait(app, lambda: bool(loaded_at))
        window.list.viewport().repaint()
        shown = time.perf_counter() - t0
        wait(app, lambda: not window.model.busy and not window.tasks.pending)
        return shown, time.perf_counter() - t0

    def sql_for(q: Query) -> tuple[float, float]:
        t0 = time.perf_counter()
        portal.list_users(q, limit=window.model.page_size)
        page = time.perf_counter() - t0
        portal.count_users(q)
        portal.status_counts(Query(search=q.search))
        return page, time.perf_counter() - t0

    def record(label: str, ui: list[tuple[float, float]], sql: list[tuple[float, float]]) -> None:
        results[f"{label}: first page shown"] = (median_ms([u[0] for u in ui]), median_ms([s[0] for s in sql]))
        results[f"{label}: counts updated"] = (median_ms([u[1] for u in ui]), median_ms([s[1] for s in sql]))

    chips = ["missing", "generated", "failed", "all"]
    ui = [after(lambda k=chips[i % 4]: window.set_filter(k)) for i in range(repeat * 2)]
    filters = {"missing": ("missing",), "generated": ("generated",), "failed": ("failed",), "all": ()}
    sql = [sql_for(Query(statuses=filters[chips[i % 4]])) for i in range(repeat * 2)]
    record("filter chip", ui, sql)

    words = ["grace", "rossi 12", "ken", "berg 9", "zzz"]

    def search(word: str) -> None:
        window.search.setText(word)
        window.apply_query()  # what the debounce timer calls after 250 ms without typing

    window.set_filter("all")
    ui = [after(lambda w=words[i % 5]: search(w)) for i in range(repeat * 2)]
    sql = [sql_for(Query(search=words[i % 5])) for i in range(repeat * 2)]
    record("search (after the 250 ms debounce)", ui, sql)
    search("")
    window.set_filter("generated")
    wait(app, lambda: window.model.rowCount() > 0 and not window.model.busy)

    # Deep paging: fetchMore at a large offset costs what the SQL costs there (offset paging).
    window.set_filter("all")
    wait(app, lambda: window.model.rowCount() > 0 and not window.model.busy)
    deep = []
    for offset in (1_000, 10_000, 50_000):
        if offset >= portal.count_users():
            continue
        t0 = time.perf_counter()
        portal.list_users(Query(), offset=offset, limit=200)
        deep.append((offset, (time.perf_counter() - t0) * 1000))

    # Slider -> next rendered frame on a user with a depth map.
    window.set_filter("generated")
    wait(app, lambda: window.model.rowCount() > 0 and not window.model.busy)
    window.list.setCurrentIndex(window.model.index(0))
    wait(app, lambda: window.preview.content is not None and window.preview.has_depth)
    window.preview.set_mouse((0.7, -0.4))
    slider = window.params.rows["horizontal_threshold"].slider
    frames: list[float] = []
    drawn = [0]
    window.preview.frame_drawn.connect(lambda: drawn.__setitem__(0, drawn[0] + 1))
    for i in range(repeat * 6):
        wait(app, lambda: True)
        count = drawn[0]
        t0 = time.perf_counter()
        slider.setValue(20 + (i % 2) * 40)
        wait(app, lambda c=count: drawn[0] > c)
        frames.append(time.perf_counter() - t0)
    content = window.preview.content
    textures = prepare_textures(content.photo, content.depth)
    w, h = window.preview.width(), window.preview.height()
    cpu = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        render_float(textures, window.params.current(), (0.7, -0.4), w, h)
        cpu.append(time.perf_counter() - t0)
    results[f"slider -> next GL frame ({w}x{h})"] = (median_ms(frames), median_ms(cpu))

    # J -> the next user's first 3D frame on screen (a frame drawn with that user's content and depth map).
    window.list.setCurrentIndex(window.model.index(0))
    wait(app, lambda: not window.tasks.pending)
    nexts: list[float] = []
    for i in range(min(window.model.rowCount() - 1, repeat * 6)):
        target, before = window.model.row_at(i + 1).id, window.preview.content
        seen = [0.0]

        def frame(target: str = target, seen: list[float] = seen, before: object = before) -> None:
            current, preview = window.current, window.preview
            fresh = preview.content is not None and preview.content is not before and preview.has_depth
            if not seen[0] and current is not None and current.id == target and fresh:
                seen[0] = time.perf_counter()

        window.preview.frame_drawn.connect(frame)
        t0 = time.perf_counter()
        window.move(1)
        wait(app, lambda seen=seen: bool(seen[0]))
        window.preview.frame_drawn.disconnect(frame)
        nexts.append(seen[0] - t0)
        wait(app, lambda: not window.tasks.pending)
    nexts.sort()
    results["J -> next user's first 3D frame"] = (median_ms(nexts), None)
    results["J -> next user's first 3D frame, p95"] = (nexts[min(len(nexts) - 1, int(0.95 * len(nexts)))] * 1000, None)

    # Idle: motion on, the pointer still, the eased motion settled; CPU seconds of this process per wall second.
    window.preview.set_motion(True)
    window.preview.set_mouse((0.3, 0.2))
    wait(app, lambda: True)
    loop = QEventLoop()
    QTimer.singleShot(500, loop.quit)  # let any easing settle first
    loop.exec()
    c0, t0 = time.process_time(), time.perf_counter()
    QTimer.singleShot(round(idle_s * 1000), loop.quit)
    loop.exec()
    results[IDLE] = (
        100.0 * (time.process_time() - c0) / (time.perf_counter() - t0),
        None,
    )
    results["culling grid, 24 tiles, frames/s while the pointer moves"] = grid_fps(app, window, repeat, grid_s)
    window.params.flush()
    wait(app, lambda: not window.params.saving)
    window.close()
    portal.close()
    for offset, ms in deep:
        results[f"one page of 200 at offset {offset:,} (SQL)"] = (ms, None)
    return results


def grid_fps(app, window, repeat: int, seconds: float = 2.0) -> tuple[float, float]:
    """Frames/s of a 6 x 4 culling grid of users with depth maps while the pointer keeps moving over it.

    Baseline: the numpy reference renderer drawing the same 24 tiles on the CPU (frames/s).
    """
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    from depthstudio.render.reference import render_float
    from depthstudio.ui.culling import GAP, LABEL_H, TILE_CSS, CullingGrid

    window.set_filter("generated")
    wait(app, lambda: window.model.rowCount() >= 24 and not window.model.busy)
    grid = CullingGrid(window.model, window.list.selectionModel())
    grid.resize(6 * TILE_CSS, 4 * (TILE_CSS - 2 * GAP + LABEL_H + GAP))
    grid.show()
    wait(app, lambda: grid.isValid())
    rows = [window.model.row_at(i) for i in grid.visible_rows()]
    assert len(rows) == 24, len(rows)

    def loaded() -> bool:
        grid.update()
        return all(grid.content_of(r) is not None for r in rows) and grid.renderer.tile_count == 24

    wait(app, loaded)
    drawn = [0]
    grid.frame_drawn.connect(lambda: drawn.__setitem__(0, drawn[0] + 1))
    rates = []
    for _ in range(repeat):
        drawn[0], t0, i = 0, time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            i += 1
            pos = QPointF((i * 37) % grid.width(), (i * 23) % grid.height())
            none, mods = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
            app.sendEvent(grid, QMouseEvent(QMouseEvent.Type.MouseMove, pos, grid.mapToGlobal(pos), none, none, mods))
            app.processEvents()
        rates.append(drawn[0] / (time.perf_counter() - t0))
    side = grid.tile_rect(0).width()
    content = grid.content_of(rows[0])
    t0 = time.perf_counter()
    for _ in range(24):
        render_float(content.textures, grid.params, (0.5, 0.3), side, side)
    cpu = 1.0 / (time.perf_counter() - t0)
    grid.release_gl()
    grid.close()
    return statistics.median(rates), cpu


COLD = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.portal.repository import Portal
from depthstudio.ui.app import application
from depthstudio.ui.main_window import MainWindow
from tests.helpers import portal_config
from pathlib import Path
app = application()
portal = Portal.open(portal_config({url!r}, Path({folder!r})))
window = MainWindow(portal, portal.config, backend_factory=lambda _c: SyntheticBackend())
window.set_filter("generated")
window.show()
shown = []
window.preview.frame_drawn.connect(lambda: window.preview.has_depth and shown.append(time.perf_counter()))
while not shown:
    app.processEvents()
    time.sleep(0.0005)
print("READY", shown[0] - t0, flush=True)
window.close()
"""


def cold_start(url: str, folder: Path, repeat: int) -> tuple[float, float]:
    """Process start -> first frame of the first user's 3D preview; baseline: bare ``python -c pass``.

    The clock stops when the child says READY (the frame is on screen), not when it has exited: the user sees
    the frame, not the interpreter's teardown after it.
    """
    script = COLD.format(root=str(ROOT), url=url, folder=str(folder))
    total, bare = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t0)
        total.append(_until_ready([sys.executable, "-c", script]))
    return median_ms(total), median_ms(bare)


def _until_ready(command: list[str]) -> float:
    """Seconds from starting ``command`` to its READY line on stdout; then it is let exit and waited for."""
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: Qt's warnings can never block the child
        t0 = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True) as child:
            assert child.stdout is not None
            lines = []
            for line in child.stdout:
                lines.append(line)
                if line.startswith("READY"):
                    break
            ready = time.perf_counter() - t0
            rest = child.stdout.read()
        if child.returncode != 0 or not lines or not lines[-1].startswith("READY"):
            errors.seek(0)
            raise RuntimeError(f"the cold start failed ({child.returncode}): {''.join(lines)}{rest}{errors.read()}")
    return ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seeded", type=int, default=300, help="users given a depth result (statuses vary)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=3.0, help="seconds of idle CPU measured")
    parser.add_argument("--smoke", action="store_true", help="a small portal, one repeat, short idle/grid: CI")
    args = parser.parse_args()
    grid_s, cold_repeat = 2.0, max(2, args.repeat // 2)
    if args.smoke:
        args.users, args.seeded, args.repeat, args.idle_s, grid_s, cold_repeat = 2000, 30, 1, 0.3, 0.3, 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["DEPTHSTUDIO_DATA_DIR"] = str(folder / "data")
        os.environ["DEPTHSTUDIO_CONFIG_DIR"] = str(folder / "config")
        t0 = time.perf_counter()
        url = build_portal(folder, args.users, args.seeded)
        print(f"portal: {args.users:,} users, {args.seeded} with a result (built in {time.perf_counter() - t0:.1f}s)")
        results = in_process(url, folder, args.repeat, args.idle_s, grid_s)
        results["cold start -> first 3D preview frame"] = cold_start(url, folder, cold_repeat)
    print(f"{'measure':62} {'median ms':>10} {'baseline ms':>12} {'ratio':>7}")
    for name, (value, base) in results.items():
        if base is None:
            print(f"{name:62} {value:10.1f}")
        else:
            print(f"{name:62} {value:10.1f} {base:12.1f} {value / base:7.2f}")
    print("baselines: list/filter/search = the repository's SQL calls alone; slider = the numpy reference")
    print("renderer drawing the same frame on the CPU (grid: 24 tiles, frames/s); cold start = `python -c pass`.")
    summary = {
        "next_user_ms_median": round(results["J -> next user's first 3D frame"][0], 1),
        "next_user_ms_p95": round(results["J -> next user's first 3D frame, p95"][0], 1),
        "idle_cpu_percent": round(results[IDLE][0], 1),
        "grid_fps": round(results["culling grid, 24 tiles, frames/s while the pointer moves"][0], 1),
        "first_page_ms": round(results["first list page (window -> rows painted)"][0], 1),
        "filter_ms": round(results["filter chip: first page shown"][0], 1),
        "search_ms": round(results["search (after the 250 ms debounce): first page shown"][0], 1),
        "cold_start_ms": round(results["cold start -> first 3D preview frame"][0], 1),
        "users": args.users,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
