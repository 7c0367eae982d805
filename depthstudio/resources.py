"""Finding the files shipped with the package: shaders, demo portal data, the web viewer, the icon.

The repository keeps them in the top-level ``shaders/`` and ``resources/`` folders; the build maps those folders into
the package as ``depthstudio._shaders`` and ``depthstudio._resources`` (setup.py), and an editable install maps them
back onto the checkout. ``importlib.resources`` therefore finds them the same way in a wheel and in a checkout, and
nothing is ever looked up relative to the current directory or to the package's own path.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from depthstudio.errors import ConfigError

_PACKAGES = {"shaders": "depthstudio._shaders", "resources": "depthstudio._resources"}


def _folder(kind: str) -> Path:
    try:
        root = importlib.resources.files(_PACKAGES[kind])
    except ModuleNotFoundError:
        raise ConfigError(
            f"depthstudio's {kind}/ folder is not installed (no package {_PACKAGES[kind]}); reinstall depthstudio",
            kind="resource_missing",
        ) from None
    # Installed packages are plain folders (wheels install unpacked), so the Traversable is a real path.
    return Path(str(root))


def resource(kind: str, *parts: str) -> Path:
    """The one lookup: ``resource("resources", "web", "index.html")``; a missing file is an error that names it."""
    path = _folder(kind).joinpath(*parts)
    if not path.exists():
        shown = "/".join((kind, *parts))
        raise ConfigError(
            f"the file {shown} is missing from the depthstudio installation (looked at {path}); reinstall depthstudio",
            kind="resource_missing",
        )
    return path


def resources_dir() -> Path:
    """The ``resources/`` folder (demo portal data, web viewer, icons)."""
    return resource("resources")
