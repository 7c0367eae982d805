"""The real Depth-Anything-V2-Small architecture (reduced widths/depth), random weights, exported to ONNX once per
test session in the published export's form; the torch network stays alongside for same-weights comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TinyOnnx:
    path: Path
    torch_backend: object  # depthstudio.depth.torch_backend.LocalBackend with the same weights

    @property
    def content(self) -> bytes:
        return self.path.read_bytes()


def export_tiny(folder: Path) -> TinyOnnx:
    # No skip: the test command installs torch (extra `local`) and onnxscript (extra `dev`); a missing one must fail.
    import onnxscript  # noqa: F401  torch's ONNX exporter needs it, and would say so only deep in the export

    from depthstudio.depth.onnx_export import export_onnx
    from depthstudio.depth.preprocess import PREPROCESSING
    from depthstudio.depth.torch_backend import DA_V2_SMALL, LocalBackend

    backend = LocalBackend.with_random_weights(DA_V2_SMALL, tiny=True, device="cpu", batch_size=4)
    backend.preprocessing = PREPROCESSING["depth_anything"]  # the product's 518² input, as the ONNX model gets it
    path = export_onnx(backend.network, folder / "model.onnx", side=518)
    return TinyOnnx(path, backend)
