"""ONNX Runtime, the default local runtime: the same map as torch for the same weights, providers in order."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from depthstudio.config import Config
from depthstudio.depth.factory import describe, local_runtime, make_backend, resolve_name
from depthstudio.depth.onnx import OnnxBackend, choose_providers
from depthstudio.depth.preprocess import PREPROCESSING
from depthstudio.errors import BackendError
from tests.avatars import avatar_from_image


def _avatars(n: int, size: int = 72) -> list:
    rng = np.random.default_rng(n)
    return [
        avatar_from_image(Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)), f"a{i}", size)
        for i in range(n)
    ]


def _normalised(m: np.ndarray) -> np.ndarray:
    return (m - m.min()) / (m.max() - m.min())


def test_onnx_runtime_and_torch_give_the_same_map_for_the_same_weights(tiny_onnx):
    ort_backend = OnnxBackend(
        tiny_onnx.path, model="tiny", preprocessing=tiny_onnx.torch_backend.preprocessing, device="cpu", batch_size=3
    )
    avatars = _avatars(5)
    for a, b in zip(ort_backend.predict_many(avatars), tiny_onnx.torch_backend.predict_many(avatars), strict=True):
        assert a.disparity.shape == b.disparity.shape == (72, 72)
        assert np.abs(_normalised(a.disparity) - _normalised(b.disparity)).max() < 1e-3
    assert a.metadata["runtime"] == "onnxruntime" and a.metadata["provider"] == "CPUExecutionProvider"


def test_a_batch_gives_the_maps_of_one_at_a_time_in_input_order(tiny_onnx):
    backend = OnnxBackend(tiny_onnx.path, model="tiny", preprocessing=tiny_onnx.torch_backend.preprocessing)
    avatars = _avatars(3)
    batch = backend.predict_many(avatars)
    for avatar, got in zip(avatars, batch, strict=True):
        np.testing.assert_allclose(got.disparity, backend.predict(avatar).disparity, rtol=1e-4, atol=1e-12)


def test_gpu_providers_come_before_the_cpu_and_cpu_only_is_honoured():
    available = ["CPUExecutionProvider", "CoreMLExecutionProvider", "CUDAExecutionProvider"]
    assert choose_providers(available) == ["CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(available, "cpu") == ["CPUExecutionProvider"]
    with pytest.raises(BackendError, match="onnxruntime-gpu"):
        choose_providers(["CPUExecutionProvider"], "cuda")


def test_a_file_that_is_not_a_depth_model_is_refused(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(BackendError) as err:
        OnnxBackend(bad, model="x", preprocessing=PREPROCESSING["depth_anything"])
    assert err.value.kind == "bad_weights"


def test_auto_is_replicate_with_a_token_and_local_without(monkeypatch):
    config = Config()
    assert config.depth.backend == "auto"
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    assert resolve_name(config) == "local"
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test_token_value")
    assert resolve_name(config) == "replicate"
    assert resolve_name(config, "synthetic") == "synthetic"
    assert local_runtime(config.depth) == "onnxruntime"
    config.depth.local_model = "Intel/dpt-beit-large-512"
    assert local_runtime(config.depth) == "torch"


def test_the_default_backend_runs_a_local_file_and_says_what_ran(tiny_onnx, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    config = Config()
    config.depth.local_weights = str(tiny_onnx.path)
    config.depth.model_sha256 = __import__("hashlib").sha256(tiny_onnx.content).hexdigest()
    config.depth.model_size = len(tiny_onnx.content)
    backend = make_backend(config)
    try:
        prediction = backend.predict(_avatars(1)[0])
        assert (prediction.backend, prediction.model) == ("local", "onnx-community/depth-anything-v2-small")
        assert describe(backend) == "local · onnx-community/depth-anything-v2-small (onnxruntime, cpu)"
    finally:
        backend.close()


def test_a_local_file_with_the_wrong_checksum_is_refused(tiny_onnx):
    config = Config()
    config.depth.local_weights = str(tiny_onnx.path)
    config.depth.model_size = len(tiny_onnx.content)
    with pytest.raises(BackendError) as err:
        make_backend(config, "local")
    assert err.value.kind == "bad_weights" and "sha256" in str(err.value)
