"""Export a torch depth network to ONNX in the published export's form (``pixel_values`` in, ``predicted_depth``
out, dynamic batch, height and width), so tests and benchmarks can run ONNX Runtime on the same weights as torch
without downloading anything. Needs the ``local`` extra (torch) and ``onnx``/``onnxscript``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class _DepthOnly:
    """The network as a plain function of ``pixel_values`` (the exporter wants tensors out, not ModelOutput)."""

    @staticmethod
    def wrap(network: Any) -> Any:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.network = network

            def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                return self.network(pixel_values=pixel_values).predicted_depth

        return Wrapped().eval()


def export_onnx(network: Any, path: str | Path, *, side: int, multiple: int) -> Path:
    """Write ``network`` (a ``transformers`` depth model) to ``path``; ``side`` is a sample input size."""
    import torch

    path = Path(path)
    module = _DepthOnly.wrap(network.float().eval())
    sample = torch.zeros(2, 3, side, side)
    batch = torch.export.Dim("batch", min=1, max=64)
    height = torch.export.Dim("height", min=1, max=128) * multiple
    width = torch.export.Dim("width", min=1, max=128) * multiple
    with torch.inference_mode():
        program = torch.onnx.export(
            module,
            (sample,),
            dynamic_shapes={"pixel_values": {0: batch, 2: height, 3: width}},
            input_names=["pixel_values"],
            output_names=["predicted_depth"],
            dynamo=True,
            external_data=False,
            optimize=True,
        )
    program.save(str(path), external_data=False)
    return path
