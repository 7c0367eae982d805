"""The parameter dataclass is the single source of truth: shader, web props and overrides agree with it."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest

from depthstudio.errors import ConfigError
from depthstudio.render.params import PARAM_SPECS, ShaderParams, parse_assignment, specs_for_web
from depthstudio.render.shader_source import FRAME_UNIFORMS, HEADERS, parallax_sources, raw_source


def test_dataclass_fields_and_defaults_are_the_specs():
    assert [f.name for f in fields(ShaderParams)] == [s.name for s in PARAM_SPECS]
    defaults = ShaderParams()
    for spec in PARAM_SPECS:
        assert getattr(defaults, spec.name) == spec.default
        if spec.kind in ("float", "int"):
            assert spec.minimum <= spec.default <= spec.maximum


def test_defaults_are_the_portals_fixed_web_shader():
    p = ShaderParams()
    assert (p.horizontal_threshold, p.vertical_threshold, p.multiplier, p.plane) == (35.0, 35.0, 1.0, 0.05)
    assert p.counter_motion == 1.0 and p.occlusion_steps == 0
    assert ShaderParams.original().overrides() == {"plane": 0.5}


def test_every_shader_uniform_is_declared_once_and_named_by_a_spec_or_a_frame_input():
    source = raw_source("parallax.frag")
    declared = re.findall(r"^uniform\s+\w+\s+(\w+)\s*;", source, flags=re.MULTILINE)
    from_specs = [s.uniform for s in PARAM_SPECS if s.uniform]
    assert sorted(declared) == sorted(from_specs + list(FRAME_UNIFORMS))


def test_sources_carry_no_version_line_and_get_one_per_target():
    for name in ("parallax.vert", "parallax.frag"):
        assert not re.search(r"^\s*#\s*version", raw_source(name), flags=re.MULTILINE)
    es = parallax_sources("es300")
    assert es.fragment.startswith("#version 300 es\nprecision highp float;\n")
    assert parallax_sources("gl330").vertex.startswith(HEADERS["gl330"])
    with pytest.raises(ConfigError):
        parallax_sources("gl120")  # type: ignore[arg-type]


def test_overrides_round_trip_through_json():
    p = ShaderParams(plane=0.2, occlusion_steps=8, reverse_motion=True)
    stored = json.dumps(p.overrides())
    assert json.loads(stored) == {"plane": 0.2, "occlusion_steps": 8, "reverse_motion": True}
    assert ShaderParams.from_dict(json.loads(stored)) == p
    assert ShaderParams.from_dict({}) == ShaderParams()
    assert ShaderParams.from_dict(p.to_dict()) == p


def test_web_props_use_the_components_names():
    props = ShaderParams(multiplier=2.0).web_props()
    assert props["horizontalThreshold"] == 35.0 and props["multiplier"] == 2.0
    assert props["reverseMotion"] is False and props["respondTo"] == "mouseMove"


def test_uniform_values_follow_the_specs():
    uniforms = ShaderParams(occlusion_steps=4).uniforms()
    assert uniforms["u_plane"] == 0.05 and uniforms["u_occlusionSteps"] == 4
    assert isinstance(uniforms["u_occlusionSteps"], int)
    assert "reverse_motion" not in uniforms


@pytest.mark.parametrize(
    "data",
    [
        {"plane": 1.5},
        {"plane": "far"},
        {"plane": float("nan")},
        {"occlusion_steps": 2.5},
        {"multiplier": True},
        {"respond_to": "hover"},
        {"reverse_motion": "maybe"},
        {"planee": 0.1},
    ],
)
def test_bad_values_are_specific_errors(data):
    with pytest.raises(ConfigError) as err:
        ShaderParams.from_dict(data)
    assert err.value.kind == "shader_param"
    assert next(iter(data)) in str(err.value)


def test_clamp_brings_values_into_range():
    p = ShaderParams.from_dict({"plane": 1.5, "horizontal_threshold": 1}, clamp=True)
    assert p.plane == 1.0 and p.horizontal_threshold == 5.0


def test_command_line_assignments_accept_python_and_web_names():
    assert parse_assignment("plane=0.5") == ("plane", "0.5")
    assert parse_assignment("horizontalThreshold = 20") == ("horizontal_threshold", "20")
    p = ShaderParams().apply(dict([parse_assignment("occlusionSteps=6"), parse_assignment("reverse_motion=true")]))
    assert p.occlusion_steps == 6 and p.reverse_motion is True
    for bad in ("plane", "=3", "depth=1"):
        with pytest.raises(ConfigError):
            parse_assignment(bad)


def test_specs_for_the_web_are_json_with_uniform_and_prop_names():
    specs = json.loads(json.dumps(specs_for_web()))
    plane = next(s for s in specs if s["name"] == "plane")
    assert plane == {**plane, "uniform": "u_plane", "web": "clippingPlane", "default": 0.05, "minimum": 0.0}
    assert next(s for s in specs if s["name"] == "respond_to")["choices"][0] == "mouseMove"
