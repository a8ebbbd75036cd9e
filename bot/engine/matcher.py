"""Claim matching: a message against every phrasing of every fact-check, across languages.

A match is only answered at once when several signals agree: the fused similarity (two
embedders), the topic's key entity (one of its keywords) present in the message, and the margin
over the best other fact-check once key entities are counted. What stays uncertain is left to clinicians.
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
    answer: float = 0.63
    review: float = 0.60
    min_margin: float = 0.05
    # Added to a candidate's similarity when its key entity (a keyword) is in the message.
    keyword_bonus: float = 0.15


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
        # Candidates whose key entity is in the message get a bonus; the best adjusted one wins.
        adjusted = sorted(
            ((fc_id, score, self.has_keyword(fc_id, text)) for fc_id, score in ranked),
            key=lambda item: item[1] + (limits.keyword_bonus if item[2] else 0.0),
            reverse=True,
        )
        chosen_id, chosen_score, keyword = adjusted[0]
        runner_up = adjusted[1] if len(adjusted) > 1 else None
        bonus = limits.keyword_bonus if keyword else 0.0
        margin = (
            chosen_score
            + bonus
            - (runner_up[1] + (limits.keyword_bonus if runner_up[2] else 0.0) if runner_up else 0.0)
        )
        if keyword and chosen_score >= limits.answer and margin >= limits.min_margin:
            decision: Decision = "answer"
        elif chosen_score + bonus >= limits.review:
            decision = "review"
        else:
            decision = "none"
        return Match(
            self.records[chosen_id],
            chosen_score,
            margin,
            keyword,
            decision,
            runner_up[0] if runner_up else None,
        )
