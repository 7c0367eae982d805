"""The parallax program in whatever GL context is current: the studio's QOpenGLWidget or the offscreen one.

Nothing here creates a context or knows about windows, so the same object draws the live preview and the
exported frames. Uniforms for the shader parameters are set by name from ``PARAM_SPECS``; a parameter added
there reaches the shader without touching this file.
"""

from __future__ import annotations

import ctypes

import numpy as np
from OpenGL import GL

from depthstudio.errors import RenderError
from depthstudio.render.params import PARAM_SPECS, ShaderParams
from depthstudio.render.reference import Textures, aspect_fit
from depthstudio.render.shader_source import (
    DEPTH_UNIT,
    MATTE_UNIT,
    PHOTO_UNIT,
    PLATE_UNIT,
    Target,
    parallax_sources,
)

# Two triangles as a strip covering clip space, as the web component draws it.
_QUAD = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype=np.float32)


def _compile(kind: int, source: str) -> int:
    shader = GL.glCreateShader(kind)
    GL.glShaderSource(shader, source)
    GL.glCompileShader(shader)
    if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
        log = GL.glGetShaderInfoLog(shader)
        GL.glDeleteShader(shader)
        text = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
        raise RenderError(f"the shader does not compile on this GL driver: {text.strip()}", kind="shader_compile")
    return int(shader)


def compile_program(vertex: str, fragment: str) -> int:
    """Link a program from source; a driver's compile/link log becomes a RenderError."""
    vs = _compile(GL.GL_VERTEX_SHADER, vertex)
    fs = _compile(GL.GL_FRAGMENT_SHADER, fragment)
    program = GL.glCreateProgram()
    GL.glAttachShader(program, vs)
    GL.glAttachShader(program, fs)
    GL.glLinkProgram(program)
    GL.glDeleteShader(vs)
    GL.glDeleteShader(fs)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        log = GL.glGetProgramInfoLog(program)
        GL.glDeleteProgram(program)
        text = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
        raise RenderError(f"the shader program does not link: {text.strip()}", kind="shader_compile")
    return int(program)


class FullScreenQuad:
    """VAO + VBO of the clip-space quad at attribute location 0 (required by core profiles and GLES 3)."""

    def __init__(self) -> None:
        self.vao = int(GL.glGenVertexArrays(1))
        self.vbo = int(GL.glGenBuffers(1))
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, _QUAD.nbytes, _QUAD, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 2, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
        GL.glBindVertexArray(0)

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glBindVertexArray(0)

    def release(self) -> None:
        GL.glDeleteBuffers(1, [self.vbo])
        GL.glDeleteVertexArrays(1, [self.vao])


def upload_texture(image: np.ndarray, texture: int | None = None, *, float_depth: bool = True) -> int:
    """uint8 (H, W, 4) as RGBA8 or (H, W) as one red channel, LINEAR + CLAMP_TO_EDGE like the web.

    Row 0 lands at v = 0 (the image's top, as WebGL uploads it). The depth levels go up as R32F holding
    exactly level / 255: Mesa's llvmpipe returns LINEAR-filtered R8 texels rounded to 8 bits, and the
    displacement magnifies that (up to ~20 levels of colour on a noisy photo); R32F filters in float.
    GLES 3.0 cannot filter R32F, so ``float_depth=False`` keeps R8 there.
    """
    if texture is None:
        texture = int(GL.glGenTextures(1))
    data = np.ascontiguousarray(image, dtype=np.uint8)
    GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
    for pname, value in (
        (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE),
        (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
        (GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR),
        (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
    ):
        GL.glTexParameteri(GL.GL_TEXTURE_2D, pname, value)
    h, w = data.shape[:2]
    if data.ndim == 3:
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, data)
    elif float_depth:
        levels = np.ascontiguousarray(data, dtype=np.float32) / np.float32(255.0)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_R32F, w, h, 0, GL.GL_RED, GL.GL_FLOAT, levels)
    else:
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_R8, w, h, 0, GL.GL_RED, GL.GL_UNSIGNED_BYTE, data)
    return texture


class ParallaxRenderer:
    """Program, quad and textures of one avatar in the current context; ``draw`` renders one frame."""

    def __init__(self, target: Target = "gl330", *, share: ParallaxRenderer | None = None) -> None:
        """``share``: use that renderer's program (same context), compiled once; ``draw`` sets every uniform."""
        self._owns_program = share is None
        if share is not None:
            self.program = share.program
        else:
            sources = parallax_sources(target)
            self.program = compile_program(sources.vertex, sources.fragment)
        self.quad = FullScreenQuad()
        self._photo: int | None = None
        self._depth: int | None = None
        self._plate: int | None = None
        self._matte: int | None = None
        self._photo_size = (1, 1)
        self._float_depth = target == "gl330"
        names = ["u_resolution", "u_mouse", "u_pixelRatio", "u_photo", "u_depth", "u_plate", "u_matte"]
        names += [s.uniform for s in PARAM_SPECS if s.uniform is not None]
        self._loc = {name: GL.glGetUniformLocation(self.program, name) for name in names}
        missing = [name for name, loc in self._loc.items() if loc < 0]
        if missing:
            raise RenderError(
                f"the parallax shader lacks uniform(s) {', '.join(missing)}: shaders/ and params disagree",
                kind="shader_compile",
            )

    def set_textures(self, textures: Textures) -> None:
        self._photo = upload_texture(textures.photo, self._photo)
        self._depth = upload_texture(textures.depth, self._depth, float_depth=self._float_depth)
        if textures.plate is not None and textures.matte is not None:
            self._plate = upload_texture(textures.plate, self._plate)
            self._matte = upload_texture(textures.matte, self._matte, float_depth=self._float_depth)
        else:
            self._drop_layers()
        self._photo_size = textures.photo_size

    def _drop_layers(self) -> None:
        layers = [t for t in (self._plate, self._matte) if t is not None]
        if layers:
            GL.glDeleteTextures(len(layers), layers)
        self._plate = self._matte = None

    def draw(
        self,
        params: ShaderParams,
        mouse: tuple[float, float],
        width: int,
        height: int,
        device_pixel_ratio: float = 1.0,
    ) -> None:
        """Draw into the bound framebuffer; ``width``/``height`` in device pixels, as the web's canvas."""
        if self._photo is None or self._depth is None:
            raise RenderError("no avatar loaded: call set_textures() before draw()", kind="no_textures")
        if params.layered and (self._plate is None or self._matte is None):
            raise RenderError(
                "the layered mode needs the result's background plate and matte; this avatar has none",
                kind="no_layers",
            )
        css_w, css_h = width / device_pixel_ratio, height / device_pixel_ratio
        a1, a2 = aspect_fit(width, height, *self._photo_size)
        GL.glViewport(0, 0, width, height)
        GL.glDisable(GL.GL_BLEND)
        GL.glUseProgram(self.program)
        GL.glUniform4f(self._loc["u_resolution"], css_w, css_h, a1, a2)
        GL.glUniform2f(self._loc["u_mouse"], float(mouse[0]), float(mouse[1]))
        GL.glUniform1f(self._loc["u_pixelRatio"], 1.0 / device_pixel_ratio)
        GL.glUniform1i(self._loc["u_photo"], PHOTO_UNIT)
        GL.glUniform1i(self._loc["u_depth"], DEPTH_UNIT)
        GL.glUniform1i(self._loc["u_plate"], PLATE_UNIT)
        GL.glUniform1i(self._loc["u_matte"], MATTE_UNIT)
        values = params.uniforms()
        for spec in PARAM_SPECS:
            if spec.uniform is None:
                continue
            if spec.kind == "int":
                GL.glUniform1i(self._loc[spec.uniform], int(values[spec.uniform]))
            else:
                GL.glUniform1f(self._loc[spec.uniform], float(values[spec.uniform]))
        GL.glActiveTexture(GL.GL_TEXTURE0 + PHOTO_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._photo)
        GL.glActiveTexture(GL.GL_TEXTURE0 + DEPTH_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._depth)
        # Without layers the plate/matte units hold the photo and depth: never sampled, but always complete.
        GL.glActiveTexture(GL.GL_TEXTURE0 + PLATE_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._plate if self._plate is not None else self._photo)
        GL.glActiveTexture(GL.GL_TEXTURE0 + MATTE_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._matte if self._matte is not None else self._depth)
        self.quad.draw()
        GL.glActiveTexture(GL.GL_TEXTURE0)

    def release(self) -> None:
        self._drop_layers()
        textures = [t for t in (self._photo, self._depth) if t is not None]
        if textures:
            GL.glDeleteTextures(len(textures), textures)
        self.quad.release()
        if self._owns_program:
            GL.glDeleteProgram(self.program)
        self._photo = self._depth = None


class Framebuffer:
    """An RGBA8 render target for offscreen frames, read back top row first (like an image)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        self.fbo = int(GL.glGenFramebuffers(1))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.texture, 0)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RenderError(f"the offscreen framebuffer is incomplete (status {status:#x})", kind="gl_framebuffer")

    def bind(self) -> None:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)

    def read_rgba(self) -> np.ndarray:
        """uint8 (height, width, 4), row 0 at the top; waits for the GPU (a real end of the frame's work)."""
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, self.width, self.height, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(data, dtype=np.uint8).reshape(self.height, self.width, 4)[::-1].copy()

    def release(self) -> None:
        GL.glDeleteFramebuffers(1, [self.fbo])
        GL.glDeleteTextures(1, [self.texture])
