"""Loading avatars: every failure kind is a specific error, every success is an upright RGB square.

Network tests use a real HTTP server on 127.0.0.1 (tests/servers/http_files.py). Fetches from it need
``allow_private=True``; the SSRF tests use the default policy and show that nothing reached the server.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from depthstudio.cancel import CancelToken
from depthstudio.errors import Cancelled
from depthstudio.errors import ImagingError as BaseImagingError
from depthstudio.imaging import (
    PORTRAIT_TOP_BIAS,
    CropBox,
    FetchPolicy,
    ImagingError,
    decode_image,
    display_source,
    fetch_bytes,
    forbidden_reason,
    load_avatar,
    netguard,
    square_crop_box,
)
from tests.conftest import SAMPLE_AVATARS
from tests.servers.http_files import FileServer

LOCAL = FetchPolicy(allow_private=True, timeout_s=5.0)
SAMPLES = sorted(p.name for p in SAMPLE_AVATARS.iterdir() if p.suffix in (".png", ".jpg"))


# ---- helpers ---------------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds almost no pixel data: decoding it would have to fail."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def fails(kind: str, source: str, policy: FetchPolicy = LOCAL, **kw: object) -> ImagingError:
    with pytest.raises(BaseImagingError) as info:
        load_avatar(source, policy, **kw)  # type: ignore[arg-type]
    assert info.value.kind == kind, f"{info.value.kind}: {info.value}"
    return info.value


def decode_fails(kind: str, data: bytes, policy: FetchPolicy = LOCAL) -> ImagingError:
    with pytest.raises(BaseImagingError) as info:
        decode_image(data, policy, shown="test.img")
    assert info.value.kind == kind, f"{info.value.kind}: {info.value}"
    return info.value


@pytest.fixture(scope="module")
def server() -> Iterator[FileServer]:
    with FileServer().serving() as srv:
        yield srv


@pytest.fixture
def write(tmp_path: Path):
    def _write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return _write


# ---- success ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_avatar_loads_as_the_whole_frame_with_sha256_of_raw_bytes(name: str) -> None:
    path = SAMPLE_AVATARS / name
    avatar = load_avatar(str(path), FetchPolicy())
    raw = path.read_bytes()
    assert avatar.sha256 == hashlib.sha256(raw).hexdigest()
    assert avatar.raw_size == len(raw)
    assert avatar.original.mode == "RGB"
    w, h = avatar.original.size
    assert avatar.image.mode == "RGB" and max(avatar.image.size) == 512
    assert avatar.image.size == (round(w * 512 / max(w, h)), round(h * 512 / max(w, h)))  # the photo's aspect
    assert avatar.crop == CropBox(0, 0, w, h)  # the depth map covers the whole displayed photo


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_avatar_over_http_equals_the_file(server: FileServer, name: str) -> None:
    raw = (SAMPLE_AVATARS / name).read_bytes()
    kind = "image/jpeg" if name.endswith(".jpg") else "image/png"
    url = server.add(f"/samples/{name}", body=raw, content_type=kind)
    policy = FetchPolicy(allow_private=True, crop_size=200)
    remote = load_avatar(url, policy)
    local = load_avatar(str(SAMPLE_AVATARS / name), policy)
    assert remote.sha256 == local.sha256 == hashlib.sha256(raw).hexdigest()
    assert max(remote.image.size) == 200 and remote.image.mode == "RGB"
    assert remote.image.tobytes() == local.image.tobytes()
    assert remote.content_type == kind and remote.source == url


def test_sha256_identifies_content_not_url(server: FileServer) -> None:
    data = encode(noise(40, 40, seed=1), "PNG")
    a = load_avatar(server.add("/same-a.png", body=data), LOCAL)
    b = load_avatar(server.add("/same-b.png", body=data), LOCAL)
    c = load_avatar(server.add("/other.png", body=encode(noise(40, 40, seed=2), "PNG")), LOCAL)
    assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest()
    assert c.sha256 != a.sha256


def test_connects_to_the_resolved_address_but_sends_the_real_host(server: FileServer) -> None:
    url = server.add("/by-name.png", body=encode(noise(8, 8), "PNG"))
    by_name = url.replace("127.0.0.1", "localhost")
    data, kind = fetch_bytes(by_name, LOCAL)
    assert data.startswith(b"\x89PNG") and kind == "application/octet-stream"
    assert server.seen[-1].host == f"localhost:{server.port}"


def test_file_url_and_plain_path_read_the_same_bytes(write) -> None:
    path = write("a.png", encode(noise(10, 10), "PNG"))
    assert fetch_bytes(Path(path).as_uri(), FetchPolicy())[0] == fetch_bytes(path, FetchPolicy())[0]


# ---- crop ------------------------------------------------------------------------------------------------


def test_portrait_square_starts_at_ten_percent_of_the_extra_height() -> None:
    assert square_crop_box(100, 300) == CropBox(0, 20, 100, 120)
    assert PORTRAIT_TOP_BIAS == 0.10


def test_landscape_square_is_centred_horizontally() -> None:
    assert square_crop_box(300, 100) == CropBox(100, 0, 200, 100)
    assert square_crop_box(301, 100) == CropBox(100, 0, 200, 100)
    assert square_crop_box(64, 64) == CropBox(0, 0, 64, 64)


def test_a_portrait_keeps_its_whole_frame_for_the_model(write) -> None:
    """Nothing above or below a square is cut: the portal crops photo and map with one transformation."""
    pixels = np.zeros((300, 100, 3), np.uint8)
    pixels[:20] = (0, 0, 255)
    pixels[20:120] = (0, 255, 0)
    pixels[120:] = (255, 0, 0)
    avatar = load_avatar(write("portrait.png", encode(Image.fromarray(pixels), "PNG")), FetchPolicy(crop_size=60))
    image = np.asarray(avatar.image)
    assert avatar.image.size == (20, 60) and avatar.crop == CropBox(0, 0, 100, 300)
    assert np.abs(image[1, 10].astype(int) - (0, 0, 255)).max() <= 2  # the band above the old square
    assert np.abs(image[58, 10].astype(int) - (255, 0, 0)).max() <= 2  # and below it


def test_small_image_is_upscaled_to_crop_size(write) -> None:
    avatar = load_avatar(write("tiny.png", encode(noise(16, 24), "PNG")), FetchPolicy(crop_size=128))
    assert avatar.image.size == (85, 128) and avatar.crop == CropBox(0, 0, 16, 24)


# ---- content failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
@pytest.mark.parametrize("pillow_tolerates_truncation", [False, True])
def test_truncated_file_is_truncated(
    write, monkeypatch: pytest.MonkeyPatch, fmt: str, pillow_tolerates_truncation: bool
) -> None:
    # Someone else in the process may switch Pillow to padding truncated images with grey: still refused.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", pillow_tolerates_truncation)
    im = noise(64, 64)
    data = encode(im.convert("P") if fmt == "GIF" else im, fmt)
    error = fails("truncated", write(f"cut.{fmt.lower()}", data[: len(data) * 6 // 10]))
    assert not error.transient and "truncated" in str(error)


def test_zero_byte_file_is_empty(write, server: FileServer) -> None:
    assert "zero bytes" in str(fails("empty", write("empty.png", b"")))
    error = fails("empty", server.add("/empty.png", body=b"", content_type="image/png"))
    assert "image/png" in str(error)


def test_html_served_as_png_is_not_an_image(server: FileServer) -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please log in</body></html>"
    error = fails("not_an_image", server.add("/login.png", body=page, content_type="image/png"))
    assert "HTML page" in str(error) and "image/png" in str(error) and not error.transient


def test_svg_is_not_an_image(server: FileServer) -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    error = fails("not_an_image", server.add("/a.svg", body=svg, content_type="image/svg+xml"))
    assert "SVG" in str(error)


@pytest.mark.parametrize(
    ("body", "said"),
    [(b'{"error": "quota exceeded"}', "JSON"), (b"Access denied\n", "plain text"), (b"%PDF-1.7\n", "PDF")],
)
def test_text_and_documents_are_not_images(server: FileServer, body: bytes, said: str) -> None:
    error = fails(
        "not_an_image", server.add(f"/doc-{said.replace(' ', '-')}.jpg", body=body, content_type="image/jpeg")
    )
    assert said in str(error)


def test_eps_is_refused_without_running_ghostscript(write) -> None:
    eps = encode(Image.new("RGB", (8, 8), "red"), "EPS")
    assert "PostScript" in str(fails("unsupported_format", write("a.eps", eps)))


def test_heic_is_an_unsupported_format_with_a_useful_name(write) -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 4
    error = fails("unsupported_format", write("a.heic", heic))
    assert "HEIC" in str(error) and "JPEG" in str(error)


def test_damaged_png_is_corrupt(write) -> None:
    data = bytearray(encode(noise(32, 32), "PNG"))
    data[29] ^= 0xFF  # inside the IHDR CRC
    fails("corrupt", write("bad-crc.png", bytes(data)))


def test_decompression_bomb_is_refused_before_decoding(write) -> None:
    # 7000x7000 one-bit pixels (49 MP, over the default 40 MP) in a few kilobytes
    bomb = encode(Image.new("1", (7000, 7000)), "PNG")
    assert len(bomb) < 100_000
    error = fails("decompression_bomb", write("bomb.png", bomb), FetchPolicy())
    assert "7000x7000" in str(error)


def test_dimensions_are_checked_from_the_header_before_any_pixel(write) -> None:
    # the pixel data is missing: decoding would report "truncated"; the header check answers first
    fails("decompression_bomb", write("header.png", png_header_only(8000, 6000)), FetchPolicy())


def test_pillows_own_bomb_error_becomes_ours(write) -> None:
    # 3.6 gigapixels: Pillow itself refuses it while reading the header
    fails("decompression_bomb", write("giga.png", png_header_only(60000, 60000)), FetchPolicy())


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pillows_pixel_limit_is_an_error_where_pillow_only_warns(write) -> None:
    # 100 MP is over Pillow's warning limit (~89 MP) even when the policy allows it
    policy = FetchPolicy(max_pixels=150_000_000)
    fails("decompression_bomb", write("warn.png", png_header_only(10000, 10000)), policy)


def test_huge_dimensions_of_a_real_photo_are_too_many_pixels(write) -> None:
    photo = encode(noise(400, 300), "JPEG", quality=90)
    error = fails("too_many_pixels", write("big.jpg", photo), FetchPolicy(max_pixels=100_000))
    assert "400x300" in str(error) and "max_pixels" in str(error)


# ---- colour, orientation, animation ----------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour(write) -> None:
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    avatar = load_avatar(write("cmyk.jpg", encode(cyan, "JPEG", quality=95)), LOCAL)
    assert avatar.extra["mode"] == "CMYK" and avatar.image.mode == "RGB"
    r, g, b = avatar.image.getpixel((10, 10))
    assert r <= 5 and g >= 250 and b >= 250


def test_sixteen_bit_grayscale_is_scaled_not_clipped(write) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (16, 1))
    avatar = load_avatar(write("gray16.png", encode(Image.fromarray(ramp), "PNG")), LOCAL)
    assert avatar.extra["mode"].startswith("I")
    row = np.asarray(avatar.original)[0, :, 0].astype(int)
    assert np.abs(row - np.rint(ramp[0] / 257.0)).max() <= 1
    assert row[128] in (127, 128)  # naive conversion clips everything above 255 to white


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_orientation_is_applied(write, orientation: int) -> None:
    stored = np.zeros((40, 60, 3), np.uint8)  # landscape as stored, left half red
    stored[:, :30] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    avatar = load_avatar(write(f"rot{orientation}.jpg", data), LOCAL)
    assert avatar.exif_rotated
    upright = np.asarray(avatar.original)
    red = upright[..., 0] > 128
    if orientation == 6:  # shown turned 90 degrees clockwise: the left edge comes to the top
        assert upright.shape[:2] == (60, 40) and red[:25].all() and not red[35:].any()
    elif orientation == 8:  # counter-clockwise: the left edge goes to the bottom
        assert upright.shape[:2] == (60, 40) and red[35:].all() and not red[:25].any()
    else:  # upside down: the left half goes right
        assert upright.shape[:2] == (40, 60) and red[:, 35:].all() and not red[:, :25].any()


def test_upright_exif_is_not_a_rotation(write) -> None:
    exif = Image.Exif()
    exif[0x0112] = 1
    data = encode(noise(20, 10), "JPEG", exif=exif.tobytes())
    assert not load_avatar(write("upright.jpg", data), LOCAL).exif_rotated


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_its_first_frame_and_counts_frames(write, fmt: str) -> None:
    frames = [Image.new("RGB", (24, 24), colour) for colour in ("red", "lime", "blue")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    avatar = load_avatar(write(f"anim.{fmt.lower()}", data), LOCAL)
    assert avatar.extra["frames"] == "3"
    r, g, b = avatar.original.getpixel((12, 12))
    assert r > 200 and g < 40 and b < 40


def _transparent(mode: str) -> Image.Image:
    """A 2x1 image: the left pixel fully transparent, the right one opaque black."""
    rgba = Image.new("RGBA", (2, 1))
    rgba.putpixel((0, 0), (255, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 255))
    if mode == "P":
        return rgba.convert("P", palette=Image.Palette.ADAPTIVE, colors=4).copy()
    return rgba.convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_composited_on_white(write, mode: str) -> None:
    avatar = load_avatar(write(f"alpha-{mode}.png", encode(_transparent(mode), "PNG")), LOCAL)
    assert avatar.original.getpixel((0, 0)) == (255, 255, 255)
    assert avatar.original.getpixel((1, 0)) == (0, 0, 0)


def test_palette_with_transparent_index_is_composited_on_white(write) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 0])
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    avatar = load_avatar(write("palette.png", encode(palette, "PNG", transparency=0)), LOCAL)
    assert avatar.original.getpixel((0, 0)) == (255, 255, 255)
    assert avatar.original.getpixel((1, 0)) == (0, 0, 0)


def test_one_bit_image_becomes_black_and_white_rgb(write) -> None:
    bits = Image.new("1", (4, 4), 0)
    bits.putpixel((0, 0), 1)
    avatar = load_avatar(write("bits.png", encode(bits, "PNG")), LOCAL)
    assert avatar.original.getpixel((0, 0)) == (255, 255, 255)
    assert avatar.original.getpixel((3, 3)) == (0, 0, 0)


def test_damaged_bytes_only_ever_raise_imaging_errors() -> None:
    """Cut and corrupt a valid JPEG and PNG in many ways: every outcome is an image or an ImagingError."""
    rng = np.random.default_rng(7)
    kinds: set[str] = set()
    for fmt in ("JPEG", "PNG"):
        data = encode(noise(48, 48), fmt)
        for _ in range(40):
            cut = int(rng.integers(1, len(data))) if rng.random() < 0.5 else len(data)
            damaged = bytearray(data[:cut])
            for at in rng.integers(0, len(damaged), 3):
                damaged[at] = int(rng.integers(0, 256))
            try:
                decode_image(bytes(damaged), LOCAL)
            except BaseImagingError as error:
                kinds.add(error.kind)
    assert {"truncated", "corrupt"} <= kinds


# ---- network failures ------------------------------------------------------------------------------------


def test_slow_drip_server_is_cut_off_at_the_total_timeout(server: FileServer) -> None:
    # one 100-byte chunk every 0.1 s never trips a per-read timeout; only the total deadline stops it
    body = encode(noise(200, 200), "PNG")
    url = server.add("/drip.png", body=body, drip=(100, 0.1))
    error = fails("timeout", url, FetchPolicy(allow_private=True, timeout_s=1.0))
    assert error.transient and "1 s" in str(error)
    assert server.sent.get("/drip.png", 0) < len(body) // 4


def test_server_that_never_answers_times_out(server: FileServer) -> None:
    url = server.add("/silent.png", body=b"x", headers_delay=30)
    assert fails("timeout", url, FetchPolicy(allow_private=True, timeout_s=0.5)).transient


def test_cancel_interrupts_a_download(server: FileServer) -> None:
    url = server.add("/drip-cancel.png", body=b"\x89PNG" + b"\x00" * 5000, drip=(10, 0.05))
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(Cancelled):
        load_avatar(url, FetchPolicy(allow_private=True, timeout_s=20), cancel=token)
    assert server.sent["/drip-cancel.png"] < 1000


def test_declared_oversized_body_is_refused_before_reading(server: FileServer) -> None:
    url = server.add("/big.png", body=b"\x89PNG" + b"\x00" * 300_000)
    error = fails("too_large", url, FetchPolicy(allow_private=True, max_bytes=100_000))
    assert "declared" in str(error) and "max_bytes" in str(error)


def test_undeclared_oversized_body_is_cut_while_streaming(server: FileServer) -> None:
    url = server.add("/endless.png", body=b"\x89PNG" + b"\x00" * 300_000, send_length=False)
    error = fails("too_large", url, FetchPolicy(allow_private=True, max_bytes=100_000))
    assert "while downloading" in str(error)


def test_content_length_larger_than_the_body_is_a_broken_connection(server: FileServer) -> None:
    body = encode(noise(32, 32), "PNG")
    url = server.add("/short.png", body=body, declared_length=len(body) + 500)
    assert fails("network", url).transient


def test_content_length_smaller_than_the_body_gives_a_truncated_image(server: FileServer) -> None:
    body = encode(noise(32, 32), "PNG")
    fails("truncated", server.add("/long.png", body=body, declared_length=len(body) // 2))


def test_oversized_local_file_is_too_large(write) -> None:
    fails("too_large", write("big.bin", b"\x00" * 2048), FetchPolicy(max_bytes=1024))


@pytest.mark.parametrize(
    ("status", "transient"), [(404, False), (410, False), (403, False), (500, True), (503, True), (429, True)]
)
def test_http_error_status_names_the_status(server: FileServer, status: int, transient: bool) -> None:
    url = server.add(f"/status-{status}", status=status, body=b"nope", content_type="text/plain")
    error = fails("http_status", url)
    assert error.status == status and error.transient is transient and str(status) in str(error)


def test_retry_after_is_passed_on(server: FileServer) -> None:
    url = server.add("/busy", status=429, headers={"Retry-After": "7"}, content_type=None)
    assert fails("http_status", url).retry_after == 7.0
    dated = server.add("/busy-dated", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert fails("http_status", dated).retry_after == 0.0


def test_refused_connection_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert fails("connect", f"http://127.0.0.1:{port}/a.png").transient


def test_unknown_host_is_a_dns_error() -> None:
    error = fails("dns", "http://no-such-host.invalid/a.png")
    assert "no-such-host.invalid" in str(error) and not error.transient


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FileServer, Path]]:
    """An HTTPS file server with a self-signed certificate for "localhost"."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = FileServer(tls=context)
    with server.serving():
        server.add("/a.png", body=encode(noise(8, 8), "PNG"))
        yield server, cert


def test_untrusted_certificate_is_a_tls_error(tls_server: tuple[FileServer, Path]) -> None:
    server, _ = tls_server
    error = fails("tls", server.url("/a.png", host="localhost"))
    assert not error.transient and "certificate" in str(error)


def test_tls_verifies_the_host_name_while_connecting_to_the_checked_address(
    tls_server: tuple[FileServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection goes to the resolved 127.0.0.1, yet the certificate is checked against "localhost"."""
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx's documented way to trust another CA bundle
    netguard._ssl_context.cache_clear()
    try:
        assert load_avatar(server.url("/a.png", host="localhost"), LOCAL).image.mode == "RGB"
        # the certificate names localhost only: the bare address must not verify
        fails("tls", server.url("/a.png"))
    finally:
        netguard._ssl_context.cache_clear()


# ---- redirects -------------------------------------------------------------------------------------------


def test_redirects_within_the_limit_are_followed(server: FileServer) -> None:
    final = server.add("/hop-final.png", body=encode(noise(8, 8), "PNG"), content_type="image/png")
    server.redirect("/hop-2", "/hop-final.png", status=307)
    server.redirect("/hop-1", server.url("/hop-2"), status=301)
    first = server.redirect("/hop-0", "hop-1")  # relative
    avatar = load_avatar(first, FetchPolicy(allow_private=True, max_redirects=3))
    assert avatar.content_type == "image/png" and avatar.source == first
    assert server.requests_for("/hop-final.png") == 1
    del final


def test_too_many_redirects(server: FileServer) -> None:
    for i in range(5):
        server.redirect(f"/chain-{i}", f"/chain-{i + 1}")
    error = fails("too_many_redirects", server.url("/chain-0"), FetchPolicy(allow_private=True, max_redirects=2))
    assert server.requests_for("/chain-3") == 0 and "more than 2" in str(error)


def test_redirect_loop_ends(server: FileServer) -> None:
    server.redirect("/loop-a", "/loop-b")
    server.redirect("/loop-b", "/loop-a")
    fails("too_many_redirects", server.url("/loop-a"))


def test_redirect_to_a_private_address_is_refused(server: FileServer) -> None:
    """Only the first server is exempt from the SSRF guard; the redirect target is checked again."""
    with FileServer().serving() as internal:
        internal.add("/secret.png", body=encode(noise(8, 8), "PNG"))
        policy = FetchPolicy(private_hosts=(f"127.0.0.1:{server.port}",))
        direct = server.add("/exempt.png", body=encode(noise(8, 8), "PNG"))
        assert load_avatar(direct, policy).image.mode == "RGB"
        for target in (internal.url("/secret.png"), internal.url("/secret.png", host="localhost")):
            start = server.redirect("/to-internal", target)
            error = fails("private_address", start, policy)
            assert "loopback" in str(error)
        assert internal.requests_for("/secret.png") == 0


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/"])
def test_redirect_to_another_scheme_is_refused(server: FileServer, target: str) -> None:
    error = fails("unsupported_scheme", server.redirect("/to-scheme", target))
    assert "redirects" in str(error)


def test_redirect_without_location_is_an_http_error(server: FileServer) -> None:
    fails("http_status", server.add("/nowhere", status=302, content_type=None))


# ---- SSRF guard (default policy: nothing here may reach a server) ----------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.0.0.7",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "[fe80::1]",
        "[fc00::1]",
        "[2002:7f00:1::]",  # 6to4 wrapping 127.0.0.1
        "[64:ff9b::a00:1]",  # NAT64 wrapping 10.0.0.1
    ],
)
def test_private_address_url_is_refused(server: FileServer, host: str) -> None:
    server.add("/private.png", body=encode(noise(8, 8), "PNG"))
    error = fails("private_address", f"http://{host}:{server.port}/private.png", FetchPolicy())
    assert not error.transient and "private_hosts" in str(error)
    assert server.requests_for("/private.png") == 0


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450::1"])
def test_public_addresses_pass_the_guard(address: str) -> None:
    assert forbidden_reason(address) is None


# ---- sources ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "data:image/png;base64,AAAA", "javascript:x"])
def test_unsupported_scheme(url: str) -> None:
    fails("unsupported_scheme", url)


def test_http_refused_when_only_https_is_allowed(server: FileServer) -> None:
    url = server.add("/plain.png", body=encode(noise(8, 8), "PNG"))
    fails("unsupported_scheme", url, FetchPolicy(allow_private=True, allowed_schemes=("https",)))


@pytest.mark.parametrize("url", ["http://", "http://exa mple.com/a.png", "http://host:99999/a.png"])
def test_invalid_url(url: str) -> None:
    fails("invalid_url", url)


def test_missing_local_file_is_not_found(tmp_path: Path) -> None:
    assert "does not exist" in str(fails("not_found", str(tmp_path / "gone.png")))
    fails("not_found", (tmp_path / "gone.png").as_uri())
    assert "not a regular file" in str(fails("not_found", str(tmp_path)))


def test_local_paths_can_be_refused(write) -> None:
    path = write("a.png", encode(noise(8, 8), "PNG"))
    policy = FetchPolicy(allow_local_paths=False)
    fails("local_path_refused", path, policy)
    fails("local_path_refused", Path(path).as_uri(), policy)


# ---- messages --------------------------------------------------------------------------------------------


def test_messages_never_show_credentials_or_query_secrets(server: FileServer) -> None:
    url = f"http://alice:hunter2@127.0.0.1:{server.port}/missing.png?token=SECRET123&sig=abc"
    message = str(fails("http_status", url))
    assert "hunter2" not in message and "alice" not in message and "SECRET123" not in message
    assert f"http://127.0.0.1:{server.port}/missing.png?…" in message


def test_display_source_strips_userinfo_query_and_fragment() -> None:
    assert display_source("https://u:p@cdn.example.com:8443/a/b.png?x=1#f") == "https://cdn.example.com:8443/a/b.png?…"
    assert display_source("https://[::1]/a.png") == "https://[::1]/a.png"
    assert display_source("/srv/avatars/a.png") == "/srv/avatars/a.png"
