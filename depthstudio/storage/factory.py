"""Pick the configured store; adding a store is one new module plus one branch here."""

from __future__ import annotations

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.storage.base import DepthStore
from depthstudio.storage.local import LocalDirectoryStore


def make_store(config: Config) -> DepthStore:
    kind = config.storage.kind
    if kind == "local":
        return LocalDirectoryStore(config.local_store_dir())
    if kind == "cloudinary":
        from depthstudio.storage.cloudinary import CloudinaryStore

        return CloudinaryStore.from_config(config.storage)
    raise ConfigError(f"unknown store {kind!r}; use 'local' or 'cloudinary'")
