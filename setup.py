"""The package list, which pyproject.toml cannot compute: the top-level ``shaders/`` and ``resources/`` folders ship
inside the package as ``depthstudio._shaders`` and ``depthstudio._resources`` (see depthstudio/resources.py)."""

from setuptools import find_namespace_packages, setup

DATA_DIRS = {"depthstudio._shaders": "shaders", "depthstudio._resources": "resources"}

setup(
    packages=find_namespace_packages(include=["depthstudio", "depthstudio.*"], exclude=["*.__pycache__"])
    + list(DATA_DIRS),
    package_dir=DATA_DIRS,
)
