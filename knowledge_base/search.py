"""Evidence search: dense (Chroma) and BM25 (bm25s with Snowball stemmers) fused by reciprocal rank."""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

from knowledge_base.store import Hit, VectorCollection, content_hash
from knowledge_base.text import normalise_for_match

log = logging.getLogger(__name__)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMERS = {"ar": "arabic", "fr": "french", "en": "english"}
_STOPWORDS = {
    "en": set(
        [
            "a",
            "an",
            "and",
            "are",
            "as",
            "at",
            "be",
            "by",
            "for",
            "from",
            "has",
            "have",
            "in",
            "is",
            "it",
            "its",
            "of",
            "on",
            "or",
            "that",
            "the",
            "this",
            "to",
            "was",
            "were",
            "will",
            "with",
            "you",
            "your",
        ]
    ),
    "fr": set(
        [
            "a",
            "au",
            "aux",
            "avec",
            "ce",
            "ces",
            "dans",
            "de",
            "des",
            "du",
            "elle",
            "en",
            "est",
            "et",
            "il",
            "ils",
            "la",
            "le",
            "les",
            "leur",
            "mais",
            "ne",
            "ou",
            "par",
            "pas",
            "pour",
            "qu",
            "que",
            "qui",
            "sa",
            "se",
            "ses",
            "son",
            "sur",
            "un",
            "une",
            "vous",
        ]
    ),
    "ar": set(
        [
            "في",
            "من",
            "على",
            "الى",
            "ان",
            "او",
            "ما",
            "لا",
            "هذا",
            "هذه",
            "ذلك",
            "التي",
            "الذي",
            "عن",
            "مع",
            "كان",
            "هو",
            "هي",
        ]
    ),
}
RRF_K = 60


@lru_cache(maxsize=8)
def _stemmer(language: str) -> Any:
    return Stemmer.Stemmer(_STEMMERS.get(language, "english"))


def tokenize(text: str, language: str) -> list[str]:
    """Normalised, stop-word-free, stemmed tokens for BM25."""
    words = [word for word in _WORD.findall(normalise_for_match(text)) if len(word) > 1]
    stop = _STOPWORDS.get(language, set())
    return _stemmer(language).stemWords([word for word in words if word not in stop])


class BM25Index:
    """A bm25s index over the passages collection, cached on disk and rebuilt when it is stale."""

    def __init__(self, folder: Path, recheck_s: float = 30.0) -> None:
        self.folder = folder
        self._retriever: bm25s.BM25 | None = None
        self._ids: list[str] = []
        self._fingerprint = ""
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self.recheck_s = recheck_s

    @staticmethod
    def fingerprint(ids: list[str]) -> str:
        return content_hash(*sorted(ids))[:24]

    def ensure(self, passages: VectorCollection, force: bool = False) -> None:
        """Loads the cached index, or rebuilds it when the passages changed since it was built.

        Listing every passage id to check for changes costs tens of milliseconds on a large
        corpus, so a loaded index is re-checked at most every `recheck_s` seconds (ingest in
        this process calls `invalidate()` so its changes show at once).
        """
        with self._lock:
            now = time.monotonic()
            if (
                not force
                and self._retriever is not None
                and now - self._checked_at < self.recheck_s
            ):
                return
            self._checked_at = now
            ids = passages.ids_where({"chunk_index": {"$gte": 0}}) if passages.count() else []
            fingerprint = self.fingerprint(ids)
            if self._retriever is not None and fingerprint == self._fingerprint:
                return
            if self._load(fingerprint):
                return
            self._build(passages, fingerprint)

    def invalidate(self) -> None:
        self._checked_at = float("-inf")

    def _load(self, fingerprint: str) -> bool:
        meta_path = self.folder / "ids.json"
        if not meta_path.exists():
            return False
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("fingerprint") != fingerprint:
                return False
            self._ids = meta["ids"]
            self._retriever = (
                bm25s.BM25.load(str(self.folder / "index"), show_progress=False)
                if self._ids
                else None
            )
            self._fingerprint = fingerprint
            return True
        except (OSError, ValueError, KeyError) as exc:
            log.warning("BM25 cache unreadable, rebuilding: %s", exc)
            return False

    def _build(self, passages: VectorCollection, fingerprint: str) -> None:
        rows = passages.all()
        self._ids = [id_ for id_, _, _ in rows]
        corpus = [
            tokenize(text, str(meta.get("language", "en"))) or ["_"] for _, text, meta in rows
        ]
        self._retriever = None
        tmp = self.folder.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if corpus:
            retriever = bm25s.BM25()
            retriever.index(corpus, show_progress=False)
            retriever.save(str(tmp / "index"), show_progress=False)
            self._retriever = retriever
        (tmp / "ids.json").write_text(json.dumps({"fingerprint": fingerprint, "ids": self._ids}))
        shutil.rmtree(self.folder, ignore_errors=True)
        tmp.rename(self.folder)
        self._fingerprint = fingerprint

    def search(self, text: str, language: str, k: int) -> list[tuple[str, float]]:
        if self._retriever is None or not self._ids:
            return []
        vocab = self._retriever.vocab_dict
        tokens = [token for token in tokenize(text, language) if token in vocab]
        if not tokens:
            return []
        documents, scores = self._retriever.retrieve(
            [tokens], k=min(k, len(self._ids)), show_progress=False, n_threads=1
        )
        return [
            (self._ids[int(doc)], float(score))
            for doc, score in zip(documents[0], scores[0], strict=True)
            if score > 0
        ]


@dataclass(frozen=True)
class Evidence:
    """A passage found for a claim, with its dense similarity and its fused rank score."""

    hit: Hit
    dense_score: float
    fused_score: float


class EvidenceSearch:
    """Hybrid retrieval over passages: dense top-k and BM25 top-k fused by reciprocal rank."""

    def __init__(
        self,
        passages: VectorCollection,
        bm25: BM25Index,
        depth: int = 20,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
    ) -> None:
        self.passages = passages
        self.bm25 = bm25
        self.depth = depth
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight

    def warm_up(self) -> None:
        self.bm25.ensure(self.passages)
        self.passages.embeddings.embed_query("warm up")

    def search(self, text: str, language: str, k: int = 3) -> list[Evidence]:
        if self.passages.count() == 0:
            return []
        self.bm25.ensure(self.passages)
        vector = self.passages.embeddings.embed_query(text)
        dense = self.passages.query(vector, self.depth)
        lexical = self.bm25.search(text, language, self.depth)
        fused: dict[str, float] = {}
        for rank, hit in enumerate(dense):
            fused[hit.id] = fused.get(hit.id, 0.0) + self.dense_weight / (RRF_K + rank + 1)
        for rank, (id_, _) in enumerate(lexical):
            fused[id_] = fused.get(id_, 0.0) + self.lexical_weight / (RRF_K + rank + 1)
        by_id = {hit.id: hit for hit in dense}
        missing = [id_ for id_ in fused if id_ not in by_id]
        if missing:
            by_id.update(self._fetch(missing, vector))
        ranked = sorted(fused.items(), key=lambda item: item[1], reverse=True)[:k]
        return [
            Evidence(by_id[id_], by_id[id_].score, score) for id_, score in ranked if id_ in by_id
        ]

    def _fetch(self, ids: list[str], vector: list[float]) -> dict[str, Hit]:
        """Passages found only by BM25, with their dense similarity computed from stored vectors."""
        query = np.asarray(vector, dtype=np.float32)
        return {
            id_: Hit(id_, text, meta, float(np.dot(query, np.asarray(emb, dtype=np.float32))))
            for id_, text, meta, emb in self.passages.get_with_vectors(ids)
        }
