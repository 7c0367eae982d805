"""Shipped files are found through importlib.resources, and a broken install says which file is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from depthstudio.errors import ConfigError
from depthstudio.render.shader_source import raw_source
from depthstudio.resources import resource, resources_dir

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_folders_are_the_top_level_ones_of_the_checkout():
    assert resource("shaders") == REPO / "shaders"
    assert resources_dir() == REPO / "resources"


def test_a_missing_resource_is_an_error_naming_the_file():
    with pytest.raises(ConfigError, match=r"resources/web/no-such-viewer\.js") as err:
        resource("resources", "web", "no-such-viewer.js")
    assert err.value.kind == "resource_missing"


def test_a_missing_shader_is_an_error_naming_the_file_not_a_blank_preview():
    with pytest.raises(ConfigError, match=r"shaders/missing\.frag"):
        raw_source("missing.frag")


def test_resources_do_not_depend_on_the_current_directory(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from depthstudio.resources import resource; print(resource('shaders', 'parallax.frag'))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()) == REPO / "shaders" / "parallax.frag"


def test_the_server_requirements_are_the_dependencies_without_qt_and_opengl():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements-server.txt").read_text().splitlines()]
    server = [line for line in lines if line]
    assert set(server) == {d for d in deps if not d.startswith(("PySide6", "PyOpenGL"))} | {"psycopg[binary]>=3.1"}
