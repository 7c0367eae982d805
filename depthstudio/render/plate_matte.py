"""The two layers of a layered avatar: a soft subject matte and a background plate with the subject removed.

A photo has one layer; where the subject moves it uncovers background the photo never saw. The matte comes
from the depth map (the near class) refined on the photo by a guided filter, so its softness follows the hair
and ears of the photo rather than the depth map's blur; no extra model. The composited matte stays inside the
depth silhouette (what moves with the subject), so the subject's shown edge and its depth edge never part. The
plate is the photo with the soft matte's area (grown by a margin, so no edge colour survives) inpainted from
the surrounding background.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from depthstudio.depth.postprocess import guided_filter
from depthstudio.render.artifact import otsu_threshold
from depthstudio.render.reference import Textures, prepare_textures

GUIDE_RADIUS = 2  # px at 256² of the depth map; scaled with its size
GUIDE_EPS = 1e-2
EVIDENCE_BAND = 0.03  # of the long side: the silhouette's edge band where the photo may overrule the map
EVIDENCE_RATIO = 1.8  # a pixel is background when it is this many times nearer the background's colour
EVIDENCE_MIN = 12.0  # Lab units: ... and at least this far from the subject's
EVIDENCE_KNOWN = 0.1  # the sure subject and background must each weigh this much around a pixel (not a tripod leg)
SOFT_LEVELS = 24.0  # depth levels over which the raw matte ramps from background to subject
PLATE_MARGIN = 0.02  # of the width: the hole is grown by this much so the subject's edge colours go too
TEXTURE_SIGMA = 2.0  # px at 512: what is finer than this blur is texture, continued into the plate's hole
TEXTURE_CLIP = 2.5  # the texture is clipped at this many times its local mean absolute value
TEXTURE_AREA = 0.04  # of the long side: the neighbourhood that mean is taken over
TEXTURE_DEPTH = 0.09  # of the long side: how deep a band of the ring around the hole is mirrored into it
# (0.06 left Chelsea, whose hole is most of the frame, a thin strip of smooth room to repeat: texture 0.52)
NEAR_FOLDS = 3.0  # folds of the mirror: it shows the background itself 2 folds deep, faded out by 3
# px: larger photos are inpainted at this long side (a 512² plate: 2.1 s at 512, ~0.1 s at 192). The diffusion
# fill only gives the deep inside of the hole its colours (the texture and the edge come from the mirror):
# 64 px (its cost was a third of a bulk job's layers at 96).
INPAINT_SIDE = 64


def _converted(photo: np.ndarray, code: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """``cv2.cvtColor(photo's RGB, code)``, resized first to ``size`` = (w, h) if given and different. OpenCV
    reads an RGBA photo's RGB itself (the alpha is ignored), so no RGB copy is made for the conversion."""
    if size is not None and photo.shape[1::-1] != size:
        photo = cv2.resize(np.ascontiguousarray(photo[..., :3]), size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(photo if photo.flags.c_contiguous else np.ascontiguousarray(photo), code)


def soft_matte(photo: np.ndarray, depth: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """uint8 matte at the depth map's size (255 = subject): the near class, edge-refined on the photo.

    Its soft edge may reach past the depth silhouette (hair the depth map missed): the plate's hole is cut from
    it, so no edge colour survives in the plate; the composited matte is the second half of :func:`derive_layers`.
    """
    h, w = depth.shape
    threshold = otsu_threshold(depth) if threshold is None else threshold
    levels = depth.astype(np.float32)
    far = levels[depth <= threshold]
    # The ramp is centred on Otsu's cut and never reaches down into the far class's typical level.
    half = max(0.5, min(SOFT_LEVELS / 2, threshold + 0.5 - (float(far.mean()) if far.size else 0.0)))
    raw = np.clip((levels - threshold - 0.5) / (2 * half) + 0.5, 0.0, 1.0).astype(np.float32)
    # The photo's grey resized, not the resized photo's grey: the two differ by a level here and there, which
    # can move the plate's hole by a pixel.
    grey = _converted(photo, cv2.COLOR_RGB2GRAY)
    guide = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / np.float32(255.0)
    radius = max(2, round(GUIDE_RADIUS * max(h, w) / 256))
    refined = guided_filter(raw, guide, radius, GUIDE_EPS)
    return np.round(np.clip(refined, 0.0, 1.0) * 255.0).astype(np.uint8)


def inside_silhouette(soft: np.ndarray, depth: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """0 outside the silhouette; inside, the soft matte lifted to [128, 255] (at least half opaque), so the
    composited subject covers exactly its depth silhouette and the photo's softness blends only within it."""
    lifted = 128 + (soft.astype(np.uint16) * 127 + 127) // 255
    threshold = otsu_threshold(depth) if threshold is None else threshold
    return np.where(depth > threshold, lifted, 0).astype(np.uint8)


def plate_hole(matte: np.ndarray, width: int, height: int) -> np.ndarray:
    """bool (height, width): the plate's filled region, the matte's extent (> ~2 %) grown by the margin."""
    hole = cv2.resize(matte, (width, height), interpolation=cv2.INTER_LINEAR) > 5
    grow = max(1, round(PLATE_MARGIN * width))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.dilate(hole.astype(np.uint8), kernel) > 0


def continue_texture(rgb: np.ndarray, hole: np.ndarray, smooth: np.ndarray) -> np.ndarray:
    """The hole filled with the background around it, continued as in a mirror, over ``smooth`` (a diffusion
    fill of ``hole``) deep inside.

    A diffusion fill has the background's colours but none of its texture: grass, a flag's stripes or a brick
    wall turn into a smear exactly where the moving subject uncovers them. Each hole pixel looks at the
    background point mirrored across the hole's nearest edge. Near the edge (what the motion uncovers first)
    it shows that point itself (``NEAR_FOLDS``); deeper it fades to the smooth fill plus that point's texture
    (the photo less its blur, measured on background pixels only, clipped so outlines do not ripple). Deeper
    than ``TEXTURE_DEPTH`` the mirror folds back (a triangle wave), so every source stays in the ring next to
    the hole; a source that lands in the hole itself (a narrow gap between two parts of the subject) adds
    nothing. Exemplar-based in spirit, with no search: cheap enough for every avatar of a bulk job. Every step
    is a whole-image OpenCV call or numpy operation (the mirrored sources are read by ``cv2.remap``), so a
    bulk job's threads spend little time holding the GIL here.
    """
    h, w = hole.shape
    hole8 = hole.astype(np.uint8)
    keep8 = 1 - hole8
    keep = keep8.astype(np.float32)
    keep3 = cv2.cvtColor(keep, cv2.COLOR_GRAY2RGB)  # OpenCV's per-channel maths beat numpy's broadcasting here
    colour = cv2.multiply(rgb, keep3, dtype=cv2.CV_32F)  # zero in the hole
    sigma = max(1.0, TEXTURE_SIGMA * max(h, w) / 512.0)
    # The background's own blur (normalised convolution): no subject colour leaks into the texture.
    weight = cv2.cvtColor(np.maximum(cv2.GaussianBlur(keep, (0, 0), sigma), np.float32(1e-4)), cv2.COLOR_GRAY2RGB)
    texture = cv2.multiply(cv2.subtract(colour, cv2.divide(cv2.GaussianBlur(colour, (0, 0), sigma), weight)), keep3)
    # Texture, not outlines: a star's or a roof's edge mirrored over and over would ripple; the texture is
    # clipped to a few times its typical size around it (grass keeps its blades, the sky stays clear). That
    # size varies slowly: measured at a quarter of the resolution.
    quarter = (max(1, w // 4), max(1, h // 4))
    around = max(1.0, TEXTURE_AREA * max(h, w) / 4)
    spread = cv2.GaussianBlur(cv2.resize(np.abs(texture), quarter, interpolation=cv2.INTER_AREA), (0, 0), around)
    weight = cv2.GaussianBlur(cv2.resize(keep, quarter, interpolation=cv2.INTER_AREA), (0, 0), around)
    limit = spread * (np.float32(TEXTURE_CLIP) / np.maximum(weight, np.float32(1e-4)))[..., None]
    limit = cv2.resize(limit, (w, h), interpolation=cv2.INTER_NEAREST)
    texture = cv2.min(cv2.max(texture, -limit), limit)
    # Each pixel's nearest background pixel (itself outside the hole): label k is the k-th one in raster order.
    _, labels = cv2.distanceTransformWithLabels(hole8, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    by, bx = np.nonzero(keep8)
    labels -= 1
    ny, nx = by.astype(np.float32)[labels], bx.astype(np.float32)[labels]
    dy = ny - np.arange(h, dtype=np.float32)[:, None]
    dx = nx - np.arange(w, dtype=np.float32)[None, :]
    depth = cv2.magnitude(dx, dy)
    fold = np.float32(max(2.0, TEXTURE_DEPTH * max(h, w)))
    # The mirror's depth: 0 -> fold -> 0 ... as the hole deepens (a triangle wave).
    phase = depth * (np.float32(0.5) / fold)
    phase -= np.floor(phase)
    unit = (np.float32(2.0) * fold) * np.minimum(phase, np.float32(1.0) - phase) / np.maximum(depth, np.float32(1e-6))
    map_x, map_y = nx + dx * unit, ny + dy * unit
    seen = cv2.remap(rgb, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    source_ok = cv2.remap(keep, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    texture = cv2.remap(texture, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    # Next to the edge (what the motion uncovers first) the mirror shows the background itself, stripes and
    # stars included, two folds deep (a hole that is most of the frame, as Chelsea's, needs that much of the
    # room continued: with 1.5 folds her plate kept 0.43 of the room's texture); deeper it fades to the smooth
    # fill with the texture on it. A source in the hole shows nothing. Outside the hole the mirror is the
    # pixel itself: the photo is kept there.
    near = np.clip(NEAR_FOLDS - depth / fold, 0.0, 1.0) * source_ok
    base = cv2.add(texture, smooth, dtype=cv2.CV_32F)
    near3 = cv2.cvtColor(near, cv2.COLOR_GRAY2RGB)
    return cv2.add(base, cv2.multiply(cv2.subtract(seen, base, dtype=cv2.CV_32F), near3), dtype=cv2.CV_8U)


def background_plate(
    photo: np.ndarray,
    matte: np.ndarray,
    method: int = cv2.INPAINT_NS,
    texture: bool = True,
    inpaint_side: int = INPAINT_SIDE,
) -> np.ndarray:
    """RGBA uint8 plate at the photo's size: the subject's area (matte > ~2 %, grown) filled from around it.

    ``texture=False, inpaint_side=192``: the plate before issue 25 (benchmarks/layers.py's baseline).

    Navier-Stokes for the colours (on the synthetic portrait's striped wall it is nearer the true wall than
    Telea: mean abs error 18.8 vs 21.2 levels in the ring the motion uncovers; notes/14.md), then the
    background's texture continued over it (:func:`continue_texture`).
    """
    h, w = photo.shape[:2]
    hole = plate_hole(matte, w, h).astype(np.uint8)
    grow = max(1, round(PLATE_MARGIN * w))
    rgb = np.ascontiguousarray(photo[..., :3])
    scale = min(1.0, inpaint_side / max(h, w))
    if scale < 1.0:
        # A portrait's hole is half the frame and its colours are smooth anyway: inpaint at a bounded size
        # (the hole's cover there is conservative), upsample, and keep every photo pixel outside the hole.
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small_hole = (cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        small = cv2.inpaint(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), small_hole, 3, method)
        filled = np.where(hole[..., None] > 0, cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), rgb)
    else:
        filled = cv2.inpaint(rgb, hole, max(3, grow), method)
    if texture:
        filled = continue_texture(rgb, hole > 0, filled)
    return np.dstack([filled, np.full((h, w), 255, np.uint8)])


def looks_like_background(photo: np.ndarray, depth: np.ndarray, threshold: int | None = None) -> np.ndarray:
    """bool at the depth's size: silhouette pixels near its edge whose colour is clearly the background's.

    A depth model's silhouette often takes a little sky or wall with the face (a blurred edge, a gap under an
    arm). Those texels would move with the subject: a patch of sky sliding over the background. Each pixel in
    the silhouette's edge band is compared (in Lab) with the mean colour of the sure subject (the silhouette
    eroded by the band) and of the sure background (outside it, grown by the band) around it; it counts as
    background only where it is much nearer the background's colour than the subject's, so a subject that
    merely resembles its backdrop keeps its matte, and parts thinner than the band are left as the map says.

    It runs for every avatar of a bulk job, in many threads: the steps are whole-image OpenCV calls (which
    leave the GIL to the other threads), each region's colour and weight share one blur, and a silhouette with no
    edge band to judge costs no colour work at all.
    """
    h, w = depth.shape
    threshold = otsu_threshold(depth) if threshold is None else threshold
    inside = cv2.threshold(depth, threshold, 1, cv2.THRESH_BINARY)[1]  # 1 where depth > threshold
    band = max(2, round(EVIDENCE_BAND * max(h, w)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    sure_fg = cv2.erode(inside, disk)
    # Thin parts (a tripod's column, a strap) are all edge and their colour is no guide: they are never judged.
    # What is judged is the edge band of the thick parts (their opening, less the sure subject).
    judged = cv2.subtract(cv2.dilate(sure_fg, disk), sure_fg)
    if not cv2.countNonZero(judged):
        return np.zeros((h, w), bool)
    sure_bg = (cv2.dilate(inside, disk) == 0).astype(np.float32)
    lab = _converted(photo, cv2.COLOR_RGB2LAB, (w, h)).astype(np.float32)
    sigma = 2.0 * band
    # The local means vary over ``sigma``: they are taken at a resolution where it is ~4 px (a 49-tap blur at
    # 128 px was most of this function's cost in a bulk job) and read back bilinearly.
    step = max(1, int(sigma // 4))
    small = (max(1, w // step), max(1, h // step))

    def shrink(image: np.ndarray) -> np.ndarray:
        return image if step == 1 else cv2.resize(image, small, interpolation=cv2.INTER_AREA)

    def grow(image: np.ndarray) -> np.ndarray:
        return image if step == 1 else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)

    # (L, a, b, 1) times a region's mask is its weighted colour and its weight in one 4-channel image: one
    # multiply and one blur per region (4 channels are OpenCV's fast path; more are not).
    lab1 = cv2.cvtColor(shrink(lab), cv2.COLOR_RGB2RGBA)
    stats = []
    for region in (sure_fg.astype(np.float32), sure_bg):
        sums = cv2.GaussianBlur(cv2.multiply(lab1, cv2.merge([shrink(region)] * 4)), (0, 0), sigma / step)
        weight = cv2.extractChannel(sums, 3)
        mean = cv2.divide(cv2.cvtColor(sums, cv2.COLOR_RGBA2RGB), cv2.merge([np.maximum(weight, np.float32(1e-4))] * 3))
        stats.append((grow(mean), grow(weight)))
    (fg_mean, fg_weight), (bg_mean, bg_weight) = stats
    to_fg = cv2.transform(cv2.pow(cv2.subtract(lab, fg_mean), 2), np.ones((1, 3), np.float32))  # squared
    to_bg = cv2.transform(cv2.pow(cv2.subtract(lab, bg_mean), 2), np.ones((1, 3), np.float32))
    evidence = (fg_weight > EVIDENCE_KNOWN) & (bg_weight > EVIDENCE_KNOWN)  # both colours well known nearby
    clearly = (to_bg * EVIDENCE_RATIO**2 < to_fg) & (to_fg > EVIDENCE_MIN**2)
    return (judged > 0) & evidence & clearly


def derive_layers(photo: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(plate RGBA at the photo's size, composited matte at the depth's size) from an RGB(A) photo and 8-bit depth.

    The plate's hole is the soft matte's extent (grown), wider than the composited matte, so the halo of edge
    colours is inpainted away rather than copied into the uncovered background.
    """
    threshold = otsu_threshold(depth)  # one split for both mattes
    soft = soft_matte(photo, depth, threshold)
    matte = inside_silhouette(soft, depth, threshold)
    plate = background_plate(photo, np.maximum(soft, matte))  # its hole still covers the whole silhouette
    matte[looks_like_background(photo, depth, threshold)] = 0
    return plate, matte


def layer_hole(photo: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """bool at the photo's size: the region :func:`derive_layers` fills in the plate (for measuring the fill)."""
    threshold = otsu_threshold(depth)
    soft = soft_matte(photo, depth, threshold)
    return plate_hole(np.maximum(soft, inside_silhouette(soft, depth, threshold)), *photo.shape[1::-1])


def with_derived_layers(textures: Textures) -> Textures:
    """The textures plus the matte and plate derived from them (what the layered mode draws)."""
    plate, matte = derive_layers(textures.photo, textures.depth)
    return textures.with_layers(plate, matte)


def prepare_layered_textures(photo: Image.Image | np.ndarray, depth: np.ndarray | Image.Image) -> Textures:
    """:func:`prepare_textures` with the derived plate and matte, so every mode (layered included) can draw."""
    return with_derived_layers(prepare_textures(photo, depth))
