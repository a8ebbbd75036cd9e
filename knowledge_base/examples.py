"""Labelled example messages: how people really write rumours, emergencies and questions.

`knowledge_base/sources/examples/rumours_<set>_<lang>.jsonl`, one JSON object per line:
`{"id", "language", "text", "category", "expected"}` with `category` one of claim, emergency,
personal_advice, not_a_claim and `expected` the fact-check id a claim should get (or null).
They train the triage model (bot.engine.triage_model) and are the benchmark's earlier rounds;
fresh, never-seen rounds live in benchmarks/data until they have been measured once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from knowledge_base.factchecks import LANGUAGES, SOURCES_DIR

EXAMPLES_DIR = SOURCES_DIR / "examples"
CATEGORIES: tuple[str, ...] = ("claim", "emergency", "personal_advice", "not_a_claim")


class ExampleError(ValueError):
    """A bad example file or line; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    text: str
    category: str
    expected: str | None


def load_examples(
    directory: Path = EXAMPLES_DIR, pattern: str = "rumours_*.jsonl"
) -> list[Example]:
    """Every example of the folder's files, in file order; a bad line names its file and line."""
    examples = []
    for path in sorted(directory.glob(pattern)):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExampleError(f"{where}: not JSON ({exc.msg})") from exc
            if not isinstance(raw, dict) or not str(raw.get("text", "")).strip():
                raise ExampleError(f"{where}: an object with a non-empty 'text' is needed")
            if raw.get("category") not in CATEGORIES:
                raise ExampleError(f"{where}: category must be one of {', '.join(CATEGORIES)}")
            if raw.get("language") not in LANGUAGES:
                raise ExampleError(f"{where}: language must be one of {', '.join(LANGUAGES)}")
            expected = raw.get("expected")
            if expected is not None and (
                raw["category"] != "claim" or not isinstance(expected, str)
            ):
                raise ExampleError(f"{where}: only a claim names an expected fact-check id")
            examples.append(
                Example(
                    str(raw.get("id", where)),
                    raw["language"],
                    raw["text"],
                    raw["category"],
                    expected,
                )
            )
    return examples


def fingerprint(examples: list[Example]) -> str:
    """A short hash of the examples' texts and labels, to know when a trained model is stale."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.category}\t{example.text}\n".encode())
    return digest.hexdigest()[:16]
