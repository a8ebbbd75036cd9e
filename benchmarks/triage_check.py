"""Checks the triage cues (bot/engine/triage.yaml) against the example rumour sets (knowledge_base/sources/examples; never an untouched round in benchmarks/data).

Usage: python benchmarks/triage_check.py
Prints every example message whose cue-based triage disagrees with its label: emergencies, requests
for personal advice and non-claims missed, and claims taken for one of those.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.engine.triage import mentions_health, triage

DATA = Path(__file__).parent.parent / "knowledge_base" / "sources" / "examples"


def predicted(text: str) -> str:
    category = triage(text).category
    if category == "greeting" or (category == "claim" and not mentions_health(text)):
        return "not_a_claim"
    return category


def main() -> int:
    rows = [
        json.loads(line)
        for path in sorted(DATA.glob("rumours_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    wrong = 0
    for row in rows:
        got = predicted(row["text"])
        if got != row["category"]:
            wrong += 1
            print(f"{row['id']}: expected {row['category']}, got {got}: {row['text'][:180]}")
    print(f"{len(rows)} messages, {wrong} triaged wrongly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
