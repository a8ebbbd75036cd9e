"""The real bot Application end to end, against the fake Telegram Bot API on 127.0.0.1.

Bans, the Spam button, and roles on every command and button (forged, tampered and replayed
buttons): tests/test_bot_abuse.py. Telegram failing while replies and drafts' posts are sent:
tests/test_faults.py.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.review.database import make_engine, migrate, session_factory
from bot.review.repository import ReviewRepository
from bot.services import Services
from bot.telegram.app import build_application, shutdown, startup
from tests.conftest import fake_settings
from tests.fake_openai import GOOD_TEXT, FakeOpenAI
from tests.telegram_fake import FakeTelegram

TOKEN = "123456:TEST-token-e2e"
REVIEW_CHAT = -100777
REVIEWER, OTHER_REVIEWER, ADMIN = 901, 902, 903
ASKER_A, ASKER_B, STRANGER = 1001, 1002, 1003
COVERED = "Childhood vaccines such as MMR cause autism."
UNCOVERED = "Drinking cold water right after meals causes stomach cancer, doctors hide it"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, fake: FakeTelegram) -> dict[str, Any]:
    return make_world(tmp_path, fake)


def make_world(tmp_path: Path, fake: FakeTelegram, **overrides: Any) -> dict[str, Any]:
    settings = fake_settings(
        tmp_path,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=fake.base_url,
        telegram_api_file_url=fake.base_file_url,
        review_chat_id=REVIEW_CHAT,
        reviewer_ids=frozenset({REVIEWER, OTHER_REVIEWER}),
        admin_ids=frozenset({ADMIN}),
        allow_loopback_urls=True,
        rate_limit_per_minute=5,
        **overrides,
    )
    services = Services(settings)
    services.ingestor.load_fact_checks()
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    return {
        "services": services,
        "repo": ReviewRepository(session_factory(engine)),
        "settings": settings,
    }


@asynccontextmanager
async def running(world: dict[str, Any]) -> AsyncIterator[tuple[Application, list[BaseException]]]:
    app = build_application(world["services"], world["repo"])
    errors: list[BaseException] = []

    async def record(update: object, context: Any) -> None:
        errors.append(context.error)

    app.add_error_handler(record)
    async with app:
        await app.start()
        await startup(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app, errors
        finally:
            await app.updater.stop()
            await shutdown(app)
            await app.stop()


def texts(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in fake.sent_messages(chat_id)]


async def wait_text(
    fake: FakeTelegram, chat_id: int, needle: str, count: int = 1, timeout: float = 20
) -> list[str]:
    await fake.wait_for_async(
        lambda: sum(needle in t for t in texts(fake, chat_id)) >= count, timeout
    )
    return texts(fake, chat_id)


async def sent_count(fake: FakeTelegram, world: dict[str, Any], count: int) -> None:
    """Waits until the outbox has recorded `count` confirmed deliveries (and nothing else)."""
    await fake.wait_for_async(lambda: world["repo"].delivery_counts() == {"sent": count})


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def review_post(fake: FakeTelegram, index: int = -1) -> dict[str, Any]:
    await fake.wait_for_async(
        lambda: any(buttons(m) for m in fake.sent_messages(REVIEW_CHAT)), timeout=20
    )
    return [m for m in fake.sent_messages(REVIEW_CHAT) if buttons(m)][index]


def press(fake: FakeTelegram, user: int, message: dict[str, Any], label_part: str) -> None:
    data = next(v for k, v in buttons(message).items() if label_part in k)
    fake.push_callback(user, data, message["message_id"], chat_id=REVIEW_CHAT)


async def choose_verdict(fake: FakeTelegram, verdict: str = "FALSE") -> None:
    """Presses a verdict on the verdict keyboard the bot posted after Approve or Confirm."""

    def keyboard() -> dict[str, Any] | None:
        return next(
            (m for m in fake.sent_messages(REVIEW_CHAT) if any(verdict in k for k in buttons(m))),
            None,
        )

    message = await fake.wait_for_async(keyboard, timeout=20)
    press(fake, REVIEWER, message, verdict)


def test_a_matched_rumour_is_answered_at_once(fake: FakeTelegram, world: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, COVERED)
            [reply] = await wait_text(fake, ASKER_A, "FALSE")
            assert "not personal medical advice" in reply
            await sent_count(fake, world, 1)
            assert errors == []

    asyncio.run(scenario())


def test_uncovered_rumour_drafted_approved_and_delivered_to_both_askers(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            fake.push_message(ASKER_B, UNCOVERED, username="asker_b_handle")
            await wait_text(fake, ASKER_A, "clinician will review")
            await wait_text(fake, ASKER_B, "clinician will review")
            post = await review_post(fake)
            drafts = [m for m in fake.sent_messages(REVIEW_CHAT) if buttons(m)]
            assert len(drafts) == 1, "two askers of the same claim make one draft"
            assert "2 person(s)" in post["text"] or "asked by 1" in post["text"]
            assert str(ASKER_B) not in post["text"] and "asker_b_handle" not in post["text"]
            assert next(iter(buttons(post))).endswith("Approve")
            press(fake, REVIEWER, post, "Approve")
            await choose_verdict(fake)
            await wait_text(fake, ASKER_A, "A clinician reviewed")
            await wait_text(fake, ASKER_B, "A clinician reviewed")
            await wait_text(fake, REVIEW_CHAT, "approved by")
            [decision] = world["repo"].decisions(1)
            assert (decision.reviewer_id, decision.action) == (REVIEWER, "approve")
            # The approved reply is now a fact-check: the next asker gets it at once.
            fake.push_message(STRANGER, UNCOVERED)
            await wait_text(fake, STRANGER, "FALSE")
            assert errors == []

    asyncio.run(scenario())


def test_edit_flow_previews_then_sends_the_corrected_text(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            post = await review_post(fake)
            press(fake, REVIEWER, post, "Edit")
            await wait_text(fake, REVIEW_CHAT, "send the corrected reply")
            fake.push_message(
                REVIEWER,
                "Cold water does not cause cancer (WHO).",
                chat_id=REVIEW_CHAT,
                chat_type="supergroup",
            )
            await wait_text(fake, REVIEW_CHAT, "Preview of draft")
            preview = next(m for m in fake.sent_messages(REVIEW_CHAT) if "Preview" in m["text"])
            assert "Cold water does not cause cancer" in preview["text"]
            press(fake, REVIEWER, preview, "Send this")
            await choose_verdict(fake)
            replies = await wait_text(fake, ASKER_A, "Cold water does not cause cancer")
            assert any("A clinician reviewed" in r for r in replies)
            [decision] = world["repo"].decisions(1)
            assert decision.text == "Cold water does not cause cancer (WHO)."
            assert errors == []

    asyncio.run(scenario())


def test_reject_flow_records_the_reason(fake: FakeTelegram, world: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            post = await review_post(fake)
            press(fake, REVIEWER, post, "Reject")
            await wait_text(fake, REVIEW_CHAT, "reason for rejecting")
            fake.push_message(
                REVIEWER,
                "Not a health claim we can check",
                chat_id=REVIEW_CHAT,
                chat_type="supergroup",
            )
            await wait_text(fake, ASKER_A, "could not give a verified answer")
            await wait_text(fake, REVIEW_CHAT, "rejected by")
            [decision] = world["repo"].decisions(1)
            assert (decision.action, decision.reason) == (
                "reject",
                "Not a health claim we can check",
            )
            assert errors == []

    asyncio.run(scenario())


def test_admin_adds_a_source_from_a_loopback_url_and_a_document(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    page = (
        b"<html><head><title>Cholera fact sheet</title></head><body><p>"
        + b"Cholera is treated with oral rehydration solution. " * 20
        + b"</p></body></html>"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/cholera.html"

    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(STRANGER, f"/addsource {url} WHO en")
            await wait_text(fake, STRANGER, "reserved for administrators")
            fake.push_message(ADMIN, f"/addsource {url} WHO en")
            await wait_text(fake, ADMIN, "✅ " + url, timeout=30)
            fake.push_document(
                ADMIN,
                b"# Dengue\n\n" + b"Dengue spreads through Aedes bites. " * 30,
                file_name="dengue.md",
                mime_type="text/markdown",
                caption="/addsource Ministry of Health en",
            )
            await wait_text(fake, ADMIN, "✅ dengue.md", timeout=30)
            fake.push_message(ADMIN, "/sources")
            listing = await wait_text(fake, ADMIN, "Ministry of Health")
            assert any("WHO" in t for t in listing)
            assert len(world["services"].ingestor.list_sources()) == 2
            assert errors == []

    try:
        asyncio.run(scenario())
    finally:
        server.shutdown()


def test_a_429_is_honoured_and_the_reply_sent_once(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world):
            fake.fail_next("sendMessage", status=429, retry_after=1)
            fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE", timeout=15)
            await asyncio.sleep(0.5)
            assert sum("FALSE" in t for t in texts(fake, ASKER_A)) == 1
            await sent_count(fake, world, 1)

    asyncio.run(scenario())


def test_an_undelivered_reply_is_sent_after_a_restart(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def first_run() -> None:
        async with running(world):
            fake.on("sendMessage", _always_502)
            fake.push_message(ASKER_A, COVERED)
            await fake.wait_for_async(lambda: world["repo"].delivery_counts().get("pending"))
            await fake.wait_for_async(
                lambda: any(d.attempts for d in _all_pending(world["repo"])), timeout=10
            )

    async def second_run() -> None:
        fake.on("sendMessage", None)  # Telegram works again
        async with running(world):
            await wait_text(fake, ASKER_A, "FALSE", timeout=15)
            await sent_count(fake, world, 1)

    asyncio.run(first_run())
    asyncio.run(second_run())


def test_a_redelivered_update_is_answered_once(fake: FakeTelegram, world: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with running(world):
            update_id = fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE")
            fake.redeliver(update_id)
            await fake.wait_for_async(lambda: not fake.pending_updates(), timeout=10)
            await asyncio.sleep(0.5)
            assert sum("FALSE" in t for t in texts(fake, ASKER_A)) == 1

    asyncio.run(scenario())


def test_rate_limit_answers_politely_once(fake: FakeTelegram, world: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with running(world):
            for _ in range(8):
                fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "very fast")
            await wait_text(fake, ASKER_A, "FALSE", count=5)
            await asyncio.sleep(0.5)
            assert sum("very fast" in t for t in texts(fake, ASKER_A)) == 1

    asyncio.run(scenario())


def test_language_choice_and_forget(fake: FakeTelegram, world: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with running(world):
            fake.push_message(ASKER_A, "/language ar")
            await wait_text(fake, ASKER_A, "سأكتب لك بالعربية")
            fake.push_message(ASKER_A, "/start")
            replies = await wait_text(fake, ASKER_A, "مرحبًا")
            assert replies
            fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE")
            fake.push_message(ASKER_A, "/forget")
            await wait_text(fake, ASKER_A, "حُذفت")
            assert world["repo"].forget(ASKER_A) == 0

    asyncio.run(scenario())


def test_a_model_written_draft_goes_to_clinicians_only(fake: FakeTelegram, tmp_path: Path) -> None:
    with FakeOpenAI() as llm:
        world = make_world(
            tmp_path,
            fake,
            llm_provider="openai-compatible",
            llm_base_url=llm.base_url,
            llm_model="llama3.2",
            llm_timeout_s=2,
        )
        page = tmp_path / "stomach-cancer.md"
        page.write_text(
            "# Stomach cancer\n\nStomach cancer is linked to Helicobacter pylori infection, "
            "smoking and salty food. Drinking cold water after meals does not cause stomach "
            "cancer.\n"
        )
        world["services"].ingestor.add(str(page), publisher="WHO", language="en")

        async def scenario() -> None:
            async with running(world) as (_, errors):
                fake.push_message(ASKER_A, UNCOVERED)
                post = await review_post(fake)
                assert "Draft written by a language model — check every sentence" in post["text"]
                assert GOOD_TEXT.split(". ")[0] in post["text"]
                assert "Verdict suggested by the model: ❌ FALSE" in post["text"]
                # The asker gets the holding reply; the model's text waits for a clinician.
                await wait_text(fake, ASKER_A, "clinician will review")
                assert not any(GOOD_TEXT[:40] in t for t in texts(fake, ASKER_A))
                # A second asker of the same claim joins the draft: the model is not asked again.
                fake.push_message(ASKER_B, UNCOVERED)
                await wait_text(fake, ASKER_B, "clinician will review")
                assert len(llm.requests) == 1
                # No reviewer, admin or asker identity is in what the model was sent.
                for prompt in llm.prompts():
                    for user_id in (REVIEWER, OTHER_REVIEWER, ADMIN, ASKER_A, ASKER_B):
                        assert not re.search(rf"\b{user_id}\b", prompt)
                press(fake, REVIEWER, post, "Approve")
                await choose_verdict(fake)
                replies = await wait_text(fake, ASKER_A, "A clinician reviewed")
                assert any(GOOD_TEXT.split(". ")[0] in r for r in replies)
                # The model server fails: the next claim's draft is the evidence-only one, and
                # the reviewers are told why.
                llm.mode = "error"
                fake.push_message(
                    STRANGER,
                    "Eating salty food every day gives you stomach cancer in a year, share this",
                )
                await fake.wait_for_async(
                    lambda: (
                        sum(
                            bool(buttons(m)) and "Draft #2" in m["text"]
                            for m in fake.sent_messages(REVIEW_CHAT)
                        )
                        == 1
                    )
                )
                second = next(
                    m
                    for m in fake.sent_messages(REVIEW_CHAT)
                    if buttons(m) and "Draft #2" in m["text"]
                )
                assert "the model server returned an error" in second["text"]
                assert "Draft written by a language model" not in second["text"]
                assert errors == []

        asyncio.run(scenario())


def _always_502(params: dict[str, Any]) -> Any:
    from tests.telegram_fake.server import ApiError

    raise ApiError(502, "Bad Gateway")


def _all_pending(repo: ReviewRepository) -> list[Any]:
    from sqlalchemy import select

    from bot.review.models import Delivery

    with repo.sessions() as session:
        return list(session.scalars(select(Delivery).where(Delivery.status == "pending")))


def test_queue_for_reviewers_and_stats_for_admins(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            fake.push_message(ASKER_B, COVERED)
            await review_post(fake)
            await wait_text(fake, ASKER_B, "FALSE")
            fake.push_message(REVIEWER, "/queue", chat_id=REVIEW_CHAT, chat_type="supergroup")
            queue = await wait_text(fake, REVIEW_CHAT, "1 asker(s)")
            assert any("cold water" in line.lower() for line in queue)
            fake.push_message(STRANGER, "/queue")
            await wait_text(fake, STRANGER, "reserved for clinician reviewers")
            fake.push_message(ADMIN, "/stats")
            [stats] = await wait_text(fake, ADMIN, "Requests: 2")
            assert "Answered at once: 1" in stats and "vaccines-autism: 1" in stats
            fake.push_message(STRANGER, "/stats")
            await wait_text(fake, STRANGER, "reserved for administrators")
            assert errors == []

    asyncio.run(scenario())


def test_revising_an_approved_reply_offers_a_correction(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            fake.push_message(ASKER_B, UNCOVERED)
            post = await review_post(fake)
            press(fake, REVIEWER, post, "Approve")
            await choose_verdict(fake)
            await wait_text(fake, ASKER_A, "A clinician reviewed")
            await wait_text(fake, ASKER_B, "A clinician reviewed")
            await fake.wait_for_async(lambda: world["repo"].received_count(1) == 2)
            fake.push_message(
                REVIEWER,
                "/revise 1 New WHO guidance: still false.",
                chat_id=REVIEW_CHAT,
                chat_type="supergroup",
            )
            await wait_text(fake, REVIEW_CHAT, "send this correction to the 2 person(s)")
            offer = next(
                m
                for m in fake.sent_messages(REVIEW_CHAT)
                if "send this correction" in (m.get("text") or "")
            )
            press(fake, STRANGER, offer, "Send the correction")
            await fake.wait_for_calls_async("answerCallbackQuery", 3, timeout=20)
            assert not any("Correction" in t for t in texts(fake, ASKER_A))
            press(fake, REVIEWER, offer, "Send the correction")
            await wait_text(fake, ASKER_A, "Correction")
            await wait_text(fake, ASKER_B, "New WHO guidance")
            actions = [d.action for d in world["repo"].decisions(1)]
            assert actions == ["approve", "revise"]
            assert errors == []

    asyncio.run(scenario())


def test_forwards_and_photo_captions_are_checked_like_text(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (_, errors):
            fake.push_message(ASKER_A, COVERED, forward=True)
            await wait_text(fake, ASKER_A, "FALSE")
            photo = [{"file_id": "AgAC1", "file_unique_id": "AQAD1", "width": 90, "height": 90}]
            fake.push_message(ASKER_B, None, caption=COVERED, photo=photo)
            await wait_text(fake, ASKER_B, "FALSE")
            fake.push_message(
                STRANGER,
                None,
                sticker={
                    "file_id": "CAAC1",
                    "file_unique_id": "AgAD2",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
            )
            await wait_text(fake, STRANGER, "only read text")
            assert errors == []

    asyncio.run(scenario())
