"""Backend by name, so the job, the CLI and the studio never import a backend module themselves.

Each backend's heavy dependencies (torch, the replicate client) load only when that backend is chosen.
"""

from __future__ import annotations

import importlib
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
        try:
            module = importlib.import_module("depthstudio.depth.replicate")
        except ModuleNotFoundError as exc:
            if exc.name != "depthstudio.depth.replicate":
                raise
            raise BackendError(
                "the replicate backend is not part of this installation; choose --backend local or synthetic",
                kind="not_installed",
            ) from None
        return module.make_replicate_backend(config.depth)  # type: ignore[no-any-return]
    raise ConfigError(f"unknown depth backend {chosen!r}; choose one of: {', '.join(BACKENDS)}")
