"""Which ONNX Runtime provider runs, why, and what a user with an idle NVIDIA card is told to install.

No GPU here: the fallbacks are driven with real ONNX Runtime sessions (a provider name it refuses at init raises; a
GPU provider this CPU build lacks is dropped silently), and ``nvidia-smi`` is a script on PATH that prints what the
real one prints for ``--query-gpu=name --format=csv,noheader``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from depthstudio.depth import devices
from depthstudio.depth.onnx import OnnxBackend, choose_providers
from depthstudio.depth.preprocess import PREPROCESSING, BatchedRuntime
from depthstudio.errors import BackendError
from tests.avatars import avatar_from_image

CPU = "CPUExecutionProvider"


def _avatars(n: int, size: int = 64) -> list:
    rng = np.random.default_rng(n)
    return [
        avatar_from_image(Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)), f"a{i}", size)
        for i in range(n)
    ]


def test_tensorrt_goes_first_only_when_asked_and_gpu_providers_precede_the_cpu():
    available = [CPU, "DmlExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(available) == ["CUDAExecutionProvider", "DmlExecutionProvider", CPU]
    assert choose_providers(available, tensorrt=True)[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert choose_providers(available, "cuda", tensorrt=True) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        CPU,
    ]
    assert choose_providers([CPU], tensorrt=True) == [CPU]  # asked for, not installed: not tried


def test_a_provider_that_raises_at_init_falls_back_to_the_next_with_the_reason_logged(tiny_onnx, caplog):
    prep = tiny_onnx.torch_backend.preprocessing
    with caplog.at_level(logging.WARNING, logger="depthstudio.depth.onnx"):
        backend = OnnxBackend(
            tiny_onnx.path, model="tiny", preprocessing=prep, providers=["BrokenExecutionProvider", CPU]
        )
    assert backend.provider == CPU and backend.device == "cpu"
    (skipped,) = backend.choice.skipped
    assert skipped[0] == "BrokenExecutionProvider" and "BrokenExecutionProvider" in skipped[1]  # ORT's own words
    assert "BrokenExecutionProvider did not start" in caplog.text
    assert "fell back to cpu" in backend.why()
    assert backend.predict(_avatars(1)[0]).metadata["provider"] == CPU  # and the maps still come


def test_a_gpu_provider_onnx_runtime_drops_silently_is_reported_as_not_started(tiny_onnx):
    import onnxruntime as ort

    assert "CUDAExecutionProvider" not in ort.get_available_providers()  # the CPU build, as pip install . gives
    prep = tiny_onnx.torch_backend.preprocessing
    backend = OnnxBackend(tiny_onnx.path, model="tiny", preprocessing=prep, providers=["CUDAExecutionProvider", CPU])
    assert backend.provider == CPU
    assert backend.choice.skipped[0][0] == "CUDAExecutionProvider"
    assert "not in available provider names" in backend.choice.skipped[0][1]


def test_a_model_no_provider_can_load_is_bad_weights_after_every_provider_was_tried(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(BackendError) as err:
        OnnxBackend(bad, model="x", preprocessing=PREPROCESSING["depth_anything"], providers=["NopeProvider", CPU])
    assert err.value.kind == "bad_weights"


def test_an_idle_nvidia_gpu_gets_one_line_saying_what_to_install(tiny_onnx, fake_nvidia_smi):
    prep = tiny_onnx.torch_backend.preprocessing
    backend = OnnxBackend(tiny_onnx.path, model="tiny", preprocessing=prep)
    assert backend.device == "cpu"
    hint = str(backend.hint)
    assert "\n" not in hint and "NVIDIA H100 80GB HBM3" in hint and devices.INSTALL_NVIDIA_ORT in hint
    assert backend.why().startswith("depth runs on cpu (CPUExecutionProvider, float32)") and hint in backend.why()
    assert backend.hint.short() == f"NVIDIA H100 80GB HBM3 idle: {devices.INSTALL_NVIDIA_ORT}"


def test_asking_for_the_cpu_gives_no_install_hint(tiny_onnx, fake_nvidia_smi):
    prep = tiny_onnx.torch_backend.preprocessing
    assert OnnxBackend(tiny_onnx.path, model="tiny", preprocessing=prep, device="cpu").hint is None


def test_a_failing_nvidia_smi_still_finds_the_driver_library_or_says_none(tmp_path, monkeypatch):
    tool = tmp_path / "nvidia-smi"
    failing = "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver"
    tool.write_text(f"#!/bin/sh\necho '{failing}'\nexit 9\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    devices.nvidia_gpu.cache_clear()
    try:
        found = devices.nvidia_gpu()
    finally:
        devices.nvidia_gpu.cache_clear()
    assert found == ("an NVIDIA GPU" if devices._driver_library() else None)  # never the error text as a name


def test_io_binding_gives_what_a_plain_run_gives(tiny_onnx):
    from depthstudio.depth.preprocess import to_maps, to_network_input

    prep = tiny_onnx.torch_backend.preprocessing
    backend = OnnxBackend(tiny_onnx.path, model="tiny", preprocessing=prep, device="cpu")
    images = [a.image for a in _avatars(3)]
    bound = backend._run(images)
    (plain,) = backend._session.run(["predicted_depth"], {"pixel_values": to_network_input(images, prep)})
    for got, want in zip(bound, to_maps(plain, images[0].size), strict=True):
        np.testing.assert_array_equal(got, want)


class _SmallMemory(BatchedRuntime):
    """A runtime whose device holds at most ``fits`` images per batch (what a GPU's free memory does)."""

    name, model = "local", "fake"

    def __init__(self, fits: int, batch_size: int) -> None:
        self.fits, self.batch_size, self.preprocessing = fits, batch_size, PREPROCESSING["depth_anything"]
        self.calls: list[int] = []

    def _run(self, images):
        self.calls.append(len(images))
        if len(images) > self.fits:
            raise BackendError(f"out of memory for {len(images)}", kind="out_of_memory")
        return [np.full((8, 8), float(np.asarray(im)[0, 0, 0]), np.float32) for im in images]

    def _run_metadata(self):
        return {}


def test_a_batch_that_does_not_fit_is_halved_and_later_batches_stay_small():
    runtime = _SmallMemory(fits=3, batch_size=8)
    avatars = _avatars(16, size=8)
    results = runtime.predict_many(avatars)
    assert runtime.calls == [8, 4, 2, 2, 2, 2, 2, 2, 2, 2]  # one failure per halving, then batches that fit
    assert runtime.batch_size == 2
    for avatar, result in zip(avatars, results, strict=True):  # in input order, each its own map
        assert result.disparity[0, 0] == float(np.asarray(avatar.image)[0, 0, 0])


def test_a_single_image_that_does_not_fit_is_the_callers_error():
    with pytest.raises(BackendError) as err:
        _SmallMemory(fits=0, batch_size=4).predict_many(_avatars(1, size=8))
    assert err.value.kind == "out_of_memory"


def test_the_tensorrt_engine_cache_lives_in_the_data_dir(monkeypatch, tmp_path):
    from depthstudio.depth.onnx import provider_options

    monkeypatch.setenv("DEPTHSTUDIO_DATA_DIR", str(tmp_path))
    options = provider_options("TensorrtExecutionProvider")
    assert Path(options["trt_engine_cache_path"]) == tmp_path / "tensorrt" and (tmp_path / "tensorrt").is_dir()
    assert options["trt_fp16_enable"] == "1"
    profile = provider_options("TensorrtExecutionProvider", shape=(16, 518, 518))  # one engine for batches 1-16
    assert profile["trt_profile_min_shapes"] == "pixel_values:1x3x518x518"
    assert profile["trt_profile_max_shapes"] == profile["trt_profile_opt_shapes"] == "pixel_values:16x3x518x518"


def _doctor(monkeypatch, *args: str, **env: str) -> str:
    from click.testing import CliRunner

    from depthstudio.cli import main

    for key, value in env.items():
        monkeypatch.setenv(f"DEPTHSTUDIO_DEPTH_{key.upper()}", value)
    result = CliRunner().invoke(main, ["models", "doctor", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_doctor_opens_the_local_model_and_prints_runtime_providers_device_precision_and_file(
    tiny_onnx, monkeypatch, fake_nvidia_smi
):
    import hashlib
    import json

    out = _doctor(
        monkeypatch,
        "--json",
        local_weights=str(tiny_onnx.path),
        model_sha256=hashlib.sha256(tiny_onnx.content).hexdigest(),
        model_size=str(len(tiny_onnx.content)),
    )
    report = json.loads(out)
    assert report["runtime"].startswith("onnxruntime (onnxruntime 1.")
    assert "CPUExecutionProvider" in report["providers"]
    assert report["device"].startswith("cpu (CPUExecutionProvider)")  # a real session was opened
    assert report["precision"] == "float32" and report["model file"].endswith(str(tiny_onnx.path))
    assert report["nvidia gpu"] == "NVIDIA H100 80GB HBM3"
    assert devices.INSTALL_NVIDIA_ORT in report["hint"]


def test_doctor_without_the_model_file_says_how_to_fetch_it_and_downloads_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = _doctor(monkeypatch)
    assert "depthstudio models fetch onnx-community/depth-anything-v2-small" in out
    assert "not checked" in out and not (tmp_path / "empty-cache").exists()


def test_doctor_reports_the_torch_runtime_with_its_device_and_precision(monkeypatch):
    out = _doctor(monkeypatch, local_runtime="torch", device="cpu")
    lines = {line.split("  ")[0]: line.split("  ", 1)[1].strip() for line in out.splitlines()}
    assert lines["runtime"].startswith("torch 2.") and lines["device"] == "cpu"
    assert lines["precision"] == "float32, SDPA attention"  # no autocast or channels-last on the CPU


def test_the_int8_model_runs_through_the_product_and_says_so(tiny_onnx, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from depthstudio.depth.models import DA_V2_SMALL_ONNX, DA_V2_SMALL_ONNX_INT8

    int8 = tmp_path / "model_quantized.onnx"
    quantize_dynamic(str(tiny_onnx.path), str(int8), weight_type=QuantType.QUInt8)  # as the published file was made
    quantised = OnnxBackend.for_model(DA_V2_SMALL_ONNX_INT8, int8, device="cpu")
    full = OnnxBackend.for_model(DA_V2_SMALL_ONNX, tiny_onnx.path, device="cpu")
    assert quantised.precision == "int8" and full.precision == "float32"
    avatar = _avatars(1, size=72)[0]
    got = quantised.predict(avatar)
    assert got.metadata["dtype"] == "int8"
    a, b = got.disparity.ravel(), full.predict(avatar).disparity.ravel()
    assert not np.array_equal(a, b) and np.corrcoef(a, b)[0, 1] > 0.9  # 8-bit weights: close to fp32, not equal


def test_when_cuda_does_not_start_the_cpu_gets_the_fp32_file_not_the_fp16_one(tiny_onnx, tmp_path, monkeypatch):
    """An onnxruntime-gpu whose CUDA libraries are missing lists CUDA as available, then drops it at session start:
    the fp16 file chosen for CUDA must not end up on the CPU (fp16 there is slower than fp32)."""
    import hashlib
    from dataclasses import replace

    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from depthstudio.config import DepthConfig
    from depthstudio.depth import models
    from depthstudio.depth.onnx import make_onnx_backend

    (tmp_path / "onnx").mkdir()
    fp32 = tmp_path / "onnx" / "model.onnx"
    fp32.write_bytes(tiny_onnx.content)
    fp16 = tmp_path / "onnx" / "model_fp16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=False), str(fp16))
    name = models.DA_V2_SMALL_ONNX.name
    for table, path in ((models.MODELS, fp32), (models.FP16, fp16)):  # pins for these two files
        data = path.read_bytes()
        monkeypatch.setitem(table, name, replace(table[name], sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", *real])

    backend = make_onnx_backend(DepthConfig(local_weights=str(tmp_path)))
    assert backend.provider == CPU and backend.precision == "float32"
    assert backend.model_path == fp32
    assert backend.choice.skipped[0][0] == "CUDAExecutionProvider"  # the reason stays with the backend that runs
    assert "fell back to cpu" in backend.why()


def test_the_depth_command_says_which_device_runs_and_what_to_install(
    tiny_onnx, tmp_path, monkeypatch, fake_nvidia_smi
):
    import hashlib

    from click.testing import CliRunner

    from depthstudio.cli import main
    from tests.conftest import SAMPLE_AVATARS

    monkeypatch.setenv("DEPTHSTUDIO_DEPTH_MODEL_SHA256", hashlib.sha256(tiny_onnx.content).hexdigest())
    monkeypatch.setenv("DEPTHSTUDIO_DEPTH_MODEL_SIZE", str(len(tiny_onnx.content)))
    out = tmp_path / "d.png"
    photo = str(SAMPLE_AVATARS / "grace_hopper.jpg")
    args = ["depth", photo, "-o", str(out), "--backend", "local", "--weights-dir", str(tiny_onnx.path.parent)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "depth runs on cpu (CPUExecutionProvider, float32)" in result.output
    assert f"for the GPU: {devices.INSTALL_NVIDIA_ORT}" in result.output and out.is_file()
