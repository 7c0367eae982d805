"""OpenGL drawing of the parallax shader, context-agnostic (never imports Qt).

PyOpenGL picks its platform (GLX, EGL, ...) once, at its first import. EGL is the one that works both headless
(Mesa's surfaceless platform, for the exporter and CI) and inside a Qt/GLX context (function pointers resolve
through the same dispatch table), so it is the default unless the environment says otherwise.
"""

import os
import sys

if sys.platform.startswith("linux"):  # macOS and Windows have one platform each; PyOpenGL finds it itself
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
