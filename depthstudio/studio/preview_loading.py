"""What the preview shows of one user, read off the GUI thread, and the loads kept for J/K (an LRU).

``load_preview`` reads the photo, the shown map (and a second result of the same photo to compare), the stored
layers and the review history, and prepares the shader's textures, all on a worker thread: decoding them when the
frame is drawn would hold up that frame.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from depthstudio.depth.postprocess import decode_png
from depthstudio.errors import DepthstudioError
from depthstudio.imaging.crop import through_display_crop
from depthstudio.portal.repository import Portal, ResultRow, UserRow
from depthstudio.portal.shown_map import shown_map
from depthstudio.render.reference import Textures
from depthstudio.render.result_plates import layered_textures, stored_layers
from depthstudio.render.web_export import layers_through_display_crop, render_inputs
from depthstudio.studio import photos
from depthstudio.studio.sources import depth_source

PHOTO_SIZE = 512  # the preview photo when a user has no depth map to take the frame from
PREFETCH_KEEP = 8  # loaded previews kept (the current user and its neighbours): about 1 MB each


@dataclass(frozen=True)
class PreviewContent:
    """What one user looks like: the square photo, and the depth map(s) if there are any (uint8, white = near)."""

    photo: Image.Image
    depth: np.ndarray | None
    label: str = ""
    compare_depth: np.ndarray | None = None
    compare_label: str = ""
    layers: dict[str, bytes] | None = None  # the result's stored plate and matte (None: derived at upload)
    caption: str = ""  # over the 3D view, e.g. "touch-up preview (not saved)"
    # shader_textures(photo, depth, layers), made by whoever loads the content on a worker thread; None: the
    # preview makes them when it draws (decoding or deriving the layers then holds up that frame)
    textures: Textures | None = None


class LoadedPreview(NamedTuple):
    """One load: the content (None: nothing to draw), a note for the editor and the review history."""

    content: PreviewContent | None
    note: str
    history: list[dict[str, Any]]


def shader_textures(photo: Image.Image, depth: np.ndarray | None, layers: dict[str, bytes] | None) -> Textures:
    """The 3D view's textures: the photo, its map and the layered mode's plate and matte (a flat map without one)."""
    return layered_textures(photo, depth if depth is not None else np.zeros((8, 8), np.uint8), layers)


def depth_array(png: bytes) -> np.ndarray:
    """The stored map as the 8-bit levels the web samples."""
    return np.round(np.clip(decode_png(png), 0.0, 1.0) * 255.0).astype(np.uint8)


def result_label(result: ResultRow) -> str:
    return f"#{result.id} {depth_source(result.backend, result.model)}"


def load_preview(portal: Portal, row: UserRow) -> LoadedPreview:
    """The preview and the review history for one user, read on a worker thread (the panel reads the overrides)."""
    history = portal.review_history(row.id)
    if not row.avatar:
        return LoadedPreview(None, "This user has no photo", history)
    depth: np.ndarray | None = None
    label = compare_label = ""
    compare: np.ndarray | None = None
    shown = shown_map(row, reviewing=True)
    if shown.result_id is not None:
        png = portal.result_png(shown.result_id)
        if png:
            depth = depth_array(png)
        results = portal.results_for_user(row.id)
        current = next((r for r in results if r.id == shown.result_id), None)
        label = result_label(current) if current else ""
        other = next((r for r in results if r.id != shown.result_id and r.avatar_url == row.avatar), None)
        if other is not None and depth is not None:
            other_png = portal.result_png(other.id)
            if other_png:
                compare = depth_array(other_png)
                if compare.shape != depth.shape:
                    compare = np.asarray(Image.fromarray(compare).resize(depth.shape[::-1], Image.Resampling.BILINEAR))
                compare_label = result_label(other)
    note = ""
    if depth is None and shown.portal_url:
        # A map the portal has from elsewhere (or one of ours published before a new photo): the web shows it,
        # so the preview does too, read the way the exporter reads it.
        try:
            inputs = render_inputs(portal, row.id)
        except DepthstudioError as exc:
            note = f"the portal's depth map of this user cannot be read; showing the plain photo: {exc}"
        else:
            if inputs.depth is not None:
                portal_map = np.asarray(inputs.depth, dtype=np.uint8)
                textures = shader_textures(inputs.photo, portal_map, None)
                content = PreviewContent(inputs.photo, portal_map, "the portal's depth map", textures=textures)
                return LoadedPreview(content, "", history)
    height, width = depth.shape if depth is not None else (PHOTO_SIZE, PHOTO_SIZE)
    photo = photos.framed_photo(row.avatar, width, height, portal.config.fetch.policy())
    layers = stored_layers(portal, shown.result_id) if depth is not None and shown.result_id is not None else None
    crop = portal.config.web.display_crop  # the editor judges the framing the website shows
    if crop != "none":
        frame = photo.size

        def cut(levels: np.ndarray) -> np.ndarray:
            return np.asarray(through_display_crop(Image.fromarray(levels), frame, crop))

        photo = through_display_crop(photo, frame, crop)
        depth = cut(depth) if depth is not None else None
        compare = cut(compare) if compare is not None else None
        layers = layers_through_display_crop(layers, frame, crop)
    # Here, on the worker: decoding the stored layers (or deriving an older result's) would hold up the frame.
    textures = shader_textures(photo, depth, layers)
    content = PreviewContent(photo, depth, label, compare, compare_label, layers, textures=textures)
    return LoadedPreview(content, note, history)


def row_key(row: UserRow) -> tuple[str, str]:
    """The user and every field of the row (some are dicts, so the dataclass repr rather than a tuple)."""
    return row.id, repr(row)


class PreviewCache:
    """Loaded previews for J/K, keyed by the whole row, so a user whose status, decision or map changed is loaded
    afresh; a load that began before a change of its user is not kept (``changes``)."""

    def __init__(self, keep: int = PREFETCH_KEEP) -> None:
        self.keep = keep
        self._loaded: OrderedDict[tuple[str, str], LoadedPreview] = OrderedDict()
        self.loading: set[tuple[str, str]] = set()
        self._changes: Counter[str] = Counter()  # per user, bumped by every change noticed (a decision, a job)

    def get(self, row: UserRow) -> LoadedPreview | None:
        return self._loaded.get(row_key(row))

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._loaded

    def seen(self, user_id: str) -> int:
        """The user's change count now: hand it back to ``remember`` when the load returns."""
        return self._changes[user_id]

    def remember(self, row: UserRow, loaded: LoadedPreview, seen: int) -> None:
        """Keep a loaded preview, unless the user changed since its load began (``seen``)."""
        if self._changes[row.id] != seen:
            return
        key = row_key(row)
        self._loaded[key] = loaded
        self._loaded.move_to_end(key)
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)

    def forget(self, user_ids: set[str]) -> None:
        """Drop these users' loads, and any load of them in flight. A load made before the change holds the review
        history as it was; an undo brings the row's fields back, so the old key would match again."""
        self._changes.update(user_ids)
        for key in [k for k in self._loaded if k[0] in user_ids]:
            del self._loaded[key]

    def clear(self) -> None:
        self._loaded.clear()
