"""Quality checks on the *photo*, before it reaches a depth backend (``depth.qa`` judges the finished *map*).

Some photos cannot make a good 3D avatar whatever the model: a thumbnail-sized image upscaled to the crop, a
banner whose square crop keeps a sliver, a blank or single-colour image. Sending them to a paid backend wastes
the call and gives the reviewer a map to reject. The checks score like the map's (0 fine .. 1 certainly bad,
flagged at 0.5, combined into the same ``risk``), so a photo that passes still adds its risk to the result's and
sorts by it; a flagged one fails the user at once with a sentence saying what the user must do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthstudio.depth.qa import Check, QAReport, _ramp
from depthstudio.errors import DepthstudioError
from depthstudio.imaging.types import Avatar

PHOTO_CHECKS = ("photo_small", "photo_aspect", "photo_uniform")


class UnsuitablePhotoError(DepthstudioError):
    """The photo cannot make a good avatar; a new upload is needed, not a retry."""

    kind = "unsuitable_photo"


def check_small(avatar: Avatar, crop_size: int) -> Check:
    """Short side of the original in pixels: fine from half the crop size, hopeless at an eighth (upscaled 8x)."""
    short = float(min(avatar.original.size))
    return Check(_ramp(short, max(32.0, crop_size * 0.5), max(16.0, crop_size * 0.125)), short)


def check_aspect(avatar: Avatar) -> Check:
    """Long side over short side: a portrait is 1-1.5; from 4 the square crop keeps a quarter of the image."""
    w, h = avatar.original.size
    ratio = max(w, h) / max(1, min(w, h))
    return Check(_ramp(ratio, 2.0, 4.0), ratio)


def check_uniform(avatar: Avatar) -> Check:
    """Standard deviation of the crop's grey levels in [0, 1]: an ordinary portrait has 0.1-0.3."""
    grey = np.asarray(avatar.image.convert("L"), dtype=np.float32) / 255.0
    spread = float(grey.std())
    return Check(_ramp(spread, 0.06, 0.015), spread)


def assess_photo(avatar: Avatar, crop_size: int) -> QAReport:
    return QAReport(
        {
            "photo_small": check_small(avatar, crop_size),
            "photo_aspect": check_aspect(avatar),
            "photo_uniform": check_uniform(avatar),
        }
    )


def reasons(report: QAReport) -> list[str]:
    """The flagged checks as sentences about the photo."""
    checks, out = report.checks, []
    if checks["photo_small"].flagged:
        out.append(f"it is only {checks['photo_small'].value:.0f} px on its short side")
    if checks["photo_aspect"].flagged:
        out.append(f"it is {checks['photo_aspect'].value:.1f} times as long as it is wide")
    if checks["photo_uniform"].flagged:
        out.append("it is nearly one flat colour")
    return out


def require_suitable(avatar: Avatar, crop_size: int) -> QAReport:
    """The photo's report, or ``UnsuitablePhotoError`` naming why it cannot make a good avatar."""
    report = assess_photo(avatar, crop_size)
    why = reasons(report)
    if why:
        raise UnsuitablePhotoError(
            f"the photo cannot make a good 3D avatar: {' and '.join(why)}; ask the user to upload a larger, "
            "ordinary portrait photo"
        )
    return report


def with_photo_checks(qa: dict[str, Any], photo: QAReport) -> dict[str, Any]:
    """The map's stored report with the photo's checks added and the risk recombined over all of them."""
    merged = QAReport({**QAReport.from_dict(qa).checks, **photo.checks}) if qa.get("checks") else photo
    return merged.to_dict()
