"""Redaction of personal data before a message is stored or shown to reviewers.

Pattern-based, so it works the same in Arabic, French and English: e-mail addresses, phone
numbers, long identifier-like numbers (ID cards, passports, medical record numbers) and links
with personal parameters. Person names and street addresses need a named-entity model.
"""

from __future__ import annotations

import re

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE), "[EMAIL]"),
    (re.compile(r"(?<!\w)(?:\+|00)?\d[\d\s().-]{7,}\d(?!\w)"), "[PHONE]"),
    (re.compile(r"(?<!\w)[A-Za-z]{1,3}\d{6,}(?!\w)"), "[ID]"),
    (re.compile(r"(?<!\w)@[A-Za-z][\w]{4,31}(?!\w)"), "[USERNAME]"),
]
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def redact(text: str) -> str:
    """The text with personal identifiers replaced by placeholders such as [PHONE]."""
    redacted = text.translate(_ARABIC_DIGITS)
    for pattern, placeholder in _PATTERNS:
        redacted = pattern.sub(placeholder, redacted)
    return redacted
