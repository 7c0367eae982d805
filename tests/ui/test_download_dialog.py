"""The studio's one-time model download: "Generate all missing" with the local model not yet on the machine.

The real window, the default backend factory, the real huggingface_hub client and ONNX Runtime, against the hub
stand-in on 127.0.0.1 serving the test suite's export of the real Depth-Anything-V2-Small architecture. The hub
holds the body at a gate, so what the dialog shows mid-download is checked without timing.
"""

from __future__ import annotations

import pytest

from depthstudio.portal.repository import Portal, Query
from depthstudio.ui.download_dialog import DownloadDialog, format_mb
from tests.servers.hub_server import Faults, HubServer
from tests.ui.conftest import studio_config

REPO, FILE = "onnx-community/depth-anything-v2-small", "onnx/model.onnx"
HELD = 256 * 1024


@pytest.fixture
def hub(tiny_onnx, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read once at import; the suite sets it
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # several progress reports for a small file
    server = HubServer(REPO, FILE, tiny_onnx.content)
    with server.serving():
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        yield server


@pytest.fixture
def local_window(qtbot, hub):
    cfg = studio_config()
    cfg.depth.backend = "local"
    cfg.depth.model_revision, cfg.depth.model_sha256, cfg.depth.model_size = hub.commit, hub.sha256, len(hub.content)
    portal = Portal.open(cfg)
    from depthstudio.ui.main_window import MainWindow

    window = MainWindow(portal, cfg)  # the default backend factory: the product's path
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=10000)
    yield window, portal
    if window.bulk.running:
        window.bulk.cancel()
        window.bulk.controller.wait(30)
    window.tasks.pool.waitForDone(5000)
    portal.close()


def _generate_until_the_hub_holds(qtbot, window, hub) -> DownloadDialog:
    """Press Generate; the hub sends ``HELD`` bytes and holds the rest at its gate, with the dialog up."""
    hub.faults = Faults(hold_at=HELD)
    window.bulk.generate_button.click()
    qtbot.waitUntil(lambda: _shown(window, HELD), timeout=20000)
    return _dialog_showing(window, HELD)


def _dialog_showing(window, done: int) -> DownloadDialog:
    download = window.bulk.download
    assert download is not None and download.dialog is not None and download.dialog.isVisible()
    assert download.dialog.size_label.text() == f"{format_mb(done)} of {format_mb(download_total(window))}"
    return download.dialog


def download_total(window) -> int:
    return window.bulk.config.depth.model_size


def _missing(portal: Portal) -> int:
    return portal.count_users(Query(statuses=["missing"]))


def test_generate_downloads_the_model_once_in_a_dialog_then_makes_every_map(qtbot, local_window, hub):
    window, portal = local_window
    missing = _missing(portal)
    dialog = _generate_until_the_hub_holds(qtbot, window, hub)
    assert dialog.file_label.text() == f"Downloading {FILE}" and dialog.cancel_button.isEnabled()
    assert 0 < dialog.bar.value() < 1000
    with qtbot.waitSignal(window.bulk.stopped, timeout=120000) as stopped:
        hub.faults.gate.set()
    assert stopped.args[0] == "done", stopped.args
    assert window.bulk.download.dialog is None  # gone once the model is loaded
    assert _missing(portal) == 0 and portal.count_users(Query(statuses=["generated"])) == missing
    assert {r.backend for r in portal.list_users(Query(statuses=["generated"]), limit=500)} == {"local"}
    assert window.backend_label.text() == f"Depth: local · {REPO} (onnxruntime, cpu)"
    assert hub.gets == [""]

    some = portal.list_users(Query(statuses=["generated"]), limit=1)[0].id
    with qtbot.waitSignal(window.bulk.stopped, timeout=60000):
        window.bulk.generate([some], title="Regenerate")
    assert hub.gets == [""]  # from the cache: nothing downloaded, no dialog
    assert window.bulk.download.dialog is None


def _shown(window, done: int) -> bool:
    download = window.bulk.download
    return bool(download and download.dialog and download.dialog.size_label.text().startswith(format_mb(done)))


def test_cancel_stops_the_download_writes_nothing_and_the_next_generate_completes(qtbot, local_window, hub, tmp_path):
    window, portal = local_window
    missing = _missing(portal)
    dialog = _generate_until_the_hub_holds(qtbot, window, hub)
    with qtbot.waitSignal(window.bulk.stopped, timeout=30000) as stopped:
        dialog.cancel_button.click()
        assert dialog.speed_label.text() == "cancelling…" and not dialog.cancel_button.isEnabled()
        hub.faults.gate.set()  # the next chunk arrives; the download stops there
    state, text = stopped.args
    assert state == "stopped" and "cancelled at 0.3 of" in text and "nothing was kept or changed" in text
    assert window.bulk.download.dialog is None and window.bulk.generate_button.isEnabled()
    cache = tmp_path / "hub-cache"
    assert not list(cache.rglob("blobs/*"))  # no partial model file left behind
    assert _missing(portal) == missing  # no job, no result: the job is made only after the model
    assert portal.count_users(Query(statuses=["queued", "generating"])) == 0

    with qtbot.waitSignal(window.bulk.stopped, timeout=120000) as stopped:
        window.bulk.generate_button.click()
    assert stopped.args[0] == "done", stopped.args
    assert hub.gets == ["", ""]  # downloaded again, whole (huggingface_hub discards a cancelled partial file)
    assert _missing(portal) == 0


def test_the_dialog_shows_size_speed_and_time_left(qtbot):
    from depthstudio.cancel import CancelToken

    token = CancelToken()
    dialog = DownloadDialog(token)
    qtbot.addWidget(dialog)
    dialog.report(0, 10_000_000, FILE, now=100.0)
    dialog.report(4_000_000, 10_000_000, FILE, now=102.0)
    assert dialog.size_label.text() == "4.0 MB of 10.0 MB"
    assert dialog.speed_label.text() == "2.0 MB/s, about 3 s left"
    assert dialog.bar.value() == 400
    dialog.reject()  # Escape or the window's close button cancels too
    assert token.cancelled
