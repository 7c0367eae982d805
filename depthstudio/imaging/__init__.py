"""Fetching and decoding avatars safely (bounded, SSRF-guarded) and cropping them for the depth backends."""

from depthstudio.imaging.types import Avatar, CropBox, FetchPolicy

__all__ = ["Avatar", "CropBox", "FetchPolicy"]
