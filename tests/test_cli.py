"""The `factcheck` command, run as a user runs it (a subprocess), with the fast hash embedder."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.outcome import CONTRACT_KEYS, REVIEW_KEYS
from tests.fake_openai import FakeOpenAI

FACTCHECK = [sys.executable, "-m", "bot.cli"]
UNCOVERED = "Drinking cold water right after meals causes stomach cancer, doctors hide it"


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*FACTCHECK, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).parent.parent,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli")
    values = dict(
        os.environ,
        DATA_DIR=str(data),
        EMBEDDING_MODEL="hash",
        PASSAGE_EMBEDDING_MODEL="hash",
        MATCH_ANSWER_THRESHOLD="0.5",
        MATCH_REVIEW_THRESHOLD="0.3",
        HF_HUB_OFFLINE="1",
        LLM_PROVIDER="none",
    )
    built = run(["ingest", "rebuild"], values)
    assert built.returncode == 0, built.stderr
    assert "fact-checks: 5" in built.stdout or "fact-checks:" in built.stdout
    return values


def test_ask_prints_the_reply(env: dict[str, str]) -> None:
    result = run(["ask", "Childhood vaccines such as MMR cause autism."], env)
    assert result.returncode == 0, result.stderr
    assert "FALSE" in result.stdout


def test_ask_json_prints_the_contract(env: dict[str, str]) -> None:
    result = run(["ask", "--json", "Childhood vaccines such as MMR cause autism."], env)
    data = json.loads(result.stdout)
    assert tuple(data) == CONTRACT_KEYS
    assert data["matched_fact_check"]["id"] == "vaccines-autism"
    assert data["redacted_text"] == "Childhood vaccines such as MMR cause autism."


def test_ask_json_redacts_with_presidio(env: dict[str, str]) -> None:
    text = "Je m'appelle Amina Belkacem, 06 12 34 56 78 : le vaccin ROR provoque l'autisme ?"
    result = run(["ask", "--json", text], dict(env, REDACTOR="presidio"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "fr"
    assert "Amina" not in data["redacted_text"] and "06 12" not in data["redacted_text"]
    assert "[NAME]" in data["redacted_text"] and "[PHONE]" in data["redacted_text"]
    assert "le vaccin ROR provoque l'autisme" in data["redacted_text"]
    assert "Amina" not in result.stderr and "Amina" not in data["reply"]


def test_batch_echoes_ids_one_outcome_per_line(env: dict[str, str], tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    lines = [
        {"id": "a", "text": "Childhood vaccines such as MMR cause autism.", "extra": 1},
        {"text": "hello"},
        {"id": 7, "text": "ابني بلع كلور الحقوني"},
    ]
    batch.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n")
    result = run(["ask", "--batch", str(batch)], env)
    assert result.returncode == 0, result.stderr
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in outcomes] == ["a", None, "7"]
    assert [o["category"] for o in outcomes] == ["claim", "not_a_claim", "emergency"]
    assert all(tuple(o) == CONTRACT_KEYS for o in outcomes)


def test_batch_reports_bad_lines_and_still_answers_the_rest(
    env: dict[str, str], tmp_path: Path
) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"id": "ok", "text": "hello"}\nnot json\n{"id": "no-text"}\n')
    result = run(["ask", "--batch", str(batch)], env)
    assert result.returncode == 1
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["ok"]
    assert ":2:" in result.stderr and ":3:" in result.stderr


def test_ingest_add_list_remove(env: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "note.md"
    doc.write_text(
        "# Dengue\n\nDengue is spread by Aedes mosquitoes; there is no specific treatment.\n"
    )
    added = run(["ingest", "add", str(doc), "--publisher", "WHO", "--language", "en"], env)
    assert added.returncode == 0, added.stderr
    source_id = added.stdout.split(":")[0]
    again = run(["ingest", "add", str(doc), "--publisher", "WHO", "--language", "en"], env)
    assert "unchanged" in again.stdout
    listed = run(["ingest", "list", "--json"], env)
    assert source_id in {record["source_id"] for record in json.loads(listed.stdout)}
    removed = run(["ingest", "remove", source_id], env)
    assert removed.returncode == 0 and "removed" in removed.stdout
    missing = run(["ingest", "remove", source_id], env)
    assert missing.returncode == 1 and "no source" in missing.stderr


def test_clear_errors(env: dict[str, str], tmp_path: Path) -> None:
    unsupported = tmp_path / "x.docx"
    unsupported.write_bytes(b"PK")
    result = run(["ingest", "add", str(unsupported), "--publisher", "WHO"], env)
    assert result.returncode == 1 and "unsupported type" in result.stderr
    assert "Traceback" not in result.stderr
    bad = run(["ask", "hello"], dict(env, MATCH_ANSWER_THRESHOLD="2"))
    assert bad.returncode == 1 and "MATCH_ANSWER_THRESHOLD" in bad.stderr


def test_ask_on_an_empty_index_names_the_rebuild_command(tmp_path: Path) -> None:
    env = dict(
        os.environ, DATA_DIR=str(tmp_path), EMBEDDING_MODEL="hash", PASSAGE_EMBEDDING_MODEL="hash"
    )
    result = run(["ask", "hello"], env)
    assert result.returncode == 1
    assert "factcheck ingest rebuild" in result.stderr


def test_changed_embedder_is_refused_with_the_rebuild_command(env: dict[str, str]) -> None:
    result = run(["ask", "hello"], dict(env, EMBEDDING_MODEL="muse"))
    assert result.returncode == 1
    assert "factcheck ingest rebuild" in result.stderr


def test_ask_json_on_a_claim_that_needs_review_carries_the_evidence_draft(
    env: dict[str, str],
) -> None:
    result = run(["ask", "--json", UNCOVERED], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert tuple(data) == REVIEW_KEYS
    assert (data["status"], data["draft_source"]) == ("needs_review", "evidence")
    assert data["draft"] and data["draft"] != data["reply"]


@pytest.fixture(scope="module")
def env_with_evidence(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A copy of the index with a vetted page on stomach cancer, so the model has evidence."""
    data = tmp_path_factory.mktemp("cli-llm")
    shutil.copytree(env["DATA_DIR"], data, dirs_exist_ok=True)
    values = dict(env, DATA_DIR=str(data), EVIDENCE_MIN_SCORE="0.05")
    page = data / "stomach-cancer.md"
    page.write_text(
        "# Stomach cancer\n\nStomach cancer is linked to Helicobacter pylori infection, smoking "
        "and salty food. Drinking cold water after meals does not cause stomach cancer.\n"
    )
    added = run(["ingest", "add", str(page), "--publisher", "WHO", "--language", "en"], values)
    assert added.returncode == 0, added.stderr
    return values


def test_ask_json_and_batch_with_a_model_draft(
    env_with_evidence: dict[str, str], tmp_path: Path
) -> None:
    with FakeOpenAI() as server:
        env = dict(
            env_with_evidence,
            LLM_PROVIDER="openai-compatible",
            LLM_BASE_URL=server.base_url,
            LLM_MODEL="llama3.2",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        result = run(["ask", "--json", UNCOVERED], env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert tuple(data) == REVIEW_KEYS
        assert data["draft_source"] == "model"
        assert data["draft"].startswith("There is no evidence that drinking cold water")
        assert data["verdict"] == "unproven" and "clinician" in data["reply"]
        assert len(server.requests) == 1

        plain = run(["ask", UNCOVERED], env)  # the public reply needs no draft
        assert plain.returncode == 0 and len(server.requests) == 1

        batch = tmp_path / "in.jsonl"
        lines = [
            {"id": "a", "text": UNCOVERED},
            {"id": "b", "text": "Childhood vaccines such as MMR cause autism."},
        ]
        batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        server.mode = "error"
        result = run(["ask", "--batch", str(batch)], env)
        assert result.returncode == 0, result.stderr
        first, second = (json.loads(line) for line in result.stdout.splitlines())
        assert tuple(first) == REVIEW_KEYS and first["draft_source"] == "evidence"
        assert tuple(second) == CONTRACT_KEYS
        assert "Traceback" not in result.stderr


def test_an_incomplete_model_setting_is_named(env: dict[str, str]) -> None:
    result = run(["ask", "hello"], dict(env, LLM_PROVIDER="openai-compatible"))
    assert result.returncode == 1
    assert "LLM_BASE_URL" in result.stderr and "LLM_MODEL" in result.stderr
