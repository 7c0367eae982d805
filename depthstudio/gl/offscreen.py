"""A headless GL context for the exporter and the tests: EGL on Mesa's surfaceless platform, no display.

Measured on the build machine (Mesa 22.3 llvmpipe): the surfaceless platform gives a 4.5 core context both
with no ``DISPLAY`` and under ``xvfb-run``; ``EGL_DEFAULT_DISPLAY`` works only with an X display, so it is the
second choice. Frames are drawn into a framebuffer object, so no window surface or pbuffer is needed.
"""

from __future__ import annotations

import ctypes
from typing import Literal

import numpy as np
from OpenGL import EGL, GL

from depthstudio.errors import DepthstudioError, RenderError
from depthstudio.gl.renderer import Framebuffer, ParallaxRenderer
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import Textures

Api = Literal["gl", "gles"]

_EGL_PLATFORM_SURFACELESS_MESA = 0x31DD  # EGL_MESA_platform_surfaceless


def _displays() -> list[tuple[str, object]]:
    """The EGL displays to try, best first; a platform that is missing (no EGL 1.5, no Mesa, no vendor library
    at all) simply yields nothing, and the caller reports that no context could be made."""
    candidates = (
        (
            "surfaceless",
            lambda: EGL.eglGetPlatformDisplay(_EGL_PLATFORM_SURFACELESS_MESA, EGL.EGL_DEFAULT_DISPLAY, None),
        ),
        ("default", lambda: EGL.eglGetDisplay(EGL.EGL_DEFAULT_DISPLAY)),
    )
    found: list[tuple[str, object]] = []
    for name, get in candidates:
        try:
            dpy = get()
        except Exception:
            continue
        if dpy:
            found.append((name, dpy))
    return found


def _describe(exc: Exception) -> str:
    """PyOpenGL's EGLError repr spans a dozen lines of ctypes arguments; keep the call and the error name."""
    operation = getattr(exc, "baseOperation", None)
    if operation is not None:
        return f"{getattr(operation, '__name__', operation)} failed ({getattr(exc, 'err', '?')})"
    return str(exc)


class OffscreenContext:
    """An EGL context made current on this thread without any surface (``EGL_KHR_surfaceless_context``).

    ``api="gl"`` is a 3.3 core context (the desktop target); ``api="gles"`` an ES 3.0 one, which checks that
    the shader compiles as the web viewer's WebGL 2 will compile it.
    """

    def __init__(self, api: Api = "gl") -> None:
        self.api = api
        errors: list[str] = []
        for platform, dpy in _displays():
            try:
                self._create(dpy)
            except Exception as exc:
                errors.append(f"{platform}: {_describe(exc)}")
                continue
            self.platform = platform
            self.version = GL.glGetString(GL.GL_VERSION).decode()
            self.renderer = GL.glGetString(GL.GL_RENDERER).decode()
            return
        raise RenderError(
            "no OpenGL context could be created (EGL: "
            + ("; ".join(errors) or "no display")
            + "); install Mesa's EGL drivers or use --renderer reference",
            kind="gl_unavailable",
        )

    def _create(self, dpy: object) -> None:
        major, minor = EGL.EGLint(), EGL.EGLint()
        if not EGL.eglInitialize(dpy, ctypes.pointer(major), ctypes.pointer(minor)):
            raise RuntimeError("eglInitialize failed")
        gles = self.api == "gles"
        if not EGL.eglBindAPI(EGL.EGL_OPENGL_ES_API if gles else EGL.EGL_OPENGL_API):
            raise RuntimeError("eglBindAPI failed")
        renderable = EGL.EGL_OPENGL_ES3_BIT if gles else EGL.EGL_OPENGL_BIT
        # Surfaceless displays offer no window configs, and EGL_SURFACE_TYPE defaults to EGL_WINDOW_BIT.
        attribs = (EGL.EGLint * 5)(
            EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT, EGL.EGL_RENDERABLE_TYPE, renderable, EGL.EGL_NONE
        )
        config, count = EGL.EGLConfig(), EGL.EGLint()
        if (
            not EGL.eglChooseConfig(dpy, attribs, ctypes.pointer(config), 1, ctypes.pointer(count))
            or not count.value
        ):
            raise RuntimeError("no EGL config for this API")
        if gles:
            ctx_attribs = [EGL.EGL_CONTEXT_MAJOR_VERSION, 3, EGL.EGL_CONTEXT_MINOR_VERSION, 0, EGL.EGL_NONE]
        else:
            ctx_attribs = [
                EGL.EGL_CONTEXT_MAJOR_VERSION, 3,
                EGL.EGL_CONTEXT_MINOR_VERSION, 3,
                EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
                EGL.EGL_NONE,
            ]  # fmt: skip
        ctx = EGL.eglCreateContext(
            dpy, config, EGL.EGL_NO_CONTEXT, (EGL.EGLint * len(ctx_attribs))(*ctx_attribs)
        )
        if not ctx:
            raise RuntimeError("eglCreateContext failed")
        if not EGL.eglMakeCurrent(dpy, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, ctx):
            EGL.eglDestroyContext(dpy, ctx)
            raise RuntimeError("eglMakeCurrent without a surface failed")
        self._dpy, self._ctx = dpy, ctx

    def close(self) -> None:
        EGL.eglMakeCurrent(self._dpy, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        EGL.eglDestroyContext(self._dpy, self._ctx)

    def __enter__(self) -> OffscreenContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GLFrameRenderer:
    """Frames of one avatar at one size through the real shader; same interface as the reference renderer."""

    name = "gl"

    def __init__(self, textures: Textures, width: int, height: int, api: Api = "gl") -> None:
        self.context = OffscreenContext(api)
        try:
            self.parallax = ParallaxRenderer("es300" if api == "gles" else "gl330")
            self.parallax.set_textures(textures)
            self.target = Framebuffer(width, height)
        except DepthstudioError:
            self.context.close()
            raise
        except Exception as exc:  # a GL call the driver refuses: report it like a missing context
            self.context.close()
            raise RenderError(
                f"the GL driver failed to set up the renderer: {_describe(exc)}", kind="gl_unavailable"
            ) from exc
        self.width, self.height = width, height

    def render_rgba(self, params: ShaderParams, mouse: tuple[float, float]) -> np.ndarray:
        self.target.bind()
        self.parallax.draw(params, mouse, self.width, self.height)
        return self.target.read_rgba()

    def render(self, params: ShaderParams, mouse: tuple[float, float]) -> np.ndarray:
        return self.render_rgba(params, mouse)[..., :3].copy()

    def close(self) -> None:
        self.target.release()
        self.parallax.release()
        self.context.close()
