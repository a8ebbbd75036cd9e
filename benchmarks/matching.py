"""Matching benchmark: right fact-check and verdict per language, abstention, triage, latency.

Usage: python benchmarks/matching.py [--set dev|...|round12|all [ROUND ...]] [--details FILE]
Reads rumours_<set>_<lang>.jsonl from benchmarks/data (rounds never measured before: the honest
measure) or knowledge_base/sources/examples (earlier rounds: used to write the rules and to train
the triage model, so their figures are training figures). Uses the index in DATA_DIR (build it
first with `factcheck ingest rebuild`). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.services import Services
from bot.settings import Settings

DATA = Path(__file__).parent / "data"  # rounds not measured yet
# Earlier rounds: the triage model's training examples (knowledge_base/examples.py).
EXAMPLES = Path(__file__).parent.parent / "knowledge_base" / "sources" / "examples"


def set_names() -> list[str]:
    """Every round on disk (`rumours_<round>_<lang>.jsonl` in either folder), dev first."""
    names = {
        p.name.split("_")[1]
        for folder in (DATA, EXAMPLES)
        for p in folder.glob("rumours_*_*.jsonl")
    }
    return sorted(names, key=lambda n: (n != "dev", n.startswith("round"), len(n), n))


def load(set_name: str) -> list[dict]:
    names = set_names() if set_name == "all" else [set_name]
    rows = []
    for name in names:
        for path in sorted(
            [*DATA.glob(f"rumours_{name}_*.jsonl"), *EXAMPLES.glob(f"rumours_{name}_*.jsonl")]
        ):
            rows.extend(
                json.loads(line)
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            )
    return rows


def baseline(services: Services, rows: list[dict]) -> dict[str, float]:
    """Plain nearest neighbour over one English sentence per topic, both embedders fused."""
    records = services.kb.load_fact_check_records()
    ids = sorted(records)
    embedder = services.kb.fact_checks.embeddings
    matrix = np.asarray(embedder.embed_documents([records[i].claims["en"].claim for i in ids]))
    covered = [row for row in rows if row["category"] == "claim" and row["expected"]]
    uncovered = [row for row in rows if row["category"] == "claim" and not row["expected"]]

    def top(row: dict) -> tuple[str, float]:
        scores = matrix @ np.asarray(embedder.embed_query(row["text"]))
        best = int(np.argmax(scores))
        return ids[best], float(scores[best])

    cov = [(top(row), row["expected"]) for row in covered]
    unc = [top(row)[1] for row in uncovered]
    top1 = sum(1 for (fc, _), want in cov if fc == want) / len(cov)
    # The best single threshold: maximise min(covered answered right, uncovered abstained).
    best = (0.0, 0.0, 0.0)
    for threshold in np.arange(0.3, 1.0, 0.005):
        right = sum(1 for (fc, s), want in cov if fc == want and s >= threshold) / len(cov)
        abstain = sum(1 for s in unc if s < threshold) / max(1, len(unc))
        if min(right, abstain) > min(best[1], best[2]):
            best = (float(threshold), right, abstain)
    return {
        "top1": top1,
        "threshold": best[0],
        "right_at_threshold": best[1],
        "abstain_at_threshold": best[2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--set",
        nargs="+",
        default=["dev"],
        choices=[*set_names(), "all"],
        help="one or more rounds (pooled), or all",
    )
    parser.add_argument("--details", type=Path, help="write one JSON line per message here")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    rows = [row for name in args.set for row in load(name)]
    if not rows:
        print(f"no rumour set found in {DATA}", file=sys.stderr)
        return 2
    services = Services(Settings())
    engine = services.engine
    engine.warm_up()
    records = engine.matcher.records
    stats: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    latencies: list[float] = []
    details = []
    for row in rows:
        started = time.perf_counter()
        outcome = engine.check(row["text"])
        latencies.append((time.perf_counter() - started) * 1000)
        lang, expected, category = row["language"], row["expected"], row["category"]
        matched = (outcome.matched_fact_check or {}).get("id")
        if category == "claim" and expected:
            ok = (
                matched == expected
                and outcome.verdict == records[expected].verdict
                and outcome.status == "answered"
            )
            stats[lang]["covered"].append(ok)
        elif category == "claim":
            ok = matched is None
            stats[lang]["uncovered"].append(ok)
        else:
            ok = outcome.category == category
            stats[lang]["triage"].append(ok)
        stats[lang]["language_id"].append(outcome.language == lang)
        details.append(
            {
                "id": row["id"],
                "ok": ok,
                "expected": expected,
                "category": category,
                "got_category": outcome.category,
                "matched": matched,
                "suggested": outcome.suggested_fact_check,
                "text": row["text"][:160],
            }
        )
    print(
        f"# matching benchmark, set={'+'.join(args.set)}, {len(rows)} messages, "
        f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    print(
        f"{'lang':5} {'covered right':>16} {'uncovered abstain':>18} {'triage right':>14} {'lang id':>10}"
    )
    for lang in sorted(stats):
        cells = []
        for key in ("covered", "uncovered", "triage", "language_id"):
            values = stats[lang][key]
            cells.append(
                f"{sum(values)}/{len(values)} {100 * sum(values) / max(1, len(values)):5.1f}%"
            )
        print(f"{lang:5} {cells[0]:>16} {cells[1]:>18} {cells[2]:>14} {cells[3]:>10}")
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"latency ms: p50 {statistics.median(ordered):.1f}  p95 {p95:.1f}  max {ordered[-1]:.1f}")
    if not args.no_baseline:
        result = baseline(services, rows)
        print(
            f"baseline (nearest neighbour, one English sentence per topic, {services.settings.embedding_model}): "
            f"top-1 {100 * result['top1']:.1f}%; best single threshold {result['threshold']:.3f} gives "
            f"{100 * result['right_at_threshold']:.1f}% covered right and "
            f"{100 * result['abstain_at_threshold']:.1f}% uncovered abstaining"
        )
    if args.details:
        args.details.write_text(
            "\n".join(json.dumps(d, ensure_ascii=False) for d in details) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
