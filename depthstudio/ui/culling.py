"""The culling view: a grid of avatars all moving in 3D with the pointer, a loupe, and a metadata panel.

Like Lightroom's grid or FiftyOne's sample grid, it is one more view onto the list's model: the same rows
(so the same filters, search and sort), and the list's own selection model (so A/X and every Review action
apply to what is selected here). Every tile is drawn by one QOpenGLWidget through one program compiled from
``shaders/`` (``depthstudio.gl.tiles``), the way a web page with many avatars shares one WebGL context.
Photos and maps are read and downscaled on worker threads; the frame clock runs only while the eased motion
has not settled, as in the single preview.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from OpenGL import GL
from PIL import Image
from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QWidget

from depthstudio.depth.postprocess import decode_png
from depthstudio.gl.tiles import TileRect, TileRenderer
from depthstudio.imaging import FetchPolicy, load_avatar
from depthstudio.imaging.crop import photo_for_map, through_display_crop
from depthstudio.portal.repository import Portal, UserRow
from depthstudio.portal.shown_map import shown_map
from depthstudio.portal.status import status_color, status_label
from depthstudio.render.motion import EasedPointer, pointer_target
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import Textures, prepare_textures
from depthstudio.ui.plain import display
from depthstudio.ui.preview import BACKGROUND, FRAME_MS, SETTLED, surface_format
from depthstudio.ui.user_list_model import UserListModel, display_name
from depthstudio.ui.workers import TaskRunner, describe

log = logging.getLogger(__name__)

TILE_CSS = 160  # wanted cell width; the columns fill the widget's width
LABEL_H = 34  # name and status under each tile
GAP = 6
TILE_TEXELS = 256  # tiles are drawn from a copy this size: 24 full-size maps would not fit the frame budget
KEEP_TILES = 240  # decoded tiles kept (about 0.5 MB each) and GL texture pairs kept
ZOOMS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class PhotoInfo:
    """What the metadata panel says about the photo itself."""

    width: int
    height: int
    format: str
    bytes: int


@dataclass(frozen=True)
class TileContent:
    """One user's tile: textures at tile resolution, the loupe's at the map's, whether it moves, the photo."""

    textures: Textures
    loupe: Textures
    moving: bool
    photo: PhotoInfo


def tile_key(row: UserRow) -> tuple[str, str | None, int | None, str]:
    """What a tile's pixels depend on: a new photo, a new result or a new status gets a new tile."""
    return (row.id, row.avatar, row.result_id, row.status)


def load_tile(portal: Portal, row: UserRow, policy: FetchPolicy, texels: int = TILE_TEXELS) -> TileContent:
    """Read and frame one user's photo and map (worker thread); the photo is framed exactly like its map."""
    assert row.avatar
    avatar = load_avatar(row.avatar, policy)
    depth: np.ndarray | None = None
    shown = shown_map(row, reviewing=True).result_id  # the map the single preview shows for this user
    if shown is not None:
        png = portal.result_png(shown)
        if png:
            depth = np.round(np.clip(decode_png(png), 0.0, 1.0) * 255.0).astype(np.uint8)
    moving = depth is not None
    if depth is not None:
        h, w = depth.shape
        photo = avatar.original if avatar.original.size == (w, h) else photo_for_map(avatar.original, (w, h))
    else:
        photo = avatar.image
        depth = np.zeros((photo.height, photo.width), np.uint8)
    crop = portal.config.web.display_crop  # the grid shows each avatar as the website crops it
    if crop != "none":
        frame = photo.size
        photo = through_display_crop(photo, frame, crop)
        depth = np.asarray(through_display_crop(Image.fromarray(depth), frame, crop))
    loupe = prepare_textures(photo, depth)
    scale = min(1.0, texels / max(photo.size))
    small = (max(1, round(photo.width * scale)), max(1, round(photo.height * scale)))
    textures = (
        loupe
        if small == photo.size
        else prepare_textures(
            photo.resize(small, Image.Resampling.BILINEAR),
            np.asarray(Image.fromarray(depth).resize(small, Image.Resampling.BILINEAR)),
        )
    )
    fmt = avatar.extra.get("format") or (avatar.content_type or "").removeprefix("image/").upper() or "unknown format"
    info = PhotoInfo(avatar.original.width, avatar.original.height, fmt, avatar.raw_size)
    return TileContent(textures, loupe, moving, info)


class CullingGrid(QOpenGLWidget):
    """Tiles of the model's rows in one GL context; arrows move, Shift extends, Return opens the loupe."""

    frame_drawn = Signal()
    tiles_changed = Signal()  # a tile finished loading (the metadata panel shows its photo's facts)
    gl_failed = Signal(str)

    def __init__(self, model: UserListModel, selection: QItemSelectionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFormat(surface_format())
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 320)
        self.model = model
        self.selection = selection
        self.params = ShaderParams()
        self.pointer = EasedPointer()
        self.loupe = False
        self.zoom = 1.0
        self.focus_point = (0.5, 0.5)
        self.top_row = 0  # first grid row on screen
        self.gl_error: str | None = None
        self.renderer: TileRenderer | None = None
        self.contents: OrderedDict[tuple[object, ...], TileContent] = OrderedDict()
        self.failures: dict[tuple[object, ...], str] = {}
        self._loading: set[tuple[object, ...]] = set()
        self._anchor = QPersistentModelIndex()  # invalid again after a filter change
        self._requests = 0
        self._last_tick = 0.0
        pool = QThreadPool(self)
        pool.setMaxThreadCount(2)  # decoding is CPU-bound: leave the GUI thread its core
        self.tasks = TaskRunner(pool, self)
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._tick)
        for signal in (model.modelReset, model.rowsInserted, model.dataChanged, model.layoutChanged):
            signal.connect(self._model_changed)
        selection.selectionChanged.connect(lambda *_: self.update())
        selection.currentChanged.connect(self._current_changed)

    # --- layout -------------------------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        return max(1, self.width() // TILE_CSS)

    def cell_size(self) -> tuple[int, int]:
        w = self.width() // self.columns
        return w, w - 2 * GAP + LABEL_H + GAP

    def visible_rows(self) -> range:
        """Model rows whose tiles are on screen (wholly or partly)."""
        _, ch = self.cell_size()
        lines = math.ceil(self.height() / ch)
        first = self.top_row * self.columns
        return range(first, min(self.model.rowCount(), first + lines * self.columns))

    def tile_rect(self, row: int) -> QRect:
        """The picture of model row ``row`` in widget pixels (the label lies under it)."""
        cw, ch = self.cell_size()
        line, col = divmod(row, self.columns)
        x, y = col * cw + GAP, (line - self.top_row) * ch + GAP
        side = cw - 2 * GAP
        return QRect(x, y, side, side)

    def loupe_rect(self) -> QRect:
        side = max(1, min(self.width(), self.height() - LABEL_H) - 2 * GAP)
        return QRect((self.width() - side) // 2, GAP, side, side)

    def row_at(self, x: float, y: float) -> int | None:
        cw, ch = self.cell_size()
        row = (int(y) // ch + self.top_row) * self.columns + int(x) // cw
        return row if 0 <= int(x) // cw < self.columns and 0 <= row < self.model.rowCount() else None

    def ensure_visible(self, row: int) -> None:
        _, ch = self.cell_size()
        lines = max(1, self.height() // ch)
        line = row // self.columns
        if line < self.top_row:
            self.top_row = line
        elif line >= self.top_row + lines:
            self.top_row = line - lines + 1
        self._fetch_if_near_end()
        self.update()

    def _fetch_if_near_end(self) -> None:
        shown = self.visible_rows()
        if shown.stop + self.columns * 2 >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()

    # --- state --------------------------------------------------------------------------------------------

    def set_params(self, params: ShaderParams) -> None:
        self.params = params
        self.update()

    def set_mouse(self, mouse: tuple[float, float]) -> None:
        """Hold every tile at this pointer offset (tests, screenshots)."""
        self.pointer = EasedPointer(mouse[0], mouse[1], mouse[0], mouse[1])
        self.update()

    @property
    def animating(self) -> bool:
        return self._timer.isActive()

    def set_loupe(self, on: bool) -> None:
        """The current user alone, large, at its depth map's resolution; zoom with +/- or the wheel."""
        self.loupe = on and self.selection.currentIndex().isValid()
        self.zoom = 1.0
        self.update()

    def set_zoom(self, zoom: float) -> None:
        self.zoom = max(ZOOMS[0], min(ZOOMS[-1], zoom))
        self.update()

    def _model_changed(self, *args: object) -> None:
        if self.model.rowCount() == 0:
            self.top_row = 0
            self.loupe = False
        self.update()

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.ensure_visible(current.row())
        self.update()

    def content_of(self, row: UserRow) -> TileContent | None:
        return self.contents.get(tile_key(row))

    def _request(self, row: UserRow) -> None:
        key = tile_key(row)
        if not row.avatar or key in self.contents or key in self._loading or key in self.failures:
            return
        self._loading.add(key)
        self._requests += 1
        policy = self.model.portal.config.fetch.policy()
        portal = self.model.portal
        self.tasks.submit(
            lambda: load_tile(portal, row, policy),
            done=lambda content: self._loaded(key, content),
            failed=lambda exc: self._failed(key, exc),
            priority=self._requests % 2**30,  # newest first: after a scroll the tiles on screen come first
        )

    def _loaded(self, key: tuple[object, ...], content: TileContent) -> None:
        self._loading.discard(key)
        self.contents[key] = content
        while len(self.contents) > KEEP_TILES:
            self.contents.popitem(last=False)
        self.tiles_changed.emit()
        self.update()

    def _failed(self, key: tuple[object, ...], exc: BaseException) -> None:
        self._loading.discard(key)
        self.failures[key] = describe(exc)
        self.tiles_changed.emit()
        self.update()

    @property
    def pending(self) -> int:
        return len(self._loading)

    # --- keys and pointer ---------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        n = self.model.rowCount()
        current = self.selection.currentIndex()
        at = current.row() if current.isValid() else -1
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_E):
            self.set_loupe(not self.loupe)
            return
        if key == Qt.Key.Key_Escape and self.loupe:
            self.set_loupe(False)
            return
        if self.loupe and key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus):
            step = 1 if key != Qt.Key.Key_Minus else -1
            i = ZOOMS.index(self.zoom) if self.zoom in ZOOMS else 0
            self.set_zoom(ZOOMS[max(0, min(len(ZOOMS) - 1, i + step))])
            return
        if key == Qt.Key.Key_A and mods & Qt.KeyboardModifier.ControlModifier:
            if n:
                sel = QItemSelection(self.model.index(0), self.model.index(n - 1))
                self.selection.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            return
        _, ch = self.cell_size()
        page = max(1, self.height() // ch) * self.columns
        steps = {
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Down: self.columns,
            Qt.Key.Key_Up: -self.columns,
            Qt.Key.Key_PageDown: page,
            Qt.Key.Key_PageUp: -page,
        }
        if key in steps or key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            if not n:
                return
            if key == Qt.Key.Key_Home:
                target = 0
            elif key == Qt.Key.Key_End:
                target = n - 1
            else:
                target = max(0, min(n - 1, at + steps[key] if at >= 0 else 0))
            self.go_to(target, extend=bool(mods & Qt.KeyboardModifier.ShiftModifier))
            return
        super().keyPressEvent(event)

    def go_to(self, row: int, *, extend: bool = False, toggle: bool = False) -> None:
        """Make ``row`` current: alone selected, or (``extend``) the range from the anchor, or toggled."""
        index = self.model.index(row)
        flags = QItemSelectionModel.SelectionFlag
        if extend:
            anchor = self._anchor if self._anchor.isValid() else self.selection.currentIndex()
            if not anchor.isValid():
                anchor = index
            lo, hi = sorted((anchor.row(), row))
            self.selection.select(QItemSelection(self.model.index(lo), self.model.index(hi)), flags.ClearAndSelect)
            self.selection.setCurrentIndex(index, flags.NoUpdate)
            self._anchor = QPersistentModelIndex(self.model.index(anchor.row()))
        elif toggle:
            self.selection.setCurrentIndex(index, flags.Toggle)
            self._anchor = QPersistentModelIndex(index)
        else:
            self.selection.setCurrentIndex(index, flags.ClearAndSelect)
            self._anchor = QPersistentModelIndex(index)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        pos = event.position()
        if self.loupe:
            return
        row = self.row_at(pos.x(), pos.y())
        if row is not None:
            mods = event.modifiers()
            self.go_to(
                row,
                extend=bool(mods & Qt.KeyboardModifier.ShiftModifier),
                toggle=bool(mods & Qt.KeyboardModifier.ControlModifier),
            )

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.row_at(event.position().x(), event.position().y()) is not None or self.loupe:
            self.set_loupe(not self.loupe)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        # Every tile answers the one pointer, relative to the grid's centre (the web's respondTo="window").
        self.pointer.set_target(
            pointer_target(pos.x(), pos.y(), self.width(), self.height(), reverse_motion=self.params.reverse_motion)
        )
        if self.loupe:
            r = self.loupe_rect()
            self.focus_point = (
                min(1.0, max(0.0, (pos.x() - r.x()) / max(1, r.width()))),
                min(1.0, max(0.0, (pos.y() - r.y()) / max(1, r.height()))),
            )
            if self.zoom > 1.0:
                self.update()
        if not self._timer.isActive():
            self._last_tick = time.monotonic()
            self._timer.start()
        super().mouseMoveEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120.0
        if self.loupe:
            i = ZOOMS.index(self.zoom) if self.zoom in ZOOMS else 0
            self.set_zoom(ZOOMS[max(0, min(len(ZOOMS) - 1, i + (1 if notches > 0 else -1)))])
            return
        lines = math.ceil(max(0, self.model.rowCount()) / self.columns)
        self.top_row = max(0, min(max(0, lines - 1), self.top_row - round(notches)))
        self._fetch_if_near_end()
        self.update()

    def _tick(self) -> None:
        # The web eases once per 60 Hz frame; a grid frame on software GL can take longer, so catch up by the
        # frames that should have passed: the motion takes the web's time, not the renderer's.
        now = time.monotonic()
        steps = max(1, min(30, round((now - self._last_tick) * 1000 / FRAME_MS))) if self._last_tick else 1
        self._last_tick = now
        p = self.pointer
        for _ in range(steps):
            p.tick()
        if abs(p.target_x - p.mouse_x) < SETTLED and abs(p.target_y - p.mouse_y) < SETTLED:
            p.mouse_x, p.mouse_y = p.target_x, p.target_y
            self._timer.stop()
            self._last_tick = 0.0
        self.update()

    # --- GL -----------------------------------------------------------------------------------------------

    def initializeGL(self) -> None:
        try:
            self.renderer = TileRenderer()
        except Exception as exc:
            self.gl_error = f"the culling grid cannot draw: {describe(exc)}"
            log.error("%s", self.gl_error)
            self.gl_failed.emit(self.gl_error)

    def paintGL(self) -> None:
        # Raw GL between begin/endNativePainting, so Qt's painter restores its own state (VAO, program,
        # blending) before the labels are drawn over the tiles.
        painter = QPainter(self)
        painter.beginNativePainting()
        # Qt's painter keeps its own vertex array bound on a core profile and does not rebind it afterwards.
        # Its glyph cache assumes its textures are still bound too (else new glyphs land in a tile's photo).
        vao = int(GL.glGetIntegerv(GL.GL_VERTEX_ARRAY_BINDING))
        buffer = int(GL.glGetIntegerv(GL.GL_ARRAY_BUFFER_BINDING))
        active = int(GL.glGetIntegerv(GL.GL_ACTIVE_TEXTURE))
        alignment = int(GL.glGetIntegerv(GL.GL_UNPACK_ALIGNMENT))  # the uploads set 1; the glyph cache needs its own
        bound = []
        for unit in range(4):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            bound.append(int(GL.glGetIntegerv(GL.GL_TEXTURE_BINDING_2D)))
        labels: list[tuple[QRect, UserRow, str]] = []
        try:
            GL.glDisable(GL.GL_SCISSOR_TEST)
            GL.glClearColor(*BACKGROUND, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            if self.gl_error is None and self.renderer is not None:
                labels = self._draw_tiles(self.renderer)
            ratio = self.devicePixelRatioF()
            GL.glViewport(0, 0, round(self.width() * ratio), round(self.height() * ratio))
            GL.glUseProgram(0)
            GL.glBindVertexArray(vao)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, buffer)
            for unit, texture in enumerate(bound):
                GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
                GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
            GL.glActiveTexture(active)
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, alignment)
        except Exception as exc:
            self.gl_error = f"the culling grid failed: {describe(exc)}"
            log.error("culling grid paint failed", exc_info=exc)
            self.gl_failed.emit(self.gl_error)
        finally:
            painter.endNativePainting()
        self._draw_labels(painter, labels)
        painter.end()
        self.frame_drawn.emit()

    def _draw_tiles(self, renderer: TileRenderer) -> list[tuple[QRect, UserRow, str]]:
        """Draw the visible tiles; returns (picture rect, row, placeholder text) for the labels pass."""
        ratio = self.devicePixelRatioF()
        total_h = round(self.height() * ratio)
        fbo = self.defaultFramebufferObject()
        rows = [self.selection.currentIndex().row()] if self.loupe else list(self.visible_rows())
        drawn: list[tuple[QRect, UserRow, str]] = []
        wanted: set[tuple[object, ...]] = set()
        for i in rows:
            if not 0 <= i < self.model.rowCount():
                continue
            row = self.model.row_at(i)
            rect = self.loupe_rect() if self.loupe else self.tile_rect(i)
            key = tile_key(row)
            gl_key = (*key, "loupe") if self.loupe else key
            content = self.contents.get(key)
            placeholder = ""
            if not row.avatar:
                placeholder = "no photo"
            elif key in self.failures:
                placeholder = "cannot show: " + self.failures[key]
            elif content is None:
                placeholder = "loading…"
                self._request(row)
            if placeholder:
                drawn.append((rect, row, placeholder))
                continue
            assert content is not None
            wanted.add(gl_key)
            if not renderer.has_tile(gl_key):
                renderer.set_tile(gl_key, content.loupe if self.loupe else content.textures)
            device = TileRect(
                round(rect.x() * ratio),
                round(rect.y() * ratio),
                round(rect.width() * ratio),
                round(rect.height() * ratio),
            )
            mouse = self.pointer.mouse if content.moving else (0.0, 0.0)
            zoom = self.zoom if self.loupe else 1.0
            renderer.draw_tile(gl_key, self.params, mouse, device, fbo, total_h, zoom=zoom, focus=self.focus_point)
            drawn.append((rect, row, ""))
        if renderer.tile_count > KEEP_TILES:
            renderer.drop_tiles([k for k in renderer.tile_keys() if k not in wanted])
        return drawn

    def _draw_labels(self, painter: QPainter, tiles: list[tuple[QRect, UserRow, str]]) -> None:
        """Names, status and selection drawn by QPainter over the GL tiles (plain text: names are strangers')."""
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = {i.row() for i in self.selection.selectedIndexes()}
        current = self.selection.currentIndex().row()
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        if self.gl_error:
            painter.setPen(QColor("#ff8a80"))
            painter.drawText(self.rect().adjusted(24, 24, -24, -24), Qt.AlignmentFlag.AlignCenter, self.gl_error)
        elif not tiles:
            painter.setPen(QColor("#c8ccd2"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No users match this filter")
        for rect, row, placeholder in tiles:
            i = self.model.index_of(row.id).row()
            if placeholder:
                painter.fillRect(rect, QColor("#2b2e33"))
                painter.setPen(QColor("#9aa0a6"))
                painter.setFont(small)
                painter.drawText(
                    rect.adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, placeholder
                )
            color = QColor(status_color(row.status))
            if i in selected:
                painter.setPen(QColor("#5b8def"))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                pen = painter.pen()
                pen.setWidth(4 if i == current else 3)
                painter.setPen(pen)
                painter.drawRect(rect.adjusted(-2, -2, 2, 2))
            elif i == current:
                pen = painter.pen()
                pen.setColor(QColor("#c8ccd2"))
                pen.setWidth(1)
                painter.setPen(pen)
                painter.drawRect(rect.adjusted(-2, -2, 2, 2))
            painter.fillRect(QRect(rect.x(), rect.bottom() + 3, rect.width(), 3), color)
            painter.setFont(small)
            painter.setPen(QColor("#e8eaed"))
            fm = painter.fontMetrics()
            name = display_name(row, self.model.repeated(row))
            line = QRect(rect.x(), rect.bottom() + 7, rect.width(), fm.height())
            painter.drawText(
                line, Qt.AlignmentFlag.AlignLeft, fm.elidedText(name, Qt.TextElideMode.ElideRight, rect.width())
            )
            painter.setPen(color.lighter(130))
            status = status_label(row.status) + (f" · QA {row.qa_risk:.2f}" if row.result_id is not None else "")
            painter.drawText(line.translated(0, fm.height()), Qt.AlignmentFlag.AlignLeft, status)
            if self.loupe and self.zoom > 1.0:
                painter.setPen(QColor("#e8eaed"))
                painter.drawText(rect.adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignRight, f"{self.zoom:g}x")

    def release_gl(self) -> None:
        """Free the GL objects while the context exists (before the window goes away)."""
        if self.renderer is None:
            return
        self.makeCurrent()
        try:
            self.renderer.release()
        finally:
            self.renderer = None
            self.doneCurrent()


class MetadataPanel(QWidget):
    """The facts about the current user an editor culls by: photo, source, which model made the map and when, QA."""

    FIELDS = ("Name", "Id", "Status", "Photo", "Source", "Depth map", "Made", "QA risk", "QA scores", "Decision")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("metadata")
        form = QFormLayout(self)
        form.setContentsMargins(8, 8, 8, 8)
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            label = QLabel("")
            label.setTextFormat(Qt.TextFormat.PlainText)  # names and URLs are written by strangers
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.values[name] = label
            form.addRow(name, label)

    def show_row(self, row: UserRow | None, tile: TileContent | None, failure: str | None = None) -> None:
        facts = dict.fromkeys(self.FIELDS, "")
        if row is not None:
            facts["Name"] = row.name or "(no name)"
            facts["Id"] = row.id
            facts["Status"] = status_label(row.status)
            if tile is not None:
                p = tile.photo
                facts["Photo"] = f"{p.width} x {p.height} px, {p.format}, {p.bytes / 1024:,.0f} KB"
            elif failure:
                facts["Photo"] = f"cannot be read: {failure}"
            elif row.avatar:
                facts["Photo"] = "loading…"
            else:
                facts["Photo"] = "no photo"
            facts["Source"] = row.avatar or "—"
            if row.result_id is not None:
                facts["Depth map"] = f"{row.backend} / {row.model} (result #{row.result_id})"
                facts["Made"] = _when(row.result_created_at)
                facts["QA risk"] = f"{row.qa_risk:.2f}"
                facts["QA scores"] = _scores(row.qa)
            else:
                facts["Depth map"] = "none yet"
            if row.decision:
                facts["Decision"] = f"{row.decision} by {row.reviewer} {_when(row.reviewed_at)}".strip() + (
                    f": {row.note}" if row.note else ""
                )
        for name, value in facts.items():
            self.values[name].setText(display(value, newlines=name == "QA scores"))  # our own lines, not data

    def text(self) -> dict[str, str]:
        return {name: label.text() for name, label in self.values.items()}


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def _scores(qa: dict[str, Any] | None) -> str:
    """The QA report as an editor reads it: one line per check with its score, the flagged ones marked.

    The stored report is nested JSON (version, risk, flags, checks); shown raw it read as a Python dict.
    """
    if not qa:
        return "—"
    checks = qa.get("checks")
    if not isinstance(checks, dict) or not checks:
        return "—"
    lines = []
    for name, check in checks.items():
        score = check.get("score") if isinstance(check, dict) else None
        text = f"{name}: {score:.2f}" if isinstance(score, (int, float)) else f"{name}: —"
        if isinstance(check, dict) and check.get("flagged"):
            text += "  ⚑ flagged"
        lines.append(text)
    return "\n".join(lines)


class CullingView(QWidget):
    """The grid and, beside it, the current user's metadata."""

    def __init__(self, model: UserListModel, selection: QItemSelectionModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = CullingGrid(model, selection)
        self.metadata = MetadataPanel()
        side = QScrollArea()
        side.setWidgetResizable(True)
        side.setWidget(self.metadata)
        side.setFixedWidth(280)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.grid, 1)
        layout.addWidget(side)
        self.model = model
        self.selection = selection
        selection.currentChanged.connect(lambda *_: self.refresh_metadata())
        self.grid.tiles_changed.connect(self.refresh_metadata)
        model.dataChanged.connect(lambda *_: self.refresh_metadata())

    def refresh_metadata(self) -> None:
        if not self.isVisible():
            return  # the single view is on: the window's toggle refreshes the panel when the grid comes back
        index = self.selection.currentIndex()
        if not index.isValid() or index.row() >= self.model.rowCount():
            self.metadata.show_row(None, None)
            return
        row = self.model.row_at(index.row())
        key = tile_key(row)
        self.metadata.show_row(row, self.grid.contents.get(key), self.grid.failures.get(key))
