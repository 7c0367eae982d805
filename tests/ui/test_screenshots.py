"""Screenshots of the real window for the README (docs/screenshots), taken on the demo portal.

The sample avatars get their hand-authored demo depth maps (resources/demo/depth, labelled as such), the rest
synthetic ones, so the pictures show the shader on real photos. Each file is kept under 300 KB.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice

from depthstudio.depth.qa import QAReport, check_empty, check_flat, check_inverted
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.portal.demo import hand_authored_depth
from depthstudio.portal.job_queue import JobQueue
from depthstudio.portal.repository import Query
from tests.ui.conftest import require_gl, seed_result

REPO = Path(__file__).resolve().parents[2]
# The committed README pictures change only on request; ordinary runs write to the git-ignored artifacts/.
OUT = REPO / ("docs/screenshots" if os.environ.get("DEPTHSTUDIO_UPDATE_SCREENSHOTS") else "artifacts/screenshots")
LIMIT = 300_000


def _save(widget, name: str) -> Path:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    image = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    # The largest palette that fits the size budget: the UI stays crisp, the photo smooth enough. Undithered,
    # because dither noise is what PNG compresses worst.
    for colors in (256, 192, 128, 96):
        image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            path, optimize=True
        )
        if path.stat().st_size < LIMIT:
            break
    assert path.stat().st_size < LIMIT, f"{name} is {path.stat().st_size} bytes"
    return path


def _demo_state(portal) -> dict[str, str]:
    by_name = {r.name: r for r in portal.list_users(limit=100)}
    samples = {"Eileen Collins": "astronaut", "Grace Hopper": "grace_hopper", "Chelsea the Cat": "chelsea",
               "Cameraman (CC0)": "camera"}  # fmt: skip
    for name, stem in samples.items():
        depth = hand_authored_depth(stem)
        # The checks that need only the map (mismatch needs the fetched photo): the grid's QA scores are real.
        report = QAReport({"empty": check_empty(depth), "flat": check_flat(depth), "inverted": check_inverted(depth)})
        seed_result(
            portal,
            by_name[name].id,
            backend="demo",
            model="hand-authored",
            depth=depth,
            qa=report.to_dict(),
            qa_risk=report.risk,
        )
    others = [r for r in by_name.values() if r.avatar and r.name not in samples]
    for i, row in enumerate(others[:14]):
        seed_result(portal, row.id, qa_risk=0.75 if i % 5 == 0 else 0.1)
    portal.decide([r.id for r in others[:5]], "approved", reviewer="maria")
    portal.decide([others[5].id], "rejected", reviewer="maria", note="halo around the hair")
    portal.decide([by_name["Cameraman (CC0)"].id], "approved", reviewer="maria")
    failing = others[15]
    queue = JobQueue(portal)
    queue.enqueue([(failing.id, failing.avatar)], max_attempts=1)
    queue.fail(queue.claim("demo"), kind="rate_limited", message="Replicate answered 429 three times", retry_in=None)
    return {name: by_name[name].id for name in samples}


def _show(qtbot, window, user_id: str, mouse) -> None:
    window.list.setCurrentIndex(window.model.index_of(user_id))
    qtbot.waitUntil(lambda: window.current.id == user_id and not window.tasks.pending, timeout=5000)
    qtbot.waitUntil(lambda: window.preview.content is not None, timeout=5000)
    window.preview.set_mouse(mouse)
    qtbot.wait(300)  # thumbnails land


def test_screenshots_of_the_window(qtbot, make_window, portal):
    ids = _demo_state(portal)
    window = make_window(latency_s=0.35)
    require_gl(window)
    window.resize(1600, 1000)  # a desktop screen's window; the laptop size follows at the end
    qtbot.waitUntil(lambda: window.width() == 1600, timeout=2000)
    window.bulk.backend_factory = lambda _cfg: SyntheticBackend(
        latency_s=0.35, fail_for=frozenset(r.avatar for r in portal.list_users(Query(statuses=["missing"]), limit=3))
    )

    _show(qtbot, window, ids["Grace Hopper"], (0.7, -0.35))
    studio = _save(window, "studio.png")

    window.filter_buttons["generated"].click()
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=5000)
    _show(qtbot, window, ids["Eileen Collins"], (1.0, 0.0))
    window.view_buttons["split"].click()
    split = _save(window, "split.png")
    window.view_buttons["shader"].click()
    window.toggle_grid()
    qtbot.waitUntil(lambda: window.culling.grid.isVisible(), timeout=5000)
    qtbot.wait(600)  # the grid's thumbnails and frames land
    grid = _save(window, "grid.png")
    window.toggle_grid()

    window.filter_buttons["all"].click()
    window.bulk.generate_button.click()
    progressed = lambda: getattr(window.bulk.last_progress, "done", 0) >= 6  # noqa: E731
    qtbot.waitUntil(lambda: progressed() or not window.bulk.running, timeout=30000)
    assert window.bulk.running, window.bulk.status.toolTip()
    qtbot.waitUntil(lambda: window.bulk.failure_list.topLevelItemCount() >= 2, timeout=30000)
    bulk = _save(window, "bulk.png")
    with qtbot.waitSignal(window.bulk.stopped, timeout=20000):
        window.bulk.cancel()
    for path in (studio, split, grid, bulk):
        with Image.open(path) as img:
            assert img.size == (window.width(), window.height())

    window.failures.hide()
    window.resize(1366, 768)  # a laptop's screen: the same studio, nothing cut
    _show(qtbot, window, ids["Grace Hopper"], (0.7, -0.35))
    laptop = _save(window, "studio-laptop.png")
    with Image.open(laptop) as img:
        assert img.size == (1366, 768)
