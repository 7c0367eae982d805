"""The parallax GLSL from ``shaders/`` with the version line each target needs (no GL, no Qt here).

The files are written in the common subset of GLSL 3.30 core and GLSL ES 3.00 so that the desktop preview, the
offscreen exporter and the web viewer (WebGL 2) compile the very same text; only the first lines differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from depthstudio.errors import ConfigError
from depthstudio.resources import resource

Target = Literal["gl330", "es300"]

HEADERS: dict[str, str] = {
    "gl330": "#version 330 core\n",
    "es300": "#version 300 es\nprecision highp float;\n",
}

# Uniforms that change per frame or per image; the shader parameters' uniforms come from params.PARAM_SPECS.
FRAME_UNIFORMS: dict[str, str] = {
    "u_resolution": "vec4: output width, height (CSS pixels) and the aspect-fit scale a1, a2",
    "u_mouse": "vec2: eased pointer offset in [-1, 1]^2",
    "u_pixelRatio": "float: 1 / devicePixelRatio (1 offscreen)",
    "u_photo": "sampler2D on texture unit 0: the avatar photo",
    "u_depth": "sampler2D on texture unit 1: the depth map (disparity in .r, white = near)",
    "u_plate": "sampler2D on texture unit 2: the background plate (layered mode)",
    "u_matte": "sampler2D on texture unit 3: the subject matte in .r (layered mode)",
}
PHOTO_UNIT = 0
DEPTH_UNIT = 1
PLATE_UNIT = 2
MATTE_UNIT = 3
POSITION_ATTRIBUTE = "a_position"  # location 0: the full-screen quad's corners in clip space


@dataclass(frozen=True)
class ShaderSources:
    vertex: str
    fragment: str


def raw_source(name: str) -> str:
    """The file as stored in ``shaders/`` (what the web viewer fetches before adding its own header)."""
    path = resource("shaders", name)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"the shader file {path} cannot be read ({exc.strerror}); reinstall depthstudio",
            kind="resource_missing",
        ) from exc


def with_header(source: str, target: Target) -> str:
    if target not in HEADERS:
        raise ConfigError(f"unknown shader target {target!r}; use one of {', '.join(HEADERS)}", kind="shader_target")
    return HEADERS[target] + source


def parallax_sources(target: Target = "gl330") -> ShaderSources:
    """Vertex and fragment source of the parallax program, ready to compile for ``target``."""
    return ShaderSources(
        vertex=with_header(raw_source("parallax.vert"), target),
        fragment=with_header(raw_source("parallax.frag"), target),
    )
