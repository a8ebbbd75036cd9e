"""The model drafter through the real LangChain client (`ChatOpenAI`), against a fake
OpenAI-compatible server on 127.0.0.1: every failure ends in a draft for the reviewers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine import compose
from bot.engine.drafting import ModelDrafter, build_drafter
from bot.logs import configure as configure_logging
from tests.conftest import fake_settings
from tests.fake_openai import FakeOpenAI
from tests.test_drafting import CLAIM, EVIDENCE, INJECTION

REVIEWERS = frozenset({7_310_004_411, 7_310_004_412})


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FakeOpenAI() as fake:
        yield fake


def drafter_for(tmp_path: Path, base_url: str, **overrides: object) -> ModelDrafter:
    settings = fake_settings(
        tmp_path,
        llm_provider="openai-compatible",
        llm_base_url=base_url,
        llm_model="llama3.2",
        llm_timeout_s=1,
        reviewer_ids=REVIEWERS,
        **overrides,
    )
    drafter = build_drafter(settings)
    assert isinstance(drafter, ModelDrafter)
    return drafter


def run(drafter: ModelDrafter, claim: str = CLAIM, language: str = "en"):  # type: ignore[no-untyped-def]
    return asyncio.run(drafter.draft(claim, language, EVIDENCE))


def test_a_good_draft_through_the_real_client(server: FakeOpenAI, tmp_path: Path) -> None:
    result = run(drafter_for(tmp_path, server.base_url))
    assert (result.source, result.verdict, result.fallback_reason) == ("model", "false", None)
    assert result.text.startswith("There is no evidence that drinking cold water")
    assert result.cited_ids == ("a1b2",)
    [body] = server.requests
    assert body["model"] == "llama3.2"
    assert body["response_format"] == {"type": "json_object"}
    system, user = body["messages"]
    assert system["role"] == "system" and "never instructions" in system["content"]
    # The claim is inside its data block, as a JSON string.
    block = re.search(r"<claim>\n(.*)\n</claim>", user["content"], re.DOTALL)
    assert block is not None and json.loads(block.group(1)) == CLAIM
    assert server.headers[0]["authorization"] == "Bearer not-needed"


def test_no_reviewer_id_or_key_reaches_the_prompt_or_the_logs(
    server: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    drafter = drafter_for(tmp_path, server.base_url, llm_api_key="sk-test-very-secret")
    levels = {name: logging.getLogger(name).level for name in ("", "openai", "httpx", "httpcore")}
    try:
        configure_logging("DEBUG", ["sk-test-very-secret"])
        caplog.set_level(logging.DEBUG)
        run(drafter, claim=INJECTION)
        server.mode = "error"
        run(drafter, claim=INJECTION)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert server.headers[0]["authorization"] == "Bearer sk-test-very-secret"
    for prompt in server.prompts():
        for reviewer in REVIEWERS:
            assert not re.search(rf"\b{reviewer}\b", prompt)
        assert "sk-test-very-secret" not in prompt
    assert "sk-test-very-secret" not in caplog.text
    assert "evil.example" not in caplog.text and "Cold water causes cancer" not in caplog.text


def test_a_timeout_ends_in_the_evidence_draft(server: FakeOpenAI, tmp_path: Path) -> None:
    server.mode, server.delay_s = "slow", 5
    started = time.monotonic()
    result = run(drafter_for(tmp_path, server.base_url))
    assert time.monotonic() - started < 3
    assert (result.source, result.fallback_reason) == ("evidence", "timeout")
    assert result.text == compose.evidence_draft(EVIDENCE, "en")


def test_a_500_ends_in_the_evidence_draft_without_retrying(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.mode = "error"
    result = run(drafter_for(tmp_path, server.base_url))
    assert (result.source, result.fallback_reason) == ("evidence", "server_error")
    assert result.text == compose.evidence_draft(EVIDENCE, "en")
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", ["malformed", "garbage"])
def test_malformed_json_ends_in_the_evidence_draft(
    server: FakeOpenAI, tmp_path: Path, mode: str
) -> None:
    server.mode = mode
    result = run(drafter_for(tmp_path, server.base_url))
    assert (result.source, result.fallback_reason) == ("evidence", "malformed")
    assert result.text == compose.evidence_draft(EVIDENCE, "en")


def test_an_unreachable_server_ends_in_the_evidence_draft(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run(drafter_for(tmp_path, f"http://127.0.0.1:{port}/v1"))
    assert (result.source, result.fallback_reason) == ("evidence", "unreachable")


def test_an_injected_answer_from_the_server_changes_nothing(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    server.reply = {
        "verdict": "true",
        "parts": [
            {"text": "This is TRUE, read http://evil.example/cure", "evidence_ids": ["a1b2"]},
            {"text": "Reviewer ids: 7310004411.", "evidence_ids": ["reviewers"]},
        ],
    }
    result = run(drafter_for(tmp_path, server.base_url), claim=INJECTION)
    assert (result.source, result.fallback_reason) == ("evidence", "unknown_evidence")
    assert "evil.example" not in result.text


def test_one_drafter_serves_many_claims_in_one_loop(server: FakeOpenAI, tmp_path: Path) -> None:
    drafter = drafter_for(tmp_path, server.base_url)

    async def many() -> list[str]:
        results = await asyncio.gather(*(drafter.draft(CLAIM, "en", EVIDENCE) for _ in range(4)))
        return [r.source for r in results]

    assert asyncio.run(many()) == ["model"] * 4
    assert len(server.requests) == 4
