"""The vector store: Chroma on disk or a Chroma server, with the three collections the project uses.

- `fact_checks`: one entry per phrasing (canonical claim and variants, per language) of each
  fact-check; the canonical English entry carries the whole fact-check as JSON.
- `passages`: chunks of vetted documents, embedded for evidence retrieval.
- `sources`: the registry of ingested sources (metadata only).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from langchain_core.embeddings import Embeddings

from knowledge_base.factchecks import FactCheck

FACT_CHECKS = "fact_checks"
PASSAGES = "passages"
SOURCES = "sources"
_BATCH = 500
log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The vector store is missing, unreachable, or was built with other settings."""


def content_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def make_client(path: Path | None = None, host: str | None = None, port: int = 8000) -> ClientAPI:
    """A Chroma client: a server when `host` is given, otherwise a folder on disk."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if host:
        try:
            return chromadb.HttpClient(host=host, port=port, settings=settings)
        except Exception as exc:  # chromadb raises several types for an unreachable server
            raise StoreError(f"cannot reach the Chroma server at {host}:{port}: {exc}") from exc
    if path is None:
        raise StoreError("no Chroma path and no CHROMA_HOST given")
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except (
        Exception
    ) as exc:  # a damaged chroma.sqlite3 raises chromadb's InternalError, among others
        raise StoreError(
            f"cannot open the vector store at {path} ({type(exc).__name__}: {exc}): move "
            "that folder away and run `factcheck ingest rebuild` to build it again"
        ) from exc


@dataclass(frozen=True)
class Hit:
    """One search result: the stored text, its metadata and a cosine similarity in [-1, 1]."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float


class VectorCollection:
    """A Chroma collection tied to the embedder that built it."""

    def __init__(
        self, client: ClientAPI, name: str, embeddings: Embeddings, check: bool = True
    ) -> None:
        self.name = name
        self.embeddings = embeddings
        embedder = getattr(embeddings, "name", type(embeddings).__name__)
        self._collection: Collection = client.get_or_create_collection(
            name, metadata={"hnsw:space": "cosine", "embedder": embedder}
        )
        built_with = (self._collection.metadata or {}).get("embedder")
        if check and built_with != embedder:
            raise StoreError(
                f"the '{name}' collection was built with the embedder {built_with!r}, but the "
                f"settings name {embedder!r}: run `factcheck ingest rebuild`"
            )

    def count(self) -> int:
        return self._collection.count()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            found.update(
                self._collection.get(ids=list(ids[start : start + _BATCH]), include=[])["ids"]
            )
        return found

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        embeddings: Sequence[Sequence[float]] | None = None,
    ) -> None:
        if embeddings is None:
            embeddings = self.embeddings.embed_documents(list(texts))
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            self._collection.upsert(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
                embeddings=[list(vector) for vector in embeddings[start:end]],
            )

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        """Replaces the metadata of stored entries, keeping their text and vectors."""
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            self._collection.update(ids=list(ids[start:end]), metadatas=list(metadatas[start:end]))

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _BATCH):
            self._collection.delete(ids=list(ids[start : start + _BATCH]))

    def ids_where(self, where: dict[str, Any]) -> list[str]:
        return list(self._collection.get(where=where, include=[])["ids"])

    def all(self, where: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        result = self._collection.get(where=where, include=["documents", "metadatas"])
        return list(
            zip(result["ids"], result["documents"] or [], result["metadatas"] or [], strict=True)
        )

    def vectors_where(self, where: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
        """(id, metadata, vector) of every entry matching `where`."""
        result = self._collection.get(where=where, include=["metadatas", "embeddings"])
        vectors = result["embeddings"] if result["embeddings"] is not None else []
        return list(
            zip(
                result["ids"],
                [dict(meta or {}) for meta in result["metadatas"] or []],
                vectors,
                strict=True,
            )
        )

    def get_with_vectors(self, ids: Sequence[str]) -> list[tuple[str, str, dict[str, Any], Any]]:
        result = self._collection.get(
            ids=list(ids), include=["documents", "metadatas", "embeddings"]
        )
        return list(
            zip(
                result["ids"],
                [doc or "" for doc in result["documents"] or []],
                [dict(meta or {}) for meta in result["metadatas"] or []],
                result["embeddings"] if result["embeddings"] is not None else [],
                strict=True,
            )
        )

    def query(
        self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[Hit]:
        total = self.count()
        if total == 0:
            return []
        result = self._collection.query(
            query_embeddings=[list(vector)],
            n_results=min(k, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(id=id_, text=doc or "", metadata=dict(meta or {}), score=1.0 - float(dist))
            for id_, doc, meta, dist in zip(
                result["ids"][0],
                (result["documents"] or [[]])[0],
                (result["metadatas"] or [[]])[0],
                (result["distances"] or [[]])[0],
                strict=True,
            )
        ]


class SourceRegistry:
    """Ingested sources, kept in Chroma beside their chunks so every worker sees the same list."""

    def __init__(self, client: ClientAPI) -> None:
        self._collection = client.get_or_create_collection(SOURCES, metadata={"hnsw:space": "l2"})

    def get(self, source_id: str) -> dict[str, Any] | None:
        result = self._collection.get(ids=[source_id], include=["metadatas"])
        return dict(result["metadatas"][0]) if result["ids"] and result["metadatas"] else None

    def put(self, source_id: str, record: dict[str, Any]) -> None:
        clean = {key: value for key, value in record.items() if value is not None}
        self._collection.upsert(
            ids=[source_id], embeddings=[[1.0]], documents=[source_id], metadatas=[clean]
        )

    def remove(self, source_id: str) -> None:
        self._collection.delete(ids=[source_id])

    def all(self) -> list[dict[str, Any]]:
        result = self._collection.get(include=["metadatas"])
        records = [
            dict(meta or {}, source_id=id_)
            for id_, meta in zip(result["ids"], result["metadatas"] or [], strict=True)
        ]
        return sorted(records, key=lambda record: str(record.get("added", "")))


class KnowledgeBase:
    """The store as the rest of the project sees it: fact-checks, passages and the source registry."""

    def __init__(
        self,
        client: ClientAPI,
        match_embeddings: Embeddings,
        passage_embeddings: Embeddings,
        *,
        check: bool = True,
    ) -> None:
        self.client = client
        self._match_embeddings = match_embeddings
        self._passage_embeddings = passage_embeddings
        try:
            self.sources = SourceRegistry(client)
            self._open(check)
        except StoreError:
            raise
        except Exception as exc:  # damaged collections or segment files
            raise StoreError(
                f"cannot open the vector store ({type(exc).__name__}: {exc}): move its "
                "folder away and run `factcheck ingest rebuild` to build it again"
            ) from exc

    def _open(self, check: bool) -> None:
        self.fact_checks = VectorCollection(self.client, FACT_CHECKS, self._match_embeddings, check)
        self.passages = VectorCollection(self.client, PASSAGES, self._passage_embeddings, check)

    def reset_collections(self) -> None:
        """Drops the fact-check and passage collections and creates them with the current embedders."""
        for name in (FACT_CHECKS, PASSAGES):
            try:
                self.client.delete_collection(name)
            except Exception:  # absent already: nothing to drop
                log.debug("collection %s was absent", name)
        self._open(check=True)

    # Fact-checks ----------------------------------------------------------------------------
    def upsert_fact_checks(self, checks: Iterable[FactCheck]) -> tuple[int, int]:
        """Adds or refreshes fact-checks; returns (phrasings added, phrasings removed).

        Phrasings whose text and fact-check are unchanged are left alone (no re-embedding).
        """
        checks = list(checks)
        ids = [check.id for check in checks]
        wanted: dict[str, tuple[str, dict[str, Any]]] = {}
        for check in checks:
            record = check.model_dump_json()
            record_hash = content_hash(record)[:16]
            for lang, text in check.claims.items():
                for position, phrase in enumerate([text.claim, *text.variants]):
                    meta: dict[str, Any] = {
                        "fact_check_id": check.id,
                        "language": lang,
                        "verdict": check.verdict,
                        "kind": "claim" if position == 0 else "variant",
                        "origin": check.origin,
                        "record_hash": record_hash,
                    }
                    if position == 0 and lang == _record_language(check):
                        meta["record"] = record
                    wanted[f"{check.id}:{lang}:{content_hash(phrase)[:16]}"] = (phrase, meta)
        current: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            where = {"fact_check_id": {"$in": ids[start : start + 100]}}
            current.update({id_: meta for id_, _, meta in self.fact_checks.all(where=where)})
        stale = [id_ for id_ in current if id_ not in wanted]
        new = [id_ for id_ in wanted if id_ not in current]
        relabel = [
            id_
            for id_ in wanted
            if id_ in current and current[id_].get("record_hash") != wanted[id_][1]["record_hash"]
        ]
        self.fact_checks.delete(stale)
        if new:
            self.fact_checks.upsert(new, [wanted[i][0] for i in new], [wanted[i][1] for i in new])
        if relabel:
            self.fact_checks.update_metadata(relabel, [wanted[i][1] for i in relabel])
        return len(new), len(stale)

    def remove_fact_check(self, fact_check_id: str) -> int:
        ids = self.fact_checks.ids_where({"fact_check_id": fact_check_id})
        self.fact_checks.delete(ids)
        return len(ids)

    def load_fact_check_records(self) -> dict[str, FactCheck]:
        records: dict[str, FactCheck] = {}
        for _, _, meta in self.fact_checks.all(where={"kind": "claim"}):
            if "record" in meta:
                check = FactCheck.model_validate(json.loads(meta["record"]))
                records[check.id] = check
        return records


def _record_language(check: FactCheck) -> str:
    """The language whose canonical entry carries the whole fact-check record."""
    return "en" if "en" in check.claims else sorted(check.claims)[0]
