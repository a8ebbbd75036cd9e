"""Checks fact-check keyword rules against the example rumour sets (knowledge_base/sources/examples; never an untouched round in benchmarks/data).

Usage: python benchmarks/rules_check.py [TOPIC ...]
For each topic: example messages on it that the rules miss, and example messages on other subjects that
the rules would let through. Editors use it while writing `keywords` and `requires`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from knowledge_base.factchecks import FACT_CHECKS_DIR, FactCheckError, load_fact_check

DATA = Path(__file__).parent.parent / "knowledge_base" / "sources" / "examples"


def main(topics: list[str]) -> int:
    rows = [
        json.loads(line)
        for path in sorted(DATA.glob("rumours_*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    paths = (
        [FACT_CHECKS_DIR / f"{topic}.yaml" for topic in topics]
        if topics
        else sorted(FACT_CHECKS_DIR.glob("*.yaml"))
    )
    misses = false_hits = 0
    for path in paths:
        try:
            check = load_fact_check(path)
        except FactCheckError as exc:
            print(f"INVALID {exc}")
            continue
        for row in rows:
            met = check.rules_met(row["text"])
            if row["expected"] == check.id and not met:
                misses += 1
                print(f"MISS  {check.id}  {row['id']}: {row['text'][:200]}")
            elif row["expected"] != check.id and met:
                false_hits += 1
                print(
                    f"FALSE {check.id}  {row['id']} (expected {row['expected']}): {row['text'][:200]}"
                )
    print(f"{len(paths)} topic(s): {misses} missed, {false_hits} let through wrongly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
