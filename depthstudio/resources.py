"""Locating the files shipped beside the package (shaders, demo portal data, the web viewer)."""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout (``pip install -e .``) holds ``shaders/`` and ``resources/`` next to the package."""
    override = os.environ.get("DEPTHSTUDIO_RESOURCES_ROOT")
    return Path(override) if override else _PKG.parent


def resources_dir() -> Path:
    return repo_root() / "resources"


def shaders_dir() -> Path:
    return repo_root() / "shaders"
