"""Shared fixtures: isolated settings, a network guard, and small knowledge bases."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.services import Services
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None or not ip.is_loopback:
            raise ConnectionRefusedError(f"tests may only reach loopback, not {host}")
    _real_connect(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit and end-to-end tests never leave the machine: only loopback connections work."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "DATA_DIR",
        "CHROMA_PATH",
        "CHROMA_HOST",
        "EMBEDDING_MODEL",
        "PASSAGE_EMBEDDING_MODEL",
        "TELEGRAM_BOT_TOKEN",
        "LLM_PROVIDER",
        "LLM_BASE_URL",
        "LLM_MODEL",
        "LLM_API_KEY",
        "LLM_TIMEOUT_S",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Pattern redaction for speed (Presidio loads in seconds); tests/test_privacy.py runs the
    # same contract against Presidio, and test_cli runs `ask --json` with it.
    monkeypatch.setenv("REDACTOR", "patterns")
    monkeypatch.setenv("TRIAGE_MODEL", "false")
    monkeypatch.chdir(tmp_path)


def fake_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with the model-free hash embedder, for fast tests."""
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "embedding_model": "hash",
        "passage_embedding_model": "hash",
        "match_answer_threshold": 0.5,
        "match_review_threshold": 0.3,
        "evidence_min_score": 0.05,
        "redactor": "patterns",
        # A model trained on hash vectors would escalate at random: the fast fakes go without;
        # tests/test_triage_model.py trains the real one.
        "triage_model": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake_services(tmp_path: Path) -> Iterator[Services]:
    services = Services(fake_settings(tmp_path))
    services.ingestor.load_fact_checks()
    yield services


@pytest.fixture(scope="session")
def real_services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The real default embedders and the shipped fact-checks in an on-disk Chroma."""
    data = tmp_path_factory.mktemp("real-kb")
    services = Services(Settings(data_dir=data, triage_model=True))
    services.ingestor.load_fact_checks()
    return services
