"""Shader parameters in layers: built-in defaults, the designer's global defaults, each user's override.

The one owner of where each layer is stored and how the layers combine, for the studio's panel and the web
export alike (Qt-free). Both layers are partial dicts of python names: the global layer (portal setting
``shader_defaults``) over ``PARAM_SPECS``' defaults, a user's override over the global layer. Stored values
out of range are clamped, as the studio shows them; unknown names and wrong types are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from depthstudio.errors import ConfigError
from depthstudio.portal.repository import Portal
from depthstudio.render.params import ShaderParams

DEFAULTS_SETTING = "shader_defaults"  # the portal setting holding the global layer

log = logging.getLogger(__name__)


def _merged(defaults: Any, override: Any) -> Any:
    """Both layers in one dict; a layer that is not a dict is passed on as it is, for ``from_dict`` to refuse."""
    for layer in (defaults, override):
        if not isinstance(layer, Mapping):
            return layer
    return {**defaults, **override}


def effective(defaults: Mapping[str, Any], override: Mapping[str, Any]) -> ShaderParams:
    """The set the web gets: ``override`` over ``defaults`` over the built-in defaults, clamped to the ranges."""
    return ShaderParams.from_dict(_merged(defaults, override), clamp=True)


def read_defaults_layer(portal: Portal) -> Any:
    """The stored global layer as it is stored (``{}`` when none was saved)."""
    stored = portal.get_setting(DEFAULTS_SETTING)
    return stored if stored is not None else {}


def write_defaults_layer(portal: Portal, layer: Mapping[str, Any], *, by: str) -> None:
    portal.set_setting(DEFAULTS_SETTING, dict(layer), by=by)


def read_user_layer(portal: Portal, user_id: str) -> dict[str, Any]:
    return portal.get_overrides(user_id)


def write_user_layers(portal: Portal, user_ids: Iterable[str], layer: Mapping[str, Any], *, by: str) -> None:
    """An empty ``layer`` removes the override: the users follow the global defaults again."""
    portal.set_overrides(user_ids, dict(layer), by=by)


def _clamped_logged(defaults: Any, override: Any, what: str) -> ShaderParams:
    """``effective``, saying in the log when a stored value was out of range (the export is unattended)."""
    try:
        return ShaderParams.from_dict(_merged(defaults, override))
    except ConfigError as strict:
        params = effective(defaults, override)  # raises again for unknown names or wrong types
        log.warning("%s: %s; exported clamped to the range, as the studio shows it", what, strict)
        return params


def global_defaults(portal: Portal) -> ShaderParams:
    """The designer's global defaults over the built-in ones; invalid ones are an error naming the fix."""
    try:
        return _clamped_logged(read_defaults_layer(portal), {}, "the stored global shader defaults")
    except ConfigError as err:
        raise ConfigError(
            f"the stored global shader defaults are invalid ({err}); fix them in the studio", kind="shader_param"
        ) from None


def user_params(portal: Portal, defaults: ShaderParams, user_id: str) -> ShaderParams:
    """One user's effective set over already-read global ``defaults``."""
    return _clamped_logged(
        defaults.to_dict(), read_user_layer(portal, user_id), f"user {user_id!r}'s stored shader parameters"
    )
