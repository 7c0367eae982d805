"""HTTP cache validators (ETag, Last-Modified) of the avatars this process fetched, by URL and content hash.

The publisher asks the photo's server "has it changed since?" with a conditional GET (RFC 9110 §13.1:
If-None-Match, If-Modified-Since) instead of downloading it again, but only a fetch can tell it what to ask with:
each successful download records its validators here, next to the sha256 of the bytes they describe.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Validators:
        return cls(etag=headers.get("etag") or None, last_modified=headers.get("last-modified") or None)

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match takes precedence over If-Modified-Since at the server (RFC 9110 §13.2.2); send both."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class ValidatorCache:
    """A bounded, thread-safe map URL → (sha256 of the bytes, their validators); the oldest entry goes first."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[str, Validators]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, url: str, body: bytes, validators: Validators) -> None:
        if not validators:
            return  # nothing to ask the server with later
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            self._items[url] = (digest, validators)
            self._items.move_to_end(url)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def for_content(self, url: str, sha256: str) -> Validators | None:
        """The validators of ``url`` if they were seen with exactly this content; else None."""
        with self._lock:
            item = self._items.get(url)
        return item[1] if item is not None and item[0] == sha256 else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


seen = ValidatorCache()
