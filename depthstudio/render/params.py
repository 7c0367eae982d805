"""Every parallax-shader parameter, described once.

``PARAM_SPECS`` is the single source of truth: the studio's sliders (range, step, label, help), the uniforms
the GL renderer sets, the numpy reference renderer, the web viewer's props and the per-user override stored in
the database are all derived from it. The defaults reproduce the portal's fixed web shader exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from depthstudio.errors import ConfigError

Kind = Literal["float", "int", "bool", "choice"]

PLANE_ORIGINAL = 0.5  # react-depth-map as published: the avatar splits in two
PLANE_FIXED = 0.05  # the portal's fork: the background barely moves


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: how it is named in Python, GLSL and the web component, its range and its help text."""

    name: str
    kind: Kind
    default: float | int | bool | str
    label: str
    help: str
    web: str  # the web component's prop name
    uniform: str | None = None  # None: not a shader input (drives the motion model instead)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()


PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec(
        name="horizontal_threshold",
        kind="float",
        default=35.0,
        label="Horizontal threshold",
        help="Divides the horizontal pointer offset: larger values mean less horizontal motion.",
        web="horizontalThreshold",
        uniform="u_horizontalThreshold",
        minimum=5.0,
        maximum=200.0,
        step=1.0,
    ),
    ParamSpec(
        name="vertical_threshold",
        kind="float",
        default=35.0,
        label="Vertical threshold",
        help="Divides the vertical pointer offset: larger values mean less vertical motion.",
        web="verticalThreshold",
        uniform="u_verticalThreshold",
        minimum=5.0,
        maximum=200.0,
        step=1.0,
    ),
    ParamSpec(
        name="multiplier",
        kind="float",
        default=1.0,
        label="Multiplier",
        help="Multiplies both thresholds, so a larger multiplier means LESS motion (as on the web).",
        web="multiplier",
        uniform="u_multiplier",
        minimum=0.25,
        maximum=10.0,
        step=0.05,
    ),
    ParamSpec(
        name="plane",
        kind="float",
        default=PLANE_FIXED,
        label="Background clipping plane",
        help=(
            "Depth that stays still. 0.05 (the portal's fix) keeps the background almost still; 0.5 is the "
            "original component, where everything farther than mid-depth moves the other way and the avatar "
            "splits in two."
        ),
        web="clippingPlane",
        uniform="u_plane",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
    ),
    ParamSpec(
        name="counter_motion",
        kind="float",
        default=1.0,
        label="Counter-motion behind the plane",
        help=(
            "Scales the motion of whatever lies behind the plane (which moves against the subject). 1 is the "
            "web shader; 0 holds the background still, which removes the detached sliver at the silhouette."
        ),
        web="counterMotion",
        uniform="u_counterMotion",
        minimum=0.0,
        maximum=1.0,
        step=0.05,
    ),
    ParamSpec(
        name="occlusion_steps",
        kind="int",
        default=0,
        label="Occlusion steps",
        help=(
            "0 is the web shader. N > 0 searches N depth layers for the nearest surface, so the subject "
            "slides over the background instead of being clipped by its own still silhouette (N extra "
            "lookups)."
        ),
        web="occlusionSteps",
        uniform="u_occlusionSteps",
        minimum=0,
        maximum=32,
        step=1,
    ),
    ParamSpec(
        name="layered",
        kind="bool",
        default=False,
        label="Layered (plate + matte)",
        help=(
            "Draw two layers: the background plate (subject removed, hole filled) with the background's "
            "motion, and the subject with its depth displacement and occlusion search, composited by the "
            "matte. Needs the result's plate and matte; off is the web shader."
        ),
        web="layered",
        uniform="u_layered",
    ),
    ParamSpec(
        name="matte_threshold",
        kind="float",
        default=0.5,
        label="Matte threshold",
        help="Matte value at which the subject is half opaque (layered mode): higher trims the edge inwards.",
        web="matteThreshold",
        uniform="u_matteThreshold",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
    ),
    ParamSpec(
        name="matte_feather",
        kind="float",
        default=0.25,
        label="Matte feather",
        help="Half-width of the matte's ramp around the threshold (layered mode): larger is a softer edge.",
        web="matteFeather",
        uniform="u_matteFeather",
        minimum=0.0,
        maximum=0.5,
        step=0.01,
    ),
    ParamSpec(
        name="reverse_motion",
        kind="bool",
        default=False,
        label="Reverse motion",
        help="Follow the pointer instead of moving away from it (the web component's reverseMotion).",
        web="reverseMotion",
    ),
    ParamSpec(
        name="respond_to",
        kind="choice",
        default="mouseMove",
        label="Respond to",
        help="What drives the motion on the web page: the pointer or the page scroll.",
        web="respondTo",
        choices=("mouseMove", "scrollOnX", "scrollOnY", "scrollOnBoth"),
    ),
)

SPECS_BY_NAME: dict[str, ParamSpec] = {s.name: s for s in PARAM_SPECS}


def specs_for_web() -> list[dict[str, Any]]:
    """The specs as plain JSON values, for the web viewer to build its controls and set uniforms by name."""
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(s).items()} for s in PARAM_SPECS]


SPECS_BY_WEB: dict[str, ParamSpec] = {s.web: s for s in PARAM_SPECS}


def _coerce(spec: ParamSpec, value: Any, clamp: bool) -> float | int | bool | str:
    """A JSON/CLI value as the parameter's type, in range; out of range is an error unless ``clamp``."""
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{spec.name} must be true or false, not {value!r}", kind="shader_param")
    if spec.kind == "choice":
        if value not in spec.choices:
            raise ConfigError(
                f"{spec.name} must be one of {', '.join(spec.choices)}, not {value!r}", kind="shader_param"
            )
        return str(value)
    if isinstance(value, bool):
        raise ConfigError(f"{spec.name} must be a number, not {value!r}", kind="shader_param")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{spec.name} must be a number, not {value!r}", kind="shader_param") from None
    if not math.isfinite(number):
        raise ConfigError(f"{spec.name} must be a finite number, not {value!r}", kind="shader_param")
    if spec.kind == "int":
        if number != round(number):
            raise ConfigError(f"{spec.name} must be a whole number, not {value!r}", kind="shader_param")
        number = round(number)
    assert spec.minimum is not None and spec.maximum is not None
    if not spec.minimum <= number <= spec.maximum:
        if not clamp:
            raise ConfigError(
                f"{spec.name} = {value!r} is outside its range {spec.minimum:g}..{spec.maximum:g}",
                kind="shader_param",
            )
        number = min(max(number, spec.minimum), spec.maximum)
    return int(number) if spec.kind == "int" else float(number)


@dataclass(frozen=True)
class ShaderParams:
    """A complete, validated set of parameter values. ``ShaderParams()`` is the portal's fixed web shader."""

    horizontal_threshold: float = 35.0
    vertical_threshold: float = 35.0
    multiplier: float = 1.0
    plane: float = PLANE_FIXED
    counter_motion: float = 1.0
    occlusion_steps: int = 0
    layered: bool = False
    matte_threshold: float = 0.5
    matte_feather: float = 0.25
    reverse_motion: bool = False
    respond_to: str = "mouseMove"

    def __post_init__(self) -> None:
        for spec in PARAM_SPECS:
            object.__setattr__(self, spec.name, _coerce(spec, getattr(self, spec.name), clamp=False))

    @classmethod
    def original(cls) -> ShaderParams:
        """The published react-depth-map behaviour (plane 0.5), kept reachable for side-by-side comparison."""
        return cls(plane=PLANE_ORIGINAL)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, clamp: bool = False) -> ShaderParams:
        """From Python names (as stored); unknown names are an error, so a typo never passes silently."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"shader parameters must be a JSON object, not {type(data).__name__}", kind="shader_param"
            )
        unknown = sorted(set(data) - set(SPECS_BY_NAME))
        if unknown:
            raise ConfigError(
                f"unknown shader parameter(s) {', '.join(unknown)}; known: {', '.join(SPECS_BY_NAME)}",
                kind="shader_param",
            )
        return cls(**{k: _coerce(SPECS_BY_NAME[k], v, clamp) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def overrides(self) -> dict[str, Any]:
        """Only the values that differ from the defaults: what the database keeps per user."""
        return {s.name: getattr(self, s.name) for s in PARAM_SPECS if getattr(self, s.name) != s.default}

    def with_values(self, **changes: Any) -> ShaderParams:
        return replace(self, **changes)

    def apply(self, assignments: dict[str, Any], *, clamp: bool = False) -> ShaderParams:
        """These values changed on top of this set (e.g. ``--param name=value`` or a slider)."""
        return ShaderParams.from_dict({**self.to_dict(), **assignments}, clamp=clamp)

    def web_props(self) -> dict[str, Any]:
        """The web component's props (without the image URLs)."""
        return {s.web: getattr(self, s.name) for s in PARAM_SPECS}

    def uniforms(self) -> dict[str, float | int]:
        """Uniform name -> value for every parameter the shader reads."""
        return {s.uniform: getattr(self, s.name) for s in PARAM_SPECS if s.uniform is not None}

    def threshold(self) -> tuple[float, float]:
        """The web's effective (horizontal, vertical) divisor: the thresholds times the multiplier."""
        return (self.horizontal_threshold * self.multiplier, self.vertical_threshold * self.multiplier)


def parse_assignment(text: str) -> tuple[str, str]:
    """``name=value`` from the command line (Python or web name) -> (python name, raw value)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"expected NAME=VALUE, got {text!r}", kind="shader_param")
    spec = SPECS_BY_NAME.get(name) or SPECS_BY_WEB.get(name)
    if spec is None:
        raise ConfigError(f"unknown shader parameter {name!r}; known: {', '.join(SPECS_BY_NAME)}", kind="shader_param")
    return spec.name, value.strip()
