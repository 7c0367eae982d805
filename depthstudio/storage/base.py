"""The store interface: where published depth-map PNGs live, and the URL the portal gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoreKey:
    """Deterministic identity of an asset: the same user and photo content always map to the same asset."""

    user_id: str
    avatar_sha256: str

    @property
    def public_id(self) -> str:
        safe_user = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.user_id)
        return f"{safe_user}-{self.avatar_sha256[:16]}"


@dataclass(frozen=True)
class StoredAsset:
    url: str  # what the portal column receives
    location: str  # store-specific handle (path, Cloudinary public_id)
    bytes: int
    version: str | None = None


@runtime_checkable
class DepthStore(Protocol):
    """``put`` is idempotent: a second call with the same key returns the same asset and creates nothing new."""

    name: str

    def put(self, key: StoreKey, png: bytes) -> StoredAsset: ...

    def delete(self, asset: StoredAsset) -> None: ...

    def owns(self, url: str) -> bool:
        """Only URLs this store produced may ever be written to the portal column."""
        ...
