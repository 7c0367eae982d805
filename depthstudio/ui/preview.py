"""The live preview: the shared parallax shader in a QOpenGLWidget, moved by the pointer like the web page.

All drawing goes through ``depthstudio.gl.renderer.ParallaxRenderer`` inside Qt's current context, so the pixels
here are the exporter's and (through the same GLSL file) the website's. Views that need a region of the widget
(side-by-side compare, zoom 1:1) render into an offscreen framebuffer of the region's size and blit it, because
the renderer always draws the whole viewport the way the web component fills its canvas.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from OpenGL import GL
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QResizeEvent, QSurfaceFormat, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QFrame, QLabel, QWidget

from depthstudio.gl.renderer import Framebuffer, ParallaxRenderer
from depthstudio.render.motion import EasedPointer, auto_orbit_target, pointer_target
from depthstudio.render.params import PLANE_ORIGINAL, ShaderParams
from depthstudio.render.reference import prepare_textures
from depthstudio.studio.preview_loading import PreviewContent, shader_textures
from depthstudio.studio.view_modes import VIEW_MODES, ViewMode, shown_mode
from depthstudio.ui.workers import describe

log = logging.getLogger(__name__)

IDLE_BEFORE_ORBIT_S = 2.5
FRAME_MS = 16  # the web eases once per animation frame, 60 Hz
SETTLED = 1e-3  # eased motion closer than this to its target is drawn at the target and the clock stops
BACKGROUND = (0.13, 0.14, 0.16)


def surface_format() -> QSurfaceFormat:
    """GL 3.3 core, what the shared shader's desktop header (#version 330 core) needs."""
    fmt = QSurfaceFormat()
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(0)
    fmt.setSwapInterval(1)
    return fmt


def original_of(params: ShaderParams) -> ShaderParams:
    """The published web component with the same motion settings: plane 0.5 and none of the fixes."""
    return params.with_values(plane=PLANE_ORIGINAL, counter_motion=1.0, occlusion_steps=0)


class PreviewWidget(QOpenGLWidget):
    frame_drawn = Signal()  # after every paintGL: lets benchmarks time "slider moved -> frame on screen"
    gl_failed = Signal(str)
    zoom_changed = Signal(float)  # the 1:1 view's scale (screen pixels per photo pixel)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFormat(surface_format())
        self.setMouseTracking(True)
        self.setMinimumSize(320, 320)
        self.params = ShaderParams()
        self.mode = "shader"
        self.zoom_1to1 = False
        self.zoom = 1.0  # in the 1:1 view: screen pixels per photo pixel (the wheel), 1 = the real size
        self.pan = QPointF(0.0, 0.0)  # in the 1:1 view: the photo's offset from the centre (a drag), widget px
        self._drag: QPointF | None = None
        self._native: Image.Image | None = None  # the photo at its own pixel size, for the 1:1 view
        self.content: PreviewContent | None = None
        self.message = "Select a user"
        self.gl_error: str | None = None
        self.pointer = EasedPointer()
        self._renderer: ParallaxRenderer | None = None
        self._compare: ParallaxRenderer | None = None
        self._depth_view: ParallaxRenderer | None = None
        self._targets: dict[tuple[int, int], Framebuffer] = {}
        self._dirty_textures = False
        self._last_pointer = 0.0
        self._hovering = False
        self._orbit_t0 = time.monotonic()
        # The clock runs only while something moves (easing not settled, or orbiting): a still pointer costs
        # no frames, so the preview can follow the pointer from the first open (software GL spent ~75 % of a
        # core redrawing an unchanged frame at 60 Hz).
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._tick)
        self.motion_enabled = True
        self.orbit_enabled = False
        self._build_overlay()
        self._place_overlay()

    # --- state from the window ----------------------------------------------------------------------------

    def set_content(self, content: PreviewContent | None, message: str = "") -> None:
        self.content = content
        self.message = message
        self._native = None  # another user's: the window loads this one's if 1:1 is on
        self._dirty_textures = True
        self._place_overlay()
        self.update()

    def set_params(self, params: ShaderParams) -> None:
        self.params = params
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"unknown preview mode {mode!r}")
        self.mode = mode
        self._place_overlay()
        self.update()

    def set_zoom_1to1(self, on: bool) -> None:
        self.zoom_1to1 = on
        self.zoom, self.pan = 1.0, QPointF(0.0, 0.0)
        self.zoom_changed.emit(self.zoom)
        self._dirty_textures = True
        self.update()

    def set_native_photo(self, photo: Image.Image | None) -> None:
        """The current user's photo at its own pixel size: the 1:1 view draws it pixel for pixel."""
        self._native = photo
        self._dirty_textures = True
        self.update()

    @property
    def scene_size(self) -> tuple[int, int]:
        """(width, height) in pixels of the picture the 1:1 view draws: the photo's own when it is loaded."""
        photo = self._native if self._native is not None else self.content.photo if self.content else None
        return photo.size if photo is not None else (0, 0)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """In the 1:1 view the wheel zooms by powers of two (1/4 .. 8); elsewhere it does nothing."""
        steps = event.angleDelta().y() / 120
        if not self.zoom_1to1 or not steps:
            super().wheelEvent(event)
            return
        self.zoom = float(min(8.0, max(0.25, self.zoom * 2.0 ** round(steps))))
        self.zoom_changed.emit(self.zoom)
        self.update()
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.zoom_1to1 and event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None
        super().mouseReleaseEvent(event)

    def set_motion(self, on: bool) -> None:
        """Pointer-follow on, or the picture frozen where it is now."""
        self.motion_enabled = on
        if not on:
            self._timer.stop()
        else:
            self._wake()

    def set_orbit(self, on: bool) -> None:
        """Auto-orbit when the pointer is away or still: the one state that draws continuously."""
        self.orbit_enabled = on
        self._orbit_t0 = time.monotonic()
        self._wake()

    @property
    def animating(self) -> bool:
        """Whether the frame clock runs (the benchmark's idle test and the tests read it)."""
        return self._timer.isActive()

    def _wake(self) -> None:
        if self.motion_enabled and not self._timer.isActive():
            self._timer.start()

    def set_mouse(self, mouse: tuple[float, float]) -> None:
        """Hold the picture at this pointer offset (tests, screenshots, stills)."""
        self.pointer = EasedPointer(mouse[0], mouse[1], mouse[0], mouse[1])
        self.update()

    @property
    def has_depth(self) -> bool:
        return self.content is not None and self.content.depth is not None

    # --- motion -------------------------------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is not None:  # panning the 1:1 view: the picture follows the hand, the 3D motion holds
            self.pan += event.position() - self._drag
            self._drag = event.position()
            self.update()
            return
        self._hovering = True
        self._last_pointer = time.monotonic()
        pos = event.position()
        self.pointer.set_target(
            pointer_target(pos.x(), pos.y(), self.width(), self.height(), reverse_motion=self.params.reverse_motion)
        )
        self._wake()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: object) -> None:
        self._hovering = False
        super().leaveEvent(event)  # type: ignore[arg-type]

    def _orbiting(self, now: float) -> bool:
        return self.orbit_enabled and (not self._hovering or now - self._last_pointer > IDLE_BEFORE_ORBIT_S)

    def _tick(self) -> None:
        now = time.monotonic()
        orbiting = self._orbiting(now)
        if orbiting:
            self.pointer.set_target(auto_orbit_target(now - self._orbit_t0))
        p = self.pointer
        p.tick()
        settled = abs(p.target_x - p.mouse_x) < SETTLED and abs(p.target_y - p.mouse_y) < SETTLED
        if settled:
            p.mouse_x, p.mouse_y = p.target_x, p.target_y
        moving_view = self.has_depth and self._effective_mode().moves
        if moving_view:
            self.update()
        if (settled or not moving_view) and not orbiting:
            self._timer.stop()

    # --- GL -----------------------------------------------------------------------------------------------

    def initializeGL(self) -> None:
        try:
            self._renderer = ParallaxRenderer("gl330")  # one program; the other two draw with it
            self._compare = ParallaxRenderer("gl330", share=self._renderer)
            self._depth_view = ParallaxRenderer("gl330", share=self._renderer)
        except Exception as exc:
            self.gl_error = f"the 3D preview is unavailable: {describe(exc)}"
            log.error("%s", self.gl_error)
            self.gl_failed.emit(self.gl_error)
            QTimer.singleShot(0, self, self._place_overlay)
        self._dirty_textures = True

    def paintGL(self) -> None:
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glClearColor(*BACKGROUND, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        if self.gl_error is None and self.content is not None:
            try:
                self._paint_scene()
            except Exception as exc:
                self.gl_error = f"the 3D preview failed: {describe(exc)}"
                log.error("preview paint failed", exc_info=exc)
                self.gl_failed.emit(self.gl_error)
                QTimer.singleShot(0, self, self._place_overlay)
        self.frame_drawn.emit()

    def _upload(self) -> None:
        content = self.content
        assert content is not None and self._renderer and self._compare and self._depth_view
        if self.zoom_1to1 and self._native is not None and self._native.size != content.photo.size:
            photo = self._native  # the map is sampled with LINEAR filtering, so it can stay at its own size
            depth = content.depth if content.depth is not None else np.zeros((8, 8), np.uint8)
            depth = np.asarray(Image.fromarray(depth).resize(photo.size, Image.Resampling.BILINEAR))
            # The stored plate and matte are at the preview's size: derive them at the photo's own.
            textures = shader_textures(photo, depth, None)
        else:
            textures = content.textures or shader_textures(content.photo, content.depth, content.layers)
        self._renderer.set_textures(textures)
        if content.depth is not None:
            gray = Image.fromarray(content.depth).convert("RGB")
            self._depth_view.set_textures(prepare_textures(gray, content.depth))
        if content.compare_depth is not None:
            self._compare.set_textures(prepare_textures(content.photo, content.compare_depth))
        self._dirty_textures = False

    def _effective_mode(self) -> ViewMode:
        """The view that can be shown: a user without a depth map (or a second result) gets the plain view."""
        return shown_mode(self.mode, self.content)

    def _paint_scene(self) -> None:
        content = self.content
        assert content is not None and self._renderer and self._compare and self._depth_view
        if self._dirty_textures:
            self._upload()
        ratio = self.devicePixelRatioF()
        w, h = round(self.width() * ratio), round(self.height() * ratio)
        mouse = self.pointer.mouse if self.has_depth else (0.0, 0.0)  # no depth map: the plain photo, unmoved
        renderers = {"photo": self._renderer, "compare": self._compare, "depth": self._depth_view}
        for pane in self._effective_mode().panes:
            left, right = int(w * pane.left), int(w * pane.right)
            draws = [
                (
                    original_of(self.params) if draw.original else self.params,
                    None
                    if draw.clip is None
                    else QRect(int(w * draw.clip[0]), 0, int(w * draw.clip[1]) - int(w * draw.clip[0]), h),
                )
                for draw in pane.draws
            ]
            self._pane(
                renderers[pane.textures], draws, mouse if pane.moves else (0.0, 0.0), QRect(left, 0, right - left, h)
            )

    def _pane(
        self,
        renderer: ParallaxRenderer,
        draws: list[tuple[ShaderParams, QRect | None]],
        mouse: tuple[float, float],
        rect: QRect,
    ) -> None:
        """Render into ``rect`` (device pixels, top-left origin); each draw may be clipped to a sub-rectangle."""
        full_widget = rect.topLeft() == QPoint(0, 0) and rect.size() == self.size() * self.devicePixelRatioF()
        if self.zoom_1to1 and self.content is not None:
            scene = QRect(0, 0, *self.scene_size)
        else:
            scene = QRect(0, 0, rect.width(), rect.height())
        direct = full_widget and not self.zoom_1to1
        if direct:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.defaultFramebufferObject())
        else:
            target = self._target(scene.width(), scene.height())
            target.bind()
        for params, clip in draws:
            if clip is not None:
                sx = clip.left() * scene.width() // max(1, rect.width())
                sw = clip.width() * scene.width() // max(1, rect.width())
                GL.glEnable(GL.GL_SCISSOR_TEST)
                GL.glScissor(sx, 0, sw, scene.height())
            renderer.draw(params, mouse, scene.width(), scene.height())
            GL.glDisable(GL.GL_SCISSOR_TEST)
        if direct:
            return
        total_h = round(self.height() * self.devicePixelRatioF())
        if self.zoom_1to1:
            self._blit_zoomed(target, scene, rect, total_h)
            return
        # Blit the scene centred in ``rect``: cropped when larger, never scaled.
        dw, dh = min(scene.width(), rect.width()), min(scene.height(), rect.height())
        sx0, sy0 = (scene.width() - dw) // 2, (scene.height() - dh) // 2
        dx0 = rect.left() + (rect.width() - dw) // 2
        dy0_top = rect.top() + (rect.height() - dh) // 2
        dy0 = total_h - (dy0_top + dh)  # GL's y grows upwards
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, target.fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self.defaultFramebufferObject())
        GL.glBlitFramebuffer(
            sx0, sy0, sx0 + dw, sy0 + dh, dx0, dy0, dx0 + dw, dy0 + dh, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST
        )
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.defaultFramebufferObject())

    def _blit_zoomed(self, target: Framebuffer, scene: QRect, rect: QRect, total_h: int) -> None:
        """The 1:1 view: the scene scaled by ``zoom`` (nearest, so pixels stay square), centred, moved by ``pan``,
        clipped to ``rect``."""
        ratio = self.devicePixelRatioF()
        dw, dh = round(scene.width() * self.zoom), round(scene.height() * self.zoom)
        dx0 = rect.left() + (rect.width() - dw) // 2 + round(self.pan.x() * ratio)
        dy0_top = rect.top() + (rect.height() - dh) // 2 + round(self.pan.y() * ratio)
        dy0 = total_h - (dy0_top + dh)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, target.fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self.defaultFramebufferObject())
        GL.glEnable(GL.GL_SCISSOR_TEST)  # blits obey the scissor: nothing lands outside this pane
        GL.glScissor(rect.left(), total_h - (rect.top() + rect.height()), rect.width(), rect.height())
        GL.glBlitFramebuffer(
            0, 0, scene.width(), scene.height(), dx0, dy0, dx0 + dw, dy0 + dh, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST
        )
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.defaultFramebufferObject())

    def _target(self, width: int, height: int) -> Framebuffer:
        key = (width, height)
        if key not in self._targets:
            if len(self._targets) > 4:  # window resizes would otherwise keep every old size alive
                for old in self._targets.values():
                    old.release()
                self._targets.clear()
            self._targets[key] = Framebuffer(width, height)
        return self._targets[key]

    # --- overlay: child widgets over the GL surface, so captions never enter the rendered frame ----------

    def _build_overlay(self) -> None:
        self._captions = [QLabel(self), QLabel(self)]
        for caption in self._captions:
            caption.setObjectName("caption")
            caption.setStyleSheet(
                "QLabel#caption { background: rgba(0, 0, 0, 150); color: white; border-radius: 5px; padding: 3px 8px; }"
            )
            caption.hide()
        self._divider = QFrame(self)
        self._divider.setStyleSheet("background: rgba(255, 255, 255, 200);")
        self._divider.hide()
        self._message = QLabel(self)
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #c8ccd2; background: transparent; font-size: 12pt;")

    def captions(self) -> list[tuple[int, str]]:
        """(x of the pane's left edge in widget pixels, caption) for the current view."""
        content = self.content
        if content is None:
            return []
        if content.depth is None:
            return [(0, "no depth map: the plain photo, as the web shows it")]
        return [(int(self.width() * at), text) for at, text in self._effective_mode().captions(content)]

    def _place_overlay(self) -> None:
        captions = self.captions()
        for i, caption in enumerate(self._captions):
            if i < len(captions) and captions[i][1]:
                caption.setText(captions[i][1])
                caption.adjustSize()
                caption.move(captions[i][0] + 10, 10)
                caption.show()
            else:
                caption.hide()
        if len(captions) == 2:
            self._divider.setGeometry(captions[1][0], 0, 1, self.height())
            self._divider.show()
        else:
            self._divider.hide()
        text = self.gl_error or ("" if self.content is not None else self.message or "Select a user")
        self._message.setText(text)
        self._message.setStyleSheet(
            f"color: {'#ff8a80' if self.gl_error else '#c8ccd2'}; background: transparent; font-size: 12pt;"
        )
        self._message.setGeometry(self.rect().adjusted(24, 24, -24, -24))
        self._message.setVisible(bool(text))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_overlay()

    def frame_rgb(self) -> np.ndarray:
        """The current frame as uint8 (H, W, 3), read back from the widget's framebuffer."""
        image = self.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
        ptr = image.constBits()
        arr = np.frombuffer(ptr, dtype=np.uint8, count=image.sizeInBytes()).reshape(
            image.height(), image.bytesPerLine()
        )
        return arr[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()

    def closeEvent(self, event: object) -> None:
        self._timer.stop()
        super().closeEvent(event)  # type: ignore[arg-type]

    def release_gl(self) -> None:
        """Free GL objects while the context still exists (called before the widget goes away)."""
        if self._renderer is None:
            return
        self.makeCurrent()
        try:
            for renderer in (self._renderer, self._compare, self._depth_view):
                if renderer is not None:
                    renderer.release()
            for target in self._targets.values():
                target.release()
        finally:
            self._targets.clear()
            self._renderer = self._compare = self._depth_view = None
            self.doneCurrent()
