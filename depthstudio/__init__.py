"""depthstudio: turn a portal's avatar photos into live 3D (parallax) avatars."""

__version__ = "0.1.0"
