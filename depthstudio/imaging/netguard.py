"""The network layer under httpx that enforces the fetch policy on every connection and every read.

Avatar URLs are user-controlled, so a URL (or any redirect it leads to) must not reach the machine's own
services or the cloud metadata endpoint. Checking the URL's host and then letting the HTTP client resolve it
again leaves a window for DNS rebinding (a name that answers a public address to the check and 127.0.0.1 to
the connect). Here the check and the connect are one step: httpcore hands ``connect_tcp`` the host name, this
backend resolves it once, checks every address and connects to a checked address. TLS still uses the host name
(httpcore passes it to ``start_tls`` as the server name), so certificates are verified against the name, not
the address.

The same backend bounds time: every read and write is limited to what is left of the download's total
deadline, so a server that drips one byte a second cannot hold a worker past ``timeout_s``; waits are sliced
so that a cancel is noticed within a fraction of a second (a TCP connect in progress is the exception: it ends
at the deadline at the latest).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpcore
import httpx

from depthstudio.cancel import CancelToken
from depthstudio.imaging.image_errors import (
    ConnectError,
    DnsError,
    FetchTimeoutError,
    NetworkError,
    PrivateAddressError,
    TlsError,
)
from depthstudio.imaging.types import FetchPolicy

_CANCEL_POLL_S = 0.25
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def forbidden_reason(address: str) -> str | None:
    """Why a connection to ``address`` is refused under the default policy, or None when it is a public
    address.

    IPv4 addresses embedded in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, the NAT64 prefix) are checked as the
    IPv4 address they reach.
    """
    ip = ipaddress.ip_address(address)
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        if ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for candidate in candidates:
        reason = _reason(candidate)
        if reason is not None:
            return reason
    return None


def _reason(ip: IPAddress) -> str | None:
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        # e.g. 100.64.0.0/10 (carrier-grade NAT): not private by RFC 1918, yet not on the internet either
        (not ip.is_global, "an address that is not publicly routable"),
    )
    return next((why for hit, why in checks if hit), None)


def host_is_exempt(policy: FetchPolicy, host: str, port: int) -> bool:
    """True when ``policy.private_hosts`` names this host (or host:port)."""
    host = host.lower().strip("[]")
    bracketed = f"[{host}]" if ":" in host else host
    names = {host, bracketed, f"{bracketed}:{port}"}
    return any(entry.lower() in names for entry in policy.private_hosts)


class Deadline:
    """The total time budget of one download plus its cancel token, shared by every hop and every read."""

    def __init__(self, timeout_s: float, cancel: CancelToken | None) -> None:
        self.timeout_s = timeout_s
        self.cancel = cancel
        self._end = time.monotonic() + timeout_s
        self.shown = ""  # the URL being fetched, as it may appear in messages

    def remaining(self) -> float:
        """Seconds left; raises the timeout error (or Cancelled) when there are none."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        left = self._end - time.monotonic()
        if left <= 0:
            raise FetchTimeoutError(
                f"Downloading the avatar at {self.shown} took longer than {self.timeout_s:g} s and was "
                "abandoned. The server is slow or overloaded; the job retries later (raise fetch.timeout_s "
                "if it always happens)."
            )
        return left

    def step(self) -> float:
        """How long the next blocking wait may last: short enough to notice a cancel."""
        left = self.remaining()
        return min(left, _CANCEL_POLL_S) if self.cancel is not None else left


def resolve(host: str, port: int, deadline: Deadline) -> list[str]:
    """The host's addresses, in the resolver's order.

    The blocking resolver runs in a daemon thread so that a hanging name server cannot hold the download past
    its deadline (the thread itself ends when the resolver gives up).
    """
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name=f"dns-{host}", daemon=True).start()
    while not done.wait(deadline.step()):
        pass
    error = outcome.get("error")
    if error is not None:
        again = isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN
        raise DnsError(
            f"The host name {host!r} of the avatar at {deadline.shown} could not be resolved ({error}). "
            + (
                "The name server did not answer; the job retries later."
                if again
                else "Check the URL for typos; the host may no longer exist."
            ),
            transient=again,
        ) from None
    addresses: list[str] = []
    for info in outcome["infos"]:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait is bounded by the download's deadline and interrupted by a cancel."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # ``timeout`` (httpx's per-read limit) is superseded by the total deadline.
        while True:
            try:
                return self._inner.read(max_bytes, self._deadline.step())
            except httpcore.ReadTimeout:
                continue  # a slice ran out: ``step`` decides between waiting on, timing out and cancelling

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._inner.write(buffer, self._deadline.remaining())
        except httpcore.WriteTimeout:
            self._deadline.remaining()
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        try:
            tls = self._inner.start_tls(ssl_context, server_hostname, self._deadline.remaining())
        except httpcore.ConnectTimeout:
            self._deadline.remaining()
            raise
        except httpcore.ConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError):
                raise TlsError(
                    f"The secure connection to {server_hostname} for the avatar at {self._deadline.shown} "
                    f"failed ({exc.__cause__.__class__.__name__}: "
                    f"{getattr(exc.__cause__, 'reason', None) or exc}). The server's certificate is not "
                    "trusted or does not match its name; ask the portal's operators to fix the "
                    "certificate."
                ) from exc
            raise
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects in one step (see the module docstring)."""

    def __init__(self, policy: FetchPolicy, deadline: Deadline) -> None:
        self._policy = policy
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port, self._deadline)
        if not self._policy.allow_private and not host_is_exempt(self._policy, host, port):
            for address in addresses:
                reason = forbidden_reason(address)
                if reason is not None:
                    raise PrivateAddressError(
                        f"The avatar at {self._deadline.shown} was refused: its host {host} is {reason} "
                        f"({address}). Avatar URLs are user-controlled, so depthstudio only fetches from "
                        "public addresses. If the portal serves images from an internal host on purpose, "
                        "add it to the fetch policy's private_hosts (or turn on fetch.allow_private on a "
                        "trusted network)."
                    )
        failures: list[str] = []
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=self._deadline.remaining(),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectTimeout:
                self._deadline.remaining()
                failures.append(f"{address}: timed out")
            except httpcore.ConnectError as exc:
                failures.append(f"{address}: {exc}")
            else:
                return _DeadlineStream(stream, self._deadline)
        raise ConnectError(
            f"Could not connect to {host}:{port} for the avatar at {self._deadline.shown} "
            f"({'; '.join(failures)}). The server may be down; the job retries later."
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise ConnectError(f"Avatars are never fetched over Unix sockets ({self._deadline.shown}).", transient=False)

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._deadline.remaining()))


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified context for every download (building one loads the CA bundle; sharing is safe)."""
    return httpx.create_ssl_context()


class GuardedTransport(httpx.BaseTransport):
    """httpx's request/response objects over an httpcore pool that uses ``GuardedBackend``.

    httpx.HTTPTransport does not accept a network backend, hence this small equivalent of it; httpcore errors
    that the backend did not already turn into ours become ``NetworkError``.
    """

    def __init__(self, policy: FetchPolicy, deadline: Deadline) -> None:
        self._deadline = deadline
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(), network_backend=GuardedBackend(policy, deadline), retries=0
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with self._mapped():
            response = self._pool.handle_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response, self),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()

    def _mapped(self) -> AbstractContextManager[None]:
        return _network_errors(self._deadline)


@contextmanager
def _network_errors(deadline: Deadline) -> Iterator[None]:
    """Turns the httpcore errors left over (resets, protocol violations, a timeout) into ours."""
    try:
        yield
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as exc:
        if isinstance(exc, httpcore.TimeoutException):
            deadline.remaining()  # raises the timeout error when the deadline is what ran out
        raise NetworkError(
            f"The connection broke while downloading the avatar at {deadline.shown} "
            f"({str(exc) or type(exc).__name__}). The server or the network dropped it; the job retries "
            "later."
        ) from exc


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response, transport: GuardedTransport) -> None:
        self._response = response
        self._transport = transport

    def __iter__(self) -> Iterator[bytes]:
        with self._transport._mapped():
            yield from self._response.iter_stream()

    def close(self) -> None:
        self._response.close()
