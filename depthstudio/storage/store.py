"""The store interface: where published depth-map PNGs live, and the URL the portal gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoreKey:
    """Deterministic identity of an asset: the same user and photo content always map to the same asset."""

    user_id: str
    avatar_sha256: str

    @property
    def public_id(self) -> str:
        """Readable and unique: an id that had to be changed to be safe gets a hash of the original, so that
        ``a.b`` and ``a_b`` (or ``Bob`` and ``bob`` on a case-insensitive disk) never share an asset."""
        safe_user = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in self.user_id)
        if safe_user != self.user_id or safe_user.lower() != safe_user:
            safe_user = f"{safe_user[:40]}_{hashlib.sha256(self.user_id.encode()).hexdigest()[:8]}"
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
