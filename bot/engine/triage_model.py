"""A learned backstop for the triage cues: logistic regression over the claim-matching embedding.

The cue lists (triage.yaml) are precise but miss phrasings nobody wrote down (a dialect, a new
slang word). This model, trained on the labelled example messages (knowledge_base/examples.py),
gives the probability that a message is an emergency or a request for personal advice. The
engine uses it only to escalate: an emergency above TRIAGE_EMERGENCY_THRESHOLD, personal advice
above TRIAGE_PERSONAL_THRESHOLD when no fact-check answers the message. Training takes a few
seconds; `factcheck ingest rebuild` does it and saves the weights in DATA_DIR, keyed by the
embedder and the examples, so the bot starts without retraining. Prediction is one small matrix
product (numpy); scikit-learn is needed only to train.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from knowledge_base.examples import CATEGORIES, Example, fingerprint, load_examples

log = logging.getLogger(__name__)


class TriageModel:
    """Class probabilities for a message vector; classes are `CATEGORIES`."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, key: str) -> None:
        if weights.shape[0] != len(CATEGORIES) or bias.shape != (len(CATEGORIES),):
            raise ValueError("weights and bias must have one row per category")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.key = key  # embedder and examples the model was trained for

    def probabilities(self, vector: Sequence[float]) -> dict[str, float]:
        scores = self.weights @ np.asarray(vector, dtype=np.float32) + self.bias
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        return {category: float(p) for category, p in zip(CATEGORIES, scores, strict=True)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, weights=self.weights, bias=self.bias, key=np.array(self.key))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> TriageModel:
        with np.load(path) as data:
            return cls(data["weights"], data["bias"], str(data["key"]))

    @classmethod
    def train(cls, vectors: np.ndarray, categories: Sequence[str], key: str) -> TriageModel:
        from sklearn.linear_model import LogisticRegression

        labels = np.asarray([CATEGORIES.index(c) for c in categories])
        # Balanced classes: emergencies are few among the examples but matter most.
        model = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
        model.fit(vectors, labels)
        weights = np.zeros((len(CATEGORIES), vectors.shape[1]), dtype=np.float32)
        bias = np.full(len(CATEGORIES), -1e4, dtype=np.float32)  # a category with no example
        for row, label in enumerate(model.classes_):
            weights[label] = model.coef_[row]
            bias[label] = model.intercept_[row]
        return cls(weights, bias, key)


_cache: dict[str, TriageModel] = {}
_lock = threading.Lock()


def model_key(embedder_name: str, examples: list[Example]) -> str:
    return f"{embedder_name}:{fingerprint(examples)}"


def triage_model(
    embeddings: Embeddings,
    embedder_name: str,
    data_dir: Path,
    examples: list[Example] | None = None,
) -> TriageModel | None:
    """The model for this embedder and these examples: from memory, from DATA_DIR, else trained
    now (and saved). None when there are no examples."""
    examples = load_examples() if examples is None else examples
    if not examples:
        return None
    key = model_key(embedder_name, examples)
    with _lock:
        if key in _cache:
            return _cache[key]
        path = data_dir / "triage_model.npz"
        model = None
        if path.exists():
            try:
                model = TriageModel.load(path)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("triage model at %s unreadable (%s): training a new one", path, exc)
            if model is not None and model.key != key:
                model = None
        if model is None:
            vectors = np.asarray(
                embeddings.embed_documents([e.text for e in examples]), dtype=np.float32
            )
            model = TriageModel.train(vectors, [e.category for e in examples], key)
            model.save(path)
        _cache[key] = model
        return model
