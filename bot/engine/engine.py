"""The fact-checking engine: one message in, one outcome out. It knows nothing about Telegram.

normalise -> detect language -> triage -> match fact-checks (two thresholds) -> retrieve evidence
-> answer or abstain -> compose the reply in the asker's language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.engine import compose
from bot.engine.matcher import ClaimMatcher, Match
from bot.engine.outcome import CitationOut, Outcome
from bot.engine.triage import content_words, mentions_health, triage
from bot.engine.triage_model import TriageModel
from bot.privacy import PatternRedactor, Redactor
from knowledge_base.factchecks import FactCheck
from knowledge_base.language import detect_language
from knowledge_base.search import Evidence, EvidenceSearch
from knowledge_base.text import clean_text, match_form

MAX_INPUT_CHARS = 8000
SHORT_MESSAGE_WORDS = 2


@dataclass(frozen=True)
class EngineConfig:
    emergency_number: str = "112"
    emergency_threshold: float = 0.8  # triage model probability that escalates to an emergency
    personal_threshold: float = 0.6  # ... to personal advice, when no fact-check answers
    evidence_min_score: float = 0.35
    evidence_top_k: int = 3


class FactCheckEngine:
    """Turns a message into an `Outcome`; services are passed in, models load on first use."""

    def __init__(
        self,
        matcher: ClaimMatcher,
        evidence: EvidenceSearch | None,
        config: EngineConfig,
        redactor: Redactor | None = None,
        triage_model: TriageModel | None = None,
    ) -> None:
        self.matcher = matcher
        self.evidence = evidence
        self.config = config
        self.redactor: Redactor = redactor or PatternRedactor()
        self.triage_model = triage_model

    def warm_up(self) -> None:
        """Loads every model and index now rather than on the first message."""
        self.check("warm up: garlic cures covid")
        self.check("الثوم يعالج كورونا")
        if self.evidence is not None:
            self.evidence.warm_up()
        self.redactor.redact("warm up", "fr")

    def check(self, text: str, id: str | None = None, language: str | None = None) -> Outcome:
        started = time.perf_counter()
        outcome = self._decide(text, id, language)
        # What is stored and what reviewers see: personal data replaced by placeholders.
        outcome.redacted_text = self.redactor.redact(outcome.text, outcome.language)
        outcome.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        return outcome

    def _decide(self, raw: str, id: str | None, hint: str | None) -> Outcome:
        text = clean_text(raw or "")[:MAX_INPUT_CHARS]
        language = detect_language(text, fallback=hint or "en")
        number = self.config.emergency_number
        if not any(ch.isalnum() for ch in text):
            return Outcome(
                id,
                language,
                "not_a_claim",
                None,
                "answered",
                compose.t("reply.empty", language),
                text=text,
            )
        verdict = triage(text)
        if verdict.category == "emergency":
            reply = compose.emergency_reply(language, number, verdict.self_harm)
            return Outcome(id, language, "emergency", None, "answered", reply, text=text)
        vector = self.matcher.embed(text)
        learned = self.triage_model.probabilities(vector) if self.triage_model else {}
        if learned.get("emergency", 0.0) >= self.config.emergency_threshold:
            # Phrasings the cues miss: better an emergency number too many than one too few.
            reply = compose.emergency_reply(language, number, False)
            return Outcome(id, language, "emergency", None, "answered", reply, text=text)
        match = self.matcher.match(text, vector, language)
        if match is not None and match.decision == "answer":
            return self._answered(id, language, text, match)
        if verdict.category == "personal_advice" or (
            verdict.category == "claim"
            and learned.get("personal_advice", 0.0) >= self.config.personal_threshold
        ):
            reply = compose.personal_advice_reply(language, number)
            return Outcome(id, language, "personal_advice", None, "answered", reply, text=text)
        if verdict.category in ("greeting", "about_bot"):
            reply = (
                compose.about_reply(language)
                if verdict.category == "about_bot"
                else compose.help_reply(language)
            )
            return Outcome(id, language, "not_a_claim", None, "answered", reply, text=text)
        if len(content_words(text)) <= SHORT_MESSAGE_WORDS:
            suggestions = self._suggestions(text)
            reply = compose.short_message_reply(language, suggestions)
            return Outcome(id, language, "not_a_claim", None, "answered", reply, text=text)
        if not mentions_health(text) and (match is None or not match.rules_met):
            # Chit-chat and non-health news: a help text, not a clinician's time.
            return Outcome(
                id,
                language,
                "not_a_claim",
                None,
                "answered",
                compose.help_reply(language),
                text=text,
            )
        outcome = self._needs_review(id, language, text, match)
        outcome.vector = vector
        return outcome

    def _answered(self, id: str | None, language: str, text: str, match: Match) -> Outcome:
        check = match.fact_check
        return Outcome(
            id=id,
            language=language,
            category="claim",
            verdict=check.verdict,
            status="answered",
            reply=compose.fact_check_reply(check, language),
            citations=_citations(check),
            matched_fact_check={"id": check.id, "score": round(match.score, 4)},
            text=text,
        )

    def _needs_review(
        self, id: str | None, language: str, text: str, match: Match | None
    ) -> Outcome:
        evidence = self._evidence(text, language)
        suggestion = None
        if match is not None and match.decision == "review":
            suggestion = {"id": match.fact_check.id, "score": round(match.score, 4)}
        found = [
            {
                "id": item.hit.id,
                "text": item.hit.text,
                "score": round(item.dense_score, 4),
                **{
                    k: item.hit.metadata.get(k, "")
                    for k in ("publisher", "title", "url", "date", "language")
                },
            }
            for item in evidence
        ]
        return Outcome(
            id=id,
            language=language,
            category="claim",
            verdict="unproven",
            status="needs_review",
            reply=compose.pending_reply(evidence, language),
            draft_reply=compose.evidence_draft(found, language),
            citations=[_evidence_citation(item) for item in evidence],
            matched_fact_check=None,
            text=text,
            suggested_fact_check=suggestion,
            evidence=found,
        )

    def _evidence(self, text: str, language: str) -> list[Evidence]:
        if self.evidence is None:
            return []
        found = self.evidence.search(text, language, k=self.config.evidence_top_k)
        return [item for item in found if item.dense_score >= self.config.evidence_min_score]

    def _suggestions(self, text: str) -> list[FactCheck]:
        ranked = self.matcher.candidates(text)[:3]
        form = match_form(text)
        return [
            self.matcher.records[fc_id]
            for fc_id, _ in ranked
            # The key entity is there (rule group 0 met), whatever else the message lacks.
            if self.matcher.unmet_group(fc_id, form) != 0
        ]


def _citations(check: FactCheck) -> list[CitationOut]:
    return [
        CitationOut(
            title=citation.title,
            publisher=citation.publisher,
            url=str(citation.url),
            language=citation.language,
            date=citation.checked.isoformat(),
        )
        for citation in check.citations
    ]


def _evidence_citation(item: Evidence) -> CitationOut:
    meta = item.hit.metadata
    return CitationOut(
        title=str(meta.get("title", "")),
        publisher=str(meta.get("publisher", "")),
        url=str(meta.get("url", "")),
        language=str(meta.get("language", "")),
        date=str(meta.get("date", "")),
    )
