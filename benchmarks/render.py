"""Frame time of the parallax shader vs a bare textured quad, and the exporter's frames/s (GL and reference).

    xvfb-run -a .venv/bin/python benchmarks/render.py [--sizes 512 1024] [--frames 30] [--skip-export]
    xvfb-run -a .venv/bin/python benchmarks/render.py --smoke     # seconds: that it still runs (CI runs every --smoke)

Every GL figure is the median of per-frame times, each frame closed by glFinish (the GPU work is
really done, not just queued); both programs draw the same textures into the same framebuffer in the
same run, so the ratio is meaningful on this machine (Mesa llvmpipe renders on the CPU; a GPU is much
faster in absolute terms).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # before PyOpenGL's first import (see depthstudio.gl)

import numpy as np
from OpenGL import GL
from PIL import Image

from depthstudio.gl.offscreen import GLFrameRenderer, OffscreenContext
from depthstudio.gl.renderer import (
    Framebuffer,
    FullScreenQuad,
    ParallaxRenderer,
    compile_program,
    upload_texture,
)
from depthstudio.render.export import ExportOptions, ReferenceFrameRenderer, export_animation
from depthstudio.render.params import ShaderParams
from depthstudio.render.plate_matte import prepare_layered_textures
from depthstudio.render.reference import aspect_fit
from depthstudio.render.shader_source import HEADERS, raw_source

REPO = Path(__file__).resolve().parent.parent

# The baseline: the same quad and aspect fit, one texture fetch per pixel, no depth, no displacement.
BARE_FRAGMENT = """
uniform vec4 u_resolution;
uniform sampler2D u_photo;
out vec4 fragColor;
void main() {
    vec2 uv = gl_FragCoord.xy / u_resolution.xy;
    vec2 vUv = (uv - vec2(0.5)) * u_resolution.zw + vec2(0.5);
    vUv.y = 1.0 - vUv.y;
    fragColor = texture(u_photo, vUv);
}
"""


def _median_ms(draw, frames: int) -> float:
    draw()
    GL.glFinish()  # warm-up: shader compilation on first use, texture residency
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        draw()
        GL.glFinish()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def bench_gl(textures, sizes: list[int], frames: int) -> list[dict[str, float | int]]:
    ctx = OffscreenContext("gl")
    print(f"GL: {ctx.renderer} ({ctx.version}), EGL platform {ctx.platform}")
    parallax = ParallaxRenderer()
    parallax.set_textures(textures)
    bare = compile_program(HEADERS["gl330"] + raw_source("parallax.vert"), HEADERS["gl330"] + BARE_FRAGMENT)
    quad = FullScreenQuad()
    photo = upload_texture(textures.photo)
    modes = {
        "fixed web shader (default)": ShaderParams(),
        "occlusion_steps=8": ShaderParams(occlusion_steps=8),
        "occlusion_steps=16": ShaderParams(occlusion_steps=16),
        "layered (plate + matte)": ShaderParams(layered=True),
    }
    records: list[dict[str, float | int]] = []
    for size in sizes:
        fb = Framebuffer(size, size)
        fb.bind()
        a1, a2 = aspect_fit(size, size, *textures.photo_size)

        def draw_bare(size: int = size, a1: float = a1, a2: float = a2) -> None:
            GL.glViewport(0, 0, size, size)
            GL.glUseProgram(bare)
            GL.glUniform4f(GL.glGetUniformLocation(bare, "u_resolution"), size, size, a1, a2)
            GL.glUniform1i(GL.glGetUniformLocation(bare, "u_photo"), 0)
            GL.glActiveTexture(GL.GL_TEXTURE0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, photo)
            quad.draw()

        base = _median_ms(draw_bare, frames)
        print(f"  {size}x{size}: bare textured quad {base:7.3f} ms/frame (median of {frames})")
        figures = {}
        for name, params in modes.items():
            ms = _median_ms(lambda p=params, s=size: parallax.draw(p, (0.7, -0.3), s, s), frames)
            figures[name] = ms
            print(f"  {size}x{size}: {name:28s} {ms:7.3f} ms/frame  ratio {ms / base:5.2f}x the bare quad")
        fixed, layered = figures["fixed web shader (default)"], figures["layered (plate + matte)"]
        print(f"  {size}x{size}: layered / fixed = {layered / fixed:5.2f}x")
        records.append(
            {
                "size": size,
                "fixed_ms": round(fixed, 3),
                "layered_ms": round(layered, 3),
                "ratio": round(layered / fixed, 2),
            }
        )
        fb.release()
    quad.release()
    GL.glDeleteProgram(bare)
    GL.glDeleteTextures(1, [photo])
    parallax.release()
    ctx.close()
    return records


def bench_export(textures, size: int, frames: int) -> None:
    mice = [(np.sin(2 * np.pi * i / frames), 0.0) for i in range(frames)]
    gl = GLFrameRenderer(textures, size, size)
    renderers = [
        ("gl (draw + readback)", gl),
        ("reference (numpy)", ReferenceFrameRenderer(textures, size, size)),
    ]
    for name, renderer in renderers:
        for label, params in (
            ("default", ShaderParams()),
            ("occlusion_steps=8", ShaderParams(occlusion_steps=8)),
        ):
            renderer.render(params, mice[0])
            t0 = time.perf_counter()
            for m in mice:
                renderer.render(params, m)
            fps = frames / (time.perf_counter() - t0)
            print(f"  exporter frames at {size}x{size}, {name:22s} {label:18s} {fps:7.1f} frames/s")
    options = ExportOptions(frames=frames, fps=24, width=size, height=size)
    with tempfile.TemporaryDirectory() as tmp:
        for name, renderer in renderers:
            for suffix in (".gif", ".webp", ".mp4"):
                result = export_animation(renderer, ShaderParams(), Path(tmp) / f"a{suffix}", options)
                print(
                    f"  export to {suffix:5s} at {size}x{size}, {name:22s} "
                    f"{result.frames_per_second:7.1f} frames/s (render + encode, {result.bytes / 1e6:.1f} MB)"
                )
    gl.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=30, help="timed frames per measurement")
    parser.add_argument("--export-frames", type=int, default=24)
    parser.add_argument("--export-size", type=int, default=512)
    parser.add_argument("--skip-export", action="store_true", help="only the per-frame GL figures")
    parser.add_argument("--smoke", action="store_true", help="one small size, a few frames, a short export: CI")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.frames, args.export_frames, args.export_size = [128], 3, 4, 96
    avatars = REPO / "resources" / "demo"
    textures = prepare_layered_textures(
        Image.open(avatars / "avatars" / "grace_hopper.jpg"),
        Image.open(avatars / "depth" / "grace_hopper.png"),
    )
    records = bench_gl(textures, args.sizes, args.frames)
    if not args.skip_export:
        bench_export(textures, args.export_size, args.export_frames)
    print(json.dumps(records))


if __name__ == "__main__":
    main()
