"""Arabic written in Latin letters ("Arabizi") matched against Arabic-script keywords.

Arabizi has no fixed spelling: short vowels are left out or written as any vowel, digits stand for
Arabic sounds (3 for ع, 7 for ح, 5 for خ), and one Latin letter covers several Arabic ones ("t" for
ت and ط, "s" for س and ص). So a word is compared by its consonant skeleton: both scripts are
reduced to one letter per class of consonant, vowels and glottal stops dropped. "namoos" and
"ناموس" both become NMS; "kohol" and "كحول" both KHL; "argileh" and "ارجيله" both RJL.

This widens what the keyword rules of a fact-check recognise in Arabizi messages; it never
narrows it. The `arabizi` package on PyPI transliterates Moroccan Arabizi into Arabic script, but
it guesses long vowels ("el" becomes يل) and keeps ت/ط and س/ص apart, which is exactly what a
comparison must ignore; a skeleton is simpler and symmetric.
"""

from __future__ import annotations

import re

_ARABIC_CLASSES = {
    "ب": "B", "پ": "B",
    "ت": "T", "ط": "T", "ث": "T",
    "ج": "J", "گ": "J", "ڭ": "J", "چ": "J",
    "ح": "H", "ه": "H",
    "خ": "X",
    "د": "D", "ض": "D", "ذ": "D",
    "ر": "R",
    "ز": "Z", "ظ": "Z",
    "س": "S", "ص": "S",
    "ش": "C",
    "ع": "E",
    "غ": "G",
    "ف": "F", "ڤ": "F",
    "ق": "Q",
    "ك": "K", "ک": "K",
    "ل": "L",
    "م": "M",
    "ن": "N",
}  # fmt: skip
# Letters without a class (long vowels, hamza carriers, ta marbuta) are dropped: Arabizi writes
# them as any vowel or not at all.

_LATIN_DIGRAPHS = {
    "sh": "C", "ch": "C", "kh": "X", "gh": "G", "th": "T", "dh": "D",
    "3'": "G", "7'": "X", "9'": "Q",
}  # fmt: skip
_LATIN_CLASSES = {
    "b": "B", "p": "B",
    "t": "T", "6": "T",
    "j": "J", "g": "J",
    "h": "H", "7": "H",
    "x": "X", "5": "X",
    "d": "D",
    "r": "R",
    "z": "Z",
    "s": "S",
    "3": "E",
    "8": "G",
    "f": "F", "v": "F",
    "q": "Q", "9": "Q",
    "k": "K", "c": "K",
    "l": "L",
    "m": "M",
    "n": "N",
}  # fmt: skip
_LATIN_VOWELS = set("aeiouyw2'")
_LATIN_WORD = re.compile(r"[a-z0-9']*[a-z][a-z0-9']*")
_DOUBLED = re.compile(r"([a-z])\1+")
_ARABIC_WORD = re.compile("[\u0600-\u06ff]+")
# Proclitics an Arabic word can carry before the stem: the article, and, with, for, so, like.
_ARTICLE = "ال"
_PREFIXES = ("L", "BL", "WL", "FL", "KL", "LL")


def arabic_skeleton(word: str) -> str:
    """Consonant classes of an Arabic-script word (already folded by `normalise_for_match`)."""
    if word.startswith(_ARTICLE) and len(word) > 3:
        word = word[2:]
    if word.endswith("ه"):  # ta marbuta after folding, or the pronoun suffix: a vowel in Arabizi
        word = word[:-1]
    return "".join(_ARABIC_CLASSES.get(ch, "") for ch in word)


def latin_skeleton(word: str) -> str:
    """Consonant classes of one Arabizi word ("ta3em" -> TEM)."""
    word = _DOUBLED.sub(r"\1", word.lower())
    if len(word) > 2 and word.endswith("h") and word[-2] in "aeiou":
        word = word[:-1]  # "kmameh", "argileh": a final vowel, not ه
    out = []
    index = 0
    while index < len(word):
        pair = word[index : index + 2]
        if pair in _LATIN_DIGRAPHS:
            out.append(_LATIN_DIGRAPHS[pair])
            index += 2
            continue
        char = word[index]
        if char not in _LATIN_VOWELS:
            out.append(_LATIN_CLASSES.get(char, ""))
        index += 1
    return "".join(out)


MIN_CLASSES = 3


def common_skeletons(texts: list[str], keywords: set[str]) -> set[str]:
    """Skeletons of the ordinary Arabic words of `texts` (those holding no keyword stem).

    A keyword whose skeleton is also an everyday word's is not used: بعوض (mosquito) and بعد
    (after) are both BED, and "ba3d" is far more often "after".
    """
    found = set()
    for text in texts:
        for word in _ARABIC_WORD.findall(text):
            if not any(stem.strip() in word for stem in keywords if stem.strip()):
                found.add(arabic_skeleton(word))
    return found


def keyword_skeletons(stems: set[str], common: set[str] = frozenset()) -> set[str]:
    """Distinctive skeletons of the one-word Arabic-script stems of a rule group."""
    found = set()
    for stem in stems:
        words = stem.split()
        if len(words) == 1 and _ARABIC_WORD.fullmatch(words[0]):
            skeleton = arabic_skeleton(words[0])
            if len(skeleton) >= MIN_CLASSES and skeleton not in common:
                found.add(skeleton)
    return found


def message_skeletons(form: str) -> list[str]:
    """Skeletons of the Latin-script words of a message in `match_form`."""
    return [
        skeleton
        for word in form.split()
        if _LATIN_WORD.fullmatch(word) and len(skeleton := latin_skeleton(word)) >= MIN_CLASSES
    ]


def skeleton_met(keywords: set[str], words: list[str]) -> bool:
    """True when a word of the message has the skeleton of a keyword.

    Three-class skeletons ("kohol", كحول: KHL) must be the whole word, after an article or a
    conjunction at most ("lkmama", "wel namoos"); longer ones may also start it.
    """
    for word in words:
        for keyword in keywords:
            if word == keyword or any(word == prefix + keyword for prefix in _PREFIXES):
                return True
            if len(keyword) > MIN_CLASSES and any(
                word.startswith(prefix + keyword) for prefix in ("", *_PREFIXES)
            ):
                return True
    return False
