"""Where a depth map came from, as the studio says it: a model's output, or one of the demo's hand-drawn maps."""

from __future__ import annotations

from depthstudio.portal.demo import HAND_AUTHORED  # not jobs.demo: the studio's start does not need the seeding

__all__ = ["HAND_AUTHORED", "HAND_AUTHORED_LABEL", "depth_source"]

HAND_AUTHORED_LABEL = "hand-authored demo map (not model output)"


def depth_source(backend: str | None, model: str | None) -> str:
    """The sample avatars' maps are drawn by hand (resources/demo/depth): never shown as if a model made them."""
    if backend == HAND_AUTHORED:
        return HAND_AUTHORED_LABEL
    return f"{backend} / {model}"
