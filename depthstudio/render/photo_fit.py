"""How well a depth map and a background plate fit the photo they were made for.

The motion metrics (``render/artifact.py``) measure a render against the depth silhouette, so a silhouette
that misses the photo's subject, or a plate hole filled with a smooth smear, both score perfectly there. These
two figures look at the photo itself:

- :func:`silhouette_on_edges`: the share of the depth silhouette's outline that lies on an edge of the photo
  (within a few pixels). A traced map scores near 1; a circle drawn beside a head scores low.
- :func:`fill_texture`: the mean gradient inside the plate's filled region over the photo's mean gradient in
  the background around it. A fill that continues grass or a flag keeps most of it; a diffusion fill has little.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthstudio.render.artifact import subject_mask

EDGE_SIGMA = 2.0  # px of blur before Canny at 512 px: photo noise and grass blades are not a subject's edge
EDGE_LOW, EDGE_HIGH = 12, 36  # Canny's hysteresis on the strongest Lab channel's Sobel gradient
EDGE_TOLERANCE = 3  # px at 512 px: how far the outline may sit from the photo's edge and still count
RING_WIDTH = 0.06  # of the long side: the band of background around the hole that the fill is compared with
HOLE_INSET = 2  # px: the hole's own rim is left out (its seam is the fill's edge, not its texture)


def _grey(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rgb = np.ascontiguousarray(photo[..., :3])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if grey.shape[::-1] != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return grey


def photo_edges(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool (h, w) of the photo's edges at ``size`` = (w, h): Canny on the blurred photo in Lab, each pixel's
    gradient taken from its strongest channel (a tabby's ear on a beige room differs in colour, not in grey)."""
    rgb = np.ascontiguousarray(photo[..., :3])
    if rgb.shape[1::-1] != size:
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    lab = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), (0, 0), EDGE_SIGMA * max(size) / 512.0)
    lab16 = lab.astype(np.int16)
    dx = np.stack([cv2.Sobel(lab16[..., c], cv2.CV_16S, 1, 0) for c in range(3)], axis=-1)
    dy = np.stack([cv2.Sobel(lab16[..., c], cv2.CV_16S, 0, 1) for c in range(3)], axis=-1)
    strongest = (dx.astype(np.int32) ** 2 + dy.astype(np.int32) ** 2).argmax(axis=-1)[..., None]
    gx = np.ascontiguousarray(np.take_along_axis(dx, strongest, axis=-1)[..., 0])
    gy = np.ascontiguousarray(np.take_along_axis(dy, strongest, axis=-1)[..., 0])
    return cv2.Canny(gx, gy, EDGE_LOW, EDGE_HIGH, L2gradient=True) > 0


def outline(mask: np.ndarray) -> np.ndarray:
    """bool: the mask's own pixels with a 4-neighbour outside it, less those on the frame's border (the frame
    cuts the subject there; no photo edge is expected)."""
    m = mask.astype(np.uint8)
    inner = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), borderType=cv2.BORDER_REPLICATE)
    rim = (m > 0) & (inner == 0)
    rim[:2, :] = rim[-2:, :] = False
    rim[:, :2] = rim[:, -2:] = False
    return rim


def silhouette_on_edges(photo: np.ndarray, depth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction (0..1) of the depth silhouette's outline within a few pixels of one of the photo's edges.

    ``mask``: the silhouette at the depth map's size (default: Otsu's near class, what the layered mode and the
    artifact metrics take as the subject). 1.0 when the silhouette has no outline inside the frame.
    """
    h, w = depth.shape
    rim = outline(subject_mask(depth) if mask is None else mask)
    if not rim.any():
        return 1.0
    tol = max(1, round(EDGE_TOLERANCE * max(h, w) / 512))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tol + 1, 2 * tol + 1))
    near_edge = cv2.dilate(photo_edges(photo, (w, h)).astype(np.uint8), kernel) > 0
    return float((rim & near_edge).sum()) / float(rim.sum())


def _gradient(grey: np.ndarray) -> np.ndarray:
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return np.hypot(gx, gy)


def fill_texture(photo: np.ndarray, plate: np.ndarray, hole: np.ndarray) -> float:
    """Mean gradient of the plate inside the filled ``hole`` (bool, photo size) over the photo's mean gradient
    in the background ring around it. 1.0 = as textured as its surroundings; a smooth smear is near 0."""
    h, w = hole.shape
    hole8 = hole.astype(np.uint8)
    inset = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HOLE_INSET + 1,) * 2)
    inside = cv2.erode(hole8, inset) > 0
    ring_px = max(2, round(RING_WIDTH * max(h, w)))
    grown = cv2.dilate(hole8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1,) * 2)) > 0
    ring = grown & ~(cv2.dilate(hole8, inset) > 0)
    if not inside.any() or not ring.any():
        return 1.0
    fill = float(_gradient(_grey(plate, (w, h)))[inside].mean())
    around = float(_gradient(_grey(photo, (w, h)))[ring].mean())
    return fill / around if around > 0 else 1.0
