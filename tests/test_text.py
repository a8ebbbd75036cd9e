from knowledge_base.language import detect_language
from knowledge_base.text import arabic_share, clean_text, normalise_for_match


def test_clean_text_removes_invisible_marks_tatweel_and_diacritics() -> None:
    raw = "\u200fالـــلُّقَاحُ\u200b  يسبب\u202b التوحد\u200e"
    assert clean_text(raw) == "اللقاح يسبب التوحد"


def test_normalise_for_match_folds_arabic_letter_variants() -> None:
    assert normalise_for_match("أ إ آ ى ة") == "ا ا ا ي ه"
    assert normalise_for_match("إنفلونزا") == normalise_for_match("انفلونزا")


def test_normalise_for_match_folds_persian_letters_typed_for_arabic_sounds() -> None:
    # Iraqi "البگ" (mosquitoes) is also typed "البك"; Maghrebi "ڤاكسان" also "فاكسان".
    assert normalise_for_match("البگ") == normalise_for_match("البك")
    assert normalise_for_match("ڤاكسان") == normalise_for_match("فاكسان")
    assert normalise_for_match("پ چ ڭ") == "ب ج ك"


def test_normalise_for_match_folds_latin_accents_case_and_letter_runs() -> None:
    assert normalise_for_match("Vaccinééé FAUXXXX") == "vaccinee fauxx"
    assert normalise_for_match("1000 mg") == "1000 mg"


def test_arabic_share() -> None:
    assert arabic_share("كورونا covid") > 0.5
    assert arabic_share("5G covid") == 0.0
    assert arabic_share("!!!") == 0.0


def test_detect_language_three_languages_and_fallback() -> None:
    assert detect_language("garlic does not protect you from the coronavirus") == "en"
    assert detect_language("l'ail ne protège pas contre le coronavirus") == "fr"
    assert detect_language("الثوم لا يحمي من فيروس كورونا") == "ar"
    assert detect_language("wallah el 9ahwa t3alej el corona ya3ni") == "ar"
    assert detect_language("😀😀", fallback="fr") == "fr"


def test_arabizi_is_told_by_digits_inside_or_closing_words() -> None:
    assert detect_language("el kmame bt5allik tetnaffas el CO2 elli btotla3 menak") == "ar"
    assert detect_language("Sa7 enno el mashi nos sa3a kel yom mnee7?") == "ar"
    # Digits in product names and codes are not Arabizi.
    assert detect_language(
        "the 5G masts and my mp3 player raise CO2 levels, says covid19 page"
    ) == ("en")


def test_shouted_messages_are_embedded_in_lower_case() -> None:
    from knowledge_base.text import embedding_form

    shout = "URGENT!!! BILL GATES HAS PUT NANO CHIPS INSIDE THE VACCINES"
    assert embedding_form(shout) == shout.lower()
    normal = "Bill Gates put chips in the vaccines, says my WhatsApp group"
    assert embedding_form(normal) == normal
    assert embedding_form("OK 5G") == "OK 5G"  # too short to be shouting
    arabic = "عاجل: الثوم يعالج كورونا COVID"
    assert embedding_form(arabic) == arabic
