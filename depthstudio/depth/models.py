"""The local models depthstudio knows, pinned, and getting their files onto a machine once.

Downloads go through ``huggingface_hub`` (``hf_hub_download``), so ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, the shared
HF cache, proxies and resuming a cut download behave as users of the hub expect. The file is pinned by revision
and checked by size and sha256 after download (the client trusts the server's ETag; we do not).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from depthstudio.cancel import CancelToken
from depthstudio.errors import BackendError, Cancelled, ConfigError

log = logging.getLogger(__name__)

# done bytes, total bytes (0 when unknown), the file's name
DownloadProgress = Callable[[int, int, str], None]

# Short: with no network the metadata request fails at once (refused / no route), with a silent one it is bounded
# by this, and the user gets the "two ways out" error instead of a hang.
_METADATA_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ModelFile:
    """One published model file, pinned: what to fetch, from where, and how to recognise it."""

    name: str  # the repository id, as users write depth.local_model
    filename: str
    revision: str
    sha256: str
    size: int
    licence: str
    family: str  # the preprocessing family (depthstudio.depth.preprocess.PREPROCESSING)
    runtime: str  # onnxruntime | torch

    def url(self, endpoint: str | None = None) -> str:
        return f"{(endpoint or hub_endpoint()).rstrip('/')}/{self.name}/resolve/{self.revision}/{self.filename}"


# onnx-community/depth-anything-v2-small at 4472b736…, onnx/model.onnx (fp32): 99,060,839 bytes, sha256 afb6a5c2….
# Read from the hub's model page/API by other projects that pin the same file (e.g. a Nix fetchurl with this
# sha256 and revision); Apache-2.0 per the model card.
DA_V2_SMALL_ONNX = ModelFile(
    name="onnx-community/depth-anything-v2-small",
    filename="onnx/model.onnx",
    revision="4472b7362082ad9968fee890ca0f1e5aca36b93d",
    sha256="afb6a5c28f3b6bf1618c6e43f02073ef9dfdc70e937502d51603e57b0a1df10c",
    size=99_060_839,
    licence="Apache-2.0",
    family="depth_anything",
    runtime="onnxruntime",
)

# The half-precision export in the same commit, onnx/model_fp16.onnx: 49,642,442 bytes, sha256 2df6223f….
# Not read from the hub here either (no network): several independent public projects pin this exact revision,
# size and sha256 (one notes it equals the hub's X-Linked-Etag). A wrong pin is a checksum error, not a bad model.
DA_V2_SMALL_ONNX_FP16 = replace(
    DA_V2_SMALL_ONNX,
    filename="onnx/model_fp16.onnx",
    sha256="2df6223f206b5164e21f664ace61dabeb9bb6a49b8b5a3e00510b4807d0f5b04",
    size=49_642_442,
)

# The 8-bit export in the same commit, onnx/model_quantized.onnx (uint8 weights, dynamic quantisation): 27,258,801
# bytes, sha256 fcf51f1b…. Not read from the hub here either: two independent public projects pin this size and
# sha256 (one at this revision). For the CPU only, by choice (depth.dtype=int8): its speed-up there is measured by
# benchmarks/gpu_check.py --cpu-only on the same architecture quantised the same way (see the README).
DA_V2_SMALL_ONNX_INT8 = replace(
    DA_V2_SMALL_ONNX,
    filename="onnx/model_quantized.onnx",
    sha256="fcf51f1b230362b28690bb9d1809bf0431f29cad20534e3f589bd7285547f20d",
    size=27_258_801,
)

MODELS: dict[str, ModelFile] = {DA_V2_SMALL_ONNX.name: DA_V2_SMALL_ONNX}
FP16: dict[str, ModelFile] = {DA_V2_SMALL_ONNX.name: DA_V2_SMALL_ONNX_FP16}
INT8: dict[str, ModelFile] = {DA_V2_SMALL_ONNX.name: DA_V2_SMALL_ONNX_INT8}
# ONNX Runtime's GPU providers, tried in this order before the CPU (TensorRT goes first when depth.tensorrt is set).
GPU_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
# The providers that get the half-precision file. CUDA and TensorRT run fp16 on tensor cores. The CPU provider computes
# most fp16 ops by converting back to fp32 (slower than the fp32 file); CoreML and DirectML choose their own
# precision from an fp32 graph, and a node they leave to the CPU would run in fp16 there: they keep fp32.
HALF_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def hub_endpoint() -> str:
    """Read at call time (not at huggingface_hub's import) so a process can be pointed at a mirror."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _cache_dir() -> str | None:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def _offline() -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE") or ""
    return flag.strip().lower() in ("1", "true", "yes", "on")


def model_file(name: str, *, revision: str = "", sha256: str = "", size: int = 0) -> ModelFile:
    """The registry entry for ``name``, with a mirror's own pin where configured."""
    if name not in MODELS:
        raise ConfigError(f"no pinned ONNX model {name!r}; known: {', '.join(MODELS)}")
    entry = MODELS[name]
    if revision or sha256 or size:
        entry = replace(
            entry, revision=revision or entry.revision, sha256=sha256 or entry.sha256, size=size or entry.size
        )
    return entry


def from_config(config: Any) -> ModelFile:
    """The pinned file for ``config.local_model`` (a ``DepthConfig``)."""
    return model_file(
        config.local_model, revision=config.model_revision, sha256=config.model_sha256, size=config.model_size
    )


def for_provider(config: Any, provider: str) -> ModelFile:
    """The file to run on ``provider``: fp16 on CUDA/TensorRT (``depth.dtype`` auto), fp32 elsewhere; ``float16``
    asks for the fp16 file on any provider, ``int8`` for the 8-bit one (meant for the CPU).

    A mirror's own pin (``depth.model_revision``/``model_sha256``/``model_size``) describes one file, the fp32 one,
    so with it set fp32 is used everywhere; ``depth.dtype=float32`` keeps fp32 on a GPU too.
    """
    fp32 = from_config(config)
    dtype = (config.dtype or "auto").strip().lower()
    if dtype not in ("auto", "float32", "float16", "int8"):
        raise ConfigError(f"depth.dtype={dtype!r}: the ONNX runtime runs auto, float32, float16 or int8")
    mirrored = bool(config.model_revision or config.model_sha256 or config.model_size)
    if dtype == "int8":
        if mirrored or fp32.name not in INT8:
            raise ConfigError(f"depth.dtype=int8: there is no pinned 8-bit file for {fp32.name} (or a mirror pin)")
        return INT8[fp32.name]
    half = FP16.get(fp32.name)
    if half is None or mirrored or dtype == "float32" or (dtype == "auto" and provider not in HALF_PROVIDERS):
        return fp32
    return half


def unavailable(entry: ModelFile, why: str) -> BackendError:
    """The error a user with no network sees: which file, how big, from where, and the two ways out."""
    return BackendError(
        f"the local depth model {entry.name} is not on this machine and could not be downloaded ({why}). "
        f"It is one file, {entry.filename} ({entry.size / 1e6:.1f} MB), from {entry.url()}. Either download it "
        "elsewhere and set depth.local_weights to the file (or run `depthstudio models fetch "
        f"{entry.name}` where there is network and copy the Hugging Face cache), or set a Replicate token "
        "(REPLICATE_API_TOKEN or `depthstudio config set-secret replicate_token`) to use the hosted model.",
        kind="no_weights",
    )


def verify(entry: ModelFile, path: Path) -> None:
    """Size then sha256; a mismatch removes nothing (the user's own file) but is a clear error."""
    size = path.stat().st_size
    if size != entry.size:
        raise BackendError(
            f"{path} is {size} bytes, but {entry.name} {entry.filename} at {entry.revision[:12]} is {entry.size}",
            kind="bad_weights",
        )
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != entry.sha256:
        raise BackendError(
            f"{path} has sha256 {digest.hexdigest()}, not the pinned {entry.sha256} of {entry.name}",
            kind="bad_weights",
        )


def cached(entry: ModelFile) -> Path | None:
    """The file in the HF cache, or None; no network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(entry.name, entry.filename, revision=entry.revision, cache_dir=_cache_dir())
    return Path(found) if isinstance(found, str) else None


def _progress_class(progress: DownloadProgress | None, cancel: CancelToken | None, filename: str) -> type:
    """A tqdm for ``hf_hub_download`` that reports to ``progress`` and stops the transfer on cancel.

    huggingface_hub >= 2 writes each download to a process-unique ``.incomplete`` file and deletes it when the
    transfer fails (``_download_to_tmp_and_move``, huggingface_hub PR #4228): a cut connection is resumed with a
    Range request within the call, but a cancelled download starts again next time."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class _Reporting(hf_tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # our own bar/dialog/log lines replace tqdm's
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._total = int(kwargs.get("total") or 0)
            if progress is not None:  # at once, so a dialog shows the size (and a resume's start) before bytes move
                progress(self._done, self._total, filename)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            if progress is not None:
                progress(self._done, self._total, filename)
            if cancel is not None and cancel.cancelled:
                raise Cancelled(
                    f"the download of {filename} was cancelled at {self._done / 1e6:.1f} of {self._total / 1e6:.1f} "
                    "MB; nothing was kept or changed, and the next attempt downloads it again"
                )
            return None

    return _Reporting


def fetch(
    entry: ModelFile,
    *,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """The checked file: from the cache, or downloaded once (resuming a partial download)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    hit = cached(entry)
    if hit is None:
        if _offline():
            raise unavailable(entry, "HF_HUB_OFFLINE is set")
        _probe(entry)
        log.info("downloading %s %s (%.1f MB) from %s", entry.name, entry.filename, entry.size / 1e6, hub_endpoint())
        try:
            hit = Path(
                hf_hub_download(
                    entry.name,
                    entry.filename,
                    revision=entry.revision,
                    cache_dir=_cache_dir(),
                    endpoint=hub_endpoint(),
                    etag_timeout=_METADATA_TIMEOUT_S,
                    tqdm_class=_progress_class(progress, cancel, entry.filename),
                )
            )
        except Cancelled:
            raise
        # LocalEntryNotFoundError is a subclass of EntryNotFoundError, so it goes first.
        except LocalEntryNotFoundError as exc:  # the client's answer to an unreachable or failing hub
            cause = exc.__cause__ or exc.__context__
            raise unavailable(entry, f"the hub at {hub_endpoint()} did not answer: {_short(cause or exc)}") from None
        except EntryNotFoundError:
            raise unavailable(entry, f"the hub at {hub_endpoint()} has no such file (404)") from None
        except (HfHubHTTPError, OSError) as exc:
            raise unavailable(entry, f"the download failed: {_short(exc)}") from None
    try:
        verify(entry, hit)
    except BackendError:
        # A corrupt cache entry would fail every run the same way; removing the blob lets the next run fetch again.
        if hit.is_symlink():
            hit.resolve().unlink(missing_ok=True)
            hit.unlink(missing_ok=True)
        raise
    return hit


def _probe(entry: ModelFile) -> None:
    """One HEAD with a short timeout and no retries: the hub client backs off and retries an unreachable host for
    about half a minute (measured: 28 s on a refused connection), which reads as a hang to a user with no network."""
    import httpx

    try:
        httpx.head(entry.url(), timeout=_METADATA_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise unavailable(entry, f"the hub at {hub_endpoint()} did not answer: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def locate(
    config: Any,
    *,
    entry: ModelFile | None = None,
    progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """``depth.local_weights`` (a file, or a folder holding it) when set — never the network — else the hub.
    ``entry`` is the variant wanted (``for_provider``); the configured fp32 file by default."""
    entry = entry or from_config(config)
    if config.local_weights:
        path = Path(config.local_weights).expanduser()
        if path.is_dir():
            candidates = [path / entry.filename, path / Path(entry.filename).name]
            path = next((c for c in candidates if c.is_file()), candidates[0])
        if not path.is_file():
            raise unavailable(entry, f"depth.local_weights={config.local_weights} holds no {entry.filename}")
        verify(entry, path)
        return path
    return fetch(entry, progress=progress, cancel=cancel)
