"""Triage before fact-checking: emergencies, requests for personal advice, and non-claims.

Cues live in `triage.yaml`, per language, and apply in every language (people mix them). A cue
matches whole words of the normalised message; a `*` at either end lets it run into a longer word
(`suicid*`, or `*توحد` after an Arabic prefix), a `#` word stands for any number (`# min ago`), and
`^` / `$` for the start / end of the message (`^ help`, `help $`: a plea, unlike "garlic can help").
Strong emergency cues alone are enough; weak ones (a heart attack, a stroke...) also need a cue that
it is happening now to someone, so that a rumour *about* heart attacks is not taken for an emergency.
Likewise someone having swallowed something (`ingested`) is an emergency only when what they
swallowed is `harmful` (bleach, rat poison, a whole strip of pills), wherever the two sit in the
message: "my son drank from the bleach bottle", but not "drinking bleach kills the virus". In the same
way "can I take / give..." (`asks`) is a request for personal advice only about a `medicine`: "can I
take ibuprofen while pregnant?", but not "can I give my baby honey?", a rumour to check. A `rumour`
cue (a sharing formula, a "when someone has a stroke..." tip) vetoes emergency and personal cues, so
forwarded first-aid hoaxes are checked as claims; self-harm cues are never vetoed. A question
about the bot itself (`about_bot`: "are you a real doctor or a computer?") is told what the service
is, however long the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import yaml

from knowledge_base.text import normalise_for_match

TRIAGE_FILE = Path(__file__).with_name("triage.yaml")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CUE_WORD = re.compile(r"[#^$]|[^\W_]+", re.UNICODE)  # `#` any number, `^` `$` message start/end


@dataclass(frozen=True)
class Cues:
    emergency_strong: tuple[str, ...]
    emergency_weak: tuple[str, ...]
    now: tuple[str, ...]
    ingested: tuple[str, ...]
    harmful: tuple[str, ...]
    self_harm: tuple[str, ...]
    personal: tuple[str, ...]
    asks: tuple[str, ...]
    medicine: tuple[str, ...]
    rumour: tuple[str, ...]
    greeting: tuple[str, ...]
    about_bot: tuple[str, ...]
    health: tuple[str, ...]


def _pattern(cue: str) -> str:
    """A cue as a substring of the padded message: words must match whole unless marked '*'."""
    core = " ".join(_CUE_WORD.findall(normalise_for_match(cue)))
    left = "" if cue.startswith("*") else " "
    right = "" if cue.endswith("*") else " "
    return f"{left}{core}{right}" if core.strip("#^$ ") else ""


@cache
def _number_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(re.escape(pattern).replace(re.escape("#"), r"\d+"))


@lru_cache(maxsize=1)
def cues() -> Cues:
    raw = yaml.safe_load(TRIAGE_FILE.read_text(encoding="utf-8"))

    def collect(key: str) -> tuple[str, ...]:
        patterns = {_pattern(cue) for lang in ("ar", "fr", "en") for cue in raw[key][lang]}
        return tuple(sorted(pattern for pattern in patterns if pattern))

    return Cues(*(collect(key) for key in Cues.__dataclass_fields__))


def padded_words(text: str) -> str:
    """The normalised words of a message, space-separated and space-padded."""
    return " " + " ".join(_WORD.findall(normalise_for_match(text))) + " "


def _has(padded: str, patterns: tuple[str, ...]) -> bool:
    return any(
        _number_pattern(pattern).search(padded) if "#" in pattern else pattern in padded
        for pattern in patterns
    )


def _without(padded: str, patterns: tuple[str, ...]) -> str:
    """The padded message with every match of the (number-free) patterns blanked out."""
    for pattern in patterns:
        while pattern in padded:
            padded = padded.replace(pattern, " ")
    return padded


@dataclass(frozen=True)
class Triage:
    category: str  # "emergency" | "personal_advice" | "greeting" | "about_bot" | "claim"
    self_harm: bool = False


def triage(text: str) -> Triage:
    """Classifies a message; fact-check matching decides among the claims later."""
    c = cues()
    words = padded_words(text)
    padded = f" ^{words}$ "  # anchors for `^` and `$` cues
    self_harm = _has(padded, c.self_harm)
    if self_harm:
        return Triage("emergency", self_harm=True)
    if _has(padded, c.rumour):  # a forward or a "when someone..." tip: a claim to check
        return _greeting_or_claim(words, c)
    if (
        _has(padded, c.emergency_strong)
        or (_has(padded, c.emergency_weak) and _has(padded, c.now))
        or (_has(padded, c.ingested) and _has(padded, c.harmful))
    ):
        return Triage("emergency")
    if _has(padded, c.personal) or (_has(padded, c.asks) and _has(padded, c.medicine)):
        return Triage("personal_advice")
    return _greeting_or_claim(words, c)


def _greeting_or_claim(padded: str, c: Cues) -> Triage:
    if _has(padded, c.about_bot):  # "are you a real doctor or a computer?", at any length
        return Triage("about_bot")
    if len(padded.split()) <= 8 and _has(padded, c.greeting):
        # A short greeting or thanks, unless what is left around it asks about health ("hi, does
        # garlic cure covid?"); "thanks doctor" or "good night, sleep well" stay greetings.
        rest = _without(padded, c.greeting)
        if len(rest.split()) <= 2 or not _has(rest, c.health):
            return Triage("greeting")
    return Triage("claim")


def mentions_health(text: str) -> bool:
    """Whether a message speaks of health at all (a disease, a body part, a medicine, care...)."""
    return _has(padded_words(text), cues().health)


def content_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(normalise_for_match(text)) if len(word) > 2]
