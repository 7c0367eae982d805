"""Where published depth maps go: the configured ``DepthStore``."""

from __future__ import annotations

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.storage.base import DepthStore
from depthstudio.storage.local import LocalDirectoryStore


def open_store(config: Config) -> DepthStore:
    """The store named by ``storage.kind``; Cloudinary is imported only when chosen (it pulls in the SDK)."""
    kind = config.storage.kind
    if kind == "local":
        return LocalDirectoryStore(config.local_store_dir())
    if kind == "cloudinary":
        from depthstudio.storage.cloudinary import CloudinaryStore

        return CloudinaryStore.from_config(config.storage)
    raise ConfigError(f"storage.kind {kind!r} is not a known store; use local or cloudinary")
