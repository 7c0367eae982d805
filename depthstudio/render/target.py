"""The web component the portal runs, and what it draws with a set of shader parameters (issue 23).

Facts from the published ``react-depth-map`` 1.0.9 (``lib/ImageDepthMap.js``, checked in Chromium by
tests/test_real_component.py): its fragment shader's threshold uniform is ``(horizontalThreshold,
verticalThreshold)`` alone (the ``multiplier`` prop is never read), its plane is the constant 0.5, and it has none
of depthstudio's modes. The portal's fork (PixelsCommander/react-depth-map) is the same with the plane at 0.05.
The studio previews what the target draws, and disables with a tooltip each parameter the target ignores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from depthstudio.errors import ConfigError
from depthstudio.render.params import PARAM_SPECS, PLANE_FIXED, PLANE_ORIGINAL, SPECS_BY_NAME, ShaderParams

# The props both react-depth-map builds read (besides originalImg/depthImg).
_COMPONENT_READS = ("horizontal_threshold", "vertical_threshold", "reverse_motion", "respond_to")


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    plane: float | None  # the component's constant plane; None: a parameter (depthstudio)

    @property
    def reads(self) -> tuple[str, ...]:
        """The parameters (Python names) this target honours."""
        if self.plane is None:
            return tuple(s.name for s in PARAM_SPECS)
        return _COMPONENT_READS

    def ignored(self) -> dict[str, str]:
        """Parameter name -> the sentence the studio shows on its disabled control."""
        if self.plane is None:
            return {}
        why = {
            "multiplier": f"{self.name} never reads multiplier: its threshold is the two thresholds alone",
            "plane": f"{self.name} draws with a fixed plane of {self.plane:g}",
        }
        return {
            s.name: why.get(s.name, f"{self.name} has no {s.label.lower()}: only depthstudio's viewer draws it")
            for s in PARAM_SPECS
            if s.name not in self.reads
        }

    def drawn(self, params: ShaderParams) -> ShaderParams:
        """The parameters as this target draws them: what it ignores takes the value its shader hard-codes."""
        if self.plane is None:
            return params
        fixed = {
            s.name: s.default for s in PARAM_SPECS if s.name not in self.reads and s.name not in ("multiplier", "plane")
        }
        return replace(params, multiplier=1.0, plane=self.plane, **fixed)

    def props(self, params: ShaderParams, original_img: str | None, depth_img: str | None) -> dict[str, Any]:
        """The component's props for one avatar: the images first, then only the parameters it reads."""
        props: dict[str, Any] = {}
        if original_img is not None:
            props["originalImg"] = original_img
        if depth_img is not None:
            props["depthImg"] = depth_img
        values = params.web_props()
        props.update({SPECS_BY_NAME[n].web: values[SPECS_BY_NAME[n].web] for n in self.reads})
        return props


TARGETS = {
    t.name: t
    for t in (
        Target("react-depth-map", "react-depth-map 1.0.9 (npm, as published)", PLANE_ORIGINAL),
        Target("react-depth-map-fork", "react-depth-map fork (plane 0.05, the seed's portal)", PLANE_FIXED),
        Target("depthstudio", "depthstudio's web viewer (every mode)", None),
    )
}


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(
            f"[web] target = {name!r} is not a web component depthstudio knows; use one of {', '.join(TARGETS)}",
            kind="web_target",
        ) from None
