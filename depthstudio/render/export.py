"""Animated exports of a parallax avatar (GIF, WebP, MP4) and stills (PNG), whatever draws the frames.

The frame source is a :class:`FrameRenderer`: the real shader in an offscreen GL context
(``depthstudio.gl.offscreen.GLFrameRenderer``) or the numpy reference. This module imports neither GL nor Qt,
so the choice is made by the caller (the CLI) and a headless server without GL still exports.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from depthstudio.cancel import CancelToken
from depthstudio.errors import ConfigError, RenderError
from depthstudio.render.motion import preset_path
from depthstudio.render.params import ShaderParams
from depthstudio.render.reference import Textures, render

FORMATS = {".png": "PNG", ".gif": "GIF", ".webp": "WEBP", ".mp4": "MP4"}


class FrameRenderer(Protocol):
    """Draws RGB uint8 frames (height, width, 3) of one avatar at one size."""

    name: str

    def render(self, params: ShaderParams, mouse: tuple[float, float]) -> np.ndarray: ...

    def close(self) -> None: ...


class ReferenceFrameRenderer:
    """The numpy reference as a FrameRenderer: works everywhere; about 14 frames/s at 512² here."""

    name = "reference"

    def __init__(self, textures: Textures, width: int, height: int) -> None:
        self.textures, self.width, self.height = textures, width, height

    def render(self, params: ShaderParams, mouse: tuple[float, float]) -> np.ndarray:
        return render(self.textures, params, mouse, self.width, self.height)

    def close(self) -> None:
        """Nothing to release; present for the interface."""


@dataclass(frozen=True)
class ExportOptions:
    preset: str = "sway"
    frames: int = 48
    fps: float = 24.0
    width: int = 512
    height: int = 512
    amplitude: float = 1.0  # pointer excursion of the preset, 1 = the window's edge on the web
    eased: bool = True  # through the web's easing, as a visitor moving the pointer sees it
    still_pointer: tuple[float, float] = (1.0, 0.0)  # the pointer offset of a PNG still

    def __post_init__(self) -> None:
        if self.frames < 1 or self.frames > 2000:
            raise ConfigError(f"frames must be between 1 and 2000, not {self.frames}", kind="export_options")
        if not 0 < self.fps <= 120:
            raise ConfigError(f"fps must be in (0, 120], not {self.fps}", kind="export_options")
        if not (8 <= self.width <= 4096 and 8 <= self.height <= 4096):
            raise ConfigError(
                f"the output size {self.width}x{self.height} is outside 8..4096 pixels", kind="export_options"
            )


@dataclass(frozen=True)
class ExportResult:
    path: Path
    frames: int
    renderer: str
    seconds: float  # rendering and encoding
    bytes: int

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"cannot export to {path.name!r}: use one of {', '.join(sorted(FORMATS))}", kind="export_format"
        )
    return fmt


def frame_size(options: ExportOptions, fmt: str) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides; other formats take the size as asked."""
    if fmt == "MP4":
        return options.width - options.width % 2, options.height - options.height % 2
    return options.width, options.height


def _frames(
    renderer: FrameRenderer, params: ShaderParams, path: np.ndarray, cancel: CancelToken | None
) -> Iterator[np.ndarray]:
    for x, y in path:
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield renderer.render(params, (float(x), float(y)))


def _write_mp4(tmp: Path, frames: Iterator[np.ndarray], fps: float) -> int:
    import imageio_ffmpeg

    try:  # before any frame is drawn: the editors' bundle leaves imageio-ffmpeg's own 170 MB binary out
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise ConfigError(
            "MP4 export needs ffmpeg and none was found: install it (apt install ffmpeg, brew install ffmpeg, "
            "winget install ffmpeg) or set IMAGEIO_FFMPEG_EXE to its path; GIF and WebP export need nothing more",
            kind="export_options",
        ) from exc
    first = next(frames)
    height, width = first.shape[:2]
    if width % 2 or height % 2:
        raise ConfigError(
            f"MP4 (H.264, yuv420p) needs an even frame size, not {width}x{height}; see frame_size()",
            kind="export_options",
        )
    writer = imageio_ffmpeg.write_frames(
        str(tmp),
        (width, height),
        fps=fps,
        codec="libx264",
        quality=8,
        macro_block_size=1,
        output_params=["-f", "mp4", "-movflags", "+faststart"],
    )
    writer.send(None)
    count = 0
    try:
        for frame in itertools.chain([first], frames):
            writer.send(np.ascontiguousarray(frame))
            count += 1
    finally:
        writer.close()
    return count


def export_animation(
    renderer: FrameRenderer,
    params: ShaderParams,
    out: Path,
    options: ExportOptions,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Render and write ``out`` atomically: a failure or a cancel leaves no partial file under that name."""
    fmt = output_format(out)
    if not out.parent.is_dir():
        raise ConfigError(f"the folder {out.parent} does not exist", kind="export_path")
    started = time.perf_counter()
    tmp = out.with_name(f".{out.stem}.partial-{os.getpid()}{out.suffix}")
    try:
        if fmt == "PNG":
            Image.fromarray(renderer.render(params, options.still_pointer)).save(tmp, format="PNG")
            count = 1
        else:
            path = preset_path(
                options.preset,
                options.frames,
                options.fps,
                amplitude=options.amplitude,
                eased=options.eased,
                reverse_motion=params.reverse_motion,
            )
            frames = _frames(renderer, params, path, cancel)
            if fmt == "MP4":
                count = _write_mp4(tmp, frames, options.fps)
            else:
                images = [Image.fromarray(f) for f in frames]
                if fmt == "GIF":
                    # One palette for the loop: every frame shows the same photo, and per-frame palettes
                    # flicker (and cost ~4x the time).
                    palette = images[0].quantize(256, method=Image.Quantize.MEDIANCUT)
                    images = [im.quantize(palette=palette) for im in images]
                count = len(images)
                extra = {"lossless": False, "quality": 90, "method": 4} if fmt == "WEBP" else {"optimize": False}
                images[0].save(
                    tmp,
                    format=fmt,
                    save_all=True,
                    append_images=images[1:],
                    duration=round(1000.0 / options.fps),
                    loop=0,
                    **extra,
                )
        os.replace(tmp, out)
    except OSError as exc:
        raise RenderError(f"could not write {out}: {exc.strerror or exc}", kind="export_write") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(
        path=out,
        frames=count,
        renderer=renderer.name,
        seconds=time.perf_counter() - started,
        bytes=out.stat().st_size,
    )
