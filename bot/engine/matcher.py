"""Claim matching: a message against every phrasing of every fact-check, across languages.

A fact-check is answered at once only when two kinds of evidence agree: the message meets the
fact-check's keyword rules (its key entity, and what the rumour says about it, e.g. garlic *and*
COVID-19), and the fused similarity of two embedders to one of its phrasings passes the answer
threshold, ahead of any other fact-check whose rules the message also meets. Everything else is
left to clinicians, with the closest fact-check as a suggestion.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

from knowledge_base.arabizi import (
    common_skeletons,
    keyword_skeletons,
    message_skeletons,
    skeleton_met,
)
from knowledge_base.factchecks import FactCheck, first_unmet
from knowledge_base.language import ARABIC_SCRIPT_SHARE
from knowledge_base.store import VectorCollection
from knowledge_base.text import arabic_share, embedding_form, match_form

Decision = Literal["answer", "review", "none"]


@dataclass(frozen=True)
class MatchThresholds:
    answer: float = 0.25
    review: float = 0.45
    min_margin: float = 0.0
    # Arabic written in Latin letters ("Arabizi"), whose fact-check the embedders score low.
    arabizi: float = 0.15
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
        # Phrasings ranked: a fact-check none of whose phrasings is among the closest `depth` is
        # not considered. Searching them all rescued a few long messages but let as many
        # uncovered ones reach a far-off fact-check whose loose rules they met.
        self.depth = depth
        # Keyword rules normalised once, not for every message.
        self._groups = {fc_id: record.rule_groups() for fc_id, record in records.items()}
        self._excludes = {fc_id: record.exclude_stems() for fc_id, record in records.items()}
        self._skeletons: dict[str, tuple[list[set[str]], set[str]]] = {}
        self._common = common_skeletons(
            [text.explanation for record in records.values() for text in record.claims.values()],
            {stem for groups in self._groups.values() for group in groups for stem in group},
        )
        for fc_id in records:
            self._index_skeletons(fc_id)
        # The fact-check collection is small (about a thousand phrasings): one matrix product in
        # memory ranks them all in well under a millisecond, against about ten for a Chroma query.
        self._owners: list[str] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._lock = threading.Lock()
        self._load(list(records))

    def _index_skeletons(self, fc_id: str) -> None:
        """Arabic keywords by consonant skeleton, for messages written in Arabizi."""
        groups = self._groups[fc_id]
        self._skeletons[fc_id] = (
            [keyword_skeletons(group, self._common) for group in groups],
            keyword_skeletons(self._excludes[fc_id], self._common),
        )

    def _load(self, fc_ids: list[str]) -> None:
        rows = self.collection.vectors_where({"fact_check_id": {"$in": fc_ids}}) if fc_ids else []
        with self._lock:
            keep = [i for i, owner in enumerate(self._owners) if owner not in set(fc_ids)]
            owners = [self._owners[i] for i in keep] + [str(m["fact_check_id"]) for _, m, _ in rows]
            blocks = [self._matrix[keep]] if keep else []
            if rows:
                blocks.append(np.asarray([vector for _, _, vector in rows], dtype=np.float32))
            self._matrix = np.concatenate(blocks) if blocks else np.zeros((0, 0), np.float32)
            self._owners = owners

    def embed(self, text: str) -> list[float]:
        return self.collection.embeddings.embed_query(embedding_form(text))

    def candidates(self, text: str, vector: list[float] | None = None) -> list[tuple[str, float]]:
        """Fact-check ids with their best phrasing's similarity, best first."""
        if vector is None:
            vector = self.embed(text)
        with self._lock:
            matrix, owners = self._matrix, self._owners
        if not owners:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        depth = min(self.depth, len(owners))
        top = np.argpartition(-scores, depth - 1)[:depth]
        best: dict[str, float] = {}
        for index in top[np.argsort(-scores[top])]:
            fc_id = owners[index]
            if fc_id in self.records and fc_id not in best:
                best[fc_id] = float(scores[index])
        return sorted(best.items(), key=lambda item: item[1], reverse=True)

    def add(self, record: FactCheck) -> None:
        """Makes a newly approved (or revised) fact-check matchable at once."""
        self.records[record.id] = record
        self._groups[record.id] = record.rule_groups()
        self._excludes[record.id] = record.exclude_stems()
        self._index_skeletons(record.id)
        self._load([record.id])

    def unmet_group(self, fc_id: str, form: str) -> int | None:
        """The first keyword-rule group of a fact-check that `form` (see `match_form`) misses."""
        return first_unmet(self._groups.get(fc_id, [set()]), form)

    def rules_met(
        self, fc_id: str, form: str, score: float = 1.0, arabizi: list[str] | None = None
    ) -> bool:
        """Every rule group met and no excluding stem present.

        `arabizi`: consonant skeletons of the message's Latin words when it is Arabic written in
        Latin letters (see `knowledge_base.arabizi`); an Arabic keyword with the same skeleton
        counts as present, provided one group at least is met by a keyword as written.
        """
        groups = self._groups.get(fc_id)
        if groups is None:
            return False
        if not groups[0]:  # an approved reply without keywords: similarity alone decides
            return score >= self.thresholds.approved
        skeleton_groups, skeleton_excludes = self._skeletons[fc_id]
        if any(stem in form for stem in self._excludes.get(fc_id, ())) or (
            arabizi and skeleton_met(skeleton_excludes, arabizi)
        ):
            return False
        exact = [any(stem in form for stem in group) for group in groups]
        if all(exact):
            return True
        # Skeletons only fill in: one group at least must be met by a keyword as written.
        return (
            bool(arabizi)
            and any(exact)
            and all(
                met or skeleton_met(skeleton_groups[index], arabizi)
                for index, met in enumerate(exact)
            )
        )

    def match(
        self, text: str, vector: list[float] | None = None, language: str | None = None
    ) -> Match | None:
        ranked = self.candidates(text, vector)
        if not ranked:
            return None
        limits = self.thresholds
        form = match_form(text)
        arabizi = message_skeletons(form) if language == "ar" else []
        eligible = [(fc_id, s) for fc_id, s in ranked if self.rules_met(fc_id, form, s, arabizi)]
        if eligible:
            (chosen_id, score), rest = eligible[0], eligible[1:]
            margin = score - (rest[0][1] if rest else 0.0)
            # The embedders read Arabizi poorly (its similarities run low): the rules weigh more.
            in_latin = language == "ar" and arabic_share(text) < ARABIC_SCRIPT_SHARE
            answer_at = limits.arabizi if in_latin else limits.answer
            decision: Decision = (
                "answer" if score >= answer_at and margin >= limits.min_margin else "review"
            )
            runner_up = rest[0][0] if rest else None
            return Match(self.records[chosen_id], score, margin, True, decision, runner_up)
        (chosen_id, score), rest = ranked[0], ranked[1:]
        margin = score - (rest[0][1] if rest else 0.0)
        decision = "review" if score >= limits.review else "none"
        runner_up = rest[0][0] if rest else None
        return Match(self.records[chosen_id], score, margin, False, decision, runner_up)
