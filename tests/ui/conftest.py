"""The real studio window on a fresh demo portal, under Xvfb with Mesa's GL (``xvfb-run -a``).

Without a display the tests run on Qt's offscreen platform, where no GL context exists: the GL tests then skip,
except under ``CI=true`` where a missing context is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QSurfaceFormat

from depthstudio.config import Config
from depthstudio.depth.postprocess import encode_png, normalise
from depthstudio.depth.synthetic import SyntheticBackend, portrait_prior
from depthstudio.jobs.queue import JobQueue, NewResult
from depthstudio.portal.repository import Portal, Query
from depthstudio.studio import photos
from depthstudio.ui.preview import surface_format

QSurfaceFormat.setDefaultFormat(surface_format())

CROP = 128  # small depth maps keep llvmpipe and the synthetic jobs quick


def studio_config() -> Config:
    cfg = Config()
    cfg.fetch.crop_size = CROP
    cfg.job.backoff_s = 0.0
    cfg.job.concurrency = 2
    cfg.studio.reviewer = "test-editor"
    return cfg


def seed_result(
    portal: Portal,
    user_id: str,
    *,
    backend: str = "synthetic",
    model: str = SyntheticBackend.model,
    qa_risk: float = 0.1,
    depth: np.ndarray | None = None,
    qa: dict | None = None,
) -> int:
    """A finished depth result for a user, recorded through the job queue like the runner's, without the fetch.

    ``depth`` (float in [0, 1]) defaults to the synthetic backend's portrait prior for the user's photo.
    """
    row = portal.get_user(user_id)
    assert row is not None and row.avatar
    if depth is None:
        gray = (
            np.asarray(
                photos.framed_photo(row.avatar, CROP, CROP, portal.config.fetch.policy()).convert("L"), dtype=np.float32
            )
            / 255.0
        )
        depth = normalise(portrait_prior(gray))
    queue = JobQueue(portal)
    queue.enqueue([(row.id, row.avatar)])
    job = queue.claim("test")
    assert job is not None and job.user_id == row.id
    result_id = queue.complete(
        job,
        NewResult(
            avatar_url=row.avatar,
            avatar_sha256="0" * 64,
            backend=backend,
            model=model,
            width=depth.shape[1],
            height=depth.shape[0],
            png8=encode_png(depth, 8),
            qa_risk=qa_risk,
            qa=qa,
        ),
    )
    assert result_id is not None
    return result_id


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
