"""The outcome of checking one message: the contract of `factcheck ask --json` and `--batch`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Category = Literal["claim", "not_a_claim", "emergency", "personal_advice"]
OutcomeVerdict = Literal["false", "misleading", "true", "unproven"]
Status = Literal["answered", "needs_review"]
CONTRACT_KEYS = (
    "id",
    "language",
    "category",
    "verdict",
    "status",
    "reply",
    "citations",
    "matched_fact_check",
    "redacted_text",
    "elapsed_ms",
)
# An outcome that needs review also carries the draft reviewers get, and where it came from.
REVIEW_KEYS = (*CONTRACT_KEYS, "draft", "draft_source")
DraftSource = Literal["model", "evidence"]


@dataclass(frozen=True)
class CitationOut:
    title: str
    publisher: str
    url: str
    language: str
    date: str

    def to_dict(self) -> dict[str, str]:
        return {
            "title": self.title,
            "publisher": self.publisher,
            "url": self.url,
            "language": self.language,
            "date": self.date,
        }


@dataclass
class Outcome:
    """What the engine decided for one message.

    `to_dict()` gives exactly the contract keys (`REVIEW_KEYS` when the outcome needs review);
    the other fields are for the bot and reviewers.
    """

    id: str | None
    language: str
    category: Category
    verdict: OutcomeVerdict | None
    status: Status
    reply: str
    citations: list[CitationOut] = field(default_factory=list)
    matched_fact_check: dict[str, Any] | None = None
    elapsed_ms: float = 0.0
    redacted_text: str = ""  # the message as stored and as reviewers see it (bot.privacy)
    # Not part of the contract:
    text: str = ""
    suggested_fact_check: dict[str, Any] | None = None
    vector: list[float] = field(default_factory=list)  # the claim-matching embedding
    draft_reply: str = ""  # the evidence-only draft (compose.evidence_draft)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    # Set by a drafter (bot.engine.drafting); until then the draft is `draft_reply`.
    draft: str | None = None
    draft_source: DraftSource = "evidence"
    draft_note: str | None = None  # why a model's draft was not used (a reason code)
    draft_verdict: str | None = None  # the verdict a model suggested, for reviewers

    @property
    def review_draft(self) -> str:
        """The draft reviewers get: the drafter's, else the evidence-only one."""
        return self.draft if self.draft is not None else self.draft_reply

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "language": self.language,
            "category": self.category,
            "verdict": self.verdict,
            "status": self.status,
            "reply": self.reply,
            "citations": [citation.to_dict() for citation in self.citations],
            "matched_fact_check": self.matched_fact_check,
            "redacted_text": self.redacted_text,
            "elapsed_ms": self.elapsed_ms,
        }
        if self.status == "needs_review":
            data["draft"] = self.review_draft
            data["draft_source"] = self.draft_source
        return data
