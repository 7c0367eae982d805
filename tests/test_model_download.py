"""The one-time model download through the real huggingface_hub client, against a hub stand-in on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from depthstudio.cancel import CancelToken
from depthstudio.depth import models
from depthstudio.errors import BackendError, Cancelled
from tests.servers.hub_server import Faults, HubServer

REPO, FILE = "onnx-community/depth-anything-v2-small", "onnx/model.onnx"


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1, which the client reads once at import; these tests are about the
    online path against 127.0.0.1, so that one reading is turned back."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(tiny_onnx, tmp_path, monkeypatch):
    server = HubServer(REPO, FILE, tiny_onnx.content)
    with server.serving():
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        yield server


def _entry(hub: HubServer) -> models.ModelFile:
    return models.model_file(REPO, revision=hub.commit, sha256=hub.sha256, size=len(hub.content))


def test_the_model_downloads_once_with_progress_and_then_comes_from_the_cache(hub):
    seen: list[tuple[int, int]] = []
    path = models.fetch(_entry(hub), progress=lambda done, total, name: seen.append((done, total)))
    assert path.read_bytes() == hub.content
    assert seen and seen[-1] == (len(hub.content), len(hub.content))
    gets = len(hub.gets)
    assert models.fetch(_entry(hub)) == path
    assert len(hub.gets) == gets  # the second time downloads nothing


def test_a_cut_connection_resumes_with_a_range_request(hub, monkeypatch):
    from huggingface_hub import constants

    # The client resumes from the whole chunks it wrote (10 MB each); a smaller chunk lets a test-sized file resume.
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    hub.faults = Faults(cut_after=len(hub.content) // 3)
    path = models.fetch(_entry(hub))
    assert path.read_bytes() == hub.content
    assert hub.gets[0] == "" and hub.gets[1].startswith("bytes=") and int(hub.gets[1][6:-1]) > 0


def test_wrong_bytes_are_refused_by_the_checksum_and_not_kept(hub):
    hub.faults = Faults(wrong_bytes=True)
    with pytest.raises(BackendError) as err:
        models.fetch(_entry(hub))
    assert err.value.kind == "bad_weights" and "sha256" in str(err.value)
    assert models.cached(_entry(hub)) is None
    hub.faults = Faults()
    assert models.fetch(_entry(hub)).read_bytes() == hub.content


@pytest.mark.parametrize("status", [404, 500, 503])
def test_a_missing_file_or_a_failing_hub_is_the_two_ways_out_error(hub, status):
    hub.faults = Faults(status=status, status_times=100)
    with pytest.raises(BackendError) as err:
        models.fetch(_entry(hub))
    text = str(err.value)
    assert err.value.kind == "no_weights"
    assert f"{REPO}/resolve/{hub.commit}/{FILE}" in text and "MB" in text
    assert "depth.local_weights" in text and "REPLICATE_API_TOKEN" in text


def test_cancel_stops_the_download_and_the_next_attempt_resumes(hub):
    token = CancelToken()

    def progress(done: int, total: int, name: str) -> None:
        if done:
            token.cancel()

    hub.faults = Faults()
    with pytest.raises(Cancelled):
        models.fetch(_entry(hub), progress=progress, cancel=token)
    assert models.fetch(_entry(hub)).read_bytes() == hub.content


def test_no_server_is_a_clear_error_within_seconds(tiny_onnx, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        models.fetch(models.MODELS[REPO])
    assert time.monotonic() - started < 30  # guards against a hang; not a timing test
    assert "99.1 MB" in str(err.value) and "4472b7362082ad9968fee890ca0f1e5aca36b93d" in str(err.value)


def test_a_hub_that_accepts_and_never_answers_is_the_clear_error_within_the_probe_timeout(hub):
    hub.faults = Faults(stall=True)  # the handler blocks on an Event, set only when the server stops
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        models.fetch(_entry(hub))
    took = time.monotonic() - started
    assert err.value.kind == "no_weights" and "did not answer" in str(err.value) and "Timeout" in str(err.value)
    assert "depth.local_weights" in str(err.value) and "REPLICATE_API_TOKEN" in str(err.value)
    assert took < 15  # bounded by the 5 s probe; the hub client alone retries for much longer (a hang to a user)
    assert hub.gets == []


def test_models_fetch_honours_the_configured_mirror_pin(hub, monkeypatch):
    from click.testing import CliRunner

    from depthstudio.cli import main

    monkeypatch.setenv("DEPTHSTUDIO_DEPTH_MODEL_REVISION", hub.commit)
    monkeypatch.setenv("DEPTHSTUDIO_DEPTH_MODEL_SHA256", hub.sha256)
    monkeypatch.setenv("DEPTHSTUDIO_DEPTH_MODEL_SIZE", str(len(hub.content)))
    result = CliRunner().invoke(main, ["models", "fetch", REPO])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("onnx/model.onnx") and hub.gets == [""]
