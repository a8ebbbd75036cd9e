"""MedQuAD retrieval benchmark: does each question retrieve a chunk of its own answer in the top 5?

Usage: python benchmarks/medquad_recall.py [--corpus ../shared/corpora/medquad] [--sample 500]
Needs the corpus ingested in DATA_DIR first:
  factcheck ingest add ../shared/corpora/medquad --publisher "NIH (MedQuAD)" --language en
Prints recall@1/@5 for dense only, BM25 only and the fused hybrid search, and query latency.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from bot.services import Services
from bot.settings import Settings
from ingest.loaders import load_medquad
from knowledge_base.search import RRF_K, BM25Index, EvidenceSearch

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "medquad"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--dense-weight",
        type=float,
        default=None,
        help="weight of the dense ranking in the fusion (default: the settings')",
    )
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    documents = [d for d in load_medquad(args.corpus) if d.extra.get("question")]
    sample = random.Random(args.seed).sample(documents, min(args.sample, len(documents)))
    settings = Settings()
    services = Services(settings)
    passages = services.kb.passages
    if passages.count() == 0:
        print("no passages in the index: ingest the corpus first (see --help)", file=sys.stderr)
        return 2
    dense_weight = (
        settings.evidence_dense_weight if args.dense_weight is None else args.dense_weight
    )
    search = EvidenceSearch(
        passages, BM25Index(settings.data_dir / "bm25"), dense_weight=dense_weight
    )
    search.warm_up()
    hits = {"dense": [0, 0], "bm25": [0, 0], "hybrid": [0, 0]}
    latencies = []
    for document in sample:
        question, qid = document.extra["question"], document.extra["qid"]
        vector = passages.embeddings.embed_query(question)
        dense = [h.metadata.get("qid") for h in passages.query(vector, 20)]
        lexical_ids = [id_ for id_, _ in search.bm25.search(question, "en", 20)]
        found = {i: m.get("qid") for i, _, m, _ in passages.get_with_vectors(lexical_ids[:5])}
        lexical = [found.get(id_) for id_ in lexical_ids[:5]]
        started = time.perf_counter()
        fused = [e.hit.metadata.get("qid") for e in search.search(question, "en", k=5)]
        latencies.append((time.perf_counter() - started) * 1000)
        for name, ranked in (("dense", dense), ("bm25", lexical), ("hybrid", fused)):
            hits[name][0] += bool(ranked[:1]) and ranked[0] == qid
            hits[name][1] += qid in ranked[:5]
    n = len(sample)
    print(
        f"# MedQuAD question -> own answer, {n} questions (seed {args.seed}), "
        f"{passages.count()} passages, RRF k={RRF_K}, dense weight {dense_weight:g}"
    )
    for name, (at1, at5) in hits.items():
        print(f"{name:7} recall@1 {at1 / n:.3f}  recall@5 {at5 / n:.3f}")
    ordered = sorted(latencies)
    print(
        f"hybrid search latency ms: p50 {statistics.median(ordered):.1f}  "
        f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
