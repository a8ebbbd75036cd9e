"""Safe fetching of a vetted source by URL: timeouts, a size limit, type checks, checked redirects.

Private, loopback, link-local, multicast and reserved addresses (cloud metadata among them) are
refused, for the first URL and for every redirect; loopback only when a test setting allows it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.loaders import CONTENT_TYPES, IngestError


@dataclass(frozen=True)
class FetchPolicy:
    timeout_s: float = 20.0
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    allow_loopback: bool = False


@dataclass(frozen=True)
class Fetched:
    url: str
    content: bytes
    suffix: str


def _check_address(host: str, policy: FetchPolicy) -> None:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise IngestError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback and policy.allow_loopback:
            continue
        # Only globally routable addresses: this also refuses shared address space (100.64/10,
        # where some clouds keep their metadata service), documentation and benchmark ranges.
        if not address.is_global or address.is_multicast:
            raise IngestError(f"refused: {host} resolves to a non-public address ({address})")


def check_url(url: str, policy: FetchPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise IngestError(
            f"refused: only http and https URLs are fetched, not {parts.scheme or '(none)'!r}"
        )
    if not parts.hostname:
        raise IngestError(f"refused: no host in URL {url!r}")
    if parts.username or parts.password:
        raise IngestError("refused: URLs with credentials are not fetched")
    _check_address(parts.hostname, policy)


def fetch(url: str, policy: FetchPolicy) -> Fetched:
    """Fetches a URL under the policy; raises IngestError with the reason on any refusal."""
    current = url
    with httpx.Client(timeout=policy.timeout_s, follow_redirects=False, trust_env=False) as client:
        for _ in range(policy.max_redirects + 1):
            check_url(current, policy)
            try:
                with client.stream(
                    "GET", current, headers={"Accept": ", ".join(CONTENT_TYPES)}
                ) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise IngestError(f"{current}: redirect without a location")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise IngestError(
                            f"{current}: the server answered HTTP {response.status_code}"
                        )
                    content_type = (
                        response.headers.get("content-type", "").split(";")[0].strip().lower()
                    )
                    suffix = CONTENT_TYPES.get(content_type)
                    if suffix is None:
                        raise IngestError(
                            f"{current}: unsupported content type {content_type or '(none)'!r}"
                        )
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise IngestError(
                            f"{current}: body larger than the {policy.max_bytes}-byte limit"
                        )
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body.extend(piece)
                        if len(body) > policy.max_bytes:
                            raise IngestError(
                                f"{current}: body larger than the {policy.max_bytes}-byte limit"
                            )
                    return Fetched(url=current, content=bytes(body), suffix=suffix)
            except httpx.TimeoutException as exc:
                raise IngestError(f"{current}: timed out after {policy.timeout_s:g} s") from exc
            except httpx.HTTPError as exc:
                raise IngestError(f"{current}: {type(exc).__name__}: {exc}") from exc
    raise IngestError(f"{url}: more than {policy.max_redirects} redirects")
