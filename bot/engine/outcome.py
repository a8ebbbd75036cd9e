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
    "elapsed_ms",
)


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

    `to_dict()` gives exactly the contract keys; the other fields are for the bot and reviewers.
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
    # Not part of the contract:
    text: str = ""
    suggested_fact_check: dict[str, Any] | None = None
    vector: list[float] = field(default_factory=list)  # the claim-matching embedding
    draft_reply: str = ""  # for reviewers: what askers get if the draft is approved as it is
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "language": self.language,
            "category": self.category,
            "verdict": self.verdict,
            "status": self.status,
            "reply": self.reply,
            "citations": [citation.to_dict() for citation in self.citations],
            "matched_fact_check": self.matched_fact_check,
            "elapsed_ms": self.elapsed_ms,
        }
