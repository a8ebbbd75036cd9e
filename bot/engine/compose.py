"""Replies in the asker's language: verdict, short explanation, dated sources, and the footer.

Replies are plain text (sent with no parse mode), so nothing in them needs escaping, and they
always fit Telegram's 4,096-character limit (counted, as Telegram does, in UTF-16 code units).
"""

from __future__ import annotations

from typing import Any

from bot.i18n import t
from knowledge_base.factchecks import FactCheck
from knowledge_base.search import Evidence

TELEGRAM_LIMIT = 4096
_SNIPPET = 280


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (characters beyond U+FFFF count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` that takes at most `units` UTF-16 code units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def _fit(parts: list[str], footer: str) -> str:
    """Joins parts, dropping trailing ones (then truncating) so the whole stays under the limit."""
    budget = TELEGRAM_LIMIT - _units(footer) - 2
    kept: list[str] = []
    used = 0
    for part in parts:
        cost = _units(part) + 2
        if used + cost > budget:
            room = budget - used - 3
            if room > 40 and not kept:
                kept.append(_cut(part, room).rstrip() + "…")
            break
        kept.append(part)
        used += cost
    return "\n\n".join([*kept, footer])


def fact_check_reply(check: FactCheck, language: str) -> str:
    text = check.text_for(language)
    sources = [t("reply.sources", language)] + [
        t(
            "reply.source_line",
            language,
            publisher=citation.publisher,
            title=citation.title,
            date=citation.checked.isoformat(),
            url=str(citation.url),
        )
        for citation in check.citations
    ]
    parts = [
        f"{t('verdict.' + check.verdict, language)}: {text.claim}",
        text.explanation.strip(),
        "\n".join(sources),
    ]
    return _fit(parts, t("reply.footer", language))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[:_SNIPPET].rsplit(" ", 1)[0] + "…"


def pending_reply(evidence: list[Evidence], language: str) -> str:
    parts = [t("reply.pending", language)]
    if evidence:
        lines = [t("reply.pending_evidence", language)]
        for item in evidence:
            meta = item.hit.metadata
            lines.append(
                t(
                    "reply.evidence_line",
                    language,
                    publisher=meta.get("publisher", ""),
                    title=meta.get("title", ""),
                    date=meta.get("date", ""),
                    url=meta.get("url", ""),
                )
            )
            lines.append(f"  “{_snippet(_body(item.hit.text, str(meta.get('title', ''))))}”")
        parts.append("\n".join(lines))
    else:
        parts.append(t("reply.pending_no_evidence", language))
    return _fit(parts, t("reply.footer", language))


def evidence_draft(evidence: list[dict[str, Any]], language: str) -> str:
    """The evidence-only draft reviewers approve or edit: what trusted sources say, with dates.

    `evidence` is `Outcome.evidence`: dicts with text, publisher, title, date and url.
    """
    if not evidence:
        return t("draft.no_evidence", language)
    lines = [t("draft.evidence_intro", language)]
    for item in evidence:
        lines.append(
            f"• “{_snippet(_body(str(item.get('text', '')), str(item.get('title', ''))))}”"
        )
        lines.append("  " + _evidence_line(item, language))
    return _fit(["\n".join(lines)], "").rstrip()


def model_draft(
    parts: list[tuple[str, list[int]]], sources: list[dict[str, Any]], language: str
) -> str:
    """A language model's draft: its sentences, each followed by the numbers of the sources it
    rests on, then those sources (from the vetted evidence, never from the model)."""
    sentences = " ".join(
        f"{text.strip()} [{', '.join(str(n) for n in numbers)}]" for text, numbers in parts
    )
    lines = [t("reply.sources", language)] + [
        f"[{number}] {_evidence_line(item, language)}"
        for number, item in enumerate(sources, start=1)
    ]
    return _fit([sentences, "\n".join(lines)], "").rstrip()


def _evidence_line(item: dict[str, Any], language: str) -> str:
    return t(
        "reply.evidence_line",
        language,
        publisher=item.get("publisher", ""),
        title=item.get("title", ""),
        date=item.get("date", ""),
        url=item.get("url", ""),
    ).lstrip("• ")


def decision_reply(text: str, language: str, correction: bool = False) -> str:
    """What askers receive once a clinician approved (or revised) a reply."""
    header = t("bot.correction_header" if correction else "bot.decision_header", language)
    return _fit([header, text.strip()], t("reply.footer", language))


def _body(text: str, title: str) -> str:
    return text[len(title) :].lstrip() if title and text.startswith(title) else text


def emergency_reply(language: str, number: str, self_harm: bool) -> str:
    parts = [t("reply.emergency", language, number=number)]
    if self_harm:
        parts.append(t("reply.emergency_self_harm", language, number=number))
    return "\n\n".join(parts)


def personal_advice_reply(language: str, number: str) -> str:
    return t("reply.personal_advice", language, number=number)


def help_reply(language: str) -> str:
    return t("reply.help", language)


def about_reply(language: str) -> str:
    """For "are you a real doctor or a computer?": what the service is, and that it is no doctor."""
    return t("reply.about", language)


def short_message_reply(language: str, suggestions: list[FactCheck]) -> str:
    parts = [t("reply.too_short", language)]
    if suggestions:
        lines = [t("reply.suggestions", language)]
        for check in suggestions:
            text = check.text_for(language)
            lines.append(f"• {text.claim}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
