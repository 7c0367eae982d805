"""Run by the wheel smoke test with the *installed* depthstudio (not the checkout): open the studio on the demo
portal, show a sample in 3D and compare the preview's frame with the numpy reference. Prints one JSON line."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from PySide6.QtWidgets import QApplication

import depthstudio
from depthstudio.config import load_config
from depthstudio.jobs.demo_results import seed_demo
from depthstudio.portal.demo import SAMPLES
from depthstudio.portal.repository import Portal, Query
from depthstudio.render.reference import prepare_textures, render_float, to_uint8
from depthstudio.ui.app import application
from depthstudio.ui.main_window import MainWindow

MOUSE = (0.8, -0.6)


def wait(condition, timeout_s: float = 20.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the studio")
        QApplication.processEvents()
        time.sleep(0.01)


def main(screenshot: str) -> None:
    config = load_config()
    app = application()
    portal = Portal.open(config)
    seed_demo(portal, config)
    window = MainWindow(portal, config)
    window.resize(1480, 900)
    window.show()
    wait(lambda: window.model.rowCount() > 0 and not window.model.busy)
    sample = next(r for r in portal.list_users(Query(search=SAMPLES["astronaut.png"]), limit=5))
    window.list.setCurrentIndex(window.model.index_of(sample.id))
    wait(lambda: window.preview.content is not None and window.current.id == sample.id and window.preview.has_depth)
    wait(lambda: not window.tasks.pending and not window.params.loading)
    window.preview.set_mouse(MOUSE)
    frame = window.preview.frame_rgb().astype(np.int16)
    content = window.preview.content
    textures = prepare_textures(content.photo, content.depth)
    w, h = window.preview.width(), window.preview.height()
    reference = to_uint8(render_float(textures, window.params.current(), MOUSE, w, h))[..., :3].astype(np.int16)
    still = to_uint8(render_float(textures, window.params.current(), (0.0, 0.0), w, h))[..., :3].astype(np.int16)
    diff = np.abs(frame - reference)
    window.grab().save(screenshot)
    print(json.dumps({
        "package": depthstudio.__file__,
        "gl_error": window.preview.gl_error,
        "user": sample.name,
        "size": [w, h],
        "mean_diff": float(diff.mean()),
        "p995_diff": float(np.percentile(diff, 99.5)),
        "moved_vs_still": float(np.abs(frame - still).mean()),
    }))  # fmt: skip
    window.close()
    portal.close()
    app.quit()


if __name__ == "__main__":
    main(sys.argv[1])
