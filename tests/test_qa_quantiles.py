"""The map QA's one-sort quantiles agree with numpy's own median and (linear) percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from depthstudio.depth import qa


def _maps() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(120):
        d = rng.random((int(rng.integers(1, 70)), int(rng.integers(1, 70)))).astype(np.float32)
        if i % 4 == 1:
            d = (np.round(d * 3) / 3).astype(np.float32)  # few levels: ties at the median
        elif i % 4 == 2:
            d = np.full(d.shape, 0.5, np.float32)
            d.flat[0] = 1.0  # one stray pixel
        elif i % 4 == 3:
            d = (np.round(d * 255) / 255).astype(np.float32)  # 8-bit levels: values exactly 1/255 apart
        out.append(d)
    return out


@pytest.mark.parametrize("depth", _maps())
def test_quantiles_match_numpy(depth: np.ndarray):
    share = float(np.mean(np.abs(depth - np.median(depth)) <= 1.0 / 255.0))
    lo, hi = np.percentile(depth, [5.0, 95.0])
    assert qa.check_empty(depth).value == pytest.approx(share, abs=1e-9)
    assert qa.check_flat(depth).value == pytest.approx(float(hi - lo), abs=1e-6)
    assert qa._median(depth) == pytest.approx(float(np.median(depth)), abs=1e-6)
