"""Text normalisation shared by matching, search and ingest (Unicode and Arabic)."""

from __future__ import annotations

import re
import unicodedata

# Zero-width characters and bidirectional marks that forwards often carry.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u00ad]")
# Arabic diacritics (harakat, shadda, sukun, superscript alef) and Quranic marks.
_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_ARABIC_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ئ": "ي",
        "ؤ": "و",
        "ة": "ه",
        "ک": "ك",
        "ی": "ي",
        # Persian letters typed for sounds Arabic script lacks (Iraqi گ "g", Maghrebi ڤ "v"):
        # many writers use the plain letter instead, so fold them to it.
        "گ": "ك",
        "ڭ": "ك",
        "ڤ": "ف",
        "پ": "ب",
        "چ": "ج",
        "٠": "0",
        "١": "1",
        "٢": "2",
        "٣": "3",
        "٤": "4",
        "٥": "5",
        "٦": "6",
        "٧": "7",
        "٨": "8",
        "٩": "9",
    }
)
_SPACES = re.compile(r"\s+")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_ARABIC_LETTER = re.compile("[\u0600-\u06ff]")


def clean_text(text: str) -> str:
    """Unicode NFKC, no invisible marks, no tatweel or Arabic diacritics, collapsed spaces.

    Keeps the letters as written (for display and embedding); see `normalise_for_match`
    for the aggressive folding used by keyword checks and BM25.
    """
    # Surrogate code points (from JSON escapes such as "\\ud83d") are not text: join a split
    # pair into its character and replace a lone one with U+FFFD, which every library accepts.
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = text.replace(_TATWEEL, "")
    text = _ARABIC_DIACRITICS.sub("", text)
    # Removing a mark can bring a letter and a combining accent together ("e\u200b\u0301"):
    # compose again so the result stays NFKC (and clean_text idempotent).
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub(" ", text).strip()


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(
        ch for ch in decomposed if not unicodedata.combining(ch) or _ARABIC_LETTER.match(ch)
    )


def normalise_for_match(text: str) -> str:
    """Lower case, no Latin accents, folded Arabic letter variants, squeezed letter repeats."""
    text = clean_text(text).lower().translate(_ARABIC_FOLD)
    text = strip_accents(text)
    text = _REPEATS.sub(r"\1\1", text)
    # Stripping a spacing accent (NFKC turns "¯" into a space and a combining mark) can leave
    # a space at an end or next to another: collapse again, so the result is stable.
    return _SPACES.sub(" ", text).strip()


def arabic_share(text: str) -> float:
    """Share of letters that are Arabic script."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _ARABIC_LETTER.match(ch)) / len(letters)


_MATCH_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def match_form(text: str) -> str:
    """A message as keyword rules see it: normalised words joined by single spaces, space-padded."""
    return " " + " ".join(_MATCH_WORD.findall(normalise_for_match(text))) + " "


def keyword_pattern(keyword: str) -> str:
    """A keyword in the same form; a space written at either end anchors it at a word boundary.

    `"autis"` matches autism, autistic, autiste; `" tb "` matches the word TB but not chatbot;
    Arabic stems such as `"توحد"` also match after a prefix (`التوحد`).
    """
    core = " ".join(_MATCH_WORD.findall(normalise_for_match(keyword)))
    if not core:
        return ""
    left = " " if keyword[:1].isspace() else ""
    right = " " if keyword[-1:].isspace() else ""
    return f"{left}{core}{right}"


def embedding_form(text: str) -> str:
    """The text as the embedder should see it: a message written mostly in capitals ("BILL GATES
    PUT CHIPS IN THE VACCINES") in lower case, which sentence encoders read far better."""
    cased = [ch for ch in text if ch.isalpha() and ch.lower() != ch.upper()]
    if len(cased) >= 20 and sum(ch.isupper() for ch in cased) >= 0.6 * len(cased):
        return text.lower()
    return text
