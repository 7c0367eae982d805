"""Quality flags for a finished depth map, so that bad results are flagged in review instead of published
silently.

Each check gives a score in [0, 1] (0 = looks fine, 1 = certainly bad) from a measured value, flagged at
0.5; the scores combine into one ``risk`` (the chance that at least one check is right, treating them as
independent), by which the review queue sorts. The report is a JSON-able dict stored with the result.

The checks assume a portrait in the avatar's frame, white = near:
- ``empty``: (almost) every pixel has one value: a failed or untrained model, a black PNG.
- ``flat``: little contrast in the bulk of the map (the 5th..95th percentile span), e.g. one stray bright
pixel
  squashing the rest into a grey band after min-max normalisation.
- ``inverted``: the top and side borders (background) are nearer than the face region. The bottom border is
left
  out because the shoulders reach it and are legitimately near.
- ``mismatch``: the model's map does not have the aspect of the image it claims to cover, or the stored map
is not
  the crop's size: it would be stretched across the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthstudio.depth.backend import DepthPrediction
from depthstudio.imaging.types import Avatar

QA_VERSION = 1
FLAG_AT = 0.5
CHECKS = ("empty", "flat", "inverted", "mismatch")


def _ramp(value: float, fine: float, bad: float) -> float:
    """0 at ``fine``, 1 at ``bad`` (either direction), linear in between."""
    t = (value - fine) / (bad - fine)
    return float(min(1.0, max(0.0, t)))


@dataclass(frozen=True)
class Check:
    score: float
    value: float  # the measured quantity the score came from (for the reviewer and for tuning thresholds)

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_AT


@dataclass(frozen=True)
class QAReport:
    checks: dict[str, Check]

    @property
    def risk(self) -> float:
        fine = 1.0
        for check in self.checks.values():
            fine *= 1.0 - check.score
        return 1.0 - fine

    @property
    def flags(self) -> list[str]:
        return [name for name, check in self.checks.items() if check.flagged]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": QA_VERSION,
            "risk": round(self.risk, 4),
            "flags": self.flags,
            "checks": {
                name: {
                    "score": round(c.score, 4),
                    "value": round(c.value, 4) if math.isfinite(c.value) else None,  # JSON has no inf
                    "flagged": c.flagged,
                }
                for name, c in self.checks.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QAReport:
        return cls(
            {
                name: Check(float(c["score"]), math.inf if c["value"] is None else float(c["value"]))
                for name, c in data["checks"].items()
            }
        )


def _quantile(ordered: np.ndarray, q: float) -> float:
    """numpy's default (linear) quantile of an already sorted 1-D array: one sort serves every quantile of a
    map, where ``np.median``/``np.percentile`` each paid their own partition and dispatch (QA was ~10 % of the
    bulk runner's time under the GIL)."""
    pos = q * (ordered.size - 1)
    lo = int(pos)
    hi = min(lo + 1, ordered.size - 1)
    a, b = float(ordered[lo]), float(ordered[hi])
    return a + (b - a) * (pos - lo)


def _median(values: np.ndarray) -> float:
    return _quantile(np.sort(values, axis=None), 0.5)


def check_empty(depth: np.ndarray, ordered: np.ndarray | None = None) -> Check:
    """Share of pixels within one 8-bit grey level of the median."""
    ordered = np.sort(depth, axis=None) if ordered is None else ordered
    median = _quantile(ordered, 0.5)
    tol = 1.0 / 255.0
    # The pixels within tol of the median form one run of the sorted values.
    inside = np.searchsorted(ordered, median + tol, side="right") - np.searchsorted(ordered, median - tol)
    share = float(inside) / ordered.size
    return Check(_ramp(share, 0.95, 0.995), share)


def check_flat(depth: np.ndarray, ordered: np.ndarray | None = None) -> Check:
    """Span of the 5th..95th percentiles (1.0 for a map using the full range evenly)."""
    ordered = np.sort(depth, axis=None) if ordered is None else ordered
    span = _quantile(ordered, 0.95) - _quantile(ordered, 0.05)
    return Check(_ramp(span, 0.3, 0.1), span)


def check_inverted(depth: np.ndarray) -> Check:
    """Median of the face region minus the median of the top/side border band (positive for a good
    portrait)."""
    h, w = depth.shape
    band_y, band_x = max(1, h // 10), max(1, w // 10)
    border = np.concatenate(
        [depth[:band_y, :].ravel(), depth[band_y:, :band_x].ravel(), depth[band_y:, w - band_x :].ravel()]
    )
    y0, x0 = int(0.25 * h), int(0.3 * w)
    face = depth[y0 : max(y0 + 1, int(0.65 * h)), x0 : max(x0 + 1, int(0.7 * w))]
    diff = _median(face) - _median(border)
    return Check(_ramp(diff, 0.05, -0.2), diff)


def check_mismatch(depth: np.ndarray, avatar: Avatar, prediction: DepthPrediction | None) -> Check:
    """|log| of the aspect error between the model's map and the image it covers; 1.0 if the size is
    wrong."""
    if depth.shape != (avatar.image.size[1], avatar.image.size[0]):
        return Check(1.0, float("inf"))
    if prediction is None:
        return Check(0.0, 0.0)
    ph, pw = np.shape(prediction.disparity)[:2]
    ref_w, ref_h = avatar.original.size if prediction.frame == "original" else avatar.image.size
    if not (ph and pw):
        return Check(1.0, float("inf"))
    error = abs(math.log((pw / ph) / (ref_w / ref_h)))
    return Check(_ramp(error, 0.02, 0.08), error)


def assess(depth: np.ndarray, avatar: Avatar, prediction: DepthPrediction | None = None) -> QAReport:
    """``depth``: the finished map in [0, 1] at the crop's size; ``prediction``: the raw output it came
    from."""
    d = np.asarray(depth, dtype=np.float32)
    ordered = np.sort(d, axis=None)
    return QAReport(
        {
            "empty": check_empty(d, ordered),
            "flat": check_flat(d, ordered),
            "inverted": check_inverted(d),
            "mismatch": check_mismatch(d, avatar, prediction),
        }
    )
