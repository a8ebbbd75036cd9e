"""One contract for the vector store, run against Chroma on disk and a real `chroma run` server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import pytest
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from bot.services import Services
from knowledge_base.embeddings import build_embeddings
from knowledge_base.factchecks import FACT_CHECKS_DIR, load_fact_checks
from knowledge_base.store import KnowledgeBase, StoreError, make_client

from .conftest import fake_settings

CHROMA = Path(sys.executable).parent / "chroma"
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wipe(client: ClientAPI) -> None:
    for collection in client.list_collections():
        client.delete_collection(collection.name)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A `chroma run` server on loopback, started once for the module and killed afterwards."""
    if not CHROMA.exists():
        pytest.skip(f"the chroma command is not installed at {CHROMA}")
    data = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log_path = data.parent / f"{data.name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        settings = ChromaSettings(anonymized_telemetry=False)
        while True:
            if process.poll() is not None:
                pytest.fail(f"chroma run exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port, settings=settings).heartbeat()
                break
            except Exception:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"chroma run did not answer in {START_TIMEOUT_S:g} s:\n"
                        f"{log_path.read_text()}"
                    )
                time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(params=["disk", pytest.param("server", marks=pytest.mark.integration)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> ClientAPI:
    if request.param == "disk":
        return make_client(path=tmp_path / "c")
    host, port = request.getfixturevalue("chroma_server")
    server_client = make_client(host=host, port=port)
    _wipe(server_client)  # the server is shared by the module: every test starts empty
    return server_client


def open_kb(client: ClientAPI, match: str = "hash") -> KnowledgeBase:
    return KnowledgeBase(client, build_embeddings(match, symmetric=True), build_embeddings("hash"))


class TestStoreContract:
    def test_fact_checks_round_trip(self, client: ClientAPI) -> None:
        kb = open_kb(client)
        checks = load_fact_checks()
        expected_ids = {(c.id, lang, phrase) for c in checks for lang, phrase in c.phrasings()}
        added, removed = kb.upsert_fact_checks(checks)
        assert (added, removed) == (len(expected_ids), 0)
        assert kb.fact_checks.count() == len(expected_ids)
        records = kb.load_fact_check_records()
        assert records == {check.id: check for check in checks}
        assert kb.upsert_fact_checks(checks) == (0, 0)
        assert kb.fact_checks.count() == len(expected_ids)

        # A reopened knowledge base (a new worker) sees the same records.
        assert open_kb(client).load_fact_check_records() == records

        # Removing a fact-check removes every one of its phrasings, and nothing else.
        target = checks[0]
        phrasings = len(set(target.phrasings()))
        assert phrasings > 3
        assert kb.remove_fact_check(target.id) == phrasings
        assert kb.fact_checks.ids_where({"fact_check_id": target.id}) == []
        assert kb.fact_checks.count() == len(expected_ids) - phrasings
        assert kb.load_fact_check_records() == {c.id: c for c in checks[1:]}
        assert kb.remove_fact_check(target.id) == 0

    def test_changed_fact_check_replaces_its_stale_phrasings(self, client: ClientAPI) -> None:
        kb = open_kb(client)
        check = load_fact_checks()[0]
        kb.upsert_fact_checks([check])
        before = kb.fact_checks.count()
        en = check.claims["en"]
        changed = check.model_copy(
            update={
                "claims": {
                    **check.claims,
                    "en": en.model_copy(
                        update={"variants": [*en.variants[1:], f"{en.claim} (new wording)"]}
                    ),
                }
            }
        )
        added, removed = kb.upsert_fact_checks([changed])
        assert added == 1
        assert removed == (1 if en.variants else 0)
        assert kb.fact_checks.count() == before + added - removed
        assert kb.load_fact_check_records()[check.id] == changed

    def test_passages_upsert_query_delete(self, client: ClientAPI) -> None:
        kb = open_kb(client)
        texts = [
            "Measles vaccination protects children from measles.",
            "Insecticide-treated nets prevent malaria at night.",
            "Hand washing with soap removes germs from the hands.",
        ]
        ids = ["p-measles", "p-malaria", "p-hands"]
        metas = [
            {"source_id": "src-a", "publisher": "WHO", "language": "en", "chunk_index": 0},
            {"source_id": "src-a", "publisher": "WHO", "language": "en", "chunk_index": 1},
            {"source_id": "src-b", "publisher": "CDC", "language": "en", "chunk_index": 0},
        ]
        assert kb.passages.query(kb.passages.embeddings.embed_query("anything"), 3) == []
        kb.passages.upsert(ids, texts, metas)
        assert kb.passages.count() == 3
        assert kb.passages.existing_ids(["p-measles", "p-none"]) == {"p-measles"}

        vector = kb.passages.embeddings.embed_query(texts[1])
        hits = kb.passages.query(vector, 10)
        assert len(hits) == 3
        assert hits[0].id == "p-malaria"
        assert hits[0].text == texts[1]
        assert hits[0].metadata == metas[1]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
        filtered = kb.passages.query(vector, 10, where={"source_id": "src-b"})
        assert [hit.id for hit in filtered] == ["p-hands"]

        assert sorted(kb.passages.ids_where({"source_id": "src-a"})) == ["p-malaria", "p-measles"]
        rows = {id_: (text, meta) for id_, text, meta in kb.passages.all()}
        assert rows == {
            id_: (text, meta) for id_, text, meta in zip(ids, texts, metas, strict=True)
        }
        [(id_, text, meta, vec)] = kb.passages.get_with_vectors(["p-hands"])
        assert (id_, text, meta) == ("p-hands", texts[2], metas[2])
        assert list(vec) == pytest.approx(kb.passages.embeddings.embed_documents([texts[2]])[0])

        kb.passages.upsert(["p-hands"], ["Soap and water beat hand sanitiser."], [metas[2]])
        assert kb.passages.count() == 3
        assert kb.passages.all(where={"source_id": "src-b"})[0][1].startswith("Soap and water")

        kb.passages.delete(["p-measles", "p-malaria"])
        assert kb.passages.ids_where({"source_id": "src-a"}) == []
        assert kb.passages.count() == 1
        kb.passages.delete(["p-hands"])
        assert kb.passages.count() == 0
        assert kb.passages.query(vector, 3) == []

    def test_source_registry(self, client: ClientAPI) -> None:
        kb = open_kb(client)
        assert kb.sources.get("src-1") is None
        assert kb.sources.all() == []
        kb.sources.put(
            "src-2",
            {
                "location": "/b.md",
                "publisher": "CDC",
                "added": "2026-02-01",
                "chunks": 4,
                "title": None,
            },
        )
        kb.sources.put(
            "src-1", {"location": "/a.md", "publisher": "WHO", "added": "2026-01-01", "chunks": 2}
        )
        assert kb.sources.get("src-2") == {
            "location": "/b.md",
            "publisher": "CDC",
            "added": "2026-02-01",
            "chunks": 4,
        }
        assert [r["source_id"] for r in kb.sources.all()] == ["src-1", "src-2"]  # by date added
        assert kb.sources.all()[0]["publisher"] == "WHO"
        kb.sources.put(
            "src-1",
            {"location": "/a.md", "publisher": "UNICEF", "added": "2026-01-01", "chunks": 3},
        )
        assert kb.sources.get("src-1") == {
            "location": "/a.md",
            "publisher": "UNICEF",
            "added": "2026-01-01",
            "chunks": 3,
        }
        assert len(kb.sources.all()) == 2
        kb.sources.remove("src-1")
        assert kb.sources.get("src-1") is None
        assert [r["source_id"] for r in kb.sources.all()] == ["src-2"]
        kb.sources.remove("src-unknown")  # removing an absent id is not an error
        # The registry lives in the store: another client on the same store sees it.
        assert open_kb(client).sources.get("src-2") is not None

    def test_other_embedder_name_is_refused_with_the_rebuild_hint(self, client: ClientAPI) -> None:
        kb = open_kb(client)
        kb.upsert_fact_checks(load_fact_checks()[:1])
        assert kb.fact_checks.count() > 0
        with pytest.raises(StoreError, match="factcheck ingest rebuild") as caught:
            open_kb(client, match="hash+hash")
        assert "'hash'" in str(caught.value) and "'hash+hash'" in str(caught.value)

        unchecked = KnowledgeBase(
            client,
            build_embeddings("hash+hash", symmetric=True),
            build_embeddings("hash"),
            check=False,
        )
        assert unchecked.fact_checks.count() == kb.fact_checks.count()
        unchecked.reset_collections()
        assert unchecked.fact_checks.count() == 0
        assert open_kb(client, match="hash+hash").fact_checks.count() == 0
        with pytest.raises(StoreError, match="factcheck ingest rebuild"):
            open_kb(client)


@pytest.mark.integration
def test_services_ingest_and_list_through_the_server(
    chroma_server: tuple[str, int], tmp_path: Path
) -> None:
    host, port = chroma_server
    _wipe(make_client(host=host, port=port))
    settings = fake_settings(tmp_path, chroma_host=host, chroma_port=port)
    doc = tmp_path / "dengue.md"
    doc.write_text(
        "# Dengue\n\nDengue is spread by Aedes mosquitoes; there is no specific treatment, but "
        "early care lowers the risk of severe disease.",
        encoding="utf-8",
    )
    services = Services(settings)
    few = sorted(FACT_CHECKS_DIR.glob("*.yaml"))[:3]  # a few fact-checks keep the test fast
    services.ingestor.fact_checks_dir = tmp_path / "fact_checks"
    services.ingestor.fact_checks_dir.mkdir()
    for path in few:
        shutil.copy(path, services.ingestor.fact_checks_dir / path.name)
    assert services.ingestor.load_fact_checks().added > 0
    summary = services.ingestor.add(str(doc), publisher="WHO", language="en")
    assert summary.added == summary.chunks >= 1
    [record] = services.ingestor.list_sources()
    assert (record["source_id"], record["publisher"], record["title"]) == (
        summary.source_id,
        "WHO",
        "Dengue",
    )
    assert not settings.resolved_chroma_path.exists()  # nothing was written to disk

    # Another process (a fresh client) sees the same index on the server.
    other = Services(fake_settings(tmp_path / "other", chroma_host=host, chroma_port=port))
    assert [r["source_id"] for r in other.ingestor.list_sources()] == [summary.source_id]
    assert other.kb.passages.count() == summary.chunks
    assert other.kb.load_fact_check_records().keys() == {path.stem for path in few}
    assert other.ingestor.add(str(doc), publisher="WHO", language="en").unchanged
    assert other.ingestor.remove(summary.source_id) == summary.chunks
    assert services.ingestor.list_sources() == []
