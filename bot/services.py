"""Builds the services (store, embedders, engine, drafter, ingestor) from settings, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from bot.engine.drafting import Drafter, build_drafter
from bot.engine.engine import EngineConfig, FactCheckEngine
from bot.engine.matcher import ClaimMatcher, MatchThresholds
from bot.engine.triage_model import TriageModel, triage_model
from bot.privacy import make_redactor
from bot.settings import Settings
from ingest.fetch import FetchPolicy
from ingest.pipeline import Ingestor
from knowledge_base.embeddings import build_embeddings
from knowledge_base.search import BM25Index, EvidenceSearch
from knowledge_base.store import KnowledgeBase, StoreError, make_client


@dataclass
class Services:
    """Everything a face (CLI, bot, tests) needs; each piece is built on first use."""

    settings: Settings
    check_index: bool = True

    @cached_property
    def kb(self) -> KnowledgeBase:
        client = make_client(
            path=self.settings.resolved_chroma_path,
            host=self.settings.chroma_host,
            port=self.settings.chroma_port,
        )
        return KnowledgeBase(
            client,
            build_embeddings(self.settings.embedding_model, symmetric=True),
            build_embeddings(self.settings.passage_embedding_model),
            check=self.check_index,
        )

    @cached_property
    def ingestor(self) -> Ingestor:
        s = self.settings
        policy = FetchPolicy(
            timeout_s=s.fetch_timeout_s,
            max_bytes=s.fetch_max_bytes,
            max_redirects=s.fetch_max_redirects,
            allow_loopback=s.allow_loopback_urls,
        )
        return Ingestor(
            self.kb, chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap, fetch_policy=policy
        )

    @cached_property
    def engine(self) -> FactCheckEngine:
        s = self.settings
        records = self.kb.load_fact_check_records()
        if not records:
            raise StoreError(
                "the index holds no fact-checks: run `factcheck ingest rebuild` to build it"
            )
        matcher = ClaimMatcher(
            self.kb.fact_checks,
            records,
            MatchThresholds(
                answer=s.match_answer_threshold,
                review=s.match_review_threshold,
                min_margin=s.match_min_margin,
                arabizi=s.match_arabizi_threshold,
                approved=s.match_approved_threshold,
            ),
        )
        evidence = EvidenceSearch(
            self.kb.passages, BM25Index(s.data_dir / "bm25"), dense_weight=s.evidence_dense_weight
        )
        config = EngineConfig(
            emergency_number=s.emergency_number,
            emergency_threshold=s.triage_emergency_threshold,
            personal_threshold=s.triage_personal_threshold,
            evidence_min_score=s.evidence_min_score,
            evidence_top_k=s.evidence_top_k,
        )
        return FactCheckEngine(
            matcher, evidence, config, make_redactor(s.redactor), self.triage_model
        )

    @cached_property
    def triage_model(self) -> TriageModel | None:
        """Trained on the labelled examples for the claim-matching embedder (None when off)."""
        if not self.settings.triage_model:
            return None
        return triage_model(
            self.kb.fact_checks.embeddings, self.settings.embedding_model, self.settings.data_dir
        )

    @cached_property
    def drafter(self) -> Drafter:
        """Drafts for claims that need review: evidence-only, or by a language model."""
        return build_drafter(self.settings)
