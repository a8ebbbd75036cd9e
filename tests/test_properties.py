"""Property-based tests (hypothesis): the engine's contract and Telegram-valid replies for any
text, reply composition, text normalisation and redaction of personal data."""

from __future__ import annotations

import re
import socket
import string
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.engine import compose
from bot.engine.compose import TELEGRAM_LIMIT, _fit, decision_reply, fact_check_reply, model_draft
from bot.engine.engine import FactCheckEngine
from bot.engine.outcome import CONTRACT_KEYS, REVIEW_KEYS
from bot.i18n import LANGUAGES, t
from bot.privacy import redact
from bot.services import Services
from knowledge_base.factchecks import load_fact_checks
from knowledge_base.text import clean_text, normalise_for_match

from .conftest import _guarded_connect, fake_settings

FACT_CHECKS = load_fact_checks()
FOOTERS = {language: t("reply.footer", language) for language in LANGUAGES}

CATEGORIES = {"claim", "not_a_claim", "emergency", "personal_advice"}
VERDICTS = {"false", "misleading", "true", "unproven", None}
STATUSES = {"answered", "needs_review"}

# --- Alphabets ------------------------------------------------------------------------------

ARABIC = (
    "ابتثجحخدذرسشصضطظعغفقكلمنهويءأإآىةئؤ"
    "\u064b\u064e\u064f\u0650\u0651\u0652\u0670\u0640"  # harakat, shadda, sukun, tatweel
    "٠١٢٣٤٥٦٧٨٩،؛؟"
)
LATIN = string.ascii_letters + "éèêàçôœùÉÀ" + string.digits
EMOJI = ["😀", "🦠", "💉", "🧄", "👨\u200d👩\u200d👧", "🇲🇦", "❤️", "ℹ️", "🙏🏽", "𝐀𝐁"]
INVISIBLE = [
    chr(code) for code in (*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
]
EXTRA_INVISIBLE = ["\u2060", "\ufeff", "\u00ad"]
SPECIAL = "<>&*_[]`~#|\\\"'()!?.,:;/-@+%="
WHITESPACE = " \t\n\r\u00a0\u2028\u2029\u3000\x0b\x0c\u202f"
# Combining accents, Hangul jamo, a spacing macron and Arabic presentation forms (which NFKC
# turns into tatweel or diacritics): what composes or decomposes around removed marks.
COMBINING = "\u0301\u0308\u0327\u0653\u0654\u1100\u1161\u00af\ufe71\ufc5e\ufef7"
CHARS = sorted(
    set(ARABIC + LATIN + SPECIAL + WHITESPACE + COMBINING + "".join(INVISIBLE + EXTRA_INVISIBLE))
)

# Phrasings that reach the answered, needs-review, emergency and greeting branches.
PHRASES = sorted(
    {phrase for check in FACT_CHECKS for _, phrase in check.phrasings()}
    | {
        "hello",
        "مرحبا",
        "bonjour",
        "my son is not breathing",
        "I have chest pain",
        "what dose of paracetamol should I take?",
        "drinking hot lemon water cures cancer in three days",
        "الماء الساخن مع الليمون يعالج السرطان",
        "le citron chaud guérit le cancer",
    }
)

# --- Strategies -----------------------------------------------------------------------------

url_chars = st.sampled_from(string.ascii_letters + string.digits + "-._~%/?#[]@!$&'()*+,;=")
long_urls = st.builds(
    lambda host, path: f"https://{host}.example/{path}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=20),
    st.text(alphabet=url_chars, min_size=50, max_size=5000),
)
atoms = st.one_of(
    st.text(alphabet=st.sampled_from(CHARS), max_size=40),
    st.text(alphabet=st.sampled_from(ARABIC), min_size=1, max_size=20),
    st.sampled_from(EMOJI),
    st.sampled_from(INVISIBLE + EXTRA_INVISIBLE),
    st.sampled_from(PHRASES),
    st.text(max_size=20),  # any Unicode text (no surrogates)
    long_urls,
)
separators = st.sampled_from(["", " ", "\n", "  ", "\u200f", "\u200b", " *", "_ ", "\n\n"])
mixed_texts = st.lists(st.tuples(atoms, separators), max_size=12).map(
    lambda pairs: "".join(atom + sep for atom, sep in pairs)
)
whitespace_only = st.text(
    alphabet=st.sampled_from(WHITESPACE + "".join(INVISIBLE + EXTRA_INVISIBLE)), max_size=50
)


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# Long texts around Telegram's limit, the engine's input cap (8,000) and beyond 10,000.
long_texts = st.builds(
    _repeat,
    st.one_of(
        st.sampled_from(PHRASES).map(lambda phrase: phrase + " "),
        mixed_texts.map(lambda text: text or "x"),
        st.sampled_from(EMOJI),
    ),
    st.one_of(
        st.sampled_from([4095, 4096, 4097, 7999, 8000, 8001, 10000, 10001]),
        st.integers(4000, 12000),
    ),
)
# Python strings may hold surrogate code points (a JSON "\\ud83d" escape decodes to one).
with_surrogates = st.lists(
    st.one_of(atoms, st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)), max_size=8
).map("".join)
messages = st.one_of(
    st.just(""),
    whitespace_only,
    mixed_texts,
    st.text(),
    long_texts,
    with_surrogates,
)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def assert_telegram_valid(reply: str) -> None:
    assert reply, "empty reply"
    assert len(reply) <= TELEGRAM_LIMIT
    assert utf16_units(reply) <= TELEGRAM_LIMIT, f"{utf16_units(reply)} UTF-16 code units"
    assert not re.search("[\ud800-\udfff]", reply), "unpaired surrogate"
    reply.encode("utf-8")  # strict: fails on any surrogate


# --- The engine -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FactCheckEngine]:
    """One engine over the shipped fact-checks (hash embedder), built once for the module."""
    with pytest.MonkeyPatch.context() as patch:
        # The function-scoped conftest guards are not active yet when this is built.
        patch.setattr(socket.socket, "connect", _guarded_connect)
        patch.setenv("HF_HUB_OFFLINE", "1")
        for name in ("LLM_PROVIDER", "EMBEDDING_MODEL", "PASSAGE_EMBEDDING_MODEL", "CHROMA_HOST"):
            patch.delenv(name, raising=False)
        services = Services(fake_settings(tmp_path_factory.mktemp("properties")))
        services.ingestor.load_fact_checks()
        engine = services.engine
        engine.check("warm up: garlic cures covid")  # loads the language detector
    yield engine


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=messages)
def test_engine_outcome_is_valid_for_any_text(engine: FactCheckEngine, text: str) -> None:
    outcome = engine.check(text, id="p1")
    data = outcome.to_dict()
    event(f"{data['language']}/{data['category']}/{data['status']}")

    expected = REVIEW_KEYS if outcome.status == "needs_review" else CONTRACT_KEYS
    assert tuple(data) == expected
    if outcome.status == "needs_review":
        assert data["draft"] == outcome.review_draft
        assert data["draft_source"] in {"model", "evidence"}
    assert data["id"] == "p1"
    assert data["category"] in CATEGORIES
    assert data["verdict"] in VERDICTS
    assert data["status"] in STATUSES
    assert data["language"] in {"ar", "fr", "en"}
    assert data["elapsed_ms"] >= 0
    if data["status"] == "answered" and data["category"] == "claim":
        assert data["matched_fact_check"] and data["verdict"] in VERDICTS - {None}
    for citation in data["citations"]:
        assert set(citation) == {"title", "publisher", "url", "language", "date"}

    reply = data["reply"]
    assert_telegram_valid(reply)
    # The reply is in the detected language's script.
    if data["language"] == "ar":
        assert re.search("[\u0621-\u064a]", reply), reply
    else:
        assert re.search("[A-Za-z]", reply), reply
    if outcome.status == "needs_review":
        assert utf16_units(outcome.review_draft) <= TELEGRAM_LIMIT


@settings(max_examples=40, deadline=None)
@given(
    phrase=st.sampled_from(PHRASES),
    noise=st.lists(st.sampled_from(INVISIBLE + EXTRA_INVISIBLE + ["\u0640", "\u0651"]), max_size=6),
    positions=st.lists(st.integers(0, 400), min_size=6, max_size=6),
)
def test_invisible_marks_do_not_change_the_outcome(
    engine: FactCheckEngine, phrase: str, noise: list[str], positions: list[int]
) -> None:
    """Forwards carry zero-width and direction marks: they must not change what is answered."""
    noisy = phrase
    for mark, position in zip(noise, positions, strict=False):
        cut = position % (len(noisy) + 1)
        noisy = noisy[:cut] + mark + noisy[cut:]
    plain, marked = engine.check(phrase), engine.check(noisy)
    assert (marked.language, marked.category, marked.status, marked.verdict) == (
        plain.language,
        plain.category,
        plain.status,
        plain.verdict,
    )
    assert marked.reply == plain.reply


# --- Composing replies ----------------------------------------------------------------------


def test_every_fact_check_reply_fits_telegram_and_has_the_footer() -> None:
    for check in FACT_CHECKS:
        for language in LANGUAGES:
            reply = fact_check_reply(check, language)
            assert_telegram_valid(reply)
            assert reply.endswith(FOOTERS[language]), (check.id, language)


wide_text = st.lists(
    st.one_of(
        st.characters(),  # any code point but surrogates, astral planes included
        st.sampled_from(EMOJI),
        st.sampled_from("a ب\n"),
    ),
    max_size=600,
).map("".join)
parts_lists = st.lists(
    st.one_of(
        wide_text,
        st.builds(_repeat, st.sampled_from([*EMOJI, "a", "ب ", "é"]), st.integers(1, 9000)),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(parts=parts_lists, footer=st.one_of(st.sampled_from([*FOOTERS.values(), ""]), wide_text))
def test_fit_never_exceeds_the_limit(parts: list[str], footer: str) -> None:
    reply = _fit(parts, footer)
    assert len(reply) <= TELEGRAM_LIMIT
    assert utf16_units(reply) <= TELEGRAM_LIMIT
    assert reply.endswith(footer)
    assert not re.search("[\ud800-\udfff]", reply)
    # What fits is kept whole: the first part survives intact when the whole fits.
    if parts and utf16_units("\n\n".join([*parts, footer])) <= TELEGRAM_LIMIT - 2:
        assert reply == "\n\n".join([*parts, footer])


@settings(max_examples=60, deadline=None)
@given(
    text=st.one_of(wide_text, long_texts),
    language=st.sampled_from(LANGUAGES),
    correction=st.booleans(),
)
def test_decision_reply_fits_telegram(text: str, language: str, correction: bool) -> None:
    """A clinician's reply (any text, emoji included) is sent as is: it must still fit."""
    reply = decision_reply(text, language, correction)
    assert_telegram_valid(reply)
    assert reply.endswith(FOOTERS[language])


@settings(max_examples=40, deadline=None)
@given(
    sentences=st.lists(
        st.tuples(st.one_of(wide_text, long_texts), st.lists(st.integers(1, 5), max_size=3)),
        max_size=4,
    ),
    language=st.sampled_from(LANGUAGES),
)
def test_model_draft_fits_telegram(sentences: list[tuple[str, list[int]]], language: str) -> None:
    source = {
        "publisher": "WHO",
        "title": "Myth busters",
        "date": "2024-01-01",
        "url": "https://who.int",
    }
    draft = model_draft(sentences, [source, source], language)
    assert utf16_units(draft) <= TELEGRAM_LIMIT
    assert not re.search("[\ud800-\udfff]", draft)


def test_short_replies_fit_telegram() -> None:
    for language in LANGUAGES:
        for reply in (
            compose.emergency_reply(language, "112", self_harm=True),
            compose.personal_advice_reply(language, "112"),
            compose.help_reply(language),
            compose.short_message_reply(language, FACT_CHECKS[:3]),
            compose.pending_reply([], language),
        ):
            assert_telegram_valid(reply)


# --- Text normalisation ---------------------------------------------------------------------

# A small alphabet, so letters, removable marks and combining accents often meet.
TRICKY = ["e", "a", "ا", "ـ", " ", "\u200b", "\u200f", "\u2067", "\ufeff", "\u00ad", *COMBINING]
any_text = st.one_of(
    st.text(),
    with_surrogates,
    mixed_texts,
    st.text(alphabet=st.sampled_from(CHARS)),
    st.text(alphabet=st.sampled_from(TRICKY), max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(text=any_text)
def test_clean_text_is_idempotent_and_drops_invisible_marks(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert not any(mark in cleaned for mark in INVISIBLE + EXTRA_INVISIBLE)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


@settings(max_examples=400, deadline=None)
@given(text=any_text)
def test_normalise_for_match_is_idempotent(text: str) -> None:
    normalised = normalise_for_match(text)
    assert normalise_for_match(normalised) == normalised


# --- Redaction ------------------------------------------------------------------------------

around = st.lists(st.sampled_from(CHARS + EMOJI), max_size=40).map("".join)
# Text around an embedded number has no digits of its own, so leftover digits are the number's.
around_no_digits = st.lists(
    st.sampled_from([ch for ch in CHARS if not ch.isdigit()] + EMOJI), max_size=40
).map("".join)
boundaries = st.sampled_from([" ", "\n", ", ", " (", ") ", ": ", " «", "» ", "، ", "\t", "! "])
emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True),
    st.from_regex(r"[a-z0-9][a-z0-9-]{0,15}(\.[a-z0-9-]{1,10}){0,2}", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@st.composite
def phones(draw: st.DrawFn) -> str:
    digits = draw(st.text(alphabet=string.digits, min_size=9, max_size=13))
    style = draw(st.sampled_from(["plain", "spaced", "dashed", "dotted", "intl", "00", "arabic"]))
    if style == "spaced":
        return " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    if style == "dashed":
        return "-".join(digits[i : i + 3] for i in range(0, len(digits), 3))
    if style == "dotted":
        return ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    if style == "intl":
        return "+" + digits
    if style == "00":
        return "00" + digits
    if style == "arabic":
        return digits.translate(_ARABIC_DIGITS)
    return digits


@settings(max_examples=300, deadline=None)
@given(
    before=around_no_digits,
    after=around_no_digits,
    left=boundaries,
    right=boundaries,
    email=emails,
    phone=phones(),
)
def test_redact_removes_embedded_email_and_phone(
    before: str, after: str, left: str, right: str, email: str, phone: str
) -> None:
    text = f"{before}{left}{email}{right}{phone}{right}{after}"
    redacted = redact(text)
    assert email not in redacted
    assert "@" + email.split("@", 1)[1] not in redacted
    digits = "".join(
        ch for ch in phone.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")) if ch.isdigit()
    )
    assert phone not in redacted
    assert digits not in "".join(ch for ch in redacted if ch.isdigit() or ch == "[")
    assert "[EMAIL]" in redacted and "[PHONE]" in redacted


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        any_text,
        st.lists(st.one_of(around, emails, phones(), boundaries), max_size=10).map("".join),
    )
)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
