"""Claim matching: a message against every phrasing of every fact-check, across languages.

A fact-check is answered at once only when two kinds of evidence agree: the message meets the
fact-check's keyword rules (its key entity, and what the rumour says about it, e.g. garlic *and*
COVID-19), and the fused similarity of two embedders to one of its phrasings passes the answer
threshold, ahead of any other fact-check whose rules the message also meets. Everything else is
left to clinicians, with the closest fact-check as a suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from knowledge_base.factchecks import FactCheck
from knowledge_base.store import VectorCollection

Decision = Literal["answer", "review", "none"]


@dataclass(frozen=True)
class MatchThresholds:
    answer: float = 0.50
    review: float = 0.60
    min_margin: float = 0.0
    # Clinician-approved replies carry no keyword rules: they need a near-repeat of the claim.
    approved: float = 0.88


@dataclass(frozen=True)
class Match:
    fact_check: FactCheck
    score: float
    margin: float
    rules_met: bool
    decision: Decision
    runner_up: str | None = None


class ClaimMatcher:
    """Finds the fact-check a message repeats, and says whether to answer, review or abstain."""

    def __init__(
        self,
        collection: VectorCollection,
        records: dict[str, FactCheck],
        thresholds: MatchThresholds | None = None,
        depth: int = 60,
    ) -> None:
        self.collection = collection
        self.records = records
        self.thresholds = thresholds or MatchThresholds()
        self.depth = depth

    def embed(self, text: str) -> list[float]:
        return self.collection.embeddings.embed_query(text)

    def candidates(
        self, text: str, vector: list[float] | None = None
    ) -> list[tuple[str, float]]:
        """Fact-check ids with their best phrasing's similarity, best first."""
        if vector is None:
            vector = self.embed(text)
        best: dict[str, float] = {}
        for hit in self.collection.query(vector, self.depth):
            fc_id = str(hit.metadata.get("fact_check_id"))
            if fc_id in self.records and hit.score > best.get(fc_id, -1.0):
                best[fc_id] = hit.score
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    def add(self, record: FactCheck) -> None:
        """Makes a newly approved fact-check matchable at once."""
        self.records[record.id] = record

    def rules_met(self, fc_id: str, text: str, score: float = 1.0) -> bool:
        record = self.records.get(fc_id)
        if record is None:
            return False
        if not record.keyword_stems():
            return score >= self.thresholds.approved
        return record.first_unmet_group(text) is None

    def match(self, text: str, vector: list[float] | None = None) -> Match | None:
        ranked = self.candidates(text, vector)
        if not ranked:
            return None
        limits = self.thresholds
        eligible = [(fc_id, s) for fc_id, s in ranked if self.rules_met(fc_id, text, s)]
        if eligible:
            (chosen_id, score), rest = eligible[0], eligible[1:]
            margin = score - (rest[0][1] if rest else 0.0)
            decision: Decision = (
                "answer" if score >= limits.answer and margin >= limits.min_margin else "review"
            )
            runner_up = rest[0][0] if rest else None
            return Match(self.records[chosen_id], score, margin, True, decision, runner_up)
        (chosen_id, score), rest = ranked[0], ranked[1:]
        margin = score - (rest[0][1] if rest else 0.0)
        decision = "review" if score >= limits.review else "none"
        runner_up = rest[0][0] if rest else None
        return Match(self.records[chosen_id], score, margin, False, decision, runner_up)
