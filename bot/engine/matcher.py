"""Claim matching: a message against every phrasing of every fact-check, across languages.

A match is only answered at once when several signals agree: the fused similarity (two
embedders), the margin over the best other fact-check, and the topic's key entity (one of its
keywords) present in the message. What stays uncertain is left to clinicians.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from knowledge_base.factchecks import FactCheck
from knowledge_base.store import VectorCollection
from knowledge_base.text import normalise_for_match

Decision = Literal["answer", "review", "none"]


@dataclass(frozen=True)
class MatchThresholds:
    answer: float = 0.80
    review: float = 0.62
    min_margin: float = 0.0
    # Without the key entity a match needs this much more similarity to be answered.
    no_keyword_penalty: float = 0.12


@dataclass(frozen=True)
class Match:
    fact_check: FactCheck
    score: float
    margin: float
    keyword: bool
    decision: Decision
    runner_up: str | None = None


class ClaimMatcher:
    """Finds the fact-check a message repeats, and says whether to answer, review or abstain."""

    def __init__(
        self,
        collection: VectorCollection,
        records: dict[str, FactCheck],
        thresholds: MatchThresholds | None = None,
        depth: int = 40,
    ) -> None:
        self.collection = collection
        self.records = records
        self.thresholds = thresholds or MatchThresholds()
        self.depth = depth
        self._stems = {fc_id: record.keyword_stems() for fc_id, record in records.items()}

    def candidates(self, text: str) -> list[tuple[str, float]]:
        """Fact-check ids with their best phrasing's similarity, best first."""
        vector = self.collection.embeddings.embed_query(text)
        best: dict[str, float] = {}
        for hit in self.collection.query(vector, self.depth):
            fc_id = str(hit.metadata.get("fact_check_id"))
            if fc_id in self.records and hit.score > best.get(fc_id, -1.0):
                best[fc_id] = hit.score
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    def has_keyword(self, fc_id: str, text: str) -> bool:
        normalised = normalise_for_match(text)
        return any(stem in normalised for stem in self._stems.get(fc_id, ()))

    def match(self, text: str) -> Match | None:
        ranked = self.candidates(text)
        if not ranked:
            return None
        limits = self.thresholds
        # Prefer the best candidate whose key entity is in the message, if it is close to the top.
        top_id, top_score = ranked[0]
        chosen_id, chosen_score = top_id, top_score
        for fc_id, score in ranked[:5]:
            if self.has_keyword(fc_id, text):
                if score >= top_score - limits.no_keyword_penalty:
                    chosen_id, chosen_score = fc_id, score
                break
        keyword = self.has_keyword(chosen_id, text)
        others = [score for fc_id, score in ranked if fc_id != chosen_id]
        runner_up = next((fc_id for fc_id, _ in ranked if fc_id != chosen_id), None)
        margin = chosen_score - (others[0] if others else 0.0)
        effective = chosen_score if keyword else chosen_score - limits.no_keyword_penalty
        if effective >= limits.answer and margin >= limits.min_margin and keyword:
            decision: Decision = "answer"
        elif effective >= limits.review:
            decision = "review"
        else:
            decision = "none"
        return Match(self.records[chosen_id], chosen_score, margin, keyword, decision, runner_up)
