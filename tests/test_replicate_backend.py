"""The Replicate backend end to end: the official client against the protocol server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.config import DepthConfig, load_config
from depthstudio.depth.backend import DepthBackend
from depthstudio.depth.replicate import (
    ReplicateBackend,
    ReplicateOptions,
    ReplicateRateLimited,
    is_public_http_url,
    make_replicate_backend,
    parse_model_ref,
)
from depthstudio.errors import BackendError, Cancelled, ConfigError
from depthstudio.imaging.types import Avatar, CropBox
from tests.conftest import SAMPLE_AVATARS
from tests.servers.replicate_server import MIDAS, ReplicateServer, depth_like_png

PUBLIC_URL = "https://portal.example.com/avatars/grace_hopper.jpg"
FAST = {"poll_initial_s": 0.02, "poll_max_s": 0.1, "http_timeout_s": 5.0, "deadline_s": 10.0}


def make_avatar(path: Path, source: str, *, width: int = 80, crop: int = 64, exif_rotated: bool = False) -> Avatar:
    """An Avatar built from a sample photo (small, for speed), until the imaging module's loader lands."""
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        original = img.convert("RGB")
    original = original.resize((width, round(original.height * width / original.width)))
    w, h = original.size
    side = min(w, h)
    box = CropBox((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
    image = original.crop((box.left, box.top, box.right, box.bottom)).resize((crop, crop))
    return Avatar(
        source=source,
        sha256=hashlib.sha256(raw).hexdigest(),
        original=original,
        image=image,
        crop=box,
        exif_rotated=exif_rotated,
        raw_size=len(raw),
    )


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def server() -> Iterator[ReplicateServer]:
    with ReplicateServer() as s:
        yield s


@pytest.fixture
def make_backend(server: ReplicateServer) -> Iterator[Callable[..., ReplicateBackend]]:
    made: list[ReplicateBackend] = []

    def make(token: str | None = None, **options: object) -> ReplicateBackend:
        backend = ReplicateBackend(
            token or server.token, base_url=server.url, options=ReplicateOptions(**{**FAST, **options})
        )
        made.append(backend)
        return backend

    yield make
    for b in made:
        b.close()


@pytest.fixture
def local_avatar() -> Avatar:
    return make_avatar(SAMPLE_AVATARS / "astronaut.png", str(SAMPLE_AVATARS / "astronaut.png"))


@pytest.fixture
def public_avatar(server: ReplicateServer) -> Avatar:
    path = SAMPLE_AVATARS / "grace_hopper.jpg"
    avatar = make_avatar(path, PUBLIC_URL)
    server.internet[PUBLIC_URL] = png_bytes(avatar.original)
    return avatar


# --- success ------------------------------------------------------------------------------------------------


def test_a_local_avatar_is_sent_as_a_data_uri_of_its_crop_and_comes_back_as_its_depth(
    make_backend, server, local_avatar
):
    backend = make_backend()
    assert isinstance(backend, DepthBackend)
    pred = backend.predict(local_avatar)
    sent = server.bodies[-1]
    assert sent["version"] == backend.version and sent["input"]["model_type"] == "dpt_beit_large_512"
    assert sent["input"]["image"].startswith("data:image/png;base64,")
    assert pred.frame == "crop" and pred.metadata["input"] == "data_uri"
    assert pred.disparity.dtype == np.float32 and pred.disparity.shape == (64, 64)
    expected = np.asarray(Image.open(io.BytesIO(depth_like_png(png_bytes(local_avatar.image)))), np.float32) / 255
    np.testing.assert_array_equal(pred.disparity, expected)
    # Sync mode: one create and one download, no polling.
    assert (server.count("create"), server.count("get"), server.count("download")) == (1, 0, 1)
    assert server.auth_on_download == 0


def test_one_backend_serves_concurrent_workers_each_with_its_own_result(make_backend, server):
    server.faults.latency_s = 0.1
    avatars = [make_avatar(p, str(p)) for p in sorted(SAMPLE_AVATARS.glob("*.[pj][np]g"))] * 3
    backend = make_backend()
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = backend.predict(avatars[i]).disparity

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(avatars))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == len(avatars) == server.count("create")
    for i, avatar in enumerate(avatars):
        expected = np.asarray(Image.open(io.BytesIO(depth_like_png(png_bytes(avatar.image)))), np.float32)
        np.testing.assert_array_equal(results[i], expected / 255)


def test_a_public_url_is_sent_as_is_and_the_map_covers_the_original(make_backend, server, public_avatar):
    pred = make_backend().predict(public_avatar)
    assert server.bodies[-1]["input"]["image"] == PUBLIC_URL
    assert pred.frame == "original" and pred.metadata["input"] == "url"
    assert pred.disparity.shape == (public_avatar.original.height, public_avatar.original.width)


def test_an_exif_rotated_public_avatar_is_uploaded_instead(make_backend, server):
    avatar = make_avatar(SAMPLE_AVATARS / "grace_hopper.jpg", PUBLIC_URL, exif_rotated=True)
    pred = make_backend().predict(avatar)
    assert server.bodies[-1]["input"]["image"].startswith("data:")
    assert pred.frame == "crop"


def test_a_crop_over_the_data_uri_limit_goes_through_the_files_api(make_backend, server, local_avatar):
    pred = make_backend(data_uri_max_bytes=0).predict(local_avatar)
    assert server.count("file_upload") == 1
    assert server.bodies[-1]["input"]["image"].startswith(f"{server.url}/v1/files/")
    assert pred.metadata["input"] == "upload" and pred.disparity.shape == (64, 64)


@pytest.mark.parametrize("form", ["list", "dict", "data_uri"])
def test_list_dict_and_data_uri_outputs_of_other_models_are_understood(make_backend, server, local_avatar, form):
    server.faults.output_form = form
    pred = make_backend().predict(local_avatar)
    assert pred.disparity.shape == (64, 64)
    assert server.count("download") == (0 if form == "data_uri" else 1)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://portal.example.com/a.jpg", True),
        ("http://8.8.8.8/a.jpg", True),
        ("http://127.0.0.1:8000/a.jpg", False),
        ("http://10.1.2.3/a.jpg", False),
        ("http://localhost/a.jpg", False),
        ("http://avatars.internal/a.jpg", False),
        ("file:///srv/a.jpg", False),
        ("/srv/a.jpg", False),
    ],
)
def test_only_urls_replicate_could_fetch_count_as_public(url, public):
    assert is_public_http_url(url) is public


def test_without_sync_mode_it_polls_with_a_growing_interval(make_backend, server, local_avatar):
    server.faults.latency_s = 0.3
    pred = make_backend(sync_wait_s=0, poll_initial_s=0.05, poll_growth=2.0, poll_max_s=1.0).predict(local_avatar)
    assert pred.disparity.shape == (64, 64)
    # 0.05 + 0.1 + 0.2 + 0.4 s covers 0.3 s in four polls; a fixed 0.05 s interval would need six.
    assert 1 <= server.count("get") <= 4


def test_a_cold_start_is_waited_out_past_the_sync_window(make_backend, server, local_avatar, caplog):
    server.faults.cold_start_s = 0.3
    server.faults.max_wait_s = 0.1  # the sync window ends while the model is still booting
    with caplog.at_level(logging.INFO, logger="depthstudio.depth.replicate"):
        pred = make_backend().predict(local_avatar)
    assert pred.disparity.shape == (64, 64)
    assert server.count("get") >= 1
    assert any("cold start" in r.getMessage() for r in caplog.records)


# --- faults -------------------------------------------------------------------------------------------------


def test_a_429_is_retried_after_the_servers_retry_after(make_backend, server, local_avatar, caplog):
    server.faults.rate_limit_creates = 1
    server.faults.retry_after = "0"  # without the header the backoff would wait 1 s
    with caplog.at_level(logging.WARNING, logger="depthstudio.depth.replicate"):
        make_backend().predict(local_avatar)
    assert server.count("rate_limited") == 1 and server.count("create") == 2
    assert any("retrying the create in 0.0 s" in r.getMessage() for r in caplog.records)


def test_a_persistent_429_ends_as_a_transient_rate_limit_error(make_backend, server, local_avatar):
    server.faults.rate_limit_creates = 100
    server.faults.retry_after = "0"
    with pytest.raises(ReplicateRateLimited) as info:
        make_backend(rate_limit_retries=2).predict(local_avatar)
    assert info.value.kind == "rate_limited" and info.value.transient and info.value.retry_after == 0
    assert server.count("create") == 3


def test_a_retry_after_beyond_the_deadline_is_not_slept_through(make_backend, server, local_avatar):
    server.faults.rate_limit_creates = 1
    server.faults.retry_after = "120"
    with pytest.raises(ReplicateRateLimited) as info:
        make_backend(deadline_s=5.0).predict(local_avatar)
    assert info.value.retry_after == 120 and server.count("create") == 1


def test_a_500_on_create_is_a_transient_server_error_and_is_not_blindly_reposted(make_backend, server, local_avatar):
    server.faults.server_error_creates = 1
    with pytest.raises(BackendError) as info:
        make_backend().predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("server_error", True)
    assert server.count("create") == 1


def test_500s_while_polling_are_retried(make_backend, server, local_avatar):
    server.faults.latency_s = 0.1
    server.faults.server_error_polls = 2
    pred = make_backend(sync_wait_s=0).predict(local_avatar)
    assert pred.disparity.shape == (64, 64) and server.count("server_error") == 2


def test_polling_that_keeps_failing_gives_up_and_cancels_the_prediction(make_backend, server, local_avatar):
    server.faults.latency_s = 5.0
    server.faults.server_error_polls = 100
    with pytest.raises(BackendError) as info:
        make_backend(sync_wait_s=0, poll_error_retries=2).predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("server_error", True)
    assert server.count("cancel") == 1 and len(server.canceled_ids) == 1


def test_a_create_that_times_out_is_a_transient_timeout(make_backend, server, local_avatar):
    server.faults.stall_create_s = 1.0
    with pytest.raises(BackendError) as info:
        make_backend(sync_wait_s=0, http_timeout_s=0.2).predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("timeout", True)


def test_an_unreachable_api_is_a_transient_network_error(local_avatar):
    with ReplicateServer() as gone:
        url = gone.url
    backend = ReplicateBackend("r8_x", base_url=url, options=ReplicateOptions(**FAST))
    with pytest.raises(BackendError) as info:
        backend.predict(local_avatar)
    backend.close()
    assert (info.value.kind, info.value.transient) == ("network", True)


def test_a_failed_prediction_keeps_the_models_error_text(make_backend, server, local_avatar):
    server.faults.outcome = "failed"
    server.faults.error_text = "CUDA out of memory. Tried to allocate 2.00 GiB"
    with pytest.raises(BackendError) as info:
        make_backend().predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("prediction_failed", False)
    assert "CUDA out of memory. Tried to allocate 2.00 GiB" in str(info.value)


def test_a_url_the_model_cannot_fetch_fails_with_the_models_reason(make_backend, server):
    avatar = make_avatar(SAMPLE_AVATARS / "chelsea.png", "https://portal.example.com/missing.png")
    with pytest.raises(BackendError) as info:
        make_backend().predict(avatar)
    assert info.value.kind == "prediction_failed" and "https://portal.example.com/missing.png" in str(info.value)


def test_a_prediction_canceled_on_replicate_says_so(make_backend, server, local_avatar):
    server.faults.outcome = "canceled"
    with pytest.raises(BackendError) as info:
        make_backend().predict(local_avatar)
    assert info.value.kind == "prediction_canceled" and "not by depthstudio" in str(info.value)


@pytest.mark.parametrize(
    ("output", "words"),
    [("garbage", "not a readable image"), ("wrong_aspect", "aspect ratio"), ("color", "colour image")],
)
def test_an_output_that_is_not_a_matching_depth_map_is_rejected(make_backend, server, local_avatar, output, words):
    server.faults.output = output
    with pytest.raises(BackendError) as info:
        make_backend().predict(local_avatar)
    assert info.value.kind == "bad_output" and not info.value.transient
    assert words in str(info.value)


def test_an_output_in_a_format_outside_the_allow_list_is_refused(make_backend, server, local_avatar):
    # A grey TIFF of the right size: Pillow alone would decode it; imaging's allow-list must refuse it.
    server.faults.output = "tiff"
    with pytest.raises(BackendError) as info:
        make_backend().predict(local_avatar)
    assert info.value.kind == "bad_output" and "unsupported format" in str(info.value)


def test_an_output_over_the_size_limit_is_not_downloaded_whole(make_backend, server, local_avatar):
    with pytest.raises(BackendError) as info:
        make_backend(max_output_bytes=100).predict(local_avatar)
    assert info.value.kind == "bad_output" and "limit" in str(info.value)


def test_a_stalled_download_is_a_transient_download_error(make_backend, server, local_avatar):
    server.faults.stall_download_s = 1.0
    with pytest.raises(BackendError) as info:
        make_backend(http_timeout_s=0.2, sync_wait_s=1).predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("output_download", True)


def test_a_never_finishing_prediction_is_cancelled_at_the_deadline(make_backend, server, local_avatar):
    server.faults.outcome = "never"
    server.faults.max_wait_s = 0.1
    with pytest.raises(BackendError) as info:
        make_backend(deadline_s=0.5).predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("prediction_timeout", True)
    assert len(server.canceled_ids) == 1


def test_a_model_that_never_boots_is_reported_as_a_cold_start_timeout(make_backend, server, local_avatar):
    server.faults.cold_start_s = 60.0
    server.faults.max_wait_s = 0.1
    with pytest.raises(BackendError) as info:
        make_backend(deadline_s=0.4).predict(local_avatar)
    assert info.value.kind == "cold_start_timeout" and "never started" in str(info.value)
    assert len(server.canceled_ids) == 1


def test_cancelling_the_job_cancels_the_remote_prediction(make_backend, server, local_avatar):
    server.faults.latency_s = 30.0
    server.faults.max_wait_s = 0.2
    backend = make_backend()
    token = CancelToken()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            backend.predict(local_avatar, cancel=token)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert server.created_event.wait(5)
    token.cancel()
    worker.join(5)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert server.count("cancel") == 1 and len(server.canceled_ids) == 1


def test_an_already_cancelled_token_sends_nothing(make_backend, server, local_avatar):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        make_backend().predict(local_avatar, cancel=token)
    assert sum(server.counts.values()) == 0


# --- token handling -----------------------------------------------------------------------------------------


def test_a_wrong_token_is_an_auth_error_that_says_how_to_fix_it(make_backend, server, local_avatar):
    wrong = "r8_wrong_token_abcdef0123456789"
    with pytest.raises(BackendError) as info:
        make_backend(token=wrong).predict(local_avatar)
    assert (info.value.kind, info.value.transient) == ("auth", False)
    assert "REPLICATE_API_TOKEN" in str(info.value) and wrong not in str(info.value)


def test_the_token_appears_in_no_log_line_message_or_repr(make_backend, server, local_avatar, public_avatar, caplog):
    caplog.set_level(logging.DEBUG)  # root: the replicate, httpx and httpcore loggers propagate to it
    for name in ("httpx", "httpcore", "replicate", "depthstudio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    backend = make_backend()
    errors: list[BaseException] = []
    backend.predict(local_avatar)
    backend.predict(public_avatar)
    server.faults.rate_limit_creates = 1
    server.faults.retry_after = "0"
    server.faults.outcome = "failed"
    server.faults.error_text = "boom"
    with pytest.raises(BackendError) as failed:
        backend.predict(local_avatar)
    errors.append(failed.value)
    with pytest.raises(BackendError) as denied:
        make_backend(token="r8_other_token_zzzzzzzzzzzzzz").predict(local_avatar)
    errors.append(denied.value)
    lines = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert any(line.startswith("HTTP Request: POST") for line in lines), "httpx request lines were captured"
    assert any(r.name.startswith("httpcore") for r in caplog.records), "httpcore DEBUG lines were captured"
    texts = [*lines, caplog.text, repr(backend), *map(str, errors), *map(repr, errors)]
    assert not [t for t in texts if server.token in t]
    assert server.auth_on_download == 0


def test_a_missing_token_is_a_config_error_that_says_how_to_set_it():
    with pytest.raises(ConfigError) as info:
        make_replicate_backend(DepthConfig())
    assert info.value.kind == "missing_token"
    assert "REPLICATE_API_TOKEN" in str(info.value) and "set-secret replicate_token" in str(info.value)


def test_the_token_is_read_from_the_environment(server, local_avatar, monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", server.token)
    backend = make_replicate_backend(DepthConfig(replicate_base_url=server.url), options=ReplicateOptions(**FAST))
    try:
        assert backend.predict(local_avatar).disparity.shape == (64, 64)
    finally:
        backend.close()


# --- configuration ------------------------------------------------------------------------------------------


def test_another_version_and_inputs_come_from_configuration(server, local_avatar):
    other = "f" * 64
    server.versions[other] = MIDAS
    cfg = load_config(
        environ={
            "DEPTHSTUDIO_DEPTH_REPLICATE_VERSION": other,
            "DEPTHSTUDIO_DEPTH_REPLICATE_INPUT": '{"model_type": "dpt_hybrid_384"}',
            "DEPTHSTUDIO_DEPTH_REPLICATE_BASE_URL": server.url,
        }
    )
    backend = make_replicate_backend(cfg.depth, token=server.token, options=ReplicateOptions(**FAST))
    try:
        pred = backend.predict(local_avatar)
    finally:
        backend.close()
    assert server.bodies[-1]["version"] == other
    assert server.bodies[-1]["input"]["model_type"] == "dpt_hybrid_384"
    assert pred.model == f"{MIDAS}:{other}"


def test_an_official_model_without_version_uses_the_models_endpoint_and_a_named_image_key(server, local_avatar):
    server.official_models.add("acme/depth-pro")
    cfg = load_config(
        environ={
            "DEPTHSTUDIO_DEPTH_REPLICATE_MODEL": "acme/depth-pro",
            "DEPTHSTUDIO_DEPTH_REPLICATE_VERSION": "",
            "DEPTHSTUDIO_DEPTH_REPLICATE_INPUT": '{"input_image": "{avatar}", "max_size": 256}',
            "DEPTHSTUDIO_DEPTH_REPLICATE_BASE_URL": server.url,
        }
    )
    backend = make_replicate_backend(cfg.depth, token=server.token, options=ReplicateOptions(**FAST))
    try:
        pred = backend.predict(local_avatar)
    finally:
        backend.close()
    sent = server.bodies[-1]
    assert sent["path"] == "/v1/models/acme/depth-pro/predictions" and "version" not in sent
    assert set(sent["input"]) == {"input_image", "max_size"} and sent["input"]["input_image"].startswith("data:")
    assert pred.model == "acme/depth-pro" and pred.disparity.shape == (64, 64)


@pytest.mark.parametrize(
    ("model", "version", "kind"),
    [("cjwbw/midas", "0" * 64, "bad_request"), ("nobody/nothing", "", "model_not_found")],
)
def test_an_unknown_model_or_version_is_a_permanent_error_naming_the_setting(
    server, local_avatar, model, version, kind
):
    backend = ReplicateBackend(
        server.token, model=model, version=version, base_url=server.url, options=ReplicateOptions(**FAST)
    )
    try:
        with pytest.raises(BackendError) as info:
            backend.predict(local_avatar)
    finally:
        backend.close()
    assert (info.value.kind, info.value.transient) == (kind, False)
    assert "depth.replicate_" in str(info.value)


def test_an_invalid_input_value_shows_the_servers_reason(server, local_avatar):
    backend = ReplicateBackend(
        server.token,
        inputs={"model_type": "dpt_nonsense"},
        base_url=server.url,
        options=ReplicateOptions(**FAST),
    )
    try:
        with pytest.raises(BackendError) as info:
            backend.predict(local_avatar)
    finally:
        backend.close()
    assert info.value.kind == "bad_request" and "model_type must be one of" in str(info.value)


def test_model_references_are_parsed_and_checked():
    assert parse_model_ref("cjwbw/midas:abc", "") == ("cjwbw/midas", "abc")
    assert parse_model_ref("cjwbw/midas", "abc") == ("cjwbw/midas", "abc")
    with pytest.raises(ConfigError):
        parse_model_ref("cjwbw/midas:abc", "def")
    with pytest.raises(ConfigError):
        parse_model_ref("midas", "")


def test_a_signed_avatar_urls_query_string_reaches_no_log_line(make_backend, server, caplog):
    signed = "https://portal.example.com/avatars/7.jpg?X-Amz-Signature=sig0123456789secret&X-Amz-Expires=600"
    avatar = make_avatar(SAMPLE_AVATARS / "grace_hopper.jpg", signed)
    server.internet[signed] = png_bytes(avatar.original)
    caplog.set_level(logging.DEBUG)
    make_backend().predict(avatar)
    lines = [r.getMessage() for r in caplog.records]
    assert any("portal.example.com/avatars/7.jpg" in line for line in lines), "the debug line names the avatar"
    assert not [line for line in lines if "sig0123456789secret" in line]
