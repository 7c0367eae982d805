"""The studio window: a thin Qt skin over the core's portal repository, job objects and shader parameters."""

import os

# PyOpenGL fixes its platform at its first import and depthstudio.gl chooses EGL on Linux (the offscreen exporter
# needs it). PyOpenGL on EGL only recognises an EGL context as current, so Qt must make its contexts with EGL too
# (``xcb_egl`` on X11; Wayland uses EGL anyway). Both must be set before any OpenGL import or QApplication.
import depthstudio.gl  # noqa: F401

if os.environ.get("PYOPENGL_PLATFORM") == "egl":
    os.environ.setdefault("QT_XCB_GL_INTEGRATION", "xcb_egl")
