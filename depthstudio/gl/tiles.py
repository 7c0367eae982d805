"""Many avatars in one GL context: one parallax program, one texture pair per tile, one scratch framebuffer.

The culling grid draws dozens of avatars a frame. Compiling one program per avatar (what one
``ParallaxRenderer`` per tile would do) costs a link each on llvmpipe; here the program from ``shaders/`` is
compiled once and each tile only swaps its textures. The shader derives its coordinates from
``gl_FragCoord``, exactly as the web component fills its canvas, so a tile is drawn into a scratch framebuffer
of the tile's size and blitted to its place: the pixels of a tile are the pixels of a web canvas that size.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from OpenGL import GL

from depthstudio.gl.renderer import Framebuffer, ParallaxRenderer, upload_texture
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import Textures


@dataclass(frozen=True)
class TileRect:
    """Where a tile goes, in device pixels with the origin at the top left (as widgets count)."""

    x: int
    y: int
    width: int
    height: int


class TileRenderer(ParallaxRenderer):
    """The parallax program once, and the photo/depth textures of every tile uploaded so far (by key)."""

    def __init__(self) -> None:
        super().__init__("gl330")
        self._tiles: dict[Hashable, tuple[int, int, tuple[int, int]]] = {}
        self._scratch: Framebuffer | None = None

    def has_tile(self, key: Hashable) -> bool:
        return key in self._tiles

    @property
    def tile_count(self) -> int:
        return len(self._tiles)

    def tile_keys(self) -> list[Hashable]:
        return list(self._tiles)

    def set_tile(self, key: Hashable, textures: Textures) -> None:
        """Upload (or replace) one tile's photo and depth map."""
        old = self._tiles.get(key)
        photo = upload_texture(textures.photo, old[0] if old else None)
        depth = upload_texture(textures.depth, old[1] if old else None, float_depth=True)
        self._tiles[key] = (photo, depth, textures.photo_size)

    def drop_tiles(self, keys: Iterable[Hashable]) -> None:
        """Free the textures of tiles no longer on screen."""
        names: list[int] = []
        for key in list(keys):
            entry = self._tiles.pop(key, None)
            if entry is not None:
                names += [entry[0], entry[1]]
        if names:
            GL.glDeleteTextures(len(names), names)

    def draw_tile(
        self,
        key: Hashable,
        params: ShaderParams,
        mouse: tuple[float, float],
        rect: TileRect,
        target_fbo: int,
        target_height: int,
        *,
        zoom: float = 1.0,
        focus: tuple[float, float] = (0.5, 0.5),
    ) -> None:
        """Render tile ``key`` as a ``rect``-sized canvas and copy it into ``target_fbo`` at ``rect``.

        ``zoom`` > 1 (the loupe) renders a canvas ``zoom`` times larger and copies the ``rect``-sized window of
        it around ``focus`` (fractions of the canvas, from the top left) pixel for pixel.
        """
        photo, depth, size = self._tiles[key]
        cw, ch = max(rect.width, round(rect.width * zoom)), max(rect.height, round(rect.height * zoom))
        if self._scratch is None or (self._scratch.width, self._scratch.height) != (cw, ch):
            if self._scratch is not None:
                self._scratch.release()
            self._scratch = Framebuffer(cw, ch)
        self._scratch.bind()
        self._photo, self._depth, self._photo_size = photo, depth, size
        try:
            self.draw(params.with_values(layered=False), mouse, cw, ch)
        finally:
            self._photo = self._depth = None  # the tile owns them, not the base class (see release)
        sx = min(max(0, round(focus[0] * cw - rect.width / 2)), cw - rect.width)
        top = min(max(0, round(focus[1] * ch - rect.height / 2)), ch - rect.height)
        sy = ch - (top + rect.height)
        bottom = target_height - (rect.y + rect.height)  # GL counts rows from the bottom
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._scratch.fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, target_fbo)
        GL.glBlitFramebuffer(
            sx,
            sy,
            sx + rect.width,
            sy + rect.height,
            rect.x,
            bottom,
            rect.x + rect.width,
            bottom + rect.height,
            GL.GL_COLOR_BUFFER_BIT,
            GL.GL_NEAREST,
        )
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, target_fbo)

    def release(self) -> None:
        self.drop_tiles(list(self._tiles))
        if self._scratch is not None:
            self._scratch.release()
            self._scratch = None
        super().release()
