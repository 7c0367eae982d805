"""The local PyTorch backend, on the real architectures of both models built offline with random weights.

Tiny configurations keep the networks' structure (DINOv2 + DPT head, BEiT + DPT decoder) at a fraction of
the size, so every path (preprocessing, batching, dtype, device, loading from a folder) runs in well under a
second.
Untrained outputs are ~1e-9, so comparisons are relative to each map's own scale.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from depthstudio.cancel import CancelToken  # noqa: E402
from depthstudio.config import Config  # noqa: E402
from depthstudio.depth.backend import BatchDepthBackend, DepthBackend  # noqa: E402
from depthstudio.depth.factory import make_backend  # noqa: E402
from depthstudio.depth.torch_backend import (  # noqa: E402
    DA_V2_SMALL,
    DPT_BEIT_LARGE_512,
    KNOWN_MODELS,
    PREPROCESSING,
    LocalBackend,
    architecture_config,
)
from depthstudio.errors import BackendError, Cancelled, ConfigError  # noqa: E402
from tests.avatars import avatar_from_image  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def _avatar(seed: int, size: int = 72):
    rng = np.random.default_rng(seed)
    return avatar_from_image(Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)), f"a{seed}", size)


@pytest.fixture(scope="module", params=KNOWN_MODELS)
def tiny(request) -> LocalBackend:
    return LocalBackend.with_random_weights(request.param, tiny=True, device="cpu", batch_size=2)


def test_tiny_networks_are_the_published_architectures_scaled_down():
    da, beit = architecture_config(DA_V2_SMALL, tiny=True), architecture_config(DPT_BEIT_LARGE_512, tiny=True)
    assert (da.model_type, da.backbone_config.model_type) == ("depth_anything", "dinov2")
    assert (beit.model_type, beit.backbone_config.model_type) == ("dpt", "beit")
    assert beit.backbone_config.use_relative_position_bias
    full = architecture_config(DPT_BEIT_LARGE_512)
    assert (full.backbone_config.hidden_size, full.backbone_config.num_hidden_layers) == (1024, 24)
    with pytest.raises(ConfigError):
        architecture_config("someone/other-model")


def test_prediction_covers_the_crop_at_its_size(tiny):
    avatar = _avatar(0)
    pred = tiny.predict(avatar)
    assert isinstance(tiny, DepthBackend) and isinstance(tiny, BatchDepthBackend)
    assert pred.frame == "crop" and pred.backend == "local" and pred.model in KNOWN_MODELS
    assert pred.disparity.shape == (72, 72) and pred.disparity.dtype == np.float32
    assert np.isfinite(pred.disparity).all() and np.abs(pred.disparity).max() > 0
    assert pred.metadata["device"] == "cpu" and pred.metadata["dtype"] == "float32"


def test_a_batch_gives_the_same_maps_as_one_at_a_time_in_input_order(tiny):
    avatars = [_avatar(1), _avatar(2, size=56), _avatar(3), _avatar(4)]  # 3 of one size: batches of 2 + 1
    together = tiny.predict_many(avatars)
    assert [p.disparity.shape for p in together] == [(72, 72), (56, 56), (72, 72), (72, 72)]
    for avatar, batched in zip(avatars, together, strict=True):
        alone = tiny.predict(avatar).disparity
        scale = np.abs(alone).max()
        np.testing.assert_allclose(batched.disparity, alone, atol=1e-4 * scale, rtol=0)
    first, third = together[0].disparity, together[2].disparity
    assert np.abs(first - third).max() > 0.01 * np.abs(first).max()  # different photos, different maps


@pytest.mark.parametrize(
    ("family", "size", "expected"),
    [
        ("depth_anything", (512, 512), (518, 518)),  # square crop: scaled up to the training size
        ("depth_anything", (1024, 768), (518, 686)),  # keep aspect, the scale nearer 1 wins, multiple of 14
        ("dpt", (512, 512), (512, 512)),
        ("dpt", (600, 400), (352, 512)),  # (height, width), multiples of 32
    ],
)
def test_input_size_keeps_the_aspect_and_the_patch_grid(family, size, expected):
    assert PREPROCESSING[family].input_size(*size) == expected


def test_bfloat16_on_the_cpu_tracks_float32():
    avatar = _avatar(5)
    fp32 = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu").predict(avatar)
    bf16 = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu", dtype="bfloat16").predict(avatar)
    assert bf16.metadata["dtype"] == "bfloat16"
    corr = np.corrcoef(fp32.disparity.ravel(), bf16.disparity.ravel())[0, 1]
    assert corr > 0.95
    assert not np.array_equal(fp32.disparity, bf16.disparity)


def test_float16_on_the_cpu_and_unknown_dtypes_are_refused():
    with pytest.raises(ConfigError, match="bfloat16"):
        LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu", dtype="float16")
    with pytest.raises(ConfigError):
        LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu", dtype="int8")


def test_device_is_overridable_and_a_missing_one_is_a_clear_error():
    auto = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert auto.device.type == expected
    assert LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu").device.type == "cpu"
    with pytest.raises(ConfigError):
        LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="toaster")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError) as err:
            LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cuda")
        assert err.value.kind == "device_unavailable"


def test_a_cancelled_token_stops_before_the_next_batch(tiny):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tiny.predict_many([_avatar(6)], cancel=token)


def test_saved_weights_load_from_a_folder_and_predict_the_same(tmp_path, tiny):
    tiny.save_pretrained(tmp_path)
    loaded = LocalBackend.load(tiny.model, weights_dir=tmp_path, device="cpu")
    avatar = _avatar(7)
    np.testing.assert_allclose(loaded.predict(avatar).disparity, tiny.predict(avatar).disparity, rtol=1e-5, atol=1e-9)


def test_a_processor_config_next_to_the_weights_sets_the_preprocessing(tmp_path):
    LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True).save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "size": {"height": 28, "width": 28},
                "ensure_multiple_of": 14,
                "keep_aspect_ratio": True,
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.5, 0.5, 0.5],
            }
        )
    )
    backend = LocalBackend.load(DA_V2_SMALL, weights_dir=tmp_path, device="cpu")
    assert backend.preprocessing.mean == (0.5, 0.5, 0.5)
    assert backend.predict(_avatar(8)).metadata["input_size"] == [28, 28]


def test_the_factory_builds_the_local_backend_from_the_configuration(tmp_path):
    LocalBackend.with_random_weights(DPT_BEIT_LARGE_512, tiny=True).save_pretrained(tmp_path)
    config = Config()
    config.depth.local_model = DPT_BEIT_LARGE_512
    config.depth.local_weights_dir = str(tmp_path)
    config.depth.device = "cpu"
    backend = make_backend(config, "local")
    assert isinstance(backend.inner, LocalBackend) and backend.model == DPT_BEIT_LARGE_512
    assert backend.predict(_avatar(9)).disparity.shape == (72, 72)
    backend.close()


def test_weights_are_found_in_the_hugging_face_cache(tmp_path, monkeypatch):
    """The hub cache layout (models--org--name/refs/main -> snapshots/<revision>) as
    `huggingface-cli download` leaves it, found offline through HF_HOME."""
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    repo = tmp_path / "hub" / "models--depth-anything--Depth-Anything-V2-Small-hf"
    source = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu")
    source.save_pretrained(repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    cached = LocalBackend.load(DA_V2_SMALL, device="cpu")
    avatar = _avatar(11)
    np.testing.assert_array_equal(cached.predict(avatar).disparity, source.predict(avatar).disparity)


def test_no_weights_offline_fails_at_once_and_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        LocalBackend.load(DA_V2_SMALL, device="cpu")
    assert time.monotonic() - started < 30  # generous: this guards against a hang, it is not a timing test
    assert err.value.kind == "no_weights"
    assert f"huggingface-cli download {DA_V2_SMALL}" in str(err.value)
    assert "local_weights_dir" in str(err.value)
    with pytest.raises(BackendError) as err:
        LocalBackend.load(DA_V2_SMALL, weights_dir=tmp_path / "empty", device="cpu")
    assert err.value.kind == "no_weights"


def test_no_weights_with_a_silent_network_fails_instead_of_hanging(tmp_path):
    """Online mode against a hub that accepts connections and never answers (a black-holed proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{server.getsockname()[1]}", HF_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    code = (
        "from depthstudio.depth.torch_backend import LocalBackend\n"
        "from depthstudio.errors import BackendError\n"
        "try:\n    LocalBackend.load(device='cpu')\nexcept BackendError as e:\n    print(e.kind)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert out.stdout.strip() == "no_weights", out.stderr[-2000:]


def test_a_closed_backend_refuses_work():
    backend = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu")
    backend.close()
    with pytest.raises(BackendError) as err:
        backend.predict(_avatar(10))
    assert err.value.kind == "closed"
