"""The embedded default store: PNG files in a directory, addressed by ``file://`` URLs (the demo portal) or by the
public base URL at which a web server serves the directory (a real portal)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from depthstudio.errors import StorageError
from depthstudio.storage.store import StoredAsset, StoreKey


class LocalDirectoryStore:
    name = "local"

    def __init__(self, root: Path, *, public_base_url: str = "") -> None:
        self.root = Path(root).resolve()
        self.base_url = public_base_url.rstrip("/") + "/" if public_base_url else self.root.as_uri() + "/"

    def _url(self, path: Path) -> str:
        return self.base_url + quote(path.name)

    def _path(self, key: StoreKey) -> Path:
        return self.root / f"{key.public_id}.png"

    def put(self, key: StoreKey, png: bytes) -> StoredAsset:
        """Write atomically (temp file + rename) so a crash never leaves a half-written PNG under the final name."""
        path = self._path(key)
        if path.exists() and path.stat().st_size == len(png) and path.read_bytes() == png:
            return StoredAsset(url=self._url(path), location=str(path), bytes=len(png))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".png")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(png)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageError(
                    f"the disk holding {self.root} is full; free space and retry",
                    kind="disk_full",
                    transient=True,
                ) from exc
            raise StorageError(f"could not write {path}: {exc.strerror}", kind="write_failed") from exc
        return StoredAsset(url=self._url(path), location=str(path), bytes=len(png))

    def delete(self, asset: StoredAsset) -> None:
        Path(asset.location).unlink(missing_ok=True)

    def owns(self, url: str) -> bool:
        return url.startswith(self.base_url)
