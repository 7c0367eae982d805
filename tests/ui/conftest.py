"""The real studio window on a fresh demo portal, under Xvfb with Mesa's GL (``xvfb-run -a``).

Without a display the tests run on Qt's offscreen platform, where no GL context exists: the GL tests then skip,
except under ``CI=true`` where a missing context is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QSurfaceFormat

from depthstudio.config import Config
from depthstudio.depth.synthetic import SyntheticBackend
from depthstudio.portal.repository import Portal, Query
from depthstudio.ui.preview import surface_format
from tests.helpers import seed_result

__all__ = ["CROP", "require_gl", "seed_result", "studio_config"]

QSurfaceFormat.setDefaultFormat(surface_format())

CROP = 128  # small depth maps keep llvmpipe and the synthetic jobs quick


def studio_config() -> Config:
    cfg = Config()
    cfg.fetch.crop_size = CROP
    cfg.job.backoff_s = 0.0
    cfg.job.concurrency = 2
    cfg.studio.reviewer = "test-editor"
    return cfg


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal.open(studio_config())
    yield p
    p.close()


@pytest.fixture
def seeded(portal: Portal) -> list[str]:
    """Three sample users with a result awaiting review (one with two results to compare)."""
    rows = portal.list_users(Query(search="a"), limit=100)
    users = [r.id for r in rows if r.avatar][:3]
    for uid in users:
        seed_result(portal, uid)
    seed_result(portal, users[0], backend="synthetic-b", qa_risk=0.7)
    return users


@pytest.fixture
def make_window(qtbot, portal):
    windows = []

    def make(latency_s: float = 0.0, **kwargs):
        from depthstudio.ui.main_window import MainWindow

        window = MainWindow(
            portal, portal.config, backend_factory=lambda _cfg: SyntheticBackend(latency_s=latency_s), **kwargs
        )
        qtbot.addWidget(window)
        window.resize(1480, 900)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()  # shortcuts (A, X, Space, 1-9) only reach the active window
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=10000)
        windows.append(window)
        return window

    yield make
    for w in windows:
        if w.bulk.running:
            w.bulk.cancel()
            w.bulk.controller.wait(10)
        w.params.flush()
        w.tasks.pool.waitForDone(5000)
        w.writes.pool.waitForDone(5000)


def require_gl(window) -> None:
    """A GL test with no context: a failure under CI, a skip on a developer machine without a display."""
    if window.preview.gl_error or not window.preview.isValid():
        message = window.preview.gl_error or "no OpenGL context (run under xvfb-run -a)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
