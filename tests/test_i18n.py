import pytest

from bot.i18n import LANGUAGES, messages, t
from knowledge_base.text import arabic_share


def test_every_text_exists_in_every_language() -> None:
    keys = {lang: set(messages(lang)) for lang in LANGUAGES}
    assert keys["ar"] == keys["fr"] == keys["en"]
    assert len(keys["en"]) >= 15


@pytest.mark.parametrize("key", sorted(messages("en")))
def test_placeholders_agree_across_languages(key: str) -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert fields(messages("ar")[key]) == fields(messages("fr")[key]) == fields(messages("en")[key])


def test_arabic_texts_are_arabic_script_right_to_left() -> None:
    import re

    for key, raw in messages("ar").items():
        text = re.sub(r"\{[a-z_]+\}", "", raw)
        if key.endswith(("source_line", "evidence_line")):
            continue
        assert arabic_share(text) > 0.3, key  # command names and ids are Latin
        # The first strong character decides the paragraph direction in Telegram clients.
        first = next(
            ch for ch in text if (ch.isascii() and ch.isalpha()) or "\u0600" <= ch <= "\u06ff"
        )
        assert "\u0600" <= first <= "\u06ff", key


def test_unknown_language_falls_back_to_english() -> None:
    assert t("reply.help", "de") == t("reply.help", "en")
    assert "112" in t("reply.emergency", "fr", number="112")
