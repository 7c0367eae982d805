"""Where published depth maps go: the configured ``DepthStore``."""

from __future__ import annotations

from depthstudio.config import Config
from depthstudio.errors import ConfigError
from depthstudio.storage.folder_store import LocalDirectoryStore
from depthstudio.storage.store import DepthStore


def describe_destination(config: Config, portal: str) -> str:
    """What a publish does, true for every store and URL setting: where the maps go and which URLs ``portal``
    gets. The sentence the studio's confirmation shows before anything is uploaded."""
    storage = config.storage
    if storage.kind == "cloudinary":
        at = f" at {storage.cloudinary_upload_prefix}" if storage.cloudinary_upload_prefix else ""
        return (
            f"Uploads to Cloudinary{at}, folder “{storage.cloudinary_folder}”, and writes each asset's "
            f"https URL to {portal}."
        )
    if storage.kind != "local":
        return f"Publishing is refused: storage.kind “{storage.kind}” is not a known store (use local or cloudinary)."
    folder = config.local_store_dir().expanduser().resolve()
    base = storage.local_public_base_url
    if base:
        return (
            f"Copies the maps into {folder} and writes each one's URL under {base.rstrip('/')}/ "
            f"(where the portal's web server serves that folder) to {portal}."
        )
    if config.is_demo:
        return (
            f"Copies the maps into {folder} and writes each one's file:// URL to {portal} "
            "(only the studio on this machine can show them)."
        )
    return (
        f"Publishing is refused: the maps would go to {folder}, which has no public URL, and the website of "
        f"{portal} cannot show file:// URLs. Set storage.local_public_base_url or use Cloudinary."
    )


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
