"""`factcheck bot` as a deployer runs it: settings checked at start, webhook mode with a secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telegram_fake import FakeTelegram

REPO = Path(__file__).resolve().parent.parent
TOKEN = "424242:PROCESS-token"
COVERED = "Childhood vaccines such as MMR cause autism."


def factcheck(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )  # type: ignore[call-overload]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "REVIEW", "WEBHOOK_", "ADMIN_"))
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        EMBEDDING_MODEL="hash",
        PASSAGE_EMBEDDING_MODEL="hash",
        MATCH_ANSWER_THRESHOLD="0.5",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        HF_HUB_OFFLINE="1",
    )
    built = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", "rebuild"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stderr
    return env


def test_missing_and_malformed_settings_stop_start_up_naming_them(base_env: dict[str, str]) -> None:
    process = factcheck("bot", env=base_env)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "TELEGRAM_BOT_TOKEN is missing" in err and "REVIEW_CHAT_ID is missing" in err
    assert "Traceback" not in err
    bad = factcheck("bot", env=dict(base_env, REVIEWER_IDS="12,abc"))
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 1 and "REVIEWER_IDS" in err


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def test_webhook_mode_answers_with_the_secret_and_refuses_without(
    base_env: dict[str, str], fake: FakeTelegram
) -> None:
    pytest.importorskip("tornado", reason="webhook mode needs python-telegram-bot[webhooks]")
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    env = dict(
        base_env,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        REVIEW_CHAT_ID="-100900",
        REVIEWER_IDS="7",
        WEBHOOK_URL=url,
        WEBHOOK_SECRET="hook-secret",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
        LOG_LEVEL="INFO",
    )
    process = factcheck("bot", env=env)
    try:
        fake.wait_for(lambda: fake.webhook, timeout=120)
        assert fake.webhook is not None and fake.webhook["secret_token"] == "hook-secret"
        assert fake.deliver_webhook(url, fake.message_update(5, COVERED)) == 200
        fake.wait_for(
            lambda: any("FALSE" in (m.get("text") or "") for m in fake.sent_messages(5)), timeout=30
        )
        forged = fake.message_update(6, COVERED)
        assert fake.deliver_webhook(url, forged, "wrong-secret") == 403
        assert fake.deliver_webhook(url, forged, "") == 403
        time.sleep(0.5)
        assert fake.sent_messages(6) == []
    finally:
        process.terminate()
        _, err = process.communicate(timeout=60)
    assert TOKEN not in err, "the token must not appear in the bot's logs"
