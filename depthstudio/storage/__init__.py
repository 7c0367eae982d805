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
        base = config.storage.local_public_base_url
        if not base and not config.is_demo:
            # Refused up front, before any upload or DB write: a website cannot load file:// URLs.
            raise ConfigError(
                "the local directory store would publish file:// URLs into a real portal, which its website cannot "
                'serve; use Cloudinary (storage.kind = "cloudinary" and CLOUDINARY_URL), or set '
                "storage.local_public_base_url to the URL at which the portal's web server serves "
                f"{config.local_store_dir()}",
                kind="store_not_public",
            )
        return LocalDirectoryStore(config.local_store_dir(), public_base_url=base)
    if kind == "cloudinary":
        from depthstudio.storage.cloudinary import CloudinaryStore

        return CloudinaryStore.from_config(config.storage)
    raise ConfigError(f"storage.kind {kind!r} is not a known store; use local or cloudinary")
