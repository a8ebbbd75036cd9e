"""Fault injection against the real bot: no mocks, loopback only, each test bounded in time.

1. ``kill -9`` of ``factcheck bot`` in the middle of a burst, then a restart: every message is
   answered exactly once.
2. Telegram unreachable (502s, then refused connections) while replies are queued: the outbox
   drains once it is back, and each chat gets its replies in the order it sent the messages.
   The same while a draft is created: its post reaches the review chat once Telegram is back,
   exactly once, with working buttons (also after a 429, and after restarts).
3. The database unreachable at start: a clear message after retries, no traceback.
4. A missing or corrupt vector store: a message naming `factcheck ingest rebuild`, no traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.telegram_fake import ApiError, FakeTelegram
from tests.test_bot_e2e import (
    ASKER_A,
    REVIEWER,
    buttons,
    choose_verdict,
    make_world,
    press,
    running,
    wait_text,
)
from tests.test_bot_e2e import REVIEW_CHAT as E2E_REVIEW_CHAT
from tests.test_bot_e2e import UNCOVERED as E2E_UNCOVERED

REPO = Path(__file__).resolve().parent.parent
TOKEN = "515151:FAULTS-token"
REVIEW_CHAT = -100900
COVERED = "Childhood vaccines such as MMR cause autism."
UNCOVERED = [
    "Cracking your knuckles gives you arthritis when you get old",
    "Sleeping with a fan on at night can kill you, share with family",
    "Reading in dim light permanently damages your eyes",
    "An onion cut in the room absorbs the flu virus",
    "Eating carrots every day lets you see in the dark",
    "Drinking water while eating dilutes your stomach acid and causes ulcers",
]


def bot_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("TELEGRAM_", "REVIEW", "WEBHOOK_", "ADMIN_", "DATABASE_", "CHROMA_", "LLM_")
        )
    }
    env.update(
        DATA_DIR=str(data_dir),
        EMBEDDING_MODEL="hash",
        PASSAGE_EMBEDDING_MODEL="hash",
        MATCH_ANSWER_THRESHOLD="0.5",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        HF_HUB_OFFLINE="1",
        **extra,
    )
    return env


def factcheck(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    """A DATA_DIR whose index was built with `factcheck ingest rebuild` (hash embedder)."""
    data = tmp_path / "data"
    built = factcheck("ingest", "rebuild", env=bot_env(data), timeout=120)
    assert built.returncode == 0, built.stderr
    return data


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


def user_replies(fake: FakeTelegram, users: set[int]) -> Counter[tuple[int, int]]:
    """(chat, message replied to) -> how many sendMessage calls carried that reply."""
    counts: Counter[tuple[int, int]] = Counter()
    for call in fake.calls("sendMessage"):
        chat = call.params.get("chat_id")
        reply_to = (call.params.get("reply_parameters") or {}).get("message_id")
        if chat in users and reply_to is not None:
            counts[(int(chat), int(reply_to))] += 1
    return counts


def start_bot(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "bot"],
            env=env,
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_kill_9_mid_burst_then_restart_answers_every_message_exactly_once(
    indexed: Path, fake: FakeTelegram, tmp_path: Path
) -> None:
    env = bot_env(
        indexed,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=fake.base_url,
        REVIEW_CHAT_ID=str(REVIEW_CHAT),
        REVIEWER_IDS="7",
        LOG_LEVEL="INFO",
    )
    log = tmp_path / "bot.log"
    users = list(range(2001, 2011))
    first = start_bot(env, log)
    try:
        fake.wait_for(lambda: fake.calls("getUpdates") or first.poll() is not None, timeout=60)
        assert first.poll() is None, log.read_text()
        asked: list[tuple[int, int]] = []  # (chat, message_id)
        for i in range(60):
            user = users[i % len(users)]
            text = COVERED if i % 2 == 0 else f"{UNCOVERED[(i // 2) % len(UNCOVERED)]} ({i})"
            update = fake.message_update(user, text)
            fake.push_update(update)
            asked.append((user, update["message"]["message_id"]))
        fake.wait_for(lambda: len(user_replies(fake, set(users))) >= 30, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        answered_before = len(user_replies(fake, set(users)))
        in_flight = [
            (c.params["chat_id"], c.params["reply_parameters"]["message_id"])
            for c in fake.calls("sendMessage")
            if c.params.get("chat_id") in users
        ][-1]
    finally:
        stop(first)
    assert first.returncode == -signal.SIGKILL
    assert answered_before < len(asked), "the burst ended before the kill: nothing was tested"

    second = start_bot(env, log)
    try:
        fake.wait_for(
            lambda: set(user_replies(fake, set(users))) >= set(asked) or second.poll() is not None,
            timeout=40,
        )
        assert second.poll() is None, log.read_text()[-3000:]
        time.sleep(2.5)  # anything resent twice would arrive now (the outbox polls every 2 s)
    finally:
        stop(second)
    counts = user_replies(fake, set(users))
    missing = [key for key in asked if counts[key] == 0]
    twice = {key: n for key, n in counts.items() if n > 1}
    assert missing == [], f"{len(missing)} message(s) never answered"
    # The kill is timed by the fake receiving a send, so that send's confirmation never reached
    # the outbox: the Bot API has no idempotency key, and only that one reply may come twice.
    assert set(twice) <= {in_flight} and all(n == 2 for n in twice.values()), (
        f"answered more than once: {twice} (in flight at the kill: {in_flight})"
    )
    assert set(counts) == set(asked)
    text = log.read_text()
    assert "Traceback" not in text and "error while handling update" not in text, text[-3000:]


def test_telegram_down_then_back_drains_the_outbox_in_order_per_chat(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    world = make_world(tmp_path, fake)
    users = [3001, 3002, 3003]
    down = {"sendMessage": True}
    serve = fake._api_sendMessage

    def send_message(params: dict[str, Any]) -> Any:
        if down["sendMessage"]:
            raise ApiError(502, "Bad Gateway")
        return serve(params)

    fake.on("sendMessage", send_message)

    async def scenario() -> None:
        async with running(world) as (_, errors):
            asked: dict[int, list[int]] = {user: [] for user in users}
            for round_ in range(3):
                for user in users:
                    # Answered at once: drafts' posts to the review chat, which go through the
                    # same outbox, have their own test below.
                    text = COVERED if round_ != 1 else "Hello, how are you?"
                    update = fake.message_update(user, text)
                    fake.push_update(update)
                    asked[user].append(update["message"]["message_id"])
                    await asyncio.sleep(0.05)  # each chat's messages arrive in order
            repo = world["repo"]
            await fake.wait_for_async(
                lambda: repo.delivery_counts().get("pending", 0) == 9, timeout=20
            )
            await fake.wait_for_async(
                lambda: len(fake.calls("sendMessage")) >= 3, timeout=10
            )  # retried, refused
            await asyncio.sleep(2)
            fake.set_unreachable(True)  # then no answer at all: connections are dropped
            await asyncio.sleep(3)
            assert fake.sent_messages() == []
            down["sendMessage"] = False
            fake.set_unreachable(False)
            await fake.wait_for_async(lambda: repo.delivery_counts() == {"sent": 9}, timeout=40)
            for user in users:
                replied = [
                    (m.get("reply_to_message") or {}).get("message_id")
                    for m in fake.sent_messages(user)
                ]
                assert replied == asked[user], f"chat {user}: replies out of order"
            assert errors == []

    asyncio.run(scenario())


def test_database_unreachable_at_start_is_reported_after_retries(tmp_path: Path) -> None:
    env = bot_env(
        tmp_path / "data",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:1/bot",
        REVIEW_CHAT_ID=str(REVIEW_CHAT),
        REVIEWER_IDS="7",
        DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/x",
    )
    started = time.monotonic()
    result = factcheck("bot", env=env, timeout=60)
    assert result.returncode != 0
    assert "cannot reach the database" in result.stderr
    assert "after 5 attempts" in result.stderr and "retrying" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started > 5, "it should retry before giving up"


def test_missing_vector_store_names_the_rebuild_command(tmp_path: Path) -> None:
    result = factcheck("ask", "x", env=bot_env(tmp_path / "empty"), timeout=60)
    assert result.returncode != 0
    assert "factcheck ingest rebuild" in result.stderr
    assert "Traceback" not in result.stderr


def test_corrupt_vector_store_names_the_rebuild_command(indexed: Path) -> None:
    store = indexed / "chroma" / "chroma.sqlite3"
    assert store.exists()
    store.write_bytes(b"\x00garbage, not a database\xff" * 4096)
    result = factcheck("ask", "x", env=bot_env(indexed), timeout=60)
    assert result.returncode != 0
    assert "factcheck ingest rebuild" in result.stderr
    assert "Traceback" not in result.stderr


# -- drafts' posts to the review chat go through the outbox ------------------------------------------
def _review_posts(fake: FakeTelegram) -> list[dict[str, Any]]:
    return [m for m in fake.sent_messages(E2E_REVIEW_CHAT) if buttons(m)]


def _draft_posts(fake: FakeTelegram) -> list[int]:
    """The ids of the review chat's messages that are draft posts (or were, before the decision
    edited them)."""
    return [
        m["message_id"]
        for m in fake.sent_messages(E2E_REVIEW_CHAT)
        if m["text"].startswith("📝 Draft") or "approved by" in m["text"]
    ]


def _review_sends(fake: FakeTelegram) -> list[Any]:
    return [c for c in fake.calls("sendMessage") if c.params.get("chat_id") == E2E_REVIEW_CHAT]


def _review_delivery(world: dict[str, Any]) -> Any:
    from sqlalchemy import select

    from bot.review.models import Delivery

    with world["repo"].sessions() as session:
        found = session.scalars(select(Delivery).where(Delivery.kind == "review")).all()
        assert len(found) <= 1, "one post per draft"
        return found[0] if found else None


async def _approve_and_deliver(
    fake: FakeTelegram, world: dict[str, Any], post: dict[str, Any], asker: int
) -> None:
    """The post's buttons work: Approve, a verdict, the asker answered, the post edited."""
    press(fake, REVIEWER, post, "Approve")
    await choose_verdict(fake)
    await wait_text(fake, asker, "A clinician reviewed")
    await fake.wait_for_async(
        lambda: any(
            m["message_id"] == post["message_id"] and "approved by" in m["text"]
            for m in fake.sent_messages(E2E_REVIEW_CHAT)
        ),
        timeout=20,
    )
    assert world["repo"].draft(1).status == "approved"


def test_telegram_down_while_a_draft_is_created_then_back_posts_it_once(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    world = make_world(tmp_path, fake)
    down = {"on": True}
    serve = fake._api_sendMessage

    def send_message(params: dict[str, Any]) -> Any:
        if down["on"]:
            raise ApiError(502, "Bad Gateway")
        return serve(params)

    fake.on("sendMessage", send_message)

    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, E2E_UNCOVERED)
            repo = world["repo"]
            # The draft exists and its post is recorded in the outbox, not sent; sending is
            # retried (the holding reply first: it was queued first).
            await fake.wait_for_async(lambda: repo.draft(1) is not None, timeout=20)
            await fake.wait_for_async(lambda: len(fake.calls("sendMessage")) >= 2, timeout=20)
            assert repo.draft(1).review_message_id is None
            assert _review_delivery(world).status == "pending"
            fake.set_unreachable(True)  # then no answer at all
            await asyncio.sleep(2)
            assert fake.sent_messages() == []
            down["on"] = False
            fake.set_unreachable(False)
            await fake.wait_for_async(lambda: _review_posts(fake), timeout=40)
            await wait_text(fake, ASKER_A, "clinician will review")
            await asyncio.sleep(2.5)  # a second post would come now (the outbox polls every 2 s)
            [post] = _review_posts(fake)
            assert len(fake.sent_messages(E2E_REVIEW_CHAT)) == 1
            assert "Draft #1" in post["text"] and E2E_UNCOVERED[:40] in post["text"]
            draft = repo.draft(1)
            assert (draft.review_chat_id, draft.review_message_id) == (
                E2E_REVIEW_CHAT,
                post["message_id"],
            )
            assert _review_delivery(world).telegram_message_id == post["message_id"]
            await _approve_and_deliver(fake, world, post, ASKER_A)
            assert _draft_posts(fake) == [post["message_id"]]
            assert errors == []

    asyncio.run(scenario())


def test_a_429_on_a_draft_post_is_honoured_and_the_post_sent_once(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    world = make_world(tmp_path, fake)
    serve = fake._api_sendMessage
    limited = {"left": 1}

    def send_message(params: dict[str, Any]) -> Any:
        if params.get("chat_id") == E2E_REVIEW_CHAT and limited["left"]:
            limited["left"] -= 1
            raise ApiError(429, "Too Many Requests: retry after 2", retry_after=2)
        return serve(params)

    fake.on("sendMessage", send_message)

    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, E2E_UNCOVERED)
            await fake.wait_for_async(lambda: _review_posts(fake), timeout=20)
            first, second = _review_sends(fake)[:2]
            assert second.at - first.at >= 1.9, "retry_after was not honoured"
            await asyncio.sleep(2.5)
            assert len(_review_sends(fake)) == 2 and len(_review_posts(fake)) == 1
            assert world["repo"].draft(1).review_message_id == _review_posts(fake)[0]["message_id"]
            assert errors == []

    asyncio.run(scenario())


def test_an_unposted_draft_is_posted_once_after_restarts_even_if_given_up(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run 1: Telegram answers 502 (the post stays pending); run 2: the bot was removed from the
    review chat, 403 (the post is given up); run 3: all is well, the post is sent, once."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    world = make_world(tmp_path, fake)
    serve = fake._api_sendMessage
    review_error: dict[str, ApiError | None] = {"error": ApiError(502, "Bad Gateway")}

    def send_message(params: dict[str, Any]) -> Any:
        error = review_error["error"]
        if params.get("chat_id") == E2E_REVIEW_CHAT and error is not None:
            raise error
        return serve(params)

    fake.on("sendMessage", send_message)

    async def first_run() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, E2E_UNCOVERED)
            await wait_text(fake, ASKER_A, "clinician will review")
            await fake.wait_for_async(
                lambda: getattr(_review_delivery(world), "attempts", 0) >= 1, timeout=20
            )
            assert _review_delivery(world).status == "pending"
            assert errors == []

    async def second_run() -> None:
        review_error["error"] = ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        async with running(world) as (_, errors):
            await fake.wait_for_async(
                lambda: _review_delivery(world).status == "failed", timeout=20
            )
            assert errors == []

    async def third_run() -> None:
        review_error["error"] = None
        async with running(world) as (_, errors):
            await fake.wait_for_async(lambda: _review_posts(fake), timeout=20)
            await asyncio.sleep(2.5)
            [post] = _review_posts(fake)
            assert world["repo"].draft(1).review_message_id == post["message_id"]
            assert _review_delivery(world).status == "sent"
            await _approve_and_deliver(fake, world, post, ASKER_A)
            # The holding reply, the post and the decision, all confirmed.
            await fake.wait_for_async(
                lambda: world["repo"].delivery_counts() == {"sent": 3}, timeout=20
            )
            assert errors == []

    asyncio.run(first_run())
    asyncio.run(second_run())
    asyncio.run(third_run())
    assert len(_draft_posts(fake)) == 1
