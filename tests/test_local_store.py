"""The embedded store: idempotent puts, atomic files, URLs it owns, keys that never collide."""

from __future__ import annotations

from depthstudio.storage.folder_store import LocalDirectoryStore
from depthstudio.storage.store import StoreKey

SHA = "ab" * 32


def test_put_is_idempotent_and_atomic(tmp_path):
    store = LocalDirectoryStore(tmp_path / "maps")
    first = store.put(StoreKey("u1", SHA), b"\x89PNG one")
    again = store.put(StoreKey("u1", SHA), b"\x89PNG one")
    assert first == again and [p.name for p in (tmp_path / "maps").iterdir()] == [f"u1-{SHA[:16]}.png"]
    assert store.owns(first.url) and not store.owns("file:///etc/passwd") and not store.owns("https://x/u1.png")
    store.delete(first)
    assert list((tmp_path / "maps").iterdir()) == []


def test_keys_of_different_users_never_collide():
    ids = ["a.b", "a_b", "Bob", "bob", "ünï", "un_", "a/../b", "a___b"]
    public = {StoreKey(i, SHA).public_id for i in ids}
    assert len(public) == len(ids)
    assert all(p.replace("-", "").replace("_", "").isalnum() for p in public)
    assert StoreKey("clx0abc_12", SHA).public_id == f"clx0abc_12-{SHA[:16]}"  # safe ids stay readable
