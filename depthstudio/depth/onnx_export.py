"""Export a torch depth network to ONNX in the published export's form (``pixel_values`` in, ``predicted_depth``
out, dynamic batch), so tests and benchmarks can run ONNX Runtime on the same weights as torch without
downloading anything. Needs the ``local`` extra (torch) and ``onnx``/``onnxscript``.

Height and width are fixed at ``side``: the ``transformers`` head computes its output size with Python ints, which
both of torch's exporters bake into the graph (tried: the dynamo exporter and the TorchScript one). The published
export is dynamic in H/W; depthstudio's square crops always give one input size (518² for Depth Anything).
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


def export_onnx(network: Any, path: str | Path, *, side: int) -> Path:
    """Write ``network`` (a ``transformers`` depth model) to ``path`` for ``side`` x ``side`` inputs."""
    import torch

    path = Path(path)
    module = _DepthOnly.wrap(network.float().eval())
    sample = torch.zeros(2, 3, side, side)
    batch = torch.export.Dim("batch", min=1, max=64)
    with torch.inference_mode():
        program = torch.onnx.export(
            module,
            (sample,),
            dynamic_shapes={"pixel_values": {0: batch}},
            input_names=["pixel_values"],
            output_names=["predicted_depth"],
            dynamo=True,
            external_data=False,
            optimize=True,
        )
    program.save(str(path), external_data=False)
    return path
