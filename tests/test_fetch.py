"""Fetching sources by URL against a real HTTP server on loopback: what is fetched and ingested,
and what is refused (addresses, schemes, size, type, redirects, errors), index untouched; DNS
rebinding (an injected resolver plays the hostile DNS server) and decompression bombs."""

from __future__ import annotations

import dataclasses
import functools
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from ingest import loaders
from ingest.fetch import FetchPolicy, fetch
from ingest.loaders import IngestError, load_bytes
from ingest.pipeline import source_id_for

from .conftest import _guarded_connect, fake_settings

PAGE = (
    b"<!doctype html><html><head><title>Dengue fact sheet</title>"
    b"<script>var tracker = 'never index this';</script></head><body>"
    b"<nav>Home | Newsroom</nav><h1>Dengue</h1>"
    b"<p>Dengue is spread by the bites of infected Aedes mosquitoes. There is no specific "
    b"treatment; early detection and access to proper medical care lower fatality rates.</p>"
    b"<p>Papaya leaf juice has not been shown to cure dengue.</p></body></html>"
)
NOTES = b"Hand washing with soap removes germs."
SMALL_LIMIT = 1_000
BIG = b"x" * (SMALL_LIMIT * 5)
PUBLIC = "93.184.215.14"  # globally routable; the loopback guard stops any real connection to it
MB = 1 << 20


def _steady_deflate(fill: bytes, wbits: int) -> tuple[bytes, bytes]:
    """(head, block) of a deflate stream of `fill` repeated: head inflates to 1 MB, and so does
    each further copy of block (after a sync flush the window is all `fill`: blocks repeat)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = compressor.compress(fill * MB) + compressor.flush(zlib.Z_SYNC_FLUSH)
    block = compressor.compress(fill * MB) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return head, block


@functools.cache
def compressed_bomb(coding: str, decoded: int = 100 * MB) -> bytes:
    """`decoded` zero bytes, gzip- or zlib-compressed (100 MB -> about 100 KB), complete and valid."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == "gzip" else 15)
    zeros = bytes(MB)
    return b"".join(compressor.compress(zeros) for _ in range(decoded // MB)) + compressor.flush()


ENDLESS_HEAD, ENDLESS_BLOCK = _steady_deflate(b"\0", 31)
ENDLESS_CAP = 256 * MB  # compressed bytes the endless stream would send: some 256 TB decoded
ENDLESS_SENT: list[int] = []  # how much of it the server could write before the client hung up


def pdf_with_stream(stream: bytes, filters: bytes = b"", pages: int = 1) -> bytes:
    """A minimal valid PDF whose pages all share one content stream (Helvetica), offsets computed."""
    kids = " ".join(f"{5 + n} 0 R" for n in range(pages)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(pages).encode() + b" >>",
        b"<< /Length "
        + str(len(stream)).encode()
        + filters
        + b" >>\nstream\n"
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ] + [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
        b"/Resources << /Font << /F1 4 0 R >> >> >>"
    ] * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


@functools.cache
def pdf_bomb(decoded: int = 1024 * MB) -> bytes:
    """A PDF of about 3 KB whose one content stream inflates to `decoded` bytes of spaces: a
    FlateDecode stream compressed twice, so the outer layer is tiny."""
    head, block = _steady_deflate(b" ", 15)
    inner = head + block * (decoded // MB - 1)
    return pdf_with_stream(zlib.compress(inner, 9), b" /Filter [/FlateDecode /FlateDecode]")


class Handler(BaseHTTPRequestHandler):
    hits: list[str]  # set on the class by the fixture

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str], length: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", {"Location": location})

    def _endless_gzip(self) -> None:
        """An endless gzip stream of zeros (no length): the client has to stop reading."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        sent = 0
        piece = ENDLESS_BLOCK * 64  # 66 KB on the wire, 64 MB decoded
        try:
            self.wfile.write(ENDLESS_HEAD)
            sent = len(ENDLESS_HEAD)
            while sent < ENDLESS_CAP:
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:  # the client hung up
            pass
        finally:
            ENDLESS_SENT.append(sent)

    def do_GET(self) -> None:
        self.hits.append(self.path)
        path = self.path
        if path == "/echo":  # what the request looked like to the server
            echo = f"host={self.headers['Host']};accept-encoding={self.headers['Accept-Encoding']}"
            self._send(200, echo.encode(), {"Content-Type": "text/plain"})
        elif path.startswith("/to-host/"):  # a redirect to another host name, same port
            name = path.rsplit("/", 1)[1]
            self._redirect(f"http://{name}:{self.server.server_address[1]}/page.html")
        elif path == "/gzip-page":
            gzip = zlib.compressobj(9, zlib.DEFLATED, 31)
            body = gzip.compress(PAGE) + gzip.flush()
            self._send(200, body, {"Content-Type": "text/html", "Content-Encoding": "gzip"})
        elif path == "/deflate-page":  # as the RFC says: zlib-wrapped
            body = zlib.compress(PAGE)
            self._send(200, body, {"Content-Type": "text/html", "Content-Encoding": "deflate"})
        elif path == "/raw-deflate-page":  # as some servers send it
            raw = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = raw.compress(PAGE) + raw.flush()
            self._send(200, body, {"Content-Type": "text/html", "Content-Encoding": "deflate"})
        elif path in {"/gzip-bomb", "/deflate-bomb"}:
            coding = path[1:].split("-")[0]
            body = compressed_bomb(coding)
            self._send(200, body, {"Content-Type": "text/plain", "Content-Encoding": coding})
        elif path == "/gzip-endless":
            self._endless_gzip()
        elif path == "/br-page":
            self._send(200, PAGE, {"Content-Type": "text/html", "Content-Encoding": "br"})
        elif path == "/gzip-gzip-page":
            self._send(200, PAGE, {"Content-Type": "text/html", "Content-Encoding": "gzip, gzip"})
        elif path == "/pdf-bomb":
            self._send(200, pdf_bomb(), {"Content-Type": "application/pdf"})
        elif path == "/page.html":
            self._send(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/notes.txt":
            self._send(200, NOTES, {"Content-Type": "text/plain"})
        elif path == "/archive.zip":
            self._send(200, b"PK\x03\x04" + b"\x00" * 50, {"Content-Type": "application/zip"})
        elif path == "/no-type":
            self._send(200, PAGE, {})
        elif path == "/big":
            self._send(200, BIG, {"Content-Type": "text/plain"})
        elif path == "/big-stream":  # no Content-Length: the limit must hold while streaming
            self._send(200, BIG, {"Content-Type": "text/plain"}, length=False)
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}" if left > 1 else "/page.html")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/to-private":
            self._redirect("http://10.0.0.1/")
        elif path == "/to-ftp":
            self._redirect("ftp://files.example.org/leaflet.pdf")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, PAGE, {"Content-Type": "text/html"})
        else:
            self._send(404, b"not found", {"Content-Type": "text/plain"})


class IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(
    host: str,
    hits: list[str],
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer,
    wrap: Callable[[socket.socket], socket.socket] | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("RecordingHandler", (Handler,), {"hits": hits})
    httpd = server_class((host, 0), handler)
    httpd.daemon_threads = True
    if wrap is not None:
        httpd.socket = wrap(httpd.socket)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


def stop(httpd: ThreadingHTTPServer, thread: threading.Thread) -> None:
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    httpd, thread = serve("127.0.0.1", hits)
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        stop(httpd, thread)


@pytest.fixture
def base(server: tuple[str, list[str]]) -> str:
    server[1].clear()
    return server[0]


@pytest.fixture
def hits(server: tuple[str, list[str]], base: str) -> list[str]:
    return server[1]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every address a socket tries to connect to (the loopback guard still applies)."""
    seen: list[object] = []

    def recording_connect(self: Any, address: object) -> None:
        seen.append(address)
        _guarded_connect(self, address)

    monkeypatch.setattr("socket.socket.connect", recording_connect)
    return seen


@pytest.fixture
def port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


LOOPBACK = FetchPolicy(allow_loopback=True, max_bytes=SMALL_LIMIT, max_redirects=3, timeout_s=5)


class FakeDNS:
    """A resolver with socket.getaddrinfo's signature and answers, for FetchPolicy.resolver: each
    name has a list of answers, one used per lookup (the last one repeats), so it can answer
    differently the second time, as a rebinding DNS server does. Records the names looked up."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = {name: list(sequence) for name, sequence in answers.items()}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: object, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        sequence = self.answers[host]
        answer = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, port or 0),
            )
            for address in answer
        ]


def with_dns(policy: FetchPolicy, dns: FakeDNS) -> FetchPolicy:
    return dataclasses.replace(policy, resolver=dns)


def peak_memory(call: Callable[[], object]) -> tuple[int, BaseException | None]:
    """The peak of memory allocated while `call` runs (tracemalloc), and what it raised."""
    tracemalloc.start()
    try:
        call()
    except Exception as exc:
        return tracemalloc.get_traced_memory()[1], exc
    else:
        return tracemalloc.get_traced_memory()[1], None
    finally:
        tracemalloc.stop()


def loopback_services(tmp_path: Path, **overrides: object) -> Services:
    values: dict[str, object] = {
        "allow_loopback_urls": True,
        "fetch_max_bytes": SMALL_LIMIT * 2,
        "fetch_max_redirects": 3,
        "fetch_timeout_s": 5.0,
    }
    values.update(overrides)
    return Services(fake_settings(tmp_path, **values))


def snapshot(services: Services) -> tuple[int, list[dict[str, Any]]]:
    return services.kb.passages.count(), services.ingestor.list_sources()


# What is fetched -----------------------------------------------------------------------------
def test_fetches_html_and_text_with_their_types(base: str) -> None:
    page = fetch(f"{base}/page.html", LOOPBACK)
    assert (page.url, page.content, page.suffix) == (f"{base}/page.html", PAGE, ".html")
    notes = fetch(f"{base}/notes.txt", LOOPBACK)
    assert notes.suffix == ".txt"
    assert notes.content == NOTES


def test_follows_a_short_redirect_chain_to_the_final_url(base: str, hits: list[str]) -> None:
    fetched = fetch(f"{base}/chain/3", LOOPBACK)  # three redirects: the policy allows three
    assert fetched.url == f"{base}/page.html"
    assert fetched.content == PAGE
    assert hits == ["/chain/3", "/chain/2", "/chain/1", "/page.html"]


def test_html_page_is_fetched_and_ingested(tmp_path: Path, base: str) -> None:
    services = loopback_services(tmp_path)
    url = f"{base}/page.html"
    summary = services.ingestor.add(url, publisher="WHO")
    assert not summary.unchanged
    assert summary.source_id == source_id_for(url)
    assert summary.documents == 1
    assert summary.added == summary.chunks >= 1
    stored = services.kb.passages.all(where={"source_id": summary.source_id})
    assert len(stored) == summary.chunks
    text = "\n".join(text for _, text, _ in stored)
    assert "Aedes mosquitoes" in text
    assert "Papaya leaf juice" in text
    assert "never index this" not in text
    assert "Newsroom" not in text
    for _, _, meta in stored:
        assert meta["url"] == url
        assert meta["title"] == "Dengue fact sheet"
        assert meta["publisher"] == "WHO"
        assert meta["language"] == "en"
    [record] = services.ingestor.list_sources()
    assert record["source_id"] == summary.source_id
    assert (record["kind"], record["location"], record["publisher"]) == ("url", url, "WHO")
    assert record["title"] == "Dengue fact sheet"

    again = services.ingestor.add(url, publisher="WHO")
    assert again.unchanged and again.added == 0
    assert services.ingestor.remove(summary.source_id) == summary.chunks
    assert snapshot(services) == (0, [])


def test_redirected_page_is_stored_under_its_final_url(tmp_path: Path, base: str) -> None:
    services = loopback_services(tmp_path)
    summary = services.ingestor.add(f"{base}/chain/2", publisher="WHO")
    [record] = services.ingestor.list_sources()
    assert record["location"] == f"{base}/chain/2"
    urls = {meta["url"] for _, _, meta in services.kb.passages.all()}
    assert urls == {f"{base}/page.html"}
    assert summary.source_id == source_id_for(f"{base}/chain/2")


# What is refused ---------------------------------------------------------------------------------
def test_loopback_is_refused_unless_allowed(
    tmp_path: Path, base: str, hits: list[str], connections: list[object]
) -> None:
    with pytest.raises(IngestError, match=r"refused: 127\.0\.0\.1 resolves to a non-public"):
        fetch(f"{base}/page.html", FetchPolicy())
    services = Services(fake_settings(tmp_path))  # allow_loopback_urls defaults to False
    assert services.settings.allow_loopback_urls is False
    with pytest.raises(IngestError, match="non-public address"):
        services.ingestor.add(f"{base}/page.html", publisher="WHO")
    assert snapshot(services) == (0, [])
    assert hits == []
    assert connections == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1", r"non-public address \(127\.0\.0\.1\)"),
        ("http://localhost:8080/", r"non-public address \((127\.0\.0\.1|::1)\)"),
        ("http://10.1.2.3/", r"non-public address \(10\.1\.2\.3\)"),
        ("http://192.168.1.1/admin", r"non-public address \(192\.168\.1\.1\)"),
        ("http://169.254.169.254/latest/meta-data", r"non-public address \(169\.254\.169\.254\)"),
        ("http://[::1]/", r"non-public address \(::1\)"),
        ("http://[fe80::1]/", r"non-public address \(fe80::1\)"),
        ("http://0.0.0.0/", r"non-public address \(0\.0\.0\.0\)"),
        ("http://224.0.0.1/", r"non-public address \(224\.0\.0\.1\)"),
        ("ftp://x", "only http and https URLs are fetched, not 'ftp'"),
        ("file:///etc/passwd", "only http and https URLs are fetched, not 'file'"),
        ("http:///no-host", "no host in URL"),
        ("https://user:secret@example.org/", "URLs with credentials are not fetched"),
    ],
)
def test_non_public_and_non_http_urls_are_refused(
    url: str, message: str, connections: list[object]
) -> None:
    with pytest.raises(IngestError, match=message):
        fetch(url, FetchPolicy())
    assert connections == []  # refused before any connection


def test_shared_address_space_metadata_is_refused(connections: list[object]) -> None:
    with pytest.raises(IngestError, match="non-public address"):
        fetch("http://100.100.100.200/latest/meta-data/", FetchPolicy(timeout_s=1))
    assert connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "ftp://x",
        "file:///etc/passwd",
    ],
)
def test_allowing_loopback_still_refuses_other_addresses(
    tmp_path: Path, url: str, connections: list[object]
) -> None:
    services = loopback_services(tmp_path)
    with pytest.raises(IngestError, match="refused"):
        services.ingestor.add(url, publisher="WHO")
    assert snapshot(services) == (0, [])
    assert connections == []


@pytest.mark.parametrize(
    ("path", "address"),
    [("/to-metadata", "169.254.169.254"), ("/to-private", "10.0.0.1")],
)
def test_redirect_to_a_private_address_is_refused_before_connecting(
    base: str, hits: list[str], connections: list[object], path: str, address: str
) -> None:
    with pytest.raises(IngestError, match=rf"refused: {address} resolves to a non-public"):
        fetch(f"{base}{path}", LOOPBACK)
    assert hits == [path]
    assert connections, "the first request should have reached the loopback server"
    assert {host for host, *_ in connections} == {"127.0.0.1"}  # type: ignore[misc]


def test_redirect_to_another_scheme_is_refused(base: str) -> None:
    with pytest.raises(IngestError, match="only http and https"):
        fetch(f"{base}/to-ftp", LOOPBACK)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/big", r"body larger than the 1000-byte limit"),
        ("/big-stream", r"body larger than the 1000-byte limit"),
        ("/archive.zip", r"unsupported content type 'application/zip'"),
        ("/no-type", r"unsupported content type '\(none\)'"),
        ("/loop", r"more than 3 redirects"),
        ("/chain/4", r"more than 3 redirects"),
        ("/missing", r"the server answered HTTP 404"),
    ],
)
def test_fetch_failures_raise_ingest_error(base: str, path: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        fetch(f"{base}{path}", LOOPBACK)


def test_redirect_loop_stops_after_the_limit(base: str, hits: list[str]) -> None:
    with pytest.raises(IngestError, match="more than 3 redirects"):
        fetch(f"{base}/loop", LOOPBACK)
    assert hits == ["/loop"] * 4  # the first request and three redirects


def test_slow_server_times_out(base: str) -> None:
    policy = FetchPolicy(allow_loopback=True, timeout_s=0.3)
    with pytest.raises(IngestError, match=r"timed out after 0\.3 s"):
        fetch(f"{base}/slow", policy)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/big", "byte limit"),
        ("/big-stream", "byte limit"),
        ("/archive.zip", "unsupported content type"),
        ("/loop", "more than 3 redirects"),
        ("/to-metadata", "non-public address"),
        ("/missing", "HTTP 404"),
    ],
)
def test_failed_url_ingest_leaves_the_index_untouched(
    tmp_path: Path, base: str, path: str, message: str
) -> None:
    services = loopback_services(tmp_path, fetch_max_bytes=SMALL_LIMIT)
    services.ingestor.add(f"{base}/page.html", publisher="WHO")
    before = snapshot(services)
    assert before[0] > 0
    with pytest.raises(IngestError, match=message):
        services.ingestor.add(f"{base}{path}", publisher="WHO")
    assert snapshot(services) == before


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/gzip-bomb", "byte limit"),
        ("/pdf-bomb", "inflates past its size limits"),
    ],
)
def test_bombs_leave_the_index_untouched(
    tmp_path: Path, base: str, path: str, message: str
) -> None:
    services = loopback_services(tmp_path, fetch_max_bytes=100_000)
    services.ingestor.add(f"{base}/page.html", publisher="WHO")
    before = snapshot(services)
    with pytest.raises(IngestError, match=message):
        services.ingestor.add(f"{base}{path}", publisher="WHO")
    assert snapshot(services) == before


# DNS rebinding: each hop resolved once, every address checked, the checked address connected to --
def test_each_hop_is_resolved_once_and_connected_to_the_checked_address(
    port: int, hits: list[str], connections: list[object]
) -> None:
    dns = FakeDNS({"pinned.test": [["127.0.0.1"]]})
    fetched = fetch(f"http://pinned.test:{port}/echo", with_dns(LOOPBACK, dns))
    assert fetched.url == f"http://pinned.test:{port}/echo"
    # The server saw the name (and port) in Host, while the socket went to the checked address.
    assert fetched.content == f"host=pinned.test:{port};accept-encoding=gzip, deflate".encode()
    assert connections == [("127.0.0.1", port)]
    assert dns.lookups == ["pinned.test"]

    hits.clear()
    fetched = fetch(f"http://pinned.test:{port}/chain/2", with_dns(LOOPBACK, dns))
    assert fetched.url == f"http://pinned.test:{port}/page.html"
    assert fetched.content == PAGE
    assert hits == ["/chain/2", "/chain/1", "/page.html"]
    assert dns.lookups == ["pinned.test"] * 4  # once for /echo, then once per hop


def test_rebinding_dns_cannot_send_the_connection_to_loopback(
    monkeypatch: pytest.MonkeyPatch, port: int, hits: list[str], connections: list[object]
) -> None:
    """The hostile DNS server answers a public address to the first lookup and 127.0.0.1 to any
    later one; it serves the system resolver too, so a client that looked the name up again to
    connect would reach the loopback server."""
    dns = FakeDNS({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    real_getaddrinfo = socket.getaddrinfo

    def system_resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return dns(host, *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)  # IP literals: no lookup

    monkeypatch.setattr(socket, "getaddrinfo", system_resolver)
    with pytest.raises(IngestError, match=rf"connecting to rebind\.test at {PUBLIC}\)"):
        fetch(f"http://rebind.test:{port}/page.html", with_dns(FetchPolicy(timeout_s=5), dns))
    assert dns.lookups == ["rebind.test"]  # resolved once: the checked answer is the one used
    assert connections == [(PUBLIC, port)]  # (stopped by the tests' loopback-only guard)
    assert hits == []


@pytest.mark.parametrize(
    ("answer", "address"),
    [
        ([PUBLIC, "10.0.0.7"], "10.0.0.7"),
        (["10.0.0.7", PUBLIC], "10.0.0.7"),
        ([PUBLIC, "169.254.169.254"], "169.254.169.254"),
        ([PUBLIC, "127.0.0.1"], "127.0.0.1"),
        ([PUBLIC, "::1"], "::1"),
        ([PUBLIC, "::ffff:127.0.0.1"], "::ffff:7f00:1"),  # IPv4-mapped loopback
    ],
)
def test_a_host_with_any_non_public_address_is_refused(
    answer: list[str], address: str, connections: list[object]
) -> None:
    dns = FakeDNS({"mixed.test": [answer]})
    message = rf"refused: mixed\.test resolves to a non-public address \({re.escape(address)}\)"
    with pytest.raises(IngestError, match=message):
        fetch("http://mixed.test/", FetchPolicy(resolver=dns, timeout_s=1))
    assert dns.lookups == ["mixed.test"]
    assert connections == []


@pytest.mark.parametrize(
    ("name", "answers", "address"),
    [
        ("intranet.test", {"intranet.test": [["10.0.0.5"]]}, "10.0.0.5"),
        ("metadata.test", {"metadata.test": [["169.254.169.254"]]}, "169.254.169.254"),
        # the same name as the first hop, answering differently the second time
        ("pinned.test", {}, "169.254.169.254"),
    ],
)
def test_redirect_to_a_host_resolving_to_a_private_address_is_refused(
    port: int,
    hits: list[str],
    connections: list[object],
    name: str,
    answers: dict[str, list[list[str]]],
    address: str,
) -> None:
    dns = FakeDNS({"pinned.test": [["127.0.0.1"], ["169.254.169.254"]], **answers})
    message = rf"refused: {name} resolves to a non-public address \({address}\)"
    with pytest.raises(IngestError, match=message):
        fetch(f"http://pinned.test:{port}/to-host/{name}", with_dns(LOOPBACK, dns))
    assert hits == [f"/to-host/{name}"]
    assert dns.lookups == ["pinned.test", name]
    assert connections == [("127.0.0.1", port)]


def test_redirect_to_another_host_is_resolved_and_pinned_too(
    port: int, hits: list[str], connections: list[object]
) -> None:
    dns = FakeDNS({"pinned.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    fetched = fetch(f"http://pinned.test:{port}/to-host/other.test", with_dns(LOOPBACK, dns))
    assert fetched.url == f"http://other.test:{port}/page.html"
    assert fetched.content == PAGE
    assert dns.lookups == ["pinned.test", "other.test"]
    assert connections == [("127.0.0.1", port)] * 2


def test_the_next_checked_address_is_tried_when_one_does_not_answer(
    port: int, connections: list[object]
) -> None:
    dns = FakeDNS({"multi.test": [["127.0.0.2", "127.0.0.1"]]})  # nothing listens on 127.0.0.2
    fetched = fetch(f"http://multi.test:{port}/page.html", with_dns(LOOPBACK, dns))
    assert fetched.content == PAGE
    assert connections == [("127.0.0.2", port), ("127.0.0.1", port)]
    assert dns.lookups == ["multi.test"]


def test_unresolvable_host_is_reported_by_name(connections: list[object]) -> None:
    dns = FakeDNS({})
    with pytest.raises(IngestError, match=r"cannot resolve host 'nowhere\.test'"):
        fetch("https://nowhere.test/page.html", FetchPolicy(resolver=dns))
    assert connections == []


@pytest.fixture(scope="module")
def ipv6_port() -> Iterator[int]:
    """The port of a second server, on ::1."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        httpd, thread = serve("::1", [], IPv6Server)
    except OSError as exc:
        pytest.skip(f"cannot listen on ::1: {exc}")
    try:
        yield httpd.server_address[1]
    finally:
        stop(httpd, thread)


def test_an_ipv6_answer_is_connected_to_as_a_literal(
    ipv6_port: int, connections: list[object]
) -> None:
    port = ipv6_port
    dns = FakeDNS({"six.test": [["::1"]]})
    fetched = fetch(f"http://six.test:{port}/echo", with_dns(LOOPBACK, dns))
    assert fetched.content.startswith(f"host=six.test:{port};".encode())
    assert [address[:2] for address in connections] == [("::1", port)]  # type: ignore[index]


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, Path, list[str | None]]]:
    """An https server on 127.0.0.1 whose self-signed certificate names secure.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=secure.test",
         "-addext", "subjectAltName=DNS:secure.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember_sni  # type: ignore[assignment]

    def wrap(sock: socket.socket) -> socket.socket:
        return context.wrap_socket(sock, server_side=True)

    httpd, thread = serve("127.0.0.1", [], wrap=wrap)
    try:
        yield httpd.server_address[1], cert, names
    finally:
        stop(httpd, thread)


def test_https_is_pinned_with_sni_and_the_certificate_checked_for_the_host(
    tls_server: tuple[int, Path, list[str | None]], connections: list[object]
) -> None:
    port, cert, names = tls_server
    dns = FakeDNS({"secure.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    policy = dataclasses.replace(
        LOOPBACK, resolver=dns, ssl_context=ssl.create_default_context(cafile=str(cert))
    )
    names.clear()
    fetched = fetch(f"https://secure.test:{port}/echo", policy)
    assert fetched.content.startswith(f"host=secure.test:{port};".encode())
    assert names == ["secure.test"]  # SNI: the name, not the address connected to
    assert connections == [("127.0.0.1", port)]

    # The certificate is checked against the URL's host: same address, another name, refused.
    with pytest.raises(
        IngestError, match=r"CERTIFICATE_VERIFY_FAILED.*other\.test at 127\.0\.0\.1"
    ):
        fetch(f"https://other.test:{port}/echo", policy)
    assert names[-1] == "other.test"


# Compressed bodies and decompression bombs ----------------------------------------------------
@pytest.mark.parametrize("path", ["/gzip-page", "/deflate-page", "/raw-deflate-page"])
def test_compressed_bodies_are_decoded(base: str, path: str) -> None:
    fetched = fetch(f"{base}{path}", LOOPBACK)
    assert (fetched.content, fetched.suffix) == (PAGE, ".html")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
@pytest.mark.parametrize("limit", [SMALL_LIMIT, 2 * MB])
def test_decompression_bomb_is_refused_without_inflating_it(
    base: str, coding: str, limit: int
) -> None:
    bomb = compressed_bomb(coding)  # built before measuring
    assert len(bomb) < 120_000  # about 100 KB on the wire, 100 MB decoded
    policy = dataclasses.replace(LOOPBACK, max_bytes=limit)
    peak, error = peak_memory(lambda: fetch(f"{base}/{coding}-bomb", policy))
    assert isinstance(error, IngestError)
    assert str(error) == f"{base}/{coding}-bomb: body larger than the {limit}-byte limit"
    # Never more than the limit decoded: inflating a 64 KB network read whole would be 64 MB.
    assert peak < 2 * limit + 4 * MB


def test_endless_compressed_stream_stops_reading_early(base: str) -> None:
    ENDLESS_SENT.clear()
    with pytest.raises(IngestError, match="body larger than the 1000-byte limit"):
        fetch(f"{base}/gzip-endless", LOOPBACK)
    deadline = time.monotonic() + 20
    while not ENDLESS_SENT and time.monotonic() < deadline:
        time.sleep(0.05)
    [sent] = ENDLESS_SENT
    # The server could only fill the socket buffers before the client hung up.
    assert sent < ENDLESS_CAP // 4


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/br-page", r"unsupported content encoding 'br'"),
        ("/gzip-gzip-page", r"unsupported content encoding 'gzip, gzip'"),
    ],
)
def test_unsupported_content_encodings_are_refused(base: str, path: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        fetch(f"{base}{path}", LOOPBACK)


def test_pdf_bomb_is_refused_without_exhausting_memory() -> None:
    bomb = pdf_bomb()
    assert len(bomb) < 4_000  # a few KB that inflate to 1 GB
    peak, error = peak_memory(lambda: load_bytes(bomb, ".pdf", "bomb.pdf", "https://x.test/"))
    assert isinstance(error, IngestError)
    assert str(error).startswith(
        "bomb.pdf: refused: the PDF inflates past its size limits (20000000 bytes per stream)"
    )
    assert peak < 3 * loaders.PDF_MAX_STREAM_BYTES


def test_pdf_bomb_fetched_by_url_is_refused(tmp_path: Path, base: str) -> None:
    services = loopback_services(tmp_path, fetch_max_bytes=100_000)
    with pytest.raises(IngestError, match=r"pdf-bomb: refused: the PDF inflates past"):
        services.ingestor.add(f"{base}/pdf-bomb", publisher="WHO")
    assert snapshot(services) == (0, [])


def test_pdf_text_is_limited_in_total(monkeypatch: pytest.MonkeyPatch) -> None:
    text = b"BT /F1 12 Tf 72 720 Td (Hand washing with soap removes germs.) Tj ET"
    pdf = pdf_with_stream(text, pages=3)  # every page shows the same stream
    assert "Hand washing" in load_bytes(pdf, ".pdf", "ok.pdf", "https://x.test/").text
    monkeypatch.setattr(loaders, "PDF_MAX_TEXT_CHARS", 60)
    with pytest.raises(IngestError, match="refused: the PDF holds more than 60 characters"):
        load_bytes(pdf, ".pdf", "many.pdf", "https://x.test/")
