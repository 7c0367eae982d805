"""The studio says where a depth map came from: the demo's hand-drawn sample maps are never shown as model output,
and the status bar names the backend and model a run uses."""

from __future__ import annotations

from depthstudio.jobs.demo_results import seed_demo
from depthstudio.portal.repository import Query
from depthstudio.ui.user_list_model import tooltip


def test_the_sample_maps_are_labelled_hand_authored_in_the_window_and_survive_generate_all_missing(
    qtbot, make_window, portal
):
    assert seed_demo(portal, portal.config) == 4
    window = make_window()
    chelsea = next(r for r in portal.list_users(Query(search="Chelsea"), limit=5))
    kept = {r.id: r.result_id for r in portal.list_users(Query(), limit=500) if r.backend == "hand-authored"}
    assert len(kept) == 4

    window.list.setCurrentIndex(window.model.index_of(chelsea.id))
    qtbot.waitUntil(lambda: "hand-authored demo map (not model output)" in window.user_info.text(), timeout=10000)
    assert "hand-authored demo map (not model output)" in tooltip(portal.get_user(chelsea.id))

    with qtbot.waitSignal(window.bulk.stopped, timeout=120000) as stopped:
        window.bulk.generate_button.click()
    assert stopped.args[0] == "done"
    after = {r.id: r for r in portal.list_users(Query(), limit=500)}
    assert {uid: after[uid].result_id for uid in kept} == kept  # the hand-authored maps stay the current ones
    assert {after[uid].backend for uid in kept} == {"hand-authored"}
    assert portal.count_users(Query(statuses=["missing"])) == 0


def test_the_status_bar_names_the_backend_before_and_after_a_run(qtbot, make_window):
    window = make_window()
    # No Replicate token (the tests' environment has none): ``auto`` is the local model.
    qtbot.waitUntil(
        lambda: window.backend_label.text() == "Depth: local · onnx-community/depth-anything-v2-small (onnxruntime)",
        timeout=5000,
    )
    with qtbot.waitSignal(window.bulk.stopped, timeout=60000):
        window.bulk.generate_button.click()
    assert window.backend_label.text() == "Depth: synthetic · portrait-prior-v1"  # what ran (the test's backend)
