"""Safe fetching of a vetted source by URL: timeouts, a size limit, type checks, checked redirects.

Private, loopback, link-local, multicast and reserved addresses (cloud metadata among them) are
refused, for the first URL and for every redirect; loopback only when a test setting allows it.

Each hop's host is resolved exactly once, every address it resolves to is checked, and the
connection goes to a checked address (the URL's host kept for the Host header and, over https,
for SNI and the certificate check), so a DNS server that answers differently the second time
(DNS rebinding) cannot send the request elsewhere. Compressed bodies (gzip, deflate) are inflated
here, a piece at a time, so the size limit holds for the decoded bytes and a decompression bomb
is refused after at most `max_bytes` of output.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ingest.loaders import CONTENT_TYPES, IngestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Called like socket.getaddrinfo(host, None, type=socket.SOCK_STREAM) and answering like it:
# (family, type, proto, canonname, sockaddr) tuples, the address first in sockaddr.
Resolver = Callable[..., Sequence[tuple[Any, ...]]]
# The codings this fetcher inflates itself, with a bounded output; nothing else is accepted.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class FetchPolicy:
    timeout_s: float = 20.0
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    allow_loopback: bool = False
    # How a host name is resolved, once per hop; tests inject a fake DNS server here.
    resolver: Resolver = socket.getaddrinfo
    # Certificate checking for https; None: the default trust store (certifi). Tests pass their CA.
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Fetched:
    url: str
    content: bytes
    suffix: str


def _lookup(host: str, policy: FetchPolicy) -> list[IPAddress]:
    """The addresses the resolver answers for `host`, in its order, each once."""
    try:
        infos = policy.resolver(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise IngestError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    except (OSError, UnicodeError) as exc:
        raise IngestError(f"cannot resolve host {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(info[4][0])
        except (ValueError, IndexError, TypeError) as exc:
            raise IngestError(f"cannot resolve host {host!r}: bad answer {info!r}") from exc
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise IngestError(f"cannot resolve host {host!r}: no address")
    return addresses


def _resolve(host: str, policy: FetchPolicy) -> list[IPAddress]:
    """Every address of `host` (an IP literal is its own), resolved once; all of them checked."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = _lookup(host, policy)
    for address in addresses:
        if address.is_loopback and policy.allow_loopback:
            continue
        # Only globally routable addresses: this also refuses shared address space (100.64/10,
        # where some clouds keep their metadata service), documentation and benchmark ranges.
        # One non-public answer refuses the host, whichever address would have been used.
        if not address.is_global or address.is_multicast:
            raise IngestError(f"refused: {host} resolves to a non-public address ({address})")
    return addresses


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise IngestError(f"refused: malformed URL {str(url)!r}: {exc}") from exc


def check_url(url: str | httpx.URL, policy: FetchPolicy) -> list[IPAddress]:
    """The checked addresses to connect to for `url`; IngestError if the URL must not be fetched."""
    parsed = _parse(url)
    if parsed.scheme not in {"http", "https"}:
        raise IngestError(
            f"refused: only http and https URLs are fetched, not {parsed.scheme or '(none)'!r}"
        )
    if not parsed.host:
        raise IngestError(f"refused: no host in URL {str(url)!r}")
    if parsed.userinfo:
        raise IngestError("refused: URLs with credentials are not fetched")
    return _resolve(parsed.raw_host.decode("ascii"), policy)


class _BodyTooLarge(Exception):
    pass


class _Inflater:
    """Decodes a body as it streams in (identity, gzip or deflate), never past `limit` bytes."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.body = bytearray()
        self.raw_bytes = 0
        self.first = True
        self.decompressor: Any = None
        if coding == "gzip":
            self.decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif coding == "deflate":
            self.decompressor = zlib.decompressobj(zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        # The raw bytes count too: a compressed stream can also be endless and inflate to nothing.
        self.raw_bytes += len(data)
        if self.raw_bytes > self.limit:
            raise _BodyTooLarge
        if self.decompressor is None:
            self.body += data
        else:
            start, first, self.first = len(self.body), self.first, False
            try:
                self._inflate(data)
            except zlib.error:
                if not (first and self.coding == "deflate"):
                    raise
                # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
                del self.body[start:]
                self.decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                self._inflate(data)
        if len(self.body) > self.limit:
            raise _BodyTooLarge

    def _inflate(self, data: bytes) -> None:
        while data:
            # At most one byte past the limit per call (max_length is >= 1 here: 0 means no
            # limit); input not yet inflated stays in unconsumed_tail for the next round.
            self.body += self.decompressor.decompress(data, self.limit + 1 - len(self.body))
            if len(self.body) > self.limit:
                raise _BodyTooLarge
            data = self.decompressor.unconsumed_tail


def _read_body(url: str, response: httpx.Response, policy: FetchPolicy) -> bytes:
    codings = [
        coding
        for coding in (
            value.strip().lower()
            for value in response.headers.get_list("content-encoding", split_commas=True)
        )
        if coding and coding != "identity"
    ]
    if len(codings) > 1 or (codings and codings[0] not in {"gzip", "x-gzip", "deflate"}):
        raise IngestError(f"{url}: unsupported content encoding {', '.join(codings)!r}")
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0]) if codings else "identity"
    inflater = _Inflater(coding, policy.max_bytes)
    try:
        # iter_raw: the bytes as sent. (iter_bytes would inflate each network read whole before
        # the size could be checked: a 64 KB read of a gzip bomb is 64 MB decoded.)
        for piece in response.iter_raw():
            inflater.feed(piece)
    except _BodyTooLarge:
        raise IngestError(f"{url}: body larger than the {policy.max_bytes}-byte limit") from None
    except zlib.error as exc:
        raise IngestError(f"{url}: cannot decode the {coding} body: {exc}") from exc
    return bytes(inflater.body)


def _read(url: str, response: httpx.Response, policy: FetchPolicy) -> Fetched | httpx.URL:
    """The fetched document, or the URL a redirect points to."""
    if response.is_redirect:
        location = response.headers.get("location")
        if not location:
            raise IngestError(f"{url}: redirect without a location")
        try:
            return _parse(url).join(location)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise IngestError(f"{url}: bad redirect location {location!r}: {exc}") from exc
    if response.status_code != 200:
        raise IngestError(f"{url}: the server answered HTTP {response.status_code}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = CONTENT_TYPES.get(content_type)
    if suffix is None:
        raise IngestError(f"{url}: unsupported content type {content_type or '(none)'!r}")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise IngestError(f"{url}: body larger than the {policy.max_bytes}-byte limit")
    return Fetched(url=url, content=_read_body(url, response, policy), suffix=suffix)


def _fetch_hop(
    label: str,
    url: httpx.URL,
    addresses: list[IPAddress],
    policy: FetchPolicy,
    verify: ssl.SSLContext,
) -> Fetched | httpx.URL:
    """One request to `url` (`label`: the URL as given), to the first checked address that answers."""
    host = url.raw_host.decode("ascii")
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Accept": ", ".join(CONTENT_TYPES),
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    # httpcore's "sni_hostname" extension: the name for TLS SNI and the certificate check
    # (httpcore/_sync/connection.py), while the socket connects to the IP literal.
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: str | None = None
    for address in addresses:
        # A new client per hop and address: no connection (nor its TLS session, checked for
        # another host) is reused for a different host that resolves to the same address.
        with httpx.Client(
            timeout=policy.timeout_s, follow_redirects=False, trust_env=False, verify=verify
        ) as client:
            try:
                with client.stream(
                    "GET",
                    url.copy_with(host=str(address)),
                    headers=headers,
                    extensions=extensions,
                ) as response:
                    return _read(label, response, policy)
            except httpx.ConnectError as exc:
                # Try the next checked address, as a resolving client would (e.g. no IPv6 route).
                failure = f"{label}: ConnectError: {exc} (connecting to {host} at {address})"
            except httpx.TimeoutException as exc:
                raise IngestError(f"{label}: timed out after {policy.timeout_s:g} s") from exc
            except httpx.HTTPError as exc:
                raise IngestError(f"{label}: {type(exc).__name__}: {exc}") from exc
    raise IngestError(failure or f"{label}: no address to connect to")


def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """Fetches a URL under the policy; raises IngestError with the reason on any refusal."""
    verify = policy.ssl_context or httpx.create_ssl_context()
    label, current = url, _parse(url)  # the URL as given, for messages and Fetched.url
    for _ in range(policy.max_redirects + 1):
        addresses = check_url(current, policy)
        outcome = _fetch_hop(label, current, addresses, policy, verify)
        if isinstance(outcome, Fetched):
            return outcome
        label, current = str(outcome), outcome
    raise IngestError(f"{url}: more than {policy.max_redirects} redirects")
