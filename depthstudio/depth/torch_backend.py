"""A depth model run in this process with PyTorch + ``transformers`` (Depth Anything V2, DPT/BEiT = MiDaS
3.1).

Preprocessing is done here in torch rather than with the ``transformers`` image processors, because those
need torchvision, which does not coexist with the CPU build of torch we ship. It follows each model's
published ``preprocessor_config.json`` (read from the weights when present): keep the aspect ratio, sides a
multiple of the patch grid, bicubic, the model's mean/std.

Weights come from a local directory, the Hugging Face cache, or (when the hub is reachable) a one-time
download with short timeouts; otherwise the backend fails at once with ``BackendError(kind="no_weights")``
saying how to get them. ``LocalBackend.with_random_weights`` builds the real architecture from the
published configuration without any weights (tests and benchmarks); ``tiny=True`` shrinks it so a test runs
in milliseconds.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from depthstudio.config import DepthConfig
from depthstudio.depth.preprocess import (
    PREPROCESSING,
    BatchedRuntime,
    Preprocessing,
    to_maps,
    to_network_input,
)
from depthstudio.errors import BackendError, ConfigError

if TYPE_CHECKING:
    import torch

    from depthstudio.config import DepthConfig

log = logging.getLogger(__name__)

DA_V2_SMALL = "depth-anything/Depth-Anything-V2-Small-hf"
DPT_BEIT_LARGE_512 = "Intel/dpt-beit-large-512"
KNOWN_MODELS = (DA_V2_SMALL, DPT_BEIT_LARGE_512)

# Only what inference needs; skips the PyTorch .bin duplicates and ONNX exports some repositories carry.
_WEIGHT_PATTERNS = ["*.json", "*.safetensors"]
_HUB_TIMEOUT_S = 5.0


def architecture_config(model_id: str, *, tiny: bool = False) -> Any:
    """The model's configuration written from its published ``config.json`` (no download), or a tiny
    variant of the same architecture for fast tests. Returns a ``transformers`` config."""
    from transformers import BeitConfig, DepthAnythingConfig, Dinov2Config, DPTConfig

    if model_id == DA_V2_SMALL:
        if tiny:
            backbone = Dinov2Config(
                image_size=56, patch_size=14, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                mlp_ratio=2, out_indices=[1, 2, 3, 4], apply_layernorm=True, reshape_hidden_states=False,
            )  # fmt: skip
            return DepthAnythingConfig(
                backbone_config=backbone, reassemble_hidden_size=32, patch_size=14,
                neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8,
            )  # fmt: skip
        backbone = Dinov2Config(
            image_size=518, patch_size=14, hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
            mlp_ratio=4, layerscale_value=1.0, out_indices=[3, 6, 9, 12], apply_layernorm=True,
            reshape_hidden_states=False,
        )  # fmt: skip
        return DepthAnythingConfig(
            backbone_config=backbone, reassemble_hidden_size=384, patch_size=14,
            reassemble_factors=[4, 2, 1, 0.5], neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64,
            head_hidden_size=32, head_in_index=-1, depth_estimation_type="relative",
        )  # fmt: skip
    if model_id == DPT_BEIT_LARGE_512:
        if tiny:
            backbone = BeitConfig(
                image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                intermediate_size=64, use_relative_position_bias=True, reshape_hidden_states=False,
                out_features=["stage1", "stage2", "stage3", "stage4"],
            )  # fmt: skip
            return DPTConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16)
        backbone = BeitConfig(
            image_size=512, patch_size=16, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
            intermediate_size=4096, use_relative_position_bias=True, reshape_hidden_states=False,
            out_features=["stage6", "stage12", "stage18", "stage24"],
        )  # fmt: skip
        return DPTConfig(backbone_config=backbone, neck_hidden_sizes=[256, 512, 1024, 1024], fusion_hidden_size=256)
    raise ConfigError(f"no built-in architecture for {model_id!r}; known: {', '.join(KNOWN_MODELS)}")


def resolve_device(name: str) -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU; an explicit device that is missing is an
    error."""
    import torch

    if name in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"depth.device={name!r} is not a device; use auto, cuda, cuda:N, mps or cpu") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(
            "depth.device asks for CUDA but this PyTorch sees no CUDA GPU; use depth.device=auto or cpu",
            kind="device_unavailable",
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise BackendError(
            "depth.device asks for MPS but it is not available here; use depth.device=auto or cpu",
            kind="device_unavailable",
        )
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on GPUs that have it (fp16 otherwise), fp32 on the CPU, where half precision rarely
    pays."""
    import torch

    if name in ("", "auto"):
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if name not in table:
        raise ConfigError(f"depth.dtype={name!r} is not one of auto, float32, bfloat16, float16")
    dtype = table[name]
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError("depth.dtype=float16 is not supported on the CPU; use bfloat16 or float32")
    return dtype


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.HF_HUB_OFFLINE or flag.strip().lower() in ("1", "true", "yes", "on")


def _no_weights(model_id: str, why: str) -> BackendError:
    return BackendError(
        f"no weights for the local depth model {model_id} ({why}). On a machine with internet run "
        f"`huggingface-cli download {model_id}` (it fills the Hugging Face cache; copy ~/.cache/huggingface "
        "here), or download the repository files into a folder and set depth.local_weights_dir to it.",
        kind="no_weights",
    )


def locate_weights(model_id: str, weights_dir: str | Path | None = None) -> Path:
    """The folder holding ``config.json`` + safetensors: the given directory, the cache, or a bounded
    download."""
    if weights_dir:
        folder = Path(weights_dir).expanduser()
        if not (folder / "config.json").is_file():
            raise _no_weights(model_id, f"{folder} has no config.json")
        return folder
    import httpx
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    # Read at call time, not at huggingface_hub's import, so a process can point at another cache.
    cache = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    try:
        return Path(
            snapshot_download(model_id, allow_patterns=_WEIGHT_PATTERNS, local_files_only=True, cache_dir=cache)
        )
    except LocalEntryNotFoundError:
        pass
    except Exception as exc:  # a corrupt cache entry, a bad repository name
        raise _no_weights(model_id, f"the Hugging Face cache could not be read: {type(exc).__name__}") from None
    if _offline():
        raise _no_weights(model_id, "not in the Hugging Face cache, and HF_HUB_OFFLINE is set")
    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    # The hub client waits a long time on a silent network (retries, no overall deadline); a short probe of
    # the same API decides first whether a download can work at all.
    try:
        httpx.get(f"{endpoint}/api/models/{model_id}", timeout=_HUB_TIMEOUT_S).raise_for_status()
    except httpx.HTTPError as exc:
        raise _no_weights(
            model_id, f"not cached, and the hub at {endpoint} did not answer: {type(exc).__name__}"
        ) from None
    log.info("downloading %s from %s (once)", model_id, endpoint)
    try:
        return Path(
            snapshot_download(
                model_id,
                allow_patterns=_WEIGHT_PATTERNS,
                etag_timeout=_HUB_TIMEOUT_S,
                endpoint=endpoint,
                cache_dir=cache,
            )
        )
    except Exception as exc:
        raise _no_weights(model_id, f"not cached, and the download failed: {type(exc).__name__}") from None


def _family(config: Any) -> str:
    model_type = getattr(config, "model_type", "")
    if model_type not in PREPROCESSING:
        raise BackendError(
            f"the local backend supports Depth Anything and DPT models, not model_type {model_type!r}",
            kind="unsupported_model",
        )
    return str(model_type)


class LocalBackend(BatchedRuntime):
    """A ``BatchDepthBackend``: avatars of the same size run as one batch, with one device-to-host copy per
    batch."""

    name = "local"
    runtime = "torch"

    def __init__(
        self,
        network: Any,
        *,
        model: str,
        preprocessing: Preprocessing,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = DepthConfig.batch_size,
    ) -> None:
        import torch

        if batch_size < 1:
            raise ConfigError("depth.batch_size must be at least 1")
        self.model = model
        self.preprocessing = preprocessing
        self.device = resolve_device(device)
        from depthstudio.depth.devices import torch_hint

        self.hint = torch_hint(self.device.type, device)
        self._asked_cpu = device == "cpu"
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        # channels_last speeds up the convolutional neck/head with cuDNN; on the CPU it only costs copies.
        self._channels_last = self.device.type == "cuda"
        network = network.eval().to(self.device)
        if self._channels_last:
            network = network.to(memory_format=torch.channels_last)
            # Square crops give one input shape per model: cuDNN's search for the fastest convolutions runs once.
            torch.backends.cudnn.benchmark = True
        self._network = network

    # --- construction -------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model_id: str = DA_V2_SMALL,
        *,
        weights_dir: str | Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = DepthConfig.batch_size,
    ) -> LocalBackend:
        """Real weights: ``weights_dir`` (a ``save_pretrained`` folder or a downloaded repository) or the
        cache."""
        from transformers import AutoConfig, AutoModelForDepthEstimation

        folder = locate_weights(model_id, weights_dir)
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            prep = PREPROCESSING[_family(config)]
            processor_file = folder / "preprocessor_config.json"
            if processor_file.is_file():
                prep = prep.with_processor_config(json.loads(processor_file.read_text(encoding="utf-8")))
            network = AutoModelForDepthEstimation.from_pretrained(folder, config=config, local_files_only=True)
        except BackendError:
            raise
        except (OSError, ValueError) as exc:
            raise _no_weights(model_id, f"{folder} could not be loaded: {exc}") from None
        return cls(network, model=model_id, preprocessing=prep, device=device, dtype=dtype, batch_size=batch_size)

    @classmethod
    def with_random_weights(
        cls,
        model_id: str = DA_V2_SMALL,
        *,
        tiny: bool = False,
        seed: int = 0,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = DepthConfig.batch_size,
    ) -> LocalBackend:
        """The real architecture, randomly initialised: same compute and memory as the released model, no
        weights. ``tiny`` keeps the architecture but shrinks widths, depth and input size to test the
        plumbing quickly."""
        import torch
        from transformers import AutoModelForDepthEstimation

        config = architecture_config(model_id, tiny=tiny)
        prep = PREPROCESSING[_family(config)]
        if tiny:
            prep = replace(prep, size=config.backbone_config.image_size)
        torch.manual_seed(seed)
        network = AutoModelForDepthEstimation.from_config(config)
        return cls(network, model=model_id, preprocessing=prep, device=device, dtype=dtype, batch_size=batch_size)

    def save_pretrained(self, folder: str | Path) -> None:
        """Weights plus a ``preprocessor_config.json`` in the published format, so that
        ``load(weights_dir=folder)`` rebuilds this exact backend (how tests and air-gapped machines get a
        model without the hub)."""
        self.network.save_pretrained(folder)
        prep = self.preprocessing
        processor = {
            "image_processor_type": "DPTImageProcessor",
            "do_resize": True,
            "size": {"height": prep.size, "width": prep.size},
            "keep_aspect_ratio": prep.keep_aspect,
            "ensure_multiple_of": prep.multiple,
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": list(prep.mean),
            "image_std": list(prep.std),
        }
        (Path(folder) / "preprocessor_config.json").write_text(json.dumps(processor, indent=2), encoding="utf-8")

    @property
    def network(self) -> Any:
        """The ``transformers`` module (e.g. to ``save_pretrained`` it)."""
        return self._network

    # --- inference ----------------------------------------------------------------------------------------

    @property
    def precision(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def why(self) -> str:
        """Which device runs and why, for the CLI and the studio (with what to install, where that is the reason)."""
        import torch

        if self.device.type == "cuda":
            reason = f"PyTorch sees {torch.cuda.get_device_name(self.device)}"
        elif self.device.type == "mps":
            reason = "PyTorch sees Apple's GPU (MPS)"
        else:
            reason = "depth.device=cpu" if self._asked_cpu else "PyTorch sees no CUDA or MPS device"
        config = getattr(self._network, "config", None)
        # The transformer backbone is where attention runs (SDPA by default in transformers for DINOv2 and BEiT).
        attention = getattr(getattr(config, "backbone_config", None) or config, "_attn_implementation", "")
        line = f"depth runs on {self.device} (torch, {self.precision}, attention {attention or 'eager'}): {reason}"
        return f"{line}. {self.hint}" if self.hint else line

    def _run_metadata(self) -> dict[str, Any]:
        return {"device": str(self.device), "dtype": self.precision}

    def _run(self, images: Sequence[Any]) -> list[np.ndarray]:
        import torch

        if self._network is None:
            raise BackendError("the local depth backend was used after close()", kind="closed")
        pixels = to_network_input(images, self.preprocessing)
        try:
            with torch.inference_mode():
                x = torch.from_numpy(pixels).to(self.device, non_blocking=True)
                if self._channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
                    depth = self._network(pixel_values=x).predicted_depth
                raw = depth.float().cpu().numpy()
        except torch.OutOfMemoryError:
            raise BackendError(
                f"the {self.device} device ran out of memory for a batch of {len(images)}; lower "
                "depth.batch_size or use depth.dtype=bfloat16",
                kind="out_of_memory",
            ) from None
        return to_maps(raw, images[0].size)

    def close(self) -> None:
        import torch

        self._network = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def make_local_backend(config: DepthConfig) -> LocalBackend:
    """The backend the configuration describes: ``local_model`` with weights from ``local_weights_dir`` or
    the cache."""
    # The ONNX export's name stands for the same network in its transformers form (depth.local_runtime=torch).
    model = DA_V2_SMALL if config.local_model == "onnx-community/depth-anything-v2-small" else config.local_model
    return LocalBackend.load(
        model,
        weights_dir=config.local_weights_dir or config.local_weights or None,
        device=config.device,
        dtype=config.dtype,
        batch_size=config.batch_size,
    )
