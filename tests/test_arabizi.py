"""Arabizi (Arabic in Latin letters) against Arabic-script keywords, by consonant skeleton."""

import pytest

from bot.services import Services
from knowledge_base.arabizi import (
    arabic_skeleton,
    common_skeletons,
    keyword_skeletons,
    latin_skeleton,
    message_skeletons,
    skeleton_met,
)
from knowledge_base.text import match_form, normalise_for_match


@pytest.mark.parametrize(
    ("latin", "arabic"),
    [
        ("namoos", "ناموس"),  # mosquito
        ("kohol", "كحول"),  # alcohol: h for ح
        ("argileh", "ارجيله"),  # waterpipe: g for ج, final "eh" for ة
        ("ta3em", "طعم"),  # vaccine: t for ط, 3 for ع
        ("sigara", "سيجاره"),
        ("kmama", "كمامه"),  # mask
        ("5oukh", "خوخ"),  # 5 for خ, and "kh" too
    ],
)
def test_the_same_word_in_both_scripts_has_one_skeleton(latin: str, arabic: str) -> None:
    assert latin_skeleton(latin) == arabic_skeleton(normalise_for_match(arabic))


def test_skeletons_leave_out_the_article_and_long_vowels() -> None:
    assert arabic_skeleton(normalise_for_match("الناموسة")) == "NMS"
    assert latin_skeleton("nammoos") == "NMS"  # a doubled letter is one consonant


def test_short_or_everyday_keywords_are_not_used() -> None:
    # Two classes (ثوم: TM) match too many words; بعوض (mosquito) shares BED with بعد (after).
    common = common_skeletons(["ثم بعد ذلك"], {"بعوض"})
    assert keyword_skeletons({"ثوم", "بعوض", "ناموس"}, common) == {"NMS"}
    assert keyword_skeletons({"غسل اليد"}) == set()  # phrases are matched as written only


def test_a_three_class_keyword_must_be_the_whole_word() -> None:
    assert skeleton_met({"NMS"}, ["NMS"])
    assert skeleton_met({"NMS"}, ["LNMS"])  # "lnamoos", "el" written onto the word
    assert not skeleton_met({"NMS"}, ["NMSK"])
    assert skeleton_met({"KMMT"}, ["KMMTK"])  # longer ones may start a word


def test_only_latin_words_of_a_message_count() -> None:
    words = message_skeletons(match_form("el namoos ناموس ya 3ammi sigara 2"))
    assert words == ["NMS", "SJR"]  # "el", "ya", "3ammi" (EM) and "2" have under three classes


def test_an_arabizi_message_meets_the_rules_of_its_fact_check(fake_services: Services) -> None:
    matcher = fake_services.engine.matcher
    text = "howa el namus momken yena2al el AIDS? law 3ad wa7ed 3ando we ba3deen 3adny ana"
    form = match_form(text)
    assert not matcher.rules_met("hiv-mosquitoes", form)
    assert matcher.rules_met("hiv-mosquitoes", form, arabizi=message_skeletons(form))


def test_skeletons_alone_never_make_a_match(fake_services: Services) -> None:
    # "bt2ool" (she says) has the skeleton of بوتول (botulism): no keyword of honey-infants is
    # written as such, so the Arabizi skeletons may not meet its rules on their own.
    matcher = fake_services.engine.matcher
    text = "mama bt2ool el tom byemawet el virus"
    form = match_form(text)
    skeletons = message_skeletons(form)
    assert "BTL" in skeletons
    assert "BTL" in matcher._skeletons["honey-infants"][0][0]  # its key entity, by skeleton
    assert not matcher.rules_met("honey-infants", form, arabizi=skeletons)


def test_arabizi_messages_are_answered_from_their_own_threshold(fake_services: Services) -> None:
    from dataclasses import replace

    matcher = fake_services.engine.matcher
    matcher.depth = 10_000  # every fact-check: the fake embedder's ranking means nothing
    # Thresholds no similarity can reach, except the Arabizi one.
    matcher.thresholds = replace(matcher.thresholds, answer=1.01, arabizi=0.0)
    arabizi = "howa el namus momken yena2al el AIDS? law 3ad wa7ed 3ando we ba3deen 3adny ana"
    match = matcher.match(arabizi, language="ar")
    assert match is not None and match.fact_check.id == "hiv-mosquitoes"
    assert match.decision == "answer"
    english = matcher.match("can a mosquito bite give you HIV?", language="en")
    assert english is not None and english.fact_check.id == "hiv-mosquitoes"
    assert english.decision == "review"
