"""The Cloudinary store, driven through the official SDK against the protocol server in tests/servers."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from urllib.parse import urlsplit

import numpy as np
import pytest

from depthstudio.config import StorageConfig, load_config
from depthstudio.depth.postprocess import encode_png
from depthstudio.errors import ConfigError, DepthstudioError, StorageError
from depthstudio.storage import open_store
from depthstudio.storage.cloudinary import CloudinaryStore
from depthstudio.storage.store import DepthStore, StoredAsset, StoreKey
from tests.servers.cloudinary_server import CloudinaryServer, running_cloudinary_server

HASH_A = "a1" * 32
HASH_B = "b2" * 32


def depth_png(seed: int = 0) -> bytes:
    ramp = np.linspace(0.0, 1.0, 48 * 40, dtype=np.float32).reshape(40, 48)
    return encode_png(np.roll(ramp, seed, axis=1), 8)


@pytest.fixture
def server() -> Iterator[CloudinaryServer]:
    with running_cloudinary_server() as srv:
        yield srv


def make_store(server: CloudinaryServer, url: str | None = None, **kw) -> CloudinaryStore:
    kw.setdefault("timeout_s", 5.0)
    return CloudinaryStore(url or server.cloudinary_url, upload_prefix=server.upload_prefix, **kw)


@pytest.fixture
def store(server: CloudinaryServer) -> CloudinaryStore:
    return make_store(server)


def test_is_a_depth_store(store: CloudinaryStore) -> None:
    assert isinstance(store, DepthStore)


def test_signed_upload_is_verified_and_stored(server: CloudinaryServer, store: CloudinaryStore) -> None:
    png = depth_png()
    asset = store.put(StoreKey("42", HASH_A), png)

    stored = server.assets["depthstudio/42-" + HASH_A[:16]]
    assert stored.data == png  # the bytes arrive untouched: no lossy step on the way
    assert (stored.width, stored.height) == (48, 40)
    (upload,) = server.uploads()
    assert upload.status == 200
    assert upload.params["overwrite"] == "1" and upload.params["invalidate"] == "1"
    assert asset == StoredAsset(
        url=server.delivery_url(stored.public_id, stored.version),
        location=stored.public_id,
        bytes=len(png),
        version=str(stored.version),
    )


def test_sha256_accounts_need_the_sha256_setting(server: CloudinaryServer) -> None:
    server.signature_algorithm = "sha256"
    with pytest.raises(StorageError) as refused:
        make_store(server).put(StoreKey("1", HASH_A), depth_png())
    assert refused.value.kind == "auth"

    asset = make_store(server, server.cloudinary_url + "?signature_algorithm=sha256").put(
        StoreKey("1", HASH_A), depth_png()
    )
    assert asset.location in server.assets


def test_wrong_secret_is_a_permanent_auth_error_without_the_secret(server: CloudinaryServer) -> None:
    wrong_secret = "WRONG-secret-d41d8cd98f"
    url = f"cloudinary://{server.api_key}:{wrong_secret}@{server.cloud_name}"
    with pytest.raises(StorageError) as refused:
        make_store(server, url).put(StoreKey("1", HASH_A), depth_png())
    err = refused.value
    assert (err.kind, err.transient) == ("auth", False)
    assert "CLOUDINARY_URL" in str(err) and "Invalid Signature" in str(err)
    rendered = str(err) + repr(err) + repr(err.args) + "".join(traceback.format_exception(err))
    for secret in (wrong_secret, server.api_secret, server.api_key):
        assert secret not in rendered
    assert server.assets == {}


def test_unknown_cloud_is_an_auth_error(server: CloudinaryServer) -> None:
    url = f"cloudinary://{server.api_key}:{server.api_secret}@some-other-cloud"
    with pytest.raises(StorageError) as refused:
        make_store(server, url).put(StoreKey("1", HASH_A), depth_png())
    assert refused.value.kind == "auth" and "some-other-cloud" in str(refused.value)


def test_unknown_api_key_is_an_auth_error_that_does_not_repeat_the_key(server: CloudinaryServer) -> None:
    url = f"cloudinary://999888777666555:{server.api_secret}@{server.cloud_name}"
    with pytest.raises(StorageError) as refused:
        make_store(server, url).put(StoreKey("1", HASH_A), depth_png())
    assert refused.value.kind == "auth" and "Unknown API key" in str(refused.value)
    assert "999888777666555" not in str(refused.value)


def test_clock_off_by_more_than_an_hour_is_reported_as_such(server: CloudinaryServer, store: CloudinaryStore) -> None:
    server.clock_offset_s = 2 * 3600
    with pytest.raises(StorageError) as refused:
        store.put(StoreKey("1", HASH_A), depth_png())
    assert refused.value.kind == "clock_skew" and "clock" in str(refused.value)
    assert server.assets == {}


def test_public_id_is_deterministic_per_user_and_photo(server: CloudinaryServer) -> None:
    first = make_store(server).put(StoreKey("user/7", HASH_A), depth_png())
    again = make_store(server).put(StoreKey("user/7", HASH_A), depth_png(seed=3))
    other_photo = make_store(server).put(StoreKey("user/7", HASH_B), depth_png())
    other_folder = make_store(server, folder="site/depth").put(StoreKey("user/7", HASH_A), depth_png())

    safe = StoreKey("user/7", HASH_A).public_id.rsplit("-", 1)[0]  # "user_7_<hash of the raw id>"
    assert safe.startswith("user_7_")
    assert first.location == again.location == f"depthstudio/{safe}-{HASH_A[:16]}"
    assert other_photo.location == f"depthstudio/{safe}-{HASH_B[:16]}"
    assert other_folder.location == f"site/depth/{safe}-{HASH_A[:16]}"
    assert sorted(server.assets) == sorted({first.location, other_photo.location, other_folder.location})


def test_put_twice_keeps_one_asset(server: CloudinaryServer, store: CloudinaryStore) -> None:
    key = StoreKey("5", HASH_A)
    first = store.put(key, depth_png())
    second = store.put(key, depth_png())

    assert len(server.assets) == 1
    assert server.assets[first.location].writes == 2
    assert second.location == first.location and int(second.version) > int(first.version)
    assert store.owns(first.url) and store.owns(second.url)


def test_response_dropped_after_store_then_retry_keeps_one_asset(
    server: CloudinaryServer, store: CloudinaryStore
) -> None:
    key, png = StoreKey("9", HASH_A), depth_png(seed=5)
    server.inject("drop_after_store")
    with pytest.raises(StorageError) as dropped:
        store.put(key, png)
    assert (dropped.value.kind, dropped.value.transient) == ("connection", True)
    assert list(server.assets) == [store.public_id(key)]  # Cloudinary did store it: the crash case

    asset = store.put(key, png)

    assert list(server.assets) == [asset.location]
    assert server.assets[asset.location].data == png
    assert asset.version == str(server.assets[asset.location].version)


@pytest.mark.parametrize(
    ("fault", "options", "kind"),
    [
        ("server_error", {}, "server_error"),
        ("bad_gateway", {}, "server_error"),
        ("rate_limit", {}, "rate_limited"),
        ("rate_limit", {"status": 429}, "rate_limited"),
        ("slow", {"delay_s": 3.0}, "timeout"),
        ("truncated", {}, "bad_response"),
        ("invalid_json", {}, "bad_response"),
        ("drop_after_store", {}, "connection"),
    ],
)
def test_faults_map_to_transient_errors_and_the_retry_succeeds(
    server: CloudinaryServer, fault: str, options: dict, kind: str
) -> None:
    store = make_store(server)
    key = StoreKey("3", HASH_A)
    server.inject(fault, **options)
    with pytest.raises(StorageError) as failed:
        # A short timeout only where the timeout is the point: elsewhere a loaded machine must not flake.
        make_store(server, timeout_s=0.5 if fault == "slow" else 5.0).put(key, depth_png())
    assert (failed.value.kind, failed.value.transient) == (kind, True)
    assert store.public_id(key) in str(failed.value) or kind == "connection"

    asset = store.put(key, depth_png())
    assert asset.location in server.assets
    assert len(server.assets) == 1


def test_rate_limit_carries_the_servers_retry_hint(server: CloudinaryServer, store: CloudinaryStore) -> None:
    server.inject("rate_limit", retry_after_s=90)
    with pytest.raises(StorageError) as limited:
        store.put(StoreKey("1", HASH_A), depth_png())
    assert limited.value.retry_after is not None
    assert 85 <= limited.value.retry_after <= 91


def test_unreachable_api_is_a_transient_connection_error(server: CloudinaryServer) -> None:
    store = make_store(server)
    server.stop()
    with pytest.raises(StorageError) as failed:
        store.put(StoreKey("1", HASH_A), depth_png())
    assert (failed.value.kind, failed.value.transient) == ("connection", True)


def test_delete_destroys_with_invalidation_and_is_idempotent(server: CloudinaryServer, store: CloudinaryStore) -> None:
    asset = store.put(StoreKey("8", HASH_A), depth_png())
    store.delete(asset)
    store.delete(asset)

    assert server.assets == {}
    assert server.destroyed == [asset.location]
    destroys = [r for r in server.requests if r.action == "destroy"]
    assert [r.params["invalidate"] for r in destroys] == ["1", "1"]


def test_a_fault_aimed_at_deletes_spares_uploads(server: CloudinaryServer, store: CloudinaryStore) -> None:
    server.inject("server_error", action="destroy")
    asset = store.put(StoreKey("8", HASH_A), depth_png())
    with pytest.raises(StorageError) as failed:
        store.delete(asset)
    assert (failed.value.kind, failed.value.transient) == ("server_error", True)
    assert asset.location in server.assets
    store.delete(asset)
    assert server.assets == {}


def test_delete_refuses_assets_outside_the_folder(server: CloudinaryServer, store: CloudinaryStore) -> None:
    foreign = StoredAsset(
        url="https://res.cloudinary.com/x/image/upload/v1/avatars/me.png", location="avatars/me", bytes=1
    )
    with pytest.raises(StorageError) as refused:
        store.delete(foreign)
    assert refused.value.kind == "not_owned"
    assert server.requests == []


RES = "https://res.cloudinary.com/depthstudio-test/image/upload"
NAME = "u1-0123456789abcdef"


@pytest.mark.parametrize(
    ("url", "owned"),
    [
        (f"{RES}/v17/depthstudio/{NAME}.png", True),
        (f"{RES}/depthstudio/{NAME}.png", True),
        (f"{RES}/v17/depthstudio/{NAME}.png".replace("https:", "http:"), False),
        (f"{RES}/v17/depthstudio/{NAME}.png".replace("depthstudio-test", "other-cloud"), False),
        (f"{RES}/v17/elsewhere/{NAME}.png", False),
        (f"{RES}/v17/depthstudio/sub/{NAME}.png", False),
        (f"{RES}/q_auto/v17/depthstudio/{NAME}.png", False),
        (f"{RES}/v17/depthstudio/{NAME}.jpg", False),
        (f"{RES}/v17/depthstudio/{NAME}.png?x=1", False),
        (f"{RES}/v17/depthstudio/{NAME}.png#x", False),
        (f"{RES}/v17/depthstudio/{NAME}.png".replace("res.cloudinary.com", "evil.example"), False),
        (f"{RES}/v17/depthstudio/{NAME}.png".replace(".com/", ".com.evil.example/"), False),
        (f"{RES}/v17/depthstudio/{NAME}.png".replace("https://", "https://user@"), False),
        (f"{RES}/v17/depthstudio/..%2F..%2Fx.png", False),
        (f"file:///tmp/depthstudio/{NAME}.png", False),
        ("", False),
    ],
)
def test_owns_only_plain_png_urls_of_this_cloud_and_folder(store: CloudinaryStore, url: str, owned: bool) -> None:
    assert store.owns(url) is owned


def test_delivered_url_is_a_plain_png(server: CloudinaryServer, store: CloudinaryStore) -> None:
    asset = store.put(StoreKey("1", HASH_A), depth_png())
    path = urlsplit(asset.url).path
    assert path.endswith(".png")
    # /<cloud>/image/upload/v<version>/<folder>/<name>.png: no transformation between upload and version
    assert path.split("/")[4] == "v" + asset.version
    assert server.uploads()[0].params["format"] == "png"


def test_an_account_that_converts_to_a_lossy_format_is_refused(
    server: CloudinaryServer, store: CloudinaryStore
) -> None:
    server.force_format = "jpg"
    with pytest.raises(StorageError) as lossy:
        store.put(StoreKey("1", HASH_A), depth_png())
    assert (lossy.value.kind, lossy.value.transient) == ("not_lossless", False)


def test_non_png_input_is_refused_before_any_request(server: CloudinaryServer, store: CloudinaryStore) -> None:
    with pytest.raises(StorageError) as refused:
        store.put(StoreKey("1", HASH_A), b"GIF89a....")
    assert refused.value.kind == "not_png"
    assert server.requests == []


def test_concurrent_puts_from_threads_make_one_asset_per_key(server: CloudinaryServer, store: CloudinaryStore) -> None:
    keys = [StoreKey(str(i), HASH_A) for i in range(6)]
    errors: list[Exception] = []

    def worker() -> None:
        try:
            for key in keys:
                store.put(key, depth_png())
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(server.assets) == sorted(store.public_id(k) for k in keys)
    assert all(a.writes == 4 for a in server.assets.values())


def test_threads_uploading_at_once_reuse_their_connections(server: CloudinaryServer, store: CloudinaryStore) -> None:
    """Eight threads, 80 uploads: each thread keeps its keep-alive connection instead of the SDK's pool of one
    discarding all but one of them after every request (that was ~one new connection per upload)."""
    start = threading.Barrier(8)
    errors: list[Exception] = []

    def worker(n: int) -> None:
        try:
            start.wait(10)
            for i in range(10):
                store.put(StoreKey(f"{n}-{i}", HASH_A), depth_png(i))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(server.assets) == 80
    assert server.connections <= 8  # one per thread


def test_check_connection_proves_credentials_and_creates_nothing(
    server: CloudinaryServer, store: CloudinaryStore
) -> None:
    message = store.check_connection()
    assert server.cloud_name in message and server.upload_prefix in message
    assert server.api_secret not in message and server.api_key not in message
    assert server.assets == {} and server.requests[0].status == 200

    bad = make_store(server, f"cloudinary://{server.api_key}:nope-nope@{server.cloud_name}")
    with pytest.raises(StorageError) as refused:
        bad.check_connection()
    assert refused.value.kind == "auth"


def test_from_config_reads_the_secret_and_settings(server: CloudinaryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as missing:
        CloudinaryStore.from_config(StorageConfig(kind="cloudinary"))
    assert "CLOUDINARY_URL" in str(missing.value)

    monkeypatch.setenv("CLOUDINARY_URL", server.cloudinary_url)
    store = CloudinaryStore.from_config(
        StorageConfig(kind="cloudinary", cloudinary_folder="avatars-3d", cloudinary_upload_prefix=server.upload_prefix)
    )
    assert store.put(StoreKey("1", HASH_A), depth_png()).location.startswith("avatars-3d/")


def test_upload_prefix_falls_back_to_the_sdks_environment_variable(
    server: CloudinaryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDINARY_UPLOAD_PREFIX", server.upload_prefix)
    store = CloudinaryStore(server.cloudinary_url)
    assert store.upload_prefix == server.upload_prefix
    assert store.put(StoreKey("1", HASH_A), depth_png()).location in server.assets


def test_upload_prefix_can_ride_in_the_cloudinary_url(server: CloudinaryServer) -> None:
    store = CloudinaryStore(f"{server.cloudinary_url}?upload_prefix={server.upload_prefix}")
    assert store.put(StoreKey("1", HASH_A), depth_png()).location in server.assets


@pytest.mark.parametrize(
    "url",
    [
        "https://614335564976464:Sup3rSecretValue@cloud",
        "cloudinary://614335564976464@cloud",
        "cloudinary://:Sup3rSecretValue@cloud",
        "cloudinary://614335564976464:Sup3rSecretValue@cloud/private.cdn.example",
        "cloudinary://614335564976464:Sup3rSecretValue@cloud?signature_algorithm=md5",
        "cloudinary://614335564976464:Sup3rSecretValue@[broken",
    ],
)
def test_malformed_cloudinary_url_is_a_config_error_that_hides_it(url: str) -> None:
    with pytest.raises(ConfigError) as bad:
        CloudinaryStore(url)
    assert "CLOUDINARY_URL" in str(bad.value)
    assert "Sup3rSecretValue" not in str(bad.value) + repr(bad.value)


@pytest.mark.parametrize(
    ("settings", "word"),
    [
        ({"upload_prefix": "http://api.example.com"}, "https"),
        ({"upload_prefix": "ftp://127.0.0.1"}, "http"),
        ({"folder": "../up"}, "folder"),
        ({"folder": ""}, "folder"),
        ({"timeout_s": 0}, "timeout"),
    ],
)
def test_unsafe_settings_are_config_errors(settings: dict, word: str) -> None:
    with pytest.raises(ConfigError) as bad:
        CloudinaryStore("cloudinary://1:s3cr3t-value@cloud", **settings)
    assert word in str(bad.value)


def test_no_secret_in_logs_reprs_or_errors(
    server: CloudinaryServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "Cloudinary", "tests.servers.cloudinary_server"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong = "Wr0ng-secret-for-leak-test"
    store = make_store(server)
    impatient = make_store(server, timeout_s=0.5)
    key = StoreKey("1", HASH_A)
    errors: list[DepthstudioError] = []

    asset = store.put(key, depth_png())
    store.check_connection()
    for fault in ("server_error", "rate_limit", "truncated", "invalid_json", "drop_after_store", "slow"):
        server.inject(fault, delay_s=3.0)
        with pytest.raises(StorageError) as failed:
            impatient.put(key, depth_png())
        errors.append(failed.value)
    with pytest.raises(StorageError) as refused:
        make_store(server, f"cloudinary://{server.api_key}:{wrong}@{server.cloud_name}").put(key, depth_png())
    errors.append(refused.value)
    store.delete(asset)

    assert any(r.name.startswith("urllib3") for r in caplog.records)  # DEBUG logging really was on
    captured = capfd.readouterr()
    texts = [caplog.text, captured.out, captured.err, repr(store), str(vars(store))]
    texts += [r.getMessage() + repr(r.args) for r in caplog.records]
    for err in errors:
        texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
    for text in texts:
        assert server.api_secret not in text
        assert wrong not in text
        assert server.cloudinary_url not in text


def test_open_store_builds_the_configured_store(server: CloudinaryServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDINARY_URL", server.cloudinary_url)
    cfg = load_config(
        environ={
            "DEPTHSTUDIO_STORAGE_KIND": "cloudinary",
            "DEPTHSTUDIO_STORAGE_CLOUDINARY_UPLOAD_PREFIX": server.upload_prefix,
            "DEPTHSTUDIO_STORAGE_CLOUDINARY_TIMEOUT_S": "2.5",
        }
    )
    store = open_store(cfg)
    assert isinstance(store, CloudinaryStore) and store.timeout_s == 2.5
    assert store.owns(store.put(StoreKey("1", HASH_A), depth_png()).url)

    cfg.storage.kind = "s3"
    with pytest.raises(ConfigError) as unknown:
        open_store(cfg)
    assert "storage.kind" in str(unknown.value)
