"""``depthstudio render PHOTO DEPTH -o out.{png,gif,webp,mp4}``: export a parallax avatar without a window.

:func:`export_avatar` is the entry point for any other caller (e.g. a command that resolves a portal user's
photo and depth map): it takes the decoded inputs and picks the GL or the reference renderer.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import click
import numpy as np
from PIL import Image, UnidentifiedImageError

from depthstudio.cancel import CancelToken
from depthstudio.cli import fail
from depthstudio.errors import ConfigError, DepthstudioError, ImagingError
from depthstudio.render.export import (
    ExportOptions,
    ExportResult,
    FrameRenderer,
    ReferenceFrameRenderer,
    export_animation,
    frame_size,
    output_format,
)
from depthstudio.render.motion import PRESETS
from depthstudio.render.params import ShaderParams, parse_assignment
from depthstudio.render.reference import Textures, prepare_textures
from depthstudio.render.result_plates import layered_textures

log = logging.getLogger(__name__)

RENDERERS = ("auto", "gl", "reference")


def open_frame_renderer(kind: str, textures: Textures, width: int, height: int) -> FrameRenderer:
    """``gl``: the real shader or an error; ``auto``: GL when a context can be made, else the reference."""
    if kind == "reference":
        return ReferenceFrameRenderer(textures, width, height)
    try:
        from depthstudio.gl.offscreen import GLFrameRenderer

        return GLFrameRenderer(textures, width, height)
    except (DepthstudioError, ImportError, OSError) as exc:
        if kind == "gl":
            if isinstance(exc, DepthstudioError):
                raise
            raise DepthstudioError(f"OpenGL is not usable here ({exc})", kind="gl_unavailable") from exc
        log.warning("no GL context (%s); rendering with the numpy reference", exc)
        return ReferenceFrameRenderer(textures, width, height)


def export_avatar(
    photo: Image.Image,
    depth: np.ndarray,
    params: ShaderParams,
    out: Path,
    options: ExportOptions,
    renderer: str = "auto",
    cancel: CancelToken | None = None,
    layers: dict[str, bytes] | None = None,
) -> ExportResult:
    """Export one avatar: ``photo`` (EXIF-oriented), ``depth`` float [0, 1] or uint8 (white = near); ``layers``:
    the result's stored plate and matte (else the layered mode derives them)."""
    if renderer not in RENDERERS:
        raise ConfigError(f"unknown renderer {renderer!r}; use one of {', '.join(RENDERERS)}", kind="renderer")
    textures = layered_textures(photo, depth, layers) if params.layered else prepare_textures(photo, depth)
    width, height = frame_size(options, output_format(out))
    frames = open_frame_renderer(renderer, textures, width, height)
    try:
        return export_animation(frames, params, out, options, cancel)
    finally:
        frames.close()


def load_photo(path: Path) -> Image.Image:
    """The photo as a browser shows it: through the avatar decoder (EXIF orientation, ICC profile to sRGB)."""
    from depthstudio.imaging import FetchPolicy, decode_image

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImagingError(f"the photo {path} does not exist", kind="not_found") from None
    except OSError as exc:
        raise ImagingError(f"the photo {path} is not readable ({exc})", kind="decode") from exc
    return decode_image(data, FetchPolicy(), shown=str(path)).image


def load_depth(path: Path) -> np.ndarray:
    """A depth map file (8- or 16-bit grayscale, or RGB whose red channel is the depth) as float [0, 1]."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImagingError(f"the depth map {path} does not exist", kind="not_found") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.mode in ("I;16", "I;16B", "I"):
                return np.asarray(img, dtype=np.float32) / 65535.0
            return np.asarray(img.convert("RGB"))[..., 0].astype(np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ImagingError(f"the depth map {path} is not a readable image ({exc})", kind="decode") from exc


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        return (int(w), int(h)) if sep else (int(w), int(w))
    except ValueError:
        raise ConfigError(
            f"--size must be S or WxH (e.g. 512 or 640x480), not {text!r}", kind="export_options"
        ) from None


def _pointer(text: str) -> tuple[float, float]:
    x, sep, y = text.partition(",")
    try:
        if not sep:
            raise ValueError(text)
        return float(x), float(y)
    except ValueError:
        raise ConfigError(f"--pointer must be X,Y in [-1, 1] (e.g. 1,0), not {text!r}", kind="export_options") from None


@click.command("render")
@click.argument("source")
@click.argument("depth", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Output file: .png (a still), .gif, .webp or .mp4.",
)
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default="sway",
    show_default=True,
    help="Pointer motion of the loop.",
)
@click.option("--frames", type=int, default=48, show_default=True, help="Frames in one loop.")
@click.option("--fps", type=float, default=24.0, show_default=True)
@click.option("--size", "size_text", default="512", show_default=True, help="S or WxH output pixels.")
@click.option("--amplitude", type=float, default=1.0, show_default=True, help="Pointer excursion (1 = edge).")
@click.option("--pointer", "pointer_text", default="1,0", show_default=True, help="Pointer X,Y of a PNG still.")
@click.option("--plane", type=float, help="Background clipping plane (0.05 = the portal's fix, 0.5 = original).")
@click.option(
    "--param",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any shader parameter, by Python or web name; repeatable.",
)
@click.option(
    "--renderer",
    type=click.Choice(RENDERERS),
    default="auto",
    show_default=True,
    help="gl: the real shader offscreen; reference: numpy; auto: GL if a context can be made.",
)
@click.pass_context
def render_command(
    ctx: click.Context,
    source: str,
    depth: Path | None,
    output: Path,
    preset: str,
    frames: int,
    fps: float,
    size_text: str,
    amplitude: float,
    pointer_text: str,
    plane: float | None,
    assignments: tuple[str, ...],
    renderer: str,
) -> None:
    """Export an animated parallax avatar (or a PNG still) without a window.

    SOURCE DEPTH: a photo file and its depth map. SOURCE alone: a portal user id, rendered exactly as the web
    shows them (their current or published depth map, the global defaults and their own parameter overrides).
    """
    try:
        values = dict(parse_assignment(a) for a in assignments)
        if plane is not None:
            values["plane"] = plane
        if depth is None:
            photo_img, depth_arr, base, layers = _user_inputs(ctx, source)
        else:
            photo_img, depth_arr, base, layers = load_photo(Path(source)), load_depth(depth), ShaderParams(), None
        params = base.apply(values)
        width, height = _size(size_text)
        options = ExportOptions(
            preset=preset,
            frames=frames,
            fps=fps,
            width=width,
            height=height,
            amplitude=amplitude,
            still_pointer=_pointer(pointer_text),
        )
        output_format(output)
        result = export_avatar(photo_img, depth_arr, params, output, options, renderer, layers=layers)
    except DepthstudioError as err:
        fail(err)
        return
    click.echo(
        f"wrote {result.path} ({result.frames} frame(s), {result.bytes} bytes) with the {result.renderer} "
        f"renderer in {result.seconds:.2f} s ({result.frames_per_second:.1f} frames/s)"
    )


def _user_inputs(
    ctx: click.Context, user_id: str
) -> tuple[Image.Image, np.ndarray, ShaderParams, dict[str, bytes] | None]:
    from depthstudio.cli.jobs_cmd import open_portal
    from depthstudio.render.web_export import render_inputs

    inputs = render_inputs(open_portal(ctx.obj), user_id)
    if inputs.depth is None:
        raise ConfigError(f"user {user_id!r} has no depth map yet: the web shows the plain photo", kind="no_depth")
    return inputs.photo, np.asarray(inputs.depth, dtype=np.float32) / 255.0, inputs.params, inputs.layers


def register(main: click.Group) -> None:
    main.add_command(render_command)
