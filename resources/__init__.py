"""Shipped inside the package as ``depthstudio._resources``; found only through depthstudio.resources."""
