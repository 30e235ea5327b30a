"""Download an image from a URL someone else gave us, without letting them use us to
reach what they cannot (SSRF): http(s) only; every address a host name resolves to must
be public unless settings allow private ones; the connection goes to the address that
was checked (a second DNS answer cannot swap it); redirects are followed by hand, each
hop checked again; size and time are bounded."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from likeness.config import Settings
from likeness.errors import FetchFailed, InvalidInput, PayloadTooLarge

CHUNK = 64 * 1024
USER_AGENT = "Likeness image fetcher"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 15.0
    max_redirects: int = 3
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(settings.max_upload_bytes, settings.fetch_timeout_s,
                   settings.fetch_max_redirects, settings.fetch_allow_private)


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query string
    address: str  # the checked IP address to connect to


def check_url(url: str, policy: FetchPolicy) -> Target:
    """The URL's parts and the address to connect to, or InvalidInput saying why the URL
    is refused."""
    if len(url) > 4096:
        raise InvalidInput("image_url is longer than 4096 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"image_url is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"image_url must be http or https, not {parts.scheme or 'empty'!r}")
    if not parts.hostname:
        raise InvalidInput("image_url has no host")
    if parts.username or parts.password:
        raise InvalidInput("image_url must not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"image_url host {parts.hostname!r} does not resolve: {exc}") from None
    # An IPv4/IPv6 sockaddr's first item is always the address string.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not policy.allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if not ip.is_global or ip.is_multicast:
                raise InvalidInput(f"image_url host {parts.hostname!r} resolves to {ip}, a "
                                   "private, loopback or link-local address: refused")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate checked against the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        context = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def fetch(url: str, policy: FetchPolicy) -> bytes:
    """The body of `url`. InvalidInput: refused URL; PayloadTooLarge: over the limit;
    FetchFailed (transient or not): the server or the network failed us."""
    deadline = time.monotonic() + policy.timeout_s
    for _ in range(policy.max_redirects + 1):
        target = check_url(url, policy)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
        connection = kind(target, timeout=remaining)
        try:
            connection.request("GET", target.path, headers={
                "User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"})
            response = connection.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise FetchFailed(f"{url} redirected without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchFailed(f"{url} answered HTTP {response.status}",
                                  transient=response.status >= 500 or response.status == 429)
            return _read_body(response, url, policy.max_bytes, deadline)
        except TimeoutError:
            raise FetchFailed(f"{url} did not answer within {policy.timeout_s:g} s",
                              transient=True) from None
        except ssl.SSLError as exc:
            raise FetchFailed(f"TLS with {target.host} failed: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchFailed(f"could not download {url}: {exc}", transient=True) from None
        finally:
            connection.close()
    else:
        raise FetchFailed(f"more than {policy.max_redirects} redirects from the image_url")
    raise FetchFailed(f"{url} did not answer within {policy.timeout_s:g} s", transient=True)


def _read_body(response: http.client.HTTPResponse, url: str, max_bytes: int,
               deadline: float) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"{url} is {int(declared):,} bytes; the limit is {max_bytes:,}")
    body = bytearray()
    while chunk := response.read1(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"{url} is larger than the {max_bytes:,}-byte limit")
        if time.monotonic() > deadline:
            raise TimeoutError
    if not body:
        raise FetchFailed(f"{url} returned an empty body")
    return bytes(body)
