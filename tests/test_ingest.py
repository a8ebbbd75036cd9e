"""The ingest pipeline on a real on-disk Chroma with the hash embedder: files, folders, idempotence,
removal, atomic failure, MedQuAD folders and rebuild."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import ingest.pipeline as pipeline
from bot.services import Services
from ingest.loaders import IngestError
from ingest.pipeline import source_id_for
from knowledge_base.factchecks import FACT_CHECKS_DIR

from .conftest import SHARED, fake_settings

CDC_QA = SHARED / "corpora" / "medquad" / "9_CDC_QA"

PARAGRAPHS = [
    f"Paragraph {n}: measles vaccination protects children from a dangerous disease, and the "
    f"second dose of the vaccine given in the schedule number {n} keeps protection high for "
    f"years in every community that reaches high coverage."
    for n in range(8)
]


# Helpers -------------------------------------------------------------------------------------
def make_pdf(text: str, title: str) -> bytes:
    """A minimal valid one-page PDF with a real text object (Helvetica), offsets computed."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>".encode(),
    ]
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
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def medquad_xml(doc_id: str, focus: str, url: str, pairs: list[tuple[str, str]]) -> str:
    qa = "".join(
        f'<QAPair pid="{n}"><Question qid="{doc_id}-{n}" qtype="information">{question}'
        f"</Question><Answer>{answer}</Answer></QAPair>"
        for n, (question, answer) in enumerate(pairs, start=1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document id="{doc_id}" source="CDC" url="{url}"><Focus>{focus}</Focus>'
        f"<QAPairs>{qa}</QAPairs></Document>"
    )


def passages_of(services: Services, source_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    return services.kb.passages.all(where={"source_id": source_id})


def snapshot(services: Services) -> tuple[int, list[dict[str, Any]]]:
    return services.kb.passages.count(), services.ingestor.list_sources()


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(fake_settings(tmp_path, chunk_size=200, chunk_overlap=0))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "measles.md").write_text(
        "# Measles vaccine\n\n" + "\n\n".join(PARAGRAPHS), encoding="utf-8"
    )
    (folder / "malaria.txt").write_text(
        "Malaria prevention\n\nSleeping under an insecticide-treated net every night protects "
        "against the mosquitoes that carry malaria; artemisia tea does not cure it.",
        encoding="utf-8",
    )
    (folder / "flu.html").write_text(
        "<html><head><title>Influenza facts</title><style>p{color:red}</style>"
        "<script>var tracking = 'do not index me';</script></head><body>"
        "<nav>Home | About | Menu</nav>"
        "<p>Antibiotics do not work against the influenza virus; annual vaccination is the best "
        "protection for older adults.</p><footer>Copyright footer</footer></body></html>",
        encoding="utf-8",
    )
    (folder / "polio.pdf").write_bytes(
        make_pdf("Polio vaccine drops are safe and protect children from paralysis.", "Polio facts")
    )
    return folder


# Files -----------------------------------------------------------------------------------------
def test_ingests_markdown_text_html_and_pdf(services: Services, corpus: Path) -> None:
    expected = {
        "measles.md": ("Measles vaccine", "measles vaccination protects children"),
        "malaria.txt": ("Malaria prevention", "insecticide-treated net"),
        "flu.html": ("Influenza facts", "Antibiotics do not work against the influenza"),
        "polio.pdf": ("Polio facts", "Polio vaccine drops are safe"),
    }
    for name, (title, phrase) in expected.items():
        path = corpus / name
        summary = services.ingestor.add(str(path), publisher="WHO", language="en", trust_tier="2")
        assert not summary.unchanged
        assert summary.source_id == source_id_for(str(path.resolve()))
        assert summary.documents == 1
        assert summary.added == summary.chunks >= 1
        assert summary.removed == 0
        stored = passages_of(services, summary.source_id)
        assert len(stored) == summary.chunks
        assert any(phrase in text for _, text, _ in stored), name
        for _, _, meta in stored:
            assert meta["title"] == title
            assert meta["url"] == path.resolve().as_uri()
            assert meta["publisher"] == "WHO"
            assert meta["language"] == "en"
            assert meta["trust_tier"] == "2"
    html_text = " ".join(
        text
        for _, text, _ in passages_of(services, source_id_for(str((corpus / "flu.html").resolve())))
    )
    assert "do not index me" not in html_text
    assert "Copyright footer" not in html_text
    assert "Home | About" not in html_text
    assert services.kb.passages.count() == sum(
        record["chunks"] for record in services.ingestor.list_sources()
    )
    records = {record["title"]: record for record in services.ingestor.list_sources()}
    assert set(records) == {title for title, _ in expected.values()}
    assert records["Polio facts"]["kind"] == "path"
    assert records["Polio facts"]["publisher"] == "WHO"


def test_language_is_detected_when_not_given(services: Services, corpus: Path) -> None:
    summary = services.ingestor.add(str(corpus / "malaria.txt"), publisher="WHO")
    assert {meta["language"] for _, _, meta in passages_of(services, summary.source_id)} == {"en"}
    assert services.kb.sources.get(summary.source_id)["language"] == "auto"  # type: ignore[index]


def test_folder_of_files_is_one_source(services: Services, corpus: Path) -> None:
    summary = services.ingestor.add(str(corpus), publisher="WHO")
    assert summary.documents == 4
    urls = {meta["url"] for _, _, meta in passages_of(services, summary.source_id)}
    assert urls == {path.resolve().as_uri() for path in corpus.iterdir()}
    assert services.ingestor.list_sources()[0]["title"] == "corpus"


def test_malformed_pdf_raises_ingest_error(services: Services, tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4\nthis is not really a PDF")
    before = snapshot(services)
    with pytest.raises(IngestError, match="malformed PDF"):
        services.ingestor.add(str(bad), publisher="WHO")
    assert snapshot(services) == before


# Idempotence and updates -----------------------------------------------------------------------
def test_second_identical_add_is_unchanged(services: Services, corpus: Path) -> None:
    path = str(corpus / "measles.md")
    first = services.ingestor.add(path, publisher="WHO")
    count = services.kb.passages.count()
    record = services.kb.sources.get(first.source_id)
    second = services.ingestor.add(path, publisher="WHO")
    assert second.unchanged
    assert (second.added, second.removed) == (0, 0)
    assert second.chunks == first.chunks
    assert services.kb.passages.count() == count
    assert services.kb.sources.get(first.source_id) == record


def test_changed_file_adds_new_chunks_and_removes_stale_ones(
    services: Services, corpus: Path
) -> None:
    path = corpus / "measles.md"
    first = services.ingestor.add(str(path), publisher="WHO")
    assert first.chunks > 3
    old = {id_: text for id_, text, _ in passages_of(services, first.source_id)}

    changed = list(PARAGRAPHS)
    changed[2] = (
        "Paragraph 2 rewritten: vitamin A supplements help children who already have measles "
        "recover, but they never replace the two doses of the vaccine in the schedule."
    )
    del changed[5]
    path.write_text("# Measles vaccine\n\n" + "\n\n".join(changed), encoding="utf-8")

    second = services.ingestor.add(str(path), publisher="WHO")
    assert not second.unchanged
    new = {id_: text for id_, text, _ in passages_of(services, second.source_id)}
    assert len(new) == second.chunks
    assert second.added == len(new.keys() - old.keys()) > 0
    assert second.removed == len(old.keys() - new.keys()) > 0
    assert any("vitamin A supplements" in text for text in new.values())
    assert not any(text.startswith("Paragraph 5:") for text in new.values())
    assert services.kb.passages.count() == second.chunks
    record = services.kb.sources.get(second.source_id)
    assert record is not None and record["chunks"] == second.chunks
    assert services.ingestor.add(str(path), publisher="WHO").unchanged


def test_trust_tier_change_is_applied(services: Services, corpus: Path) -> None:
    path = str(corpus / "malaria.txt")
    summary = services.ingestor.add(path, publisher="WHO", trust_tier="1")
    second = services.ingestor.add(path, publisher="WHO", trust_tier="3")
    assert not second.unchanged
    record = services.kb.sources.get(summary.source_id)
    assert record is not None and record["trust_tier"] == "3"
    tiers = {meta["trust_tier"] for _, _, meta in passages_of(services, summary.source_id)}
    assert tiers == {"3"}


def test_publisher_change_updates_registry_and_passages(services: Services, corpus: Path) -> None:
    path = str(corpus / "malaria.txt")
    summary = services.ingestor.add(path, publisher="WHO")
    second = services.ingestor.add(path, publisher="Ministry of Health")
    assert not second.unchanged
    record = services.kb.sources.get(summary.source_id)
    assert record is not None and record["publisher"] == "Ministry of Health"
    publishers = {meta["publisher"] for _, _, meta in passages_of(services, summary.source_id)}
    assert publishers == {"Ministry of Health"}


# Removal ------------------------------------------------------------------------------------------
def test_remove_removes_every_chunk_of_that_source_only(services: Services, corpus: Path) -> None:
    measles = services.ingestor.add(str(corpus / "measles.md"), publisher="WHO")
    malaria = services.ingestor.add(str(corpus / "malaria.txt"), publisher="WHO")
    assert len(passages_of(services, measles.source_id)) == measles.chunks > 0
    total = services.kb.passages.count()

    assert services.ingestor.remove(measles.source_id) == measles.chunks
    assert passages_of(services, measles.source_id) == []
    assert len(passages_of(services, malaria.source_id)) == malaria.chunks
    assert services.kb.passages.count() == total - measles.chunks
    assert services.kb.sources.get(measles.source_id) is None
    assert [r["source_id"] for r in services.ingestor.list_sources()] == [malaria.source_id]

    with pytest.raises(IngestError, match="no source with id"):
        services.ingestor.remove(measles.source_id)
    with pytest.raises(IngestError, match="src-doesnotexist"):
        services.ingestor.remove("src-doesnotexist")
    assert services.kb.passages.count() == total - measles.chunks

    again = services.ingestor.add(str(corpus / "measles.md"), publisher="WHO")
    assert not again.unchanged and again.added == measles.chunks


# Refusals -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"publisher": "  "}, "publisher is required"),
        ({"publisher": "WHO", "language": "de"}, "unsupported language"),
        ({"publisher": "WHO", "trust_tier": "4"}, "trust tier"),
    ],
)
def test_bad_arguments_raise(
    services: Services, corpus: Path, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(IngestError, match=message):
        services.ingestor.add(str(corpus / "malaria.txt"), **kwargs)
    assert services.kb.passages.count() == 0


def test_unsupported_type_and_missing_path_leave_index_unchanged(
    services: Services, corpus: Path, tmp_path: Path
) -> None:
    services.ingestor.add(str(corpus / "malaria.txt"), publisher="WHO")
    before = snapshot(services)
    docx = tmp_path / "leaflet.docx"
    docx.write_bytes(b"PK\x03\x04 pretend this is a Word file with plenty of words in it")
    with pytest.raises(IngestError, match=r"unsupported type \.docx"):
        services.ingestor.add(str(docx), publisher="WHO")
    with pytest.raises(IngestError, match="no such file or folder"):
        services.ingestor.add(str(tmp_path / "nowhere.md"), publisher="WHO")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.docx").write_bytes(b"x")
    with pytest.raises(IngestError, match="no supported file"):
        services.ingestor.add(str(empty), publisher="WHO")
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")
    with pytest.raises(IngestError, match="no readable text"):
        services.ingestor.add(str(short), publisher="WHO")
    assert snapshot(services) == before


class FailingEmbeddings:
    """Wraps an embedder and raises on its N-th `embed_documents` call."""

    def __init__(self, inner: Any, fail_on_call: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.fail_on_call = fail_on_call
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("embedder crashed half-way")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def test_failure_half_way_leaves_index_and_registry_as_before(
    services: Services, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "EMBED_BATCH", 2)
    services.ingestor.add(str(corpus / "malaria.txt"), publisher="WHO")
    before = snapshot(services)
    passages = services.kb.passages
    failing = FailingEmbeddings(passages.embeddings, fail_on_call=2)
    monkeypatch.setattr(passages, "embeddings", failing)

    with pytest.raises(RuntimeError, match="half-way"):
        services.ingestor.add(str(corpus / "measles.md"), publisher="WHO")
    assert failing.calls == 2  # the first batch was stored, then removed again
    assert snapshot(services) == before
    assert passages_of(services, source_id_for(str((corpus / "measles.md").resolve()))) == []

    # The same source succeeds once the embedder works again.
    monkeypatch.setattr(passages, "embeddings", failing.inner)
    summary = services.ingestor.add(str(corpus / "measles.md"), publisher="WHO")
    assert summary.added == summary.chunks > 2


def test_failure_while_updating_keeps_the_previous_version(
    services: Services, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "EMBED_BATCH", 1)
    path = corpus / "measles.md"
    first = services.ingestor.add(str(path), publisher="WHO")
    before = snapshot(services)
    old_ids = {id_ for id_, _, _ in passages_of(services, first.source_id)}

    rewritten = [p.replace("measles", "rubella") for p in PARAGRAPHS[:4]] + PARAGRAPHS[4:]
    path.write_text("# Measles vaccine\n\n" + "\n\n".join(rewritten), encoding="utf-8")
    passages = services.kb.passages
    monkeypatch.setattr(passages, "embeddings", FailingEmbeddings(passages.embeddings, 3))
    with pytest.raises(RuntimeError):
        services.ingestor.add(str(path), publisher="WHO")
    assert snapshot(services) == before
    assert {id_ for id_, _, _ in passages_of(services, first.source_id)} == old_ids


# MedQuAD ------------------------------------------------------------------------------------------
def test_medquad_folder_one_document_per_answer(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "medquad" / "9_CDC_QA"
    folder.mkdir(parents=True)
    flu_answer = (
        "Influenza is a contagious respiratory illness caused by influenza viruses that infect "
        "the nose, throat, and sometimes the lungs."
    )
    (folder / "0000001.xml").write_text(
        medquad_xml(
            "0000001",
            "Flu",
            "https://www.cdc.gov/flu",
            [
                ("What is flu?", flu_answer),
                ("How to prevent flu?", "Get a flu vaccine every year, by the end of October."),
                ("Too short?", "See a doctor."),  # under 20 characters: skipped
            ],
        ),
        encoding="utf-8",
    )
    measles = medquad_xml(
        "0000002",
        "Measles",
        "https://www.cdc.gov/measles",
        [("What is measles?", "Measles is a highly contagious disease caused by a virus.")],
    )
    # A few real CDC files use <DiseaseFile> as the root element, with the same layout.
    measles = measles.replace("<Document", "<DiseaseFile").replace("</Document>", "</DiseaseFile>")
    (folder / "0000002.xml").write_text(measles, encoding="utf-8")
    summary = services.ingestor.add(str(folder), publisher="CDC", language="en")
    assert summary.documents == 3
    stored = passages_of(services, summary.source_id)
    assert len(stored) == summary.chunks == 3  # every answer fits one chunk
    by_question = {meta["question"]: (text, meta) for _, text, meta in stored}
    assert set(by_question) == {"What is flu?", "How to prevent flu?", "What is measles?"}
    text, meta = by_question["What is flu?"]
    assert text == f"Flu\n{flu_answer}"  # the title is stored with the passage it heads
    assert (meta["url"], meta["title"]) == ("https://www.cdc.gov/flu", "Flu")
    assert meta["qid"] == "0000001-1"
    assert by_question["What is measles?"][1]["url"] == "https://www.cdc.gov/measles"
    assert by_question["What is measles?"][1]["title"] == "Measles"
    assert all(meta["publisher"] == "CDC" for _, _, meta in stored)
    assert services.ingestor.list_sources()[0]["title"] == "9_CDC_QA"
    assert services.ingestor.add(str(folder), publisher="CDC", language="en").unchanged


def test_medquad_malformed_xml_raises(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "bad_medquad"
    folder.mkdir()
    (folder / "broken.xml").write_text("<Document><Focus>Flu</Focus>", encoding="utf-8")
    with pytest.raises(IngestError, match="malformed XML"):
        services.ingestor.add(str(folder), publisher="CDC")
    (folder / "broken.xml").write_text("<Other/>", encoding="utf-8")
    with pytest.raises(IngestError, match="not a MedQuAD document"):
        services.ingestor.add(str(folder), publisher="CDC")
    assert snapshot(services) == (0, [])


def small_fact_checks(services: Services, tmp_path: Path, how_many: int = 3) -> None:
    """Points the ingestor at a few of the shipped fact-checks, to keep rebuilds fast."""
    folder = tmp_path / "fact_checks"
    folder.mkdir()
    for path in sorted(FACT_CHECKS_DIR.glob("*.yaml"))[:how_many]:
        shutil.copy(path, folder / path.name)
    services.ingestor.fact_checks_dir = folder


# Rebuild ------------------------------------------------------------------------------------------
def test_rebuild_keeps_sources_and_passage_count(tmp_path: Path, corpus: Path) -> None:
    services = Services(fake_settings(tmp_path, chunk_size=200, chunk_overlap=0))
    small_fact_checks(services, tmp_path)
    assert services.ingestor.load_fact_checks().added > 0
    services.ingestor.add(str(corpus / "measles.md"), publisher="WHO", language="en")
    services.ingestor.add(str(corpus / "flu.html"), publisher="CDC", trust_tier="2")
    passages = services.kb.passages.count()
    fact_checks = services.kb.fact_checks.count()
    sources = {r["source_id"]: r for r in services.ingestor.list_sources()}
    ids = set(services.kb.passages.ids_where({"trust_tier": {"$in": ["1", "2"]}}))

    results = services.ingestor.rebuild()
    assert len(results) == 1 + len(sources)
    assert all(not isinstance(result, str) for result in results), results
    assert services.kb.passages.count() == passages
    assert services.kb.fact_checks.count() == fact_checks
    assert set(services.kb.passages.ids_where({"trust_tier": {"$in": ["1", "2"]}})) == ids
    after = {r["source_id"]: r for r in services.ingestor.list_sources()}
    assert after.keys() == sources.keys()
    for source_id, record in sources.items():
        for key in ("location", "publisher", "language", "trust_tier", "content_hash", "chunks"):
            assert after[source_id][key] == record[key], key


def test_rebuild_reports_a_source_that_has_gone(tmp_path: Path, corpus: Path) -> None:
    services = Services(fake_settings(tmp_path))
    small_fact_checks(services, tmp_path, how_many=1)
    path = corpus / "malaria.txt"
    summary = services.ingestor.add(str(path), publisher="WHO")
    path.unlink()
    results = services.ingestor.rebuild()
    errors = [result for result in results if isinstance(result, str)]
    assert len(errors) == 1 and errors[0].startswith(summary.source_id)
    assert "no such file" in errors[0]


# The real MedQuAD CDC folder ---------------------------------------------------------------------
@pytest.mark.skipif(not CDC_QA.is_dir(), reason=f"MedQuAD CDC folder not found at {CDC_QA}")
def test_real_medquad_cdc_folder_is_idempotent(services: Services) -> None:
    first = services.ingestor.add(str(CDC_QA), publisher="CDC", language="en")
    assert first.documents > 50
    assert first.added == first.chunks == services.kb.passages.count()
    second = services.ingestor.add(str(CDC_QA), publisher="CDC", language="en")
    assert second.unchanged
    assert (second.added, second.removed) == (0, 0)
    assert services.kb.passages.count() == first.chunks
    urls = {meta["url"] for _, _, meta in passages_of(services, first.source_id)}
    assert all(url.startswith(("http://", "https://")) and "cdc.gov" in url for url in urls)
