"""The studio says which device runs depth and why, and what to install when an NVIDIA GPU sits idle.

The real window and the default backend factory run the suite's ONNX export of the real architecture on this CPU
build of ONNX Runtime; ``nvidia-smi`` is the stand-in script of ``tests/conftest.py`` naming an H100.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from depthstudio.depth import devices
from depthstudio.portal.repository import Portal, Query
from tests.ui.conftest import studio_config

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def test_an_idle_nvidia_gpu_is_named_in_the_status_bar_with_the_install_line(qtbot, tiny_onnx, fake_nvidia_smi):
    cfg = studio_config()
    cfg.depth.backend = "local"
    cfg.depth.local_weights = str(tiny_onnx.path)
    cfg.depth.model_sha256 = hashlib.sha256(tiny_onnx.content).hexdigest()
    cfg.depth.model_size = len(tiny_onnx.content)
    portal = Portal.open(cfg)
    from depthstudio.ui.main_window import MainWindow

    window = MainWindow(portal, cfg)
    qtbot.addWidget(window)
    window.resize(1400, 800)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0 and not window.model.busy, timeout=10000)
    try:
        one = portal.list_users(Query(statuses=["missing"]), limit=1)[0].id
        with qtbot.waitSignal(window.bulk.stopped, timeout=60000) as stopped:
            window.bulk.generate([one], title="Generate one")
        assert stopped.args[0] == "done", stopped.args
        label = window.backend_label
        assert label.text().startswith("Depth: local · onnx-community/depth-anything-v2-small (onnxruntime, cpu)")
        assert label.text().endswith(f"⚠ NVIDIA H100 80GB HBM3 idle: {devices.INSTALL_NVIDIA_ORT}")
        assert label.toolTip().startswith("depth runs on cpu (CPUExecutionProvider, float32)")
        assert "this ONNX Runtime is the CPU build" in label.toolTip()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(ARTIFACTS / "device-hint.png"))
    finally:
        window.tasks.pool.waitForDone(5000)
        portal.close()
