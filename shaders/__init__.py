"""Shipped inside the package as ``depthstudio._shaders``; found only through depthstudio.resources."""
