"""Pointer motion as the web component computes it, plus the looping presets the exporter records.

The web eases the uniform once per animation frame (``requestAnimationFrame``, 60 Hz on most screens) with
``m += (target - m) * 0.05``; an export at another frame rate simulates those 60 Hz ticks and samples them, so
a GIF moves with the same inertia as the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from depthstudio.errors import ConfigError

EASING = 0.05  # per animation frame, as in react-depth-map
WEB_FRAME_RATE = 60.0


def pointer_target(
    x: float, y: float, width: float, height: float, *, reverse_motion: bool = False
) -> tuple[float, float]:
    """Pointer position in a window of ``width`` x ``height`` -> target in [-1, 1]^2, sign as on the web.

    The web maps the pointer relative to the window centre with the sign flipped (the picture moves away from
    the pointer) unless ``reverseMotion`` is set.
    """
    half_x, half_y = width / 2.0, height / 2.0
    tx = (half_x - x) / half_x
    ty = (half_y - y) / half_y
    return (-tx, -ty) if reverse_motion else (tx, ty)


@dataclass
class EasedPointer:
    """The eased ``mouse`` uniform: call ``tick()`` once per displayed frame (60 Hz on the web)."""

    mouse_x: float = 0.0
    mouse_y: float = 0.0
    target_x: float = 0.0
    target_y: float = 0.0

    def set_target(self, target: tuple[float, float]) -> None:
        self.target_x, self.target_y = target

    def tick(self) -> tuple[float, float]:
        self.mouse_x += (self.target_x - self.mouse_x) * EASING
        self.mouse_y += (self.target_y - self.mouse_y) * EASING
        return self.mouse_x, self.mouse_y

    @property
    def mouse(self) -> tuple[float, float]:
        return self.mouse_x, self.mouse_y


def _sway(phase: float) -> tuple[float, float]:
    return math.sin(phase), 0.0


def _circle(phase: float) -> tuple[float, float]:
    return math.sin(phase), math.cos(phase)


def _figure8(phase: float) -> tuple[float, float]:
    return math.sin(phase), math.sin(2.0 * phase) / 2.0


PRESETS: dict[str, Callable[[float], tuple[float, float]]] = {
    "sway": _sway,
    "circle": _circle,
    "figure8": _figure8,
}


def auto_orbit_target(seconds: float, period_s: float = 6.0, amplitude: float = 0.6) -> tuple[float, float]:
    """The studio's auto-orbit: a circular pointer target, eased like a real pointer."""
    phase = 2.0 * math.pi * seconds / period_s
    x, y = _circle(phase)
    return amplitude * x, amplitude * y


def preset_path(
    preset: str,
    frames: int,
    fps: float = 30.0,
    *,
    amplitude: float = 1.0,
    eased: bool = True,
    reverse_motion: bool = False,
) -> np.ndarray:
    """(frames, 2) mouse values for one seamless loop of ``preset`` lasting ``frames / fps`` seconds.

    With ``eased`` the target goes through the web's 60 Hz easing; a few loops run first so the recorded one
    starts in the periodic steady state (the lag of the easing never shows as a jump at the loop point).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown motion preset {preset!r}; use one of {', '.join(PRESETS)}", kind="preset")
    if frames < 1 or fps <= 0:
        raise ConfigError("an animation needs at least one frame and a positive frame rate", kind="preset")
    shape = PRESETS[preset]
    sign = -1.0 if reverse_motion else 1.0
    duration = frames / fps

    def target(seconds: float) -> tuple[float, float]:
        x, y = shape(2.0 * math.pi * seconds / duration)
        return sign * amplitude * x, sign * amplitude * y

    if not eased:
        return np.array([target(i / fps) for i in range(frames)], dtype=np.float64)
    pointer = EasedPointer()
    ticks_per_loop = max(1, round(duration * WEB_FRAME_RATE))
    settle_loops = max(3, math.ceil(200 / ticks_per_loop))  # 0.95**200 < 1e-4: the start transient is gone
    for tick in range(settle_loops * ticks_per_loop):
        pointer.set_target(target(tick / WEB_FRAME_RATE))
        pointer.tick()
    out = np.empty((frames, 2), dtype=np.float64)
    tick_time = 0.0
    for i in range(frames):
        frame_time = i / fps
        while tick_time < frame_time:
            pointer.set_target(target(tick_time))
            pointer.tick()
            tick_time += 1.0 / WEB_FRAME_RATE
        out[i] = pointer.mouse
    return out
