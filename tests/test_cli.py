"""The `factcheck` command, run as a user runs it (a subprocess), with the fast hash embedder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.outcome import CONTRACT_KEYS

FACTCHECK = [sys.executable, "-m", "bot.cli"]


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
