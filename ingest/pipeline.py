"""The ingest pipeline: load, chunk, embed what is new, upsert, and keep the source registry.

Idempotent by construction: chunk ids are content hashes, an unchanged source is skipped, and a
changed one only embeds its new chunks. A failure half-way removes what it added.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.fetch import FetchPolicy, fetch
from ingest.loaders import Document, IngestError, load_bytes, load_path
from knowledge_base.factchecks import FACT_CHECKS_DIR, FactCheck, load_fact_checks
from knowledge_base.language import detect_language
from knowledge_base.store import PASSAGES, KnowledgeBase, content_hash

log = logging.getLogger(__name__)
TRUST_TIERS = ("1", "2", "3")
EMBED_BATCH = 64

# A progress reporter: called with (done, total) as chunks are embedded.
Progress = Callable[[int, int], None]


@dataclass
class IngestSummary:
    source_id: str
    location: str
    documents: int
    chunks: int
    added: int
    removed: int
    unchanged: bool
    seconds: float


@dataclass(frozen=True)
class _Chunk:
    id: str
    text: str
    metadata: dict[str, Any]


def source_id_for(location: str) -> str:
    return "src-" + content_hash(location)[:12]


def canonical_location(location: str) -> str:
    if "://" in location:
        return location.strip()
    return str(Path(location).expanduser().resolve())


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://")) or "://" in location


class Ingestor:
    """Adds, lists, removes and rebuilds sources in a knowledge base."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        chunk_size: int = 1000,
        chunk_overlap: int = 150,
        fetch_policy: FetchPolicy | None = None,
        fact_checks_dir: Path = FACT_CHECKS_DIR,
    ) -> None:
        self.kb = kb
        self.fetch_policy = fetch_policy or FetchPolicy()
        self.fact_checks_dir = fact_checks_dir
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            separators=["\n\n", "\n", ". ", "؟ ", "? ", "! ", "، ", "; ", ", ", " ", ""],
        )

    # Loading ---------------------------------------------------------------------------------
    def _documents(self, location: str) -> list[Document]:
        if is_url(location):
            fetched = fetch(location, self.fetch_policy)
            return [load_bytes(fetched.content, fetched.suffix, fetched.url, fetched.url)]
        return load_path(Path(location))

    def _chunks(self, documents: Iterable[Document], source: dict[str, Any]) -> list[_Chunk]:
        chunks: dict[str, _Chunk] = {}
        for document in documents:
            language = source["language"] or detect_language(document.text[:2000])
            pieces = self.splitter.split_text(document.text)
            for index, piece in enumerate(pieces):
                chunk_id = content_hash(source["source_id"], document.url, piece)[:32]
                metadata = {
                    "source_id": source["source_id"],
                    "publisher": source["publisher"],
                    "url": document.url,
                    "title": document.title,
                    "language": language,
                    "date": document.date or source["reviewed"],
                    "trust_tier": source["trust_tier"],
                    "content_hash": content_hash(piece)[:16],
                    "chunk_index": index,
                }
                metadata.update({key: value for key, value in document.extra.items() if value})
                chunks[chunk_id] = _Chunk(chunk_id, piece, metadata)
        return list(chunks.values())

    # Public operations -----------------------------------------------------------------------
    def add(
        self,
        location: str,
        *,
        publisher: str,
        language: str | None = None,
        trust_tier: str = "1",
        progress: Progress | None = None,
    ) -> IngestSummary:
        """Ingests a file, folder or URL; an unchanged source adds nothing."""
        started = dt.datetime.now()
        if not publisher.strip():
            raise IngestError("a publisher is required (--publisher)")
        if language is not None and language not in {"ar", "fr", "en"}:
            raise IngestError(f"unsupported language {language!r}: use ar, fr or en")
        if trust_tier not in TRUST_TIERS:
            raise IngestError(f"trust tier must be one of {', '.join(TRUST_TIERS)}")
        location = canonical_location(location)
        if not is_url(location) and Path(location).resolve() == self.fact_checks_dir.resolve():
            return self.load_fact_checks(progress=progress)
        source_id = source_id_for(location)
        today = dt.date.today().isoformat()
        previous = self.kb.sources.get(source_id)
        source = {
            "source_id": source_id,
            "location": location,
            "publisher": publisher.strip(),
            "language": language or "",
            "trust_tier": trust_tier,
            "reviewed": today,
        }
        documents = self._documents(location)
        chunks = self._chunks(documents, source)
        if not chunks:
            raise IngestError(f"{location}: nothing to index after splitting")
        # What the source says and how it is labelled: a new publisher, language or trust tier
        # is a change too (the passages carry them).
        digest = content_hash(
            source["publisher"], source["language"], trust_tier, *sorted(c.id for c in chunks)
        )[:24]
        if previous and previous.get("content_hash") == digest:
            return IngestSummary(
                source_id, location, len(documents), len(chunks), 0, 0, True, _since(started)
            )
        added, removed = self._apply(source_id, chunks, progress)
        title = documents[0].title if len(documents) == 1 else Path(location).name or location
        self.kb.sources.put(
            source_id,
            {
                "location": location,
                "publisher": source["publisher"],
                "language": language or "auto",
                "trust_tier": trust_tier,
                "title": title,
                "documents": len(documents),
                "chunks": len(chunks),
                "content_hash": digest,
                "kind": "url" if is_url(location) else "path",
                "added": (previous or {}).get("added", today),
                "retrieved": today,
            },
        )
        return IngestSummary(
            source_id, location, len(documents), len(chunks), added, removed, False, _since(started)
        )

    def _apply(
        self, source_id: str, chunks: list[_Chunk], progress: Progress | None
    ) -> tuple[int, int]:
        passages = self.kb.passages
        existing = set(passages.ids_where({"source_id": source_id}))
        new = [chunk for chunk in chunks if chunk.id not in existing]
        added_ids: list[str] = []
        try:
            total = len(new)
            if progress:
                progress(0, total)
            for start in range(0, total, EMBED_BATCH):
                batch = new[start : start + EMBED_BATCH]
                passages.upsert(
                    [chunk.id for chunk in batch],
                    [_embedding_text(chunk) for chunk in batch],
                    [chunk.metadata for chunk in batch],
                )
                added_ids.extend(chunk.id for chunk in batch)
                if progress:
                    progress(len(added_ids), total)
        except BaseException:
            # Leave the index as it was: remove every chunk this run added.
            if added_ids:
                passages.delete(added_ids)
            raise
        kept = [chunk for chunk in chunks if chunk.id in existing]
        passages.update_metadata([c.id for c in kept], [c.metadata for c in kept])
        wanted = {chunk.id for chunk in chunks}
        stale = [id_ for id_ in existing if id_ not in wanted]
        passages.delete(stale)
        return len(new), len(stale)

    def list_sources(self) -> list[dict[str, Any]]:
        return self.kb.sources.all()

    def remove(self, source_id: str) -> int:
        """Removes a source and every one of its chunks; returns how many chunks went."""
        if self.kb.sources.get(source_id) is None:
            raise IngestError(f"no source with id {source_id!r} (see `factcheck ingest list`)")
        ids = self.kb.passages.ids_where({"source_id": source_id})
        self.kb.passages.delete(ids)
        self.kb.sources.remove(source_id)
        return len(ids)

    def load_fact_checks(self, progress: Progress | None = None) -> IngestSummary:
        """Validates the shipped fact-check files and loads them into the fact-check collection."""
        started = dt.datetime.now()
        checks = load_fact_checks(self.fact_checks_dir)
        added, removed = self.kb.upsert_fact_checks(checks)
        curated = {check.id for check in checks}
        stale = [
            fc_id
            for fc_id, record in self.kb.load_fact_check_records().items()
            if record.origin == "curated" and fc_id not in curated
        ]
        for fc_id in stale:
            removed += self.kb.remove_fact_check(fc_id)
        if progress:
            progress(len(checks), len(checks))
        phrasings = sum(len(check.phrasings()) for check in checks)
        return IngestSummary(
            "fact-checks",
            str(self.fact_checks_dir),
            len(checks),
            phrasings,
            added,
            removed,
            added == 0 and removed == 0,
            _since(started),
        )

    def rebuild(self, progress: Progress | None = None) -> list[IngestSummary | str]:
        """Drops and rebuilds both collections with the current embedders.

        Clinician-approved fact-checks are kept; every registered source is ingested again
        from where it came from. Returns one summary (or an error line) per source.
        """
        approved: list[FactCheck] = []
        sources = self.list_sources()
        try:
            approved = [
                record
                for record in self.kb.load_fact_check_records().values()
                if record.origin == "approved"
            ]
        except Exception as exc:  # an index built by other settings may not be readable
            log.warning("could not read approved fact-checks before the rebuild: %s", exc)
        self.kb.reset_collections()
        results: list[IngestSummary | str] = [self.load_fact_checks()]
        if approved:
            self.kb.upsert_fact_checks(approved)
        for record in sources:
            self.kb.sources.remove(record["source_id"])
        for record in sources:
            try:
                results.append(
                    self.add(
                        record["location"],
                        publisher=record.get("publisher", ""),
                        language=None
                        if record.get("language") in (None, "", "auto")
                        else record["language"],
                        trust_tier=str(record.get("trust_tier", "1")),
                        progress=progress,
                    )
                )
            except IngestError as exc:
                # Keep the source registered (with the error) so it is not silently forgotten.
                kept = {key: value for key, value in record.items() if key != "source_id"}
                self.kb.sources.put(record["source_id"], {**kept, "chunks": 0, "error": str(exc)})
                results.append(f"{record['source_id']}: {exc}")
        return results


def _embedding_text(chunk: _Chunk) -> str:
    # The document title is part of what a passage is about (MedQuAD answers rarely repeat it).
    title = str(chunk.metadata.get("title", ""))
    return f"{title}\n{chunk.text}" if title and title not in chunk.text[:200] else chunk.text


def _since(started: dt.datetime) -> float:
    return round((dt.datetime.now() - started).total_seconds(), 2)


__all__ = ["PASSAGES", "IngestError", "IngestSummary", "Ingestor", "source_id_for"]
