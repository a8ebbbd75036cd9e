"""Fetching sources by URL against a real HTTP server on loopback: what is fetched and ingested,
and what is refused (addresses, schemes, size, type, redirects, errors), index untouched."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from ingest.fetch import FetchPolicy, fetch
from ingest.loaders import IngestError
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

    def do_GET(self) -> None:
        self.hits.append(self.path)
        path = self.path
        if path == "/page.html":
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


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("RecordingHandler", (Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


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


LOOPBACK = FetchPolicy(allow_loopback=True, max_bytes=SMALL_LIMIT, max_redirects=3, timeout_s=5)


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
    ["http://10.1.2.3/", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/",
     "ftp://x", "file:///etc/passwd"],
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
