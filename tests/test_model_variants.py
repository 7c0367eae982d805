"""Which published file the ONNX runtime runs: fp16 on CUDA/TensorRT, fp32 on the CPU, DirectML and CoreML.

No GPU here: the choice is a function of the provider ONNX Runtime would put first, tested for each provider.
"""

from __future__ import annotations

import pytest

from depthstudio.config import DepthConfig
from depthstudio.depth import models
from depthstudio.depth.onnx import choose_providers
from depthstudio.errors import ConfigError

FP32, FP16 = models.DA_V2_SMALL_ONNX, models.DA_V2_SMALL_ONNX_FP16


@pytest.mark.parametrize("provider", ["CUDAExecutionProvider", "TensorrtExecutionProvider"])
def test_cuda_and_tensorrt_get_the_half_precision_export(provider):
    chosen = models.for_provider(DepthConfig(), provider)
    assert chosen is FP16 and chosen.filename == "onnx/model_fp16.onnx"
    assert chosen.revision == FP32.revision and chosen.size == 49_642_442


@pytest.mark.parametrize("provider", ["DmlExecutionProvider", "CoreMLExecutionProvider"])
def test_directml_and_coreml_keep_fp32_since_they_pick_their_own_precision(provider):
    assert models.for_provider(DepthConfig(), provider) is FP32


def test_the_cpu_keeps_fp32():
    assert models.for_provider(DepthConfig(), "CPUExecutionProvider") is FP32


def test_this_machine_runs_fp32_on_the_provider_onnx_runtime_puts_first():
    import onnxruntime as ort

    first = choose_providers(ort.get_available_providers(), "auto")[0]
    assert first == "CPUExecutionProvider"  # no GPU provider installed here (CI neither)
    assert models.for_provider(DepthConfig(), first) is FP32


def test_float32_is_kept_on_a_gpu_when_asked_and_float16_is_used_when_asked():
    assert models.for_provider(DepthConfig(dtype="float32"), "CUDAExecutionProvider") is FP32
    assert models.for_provider(DepthConfig(dtype="float16"), "CPUExecutionProvider") is FP16


def test_a_mirror_pin_describes_the_fp32_file_so_a_gpu_runs_that_one():
    mirrored = DepthConfig(model_revision="5" * 40, model_sha256="6" * 64, model_size=1234)
    chosen = models.for_provider(mirrored, "CUDAExecutionProvider")
    assert chosen.filename == "onnx/model.onnx" and chosen.revision == "5" * 40 and chosen.size == 1234


def test_a_dtype_onnx_runtime_cannot_run_is_a_config_error():
    with pytest.raises(ConfigError, match=r"depth\.dtype='bfloat16'"):
        models.for_provider(DepthConfig(dtype="bfloat16"), "CUDAExecutionProvider")


def test_local_weights_in_a_folder_are_looked_up_under_the_chosen_variants_name(tmp_path):
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"fp32 only")
    from depthstudio.errors import BackendError

    with pytest.raises(BackendError, match=r"holds no onnx/model_fp16\.onnx"):
        models.locate(DepthConfig(local_weights=str(tmp_path)), entry=FP16)


def test_int8_is_an_option_the_cpu_never_gets_by_default():
    assert models.for_provider(DepthConfig(dtype="int8"), "CPUExecutionProvider") is models.DA_V2_SMALL_ONNX_INT8
    assert models.DA_V2_SMALL_ONNX_INT8.filename == "onnx/model_quantized.onnx"
    assert models.DA_V2_SMALL_ONNX_INT8.revision == FP32.revision
    with pytest.raises(ConfigError, match="no pinned 8-bit file"):
        models.for_provider(DepthConfig(dtype="int8", model_sha256="6" * 64), "CPUExecutionProvider")
