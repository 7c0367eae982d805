"""Backend by name, so the job, the CLI and the studio never import a backend module themselves.

Each backend's heavy dependencies (torch, the replicate client) load only when that backend is chosen.
"""

from __future__ import annotations

import importlib.util

from depthstudio.config import Config
from depthstudio.depth.backend import DepthBackend
from depthstudio.errors import BackendError, ConfigError

BACKENDS = ("replicate", "local", "synthetic")


def make_backend(config: Config, name: str | None = None) -> DepthBackend:
    """``name`` overrides ``config.depth.backend`` (the CLI's ``--backend``)."""
    chosen = (name or config.depth.backend or "").strip().lower()
    if chosen == "synthetic":
        from depthstudio.depth.synthetic import SyntheticBackend

        return SyntheticBackend()
    if chosen == "local":
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendError(
                f"the local backend needs PyTorch and transformers ({', '.join(missing)} missing); "
                "install them with `pip install 'depthstudio[local]'`",
                kind="not_installed",
            )
        from depthstudio.depth.local import make_local_backend

        return make_local_backend(config.depth)
    if chosen == "replicate":
        from depthstudio.depth.replicate import make_replicate_backend

        return make_replicate_backend(config.depth)
    raise ConfigError(f"unknown depth backend {chosen!r}; choose one of: {', '.join(BACKENDS)}")
