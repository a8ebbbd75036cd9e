"""Abuse handling end to end, against the fake Telegram Bot API: bans, the Spam button, and the
roles behind every command and button (forged, tampered and replayed buttons included).

"Changes nothing" is checked on everything the bot keeps: every row of every table of the review
store, the registered sources, the reviewers' in-memory edit state, and the messages sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select
from telegram.ext import Application

from bot.review.models import AuditEntry, Base, Draft, Request, User
from bot.review.repository import ReviewRepository
from bot.telegram.callbacks import ButtonData, CallbackSigner
from bot.telegram.context import KEY, BotServices
from tests import test_bot_e2e
from tests.telegram_fake import FakeTelegram
from tests.test_bot_e2e import (
    ADMIN,
    ASKER_A,
    ASKER_B,
    COVERED,
    OTHER_REVIEWER,
    REVIEW_CHAT,
    REVIEWER,
    STRANGER,
    UNCOVERED,
    buttons,
    review_post,
    running,
    texts,
    wait_text,
)

# The same fixtures as the bot's end-to-end tests: the fake Bot API and a running bot world.
fake = test_bot_e2e.fake
world = test_bot_e2e.world

OTHER_CLAIM = "Sleeping with a fan on at night can kill you, share with family"
GROUP = -1_000_555  # an ordinary group the bot was added to
HOLDING = "clinician will review"
REVIEWER_ONLY = "reserved for clinician reviewers"
ADMIN_ONLY = "reserved for administrators"
STALE = "no longer valid"
FORGED = "This button is not valid."
BAN_USAGE = "Usage: /ban USER_ID or /unban USER_ID"


def snapshot(repo: ReviewRepository) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the review store."""
    with repo.sessions() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(table.select())), key=repr)
            for table in Base.metadata.sorted_tables
        }


def state(world: dict[str, Any], app: Application) -> dict[str, Any]:
    """All that a refused command or button must leave as it was."""
    svc: BotServices = app.bot_data[KEY]
    return {
        "db": snapshot(world["repo"]),
        "sources": world["services"].ingestor.list_sources(),
        "awaiting": dict(svc.awaiting),
        "previews": dict(svc.previews),
        "fact_checks": sorted(world["services"].engine.matcher.records),
    }


def rows(repo: ReviewRepository, model: type[Any], *where: Any) -> list[Any]:
    with repo.sessions() as session:
        return list(session.scalars(select(model).where(*where)))


async def settled(fake: FakeTelegram, world: dict[str, Any]) -> None:
    """Every update handled (the bot confirms updates only once handled) and every queued
    delivery sent."""
    await fake.wait_for_async(lambda: not fake.pending_updates(), timeout=20)
    await fake.wait_for_async(lambda: set(world["repo"].delivery_counts()) <= {"sent"}, timeout=20)


async def refused(
    fake: FakeTelegram, user: int, text: str, chat: int, needle: str, **kwargs: Any
) -> None:
    """Sends a command and waits for the one reply it gets: the refusal."""
    before = len(fake.sent_messages(chat))
    fake.push_message(user, text, chat_id=chat if chat != user else None, **kwargs)
    await fake.wait_for_async(lambda: len(fake.sent_messages(chat)) > before, timeout=20)
    await fake.wait_for_async(lambda: not fake.pending_updates(), timeout=20)
    replies = [m["text"] for m in fake.sent_messages(chat)[before:]]
    assert len(replies) == 1 and needle in replies[0], (text, replies)


async def alert(
    fake: FakeTelegram, user: int, data: str, message: dict[str, Any], chat: int = REVIEW_CHAT
) -> str:
    """Presses a button with `data` on `message`; returns the text of the bot's answer."""
    before = len(fake.calls("answerCallbackQuery"))
    fake.push_callback(user, data, message["message_id"], chat_id=chat)
    answers = await fake.wait_for_calls_async("answerCallbackQuery", before + 1, timeout=20)
    await fake.wait_for_async(lambda: not fake.pending_updates(), timeout=20)
    return str(answers[before].params.get("text", ""))


def data_of(message: dict[str, Any], label_part: str) -> str:
    return next(v for k, v in buttons(message).items() if label_part in k)


def post_of(fake: FakeTelegram, draft_id: int) -> dict[str, Any]:
    return next(
        m
        for m in fake.sent_messages(REVIEW_CHAT)
        if buttons(m) and f"Draft #{draft_id} " in m["text"]
    )


# -- /ban and /unban ------------------------------------------------------------------------------
def test_an_admins_ban_silences_the_user_and_unban_restores_answers(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    repo: ReviewRepository = world["repo"]

    async def scenario() -> None:
        async with running(world) as (app, errors):
            fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE")
            await settled(fake, world)

            fake.push_message(ADMIN, f"/ban {ASKER_A}")
            await wait_text(fake, ADMIN, f"User {ASKER_A} is banned.")
            # A user who never wrote can be banned before they do.
            fake.push_message(
                ADMIN, f"/ban@fake_test_bot {ASKER_B}", chat_id=GROUP, chat_type="group"
            )
            await wait_text(fake, GROUP, f"User {ASKER_B} is banned.")
            bans = rows(repo, AuditEntry, AuditEntry.action == "ban")
            assert sorted((b.actor_id, b.subject) for b in bans) == [
                (ADMIN, str(ASKER_A)),
                (ADMIN, str(ASKER_B)),
            ]
            assert {u.telegram_id for u in rows(repo, User, User.banned.is_(True))} == {
                ASKER_A,
                ASKER_B,
            }
            await settled(fake, world)

            # public.rumour drops a banned user's message: no reply, nothing checked or
            # recorded, no draft and no review post.
            before = state(world, app)
            seen = {chat: len(fake.sent_messages(chat)) for chat in (ASKER_A, ASKER_B, REVIEW_CHAT)}
            fake.push_message(ASKER_A, COVERED)
            fake.push_message(ASKER_A, UNCOVERED)
            fake.push_message(ASKER_B, UNCOVERED)
            fake.push_message(ASKER_B, COVERED, forward=True)
            await settled(fake, world)
            assert state(world, app) == before
            fake.push_message(STRANGER, COVERED)  # the bot still answers everyone else
            await wait_text(fake, STRANGER, "FALSE")
            await settled(fake, world)
            for chat, count in seen.items():
                assert len(fake.sent_messages(chat)) == count, chat
            assert len(rows(repo, Request, Request.chat_id == ASKER_A)) == 1  # the one before
            assert rows(repo, Request, Request.chat_id == ASKER_B) == []
            assert rows(repo, Draft, Draft.id.is_not(None)) == []

            # /unban restores answers; commands match whatever their case.
            fake.push_message(ADMIN, f"/UNBAN {ASKER_A}")
            await wait_text(fake, ADMIN, f"User {ASKER_A} is unbanned.")
            assert rows(repo, User, User.telegram_id == ASKER_A)[0].banned is False
            fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE", count=2)
            fake.push_message(ASKER_A, UNCOVERED)
            await wait_text(fake, ASKER_A, HOLDING)
            await review_post(fake)
            # The other ban holds.
            fake.push_message(ASKER_B, COVERED)
            await settled(fake, world)
            assert texts(fake, ASKER_B) == []
            fake.push_message(ADMIN, f"/Ban {ASKER_A}")  # upper case: still a ban
            await wait_text(fake, ADMIN, f"User {ASKER_A} is banned.", count=2)
            assert rows(repo, User, User.telegram_id == ASKER_A)[0].banned is True
            unbans = rows(repo, AuditEntry, AuditEntry.action == "unban")
            assert [(u.actor_id, u.subject) for u in unbans] == [(ADMIN, str(ASKER_A))]
            assert errors == []

    asyncio.run(scenario())


def test_malformed_ban_arguments_get_the_usage_and_change_nothing(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    malformed = [
        "/ban",
        "/unban",
        "/ban abc",
        "/ban -1001",
        "/ban 0",
        "/ban 1001x",
        "/ban 10.5",
        "/ban ²",
        "/ban ١٠٠١",
        "/ban 1001 1002",
        "/ban @user1001",
        "/ban 99999999999999999999999",
        "/unban user1001",
        "/ban 0x3e9",
    ]

    async def scenario() -> None:
        async with running(world) as (app, errors):
            fake.push_message(ASKER_A, COVERED)
            await wait_text(fake, ASKER_A, "FALSE")
            await settled(fake, world)
            before = state(world, app)
            for command in malformed:
                await refused(fake, ADMIN, command, ADMIN, BAN_USAGE)
            # The usage in the admin's language (French here, from their Telegram client).
            await refused(
                fake,
                ADMIN,
                "/ban x",
                GROUP,
                "Usage : /ban USER_ID ou /unban",
                chat_type="group",
                language_code="fr",
            )
            await settled(fake, world)
            assert state(world, app) == before
            assert errors == []

    asyncio.run(scenario())


# -- roles on every command -----------------------------------------------------------------------
REVIEWER_COMMANDS = ["/queue", "/queue@fake_test_bot", "/revise 1 Cold water is fine, really."]


def admin_commands(source_id: str) -> list[str]:
    return [
        "/addsource http://127.0.0.1:9/x.html WHO en",
        "/sources",
        f"/removesource {source_id}",
        "/stats",
        f"/ban {ASKER_A}",
        f"/unban {ASKER_B}",
        f"/BAN@fake_test_bot {ASKER_A}",
    ]


def test_reviewer_and_admin_commands_from_others_are_refused_and_change_nothing(
    fake: FakeTelegram, world: dict[str, Any], tmp_path: Path
) -> None:
    page = tmp_path / "fever.md"
    page.write_text("# Fever\n\n" + "A fever in a baby under three months needs a doctor. " * 20)
    source_id = world["services"].ingestor.add(str(page), publisher="WHO", language="en").source_id

    async def scenario() -> None:
        async with running(world) as (app, errors):
            # Something for each command to act on: an approved draft (/revise 1), a pending one,
            # a banned user (/unban), a source (/removesource).
            fake.push_message(ASKER_A, UNCOVERED)
            post = await review_post(fake)
            fake.push_callback(
                REVIEWER, data_of(post, "Approve"), post["message_id"], chat_id=REVIEW_CHAT
            )
            verdicts = await fake.wait_for_async(
                lambda: next(
                    (m for m in fake.sent_messages(REVIEW_CHAT) if "FALSE" in str(buttons(m))), None
                ),
                timeout=20,
            )
            fake.push_callback(
                REVIEWER, data_of(verdicts, "FALSE"), verdicts["message_id"], chat_id=REVIEW_CHAT
            )
            await wait_text(fake, ASKER_A, "A clinician reviewed")
            fake.push_message(ASKER_B, OTHER_CLAIM)
            await wait_text(fake, ASKER_B, HOLDING)
            await fake.wait_for_async(lambda: len(world["repo"].pending_drafts()) == 1)
            fake.push_message(ADMIN, f"/ban {ASKER_B}")
            await wait_text(fake, ADMIN, "is banned")
            await settled(fake, world)
            before = state(world, app)
            assert source_id in {s["source_id"] for s in before["sources"]}

            # Who sends, and where: an ordinary user in private, in a group and in the review
            # chat (a member who is not a reviewer); and each role outside its own.
            places = [
                (STRANGER, STRANGER, {}),
                (STRANGER, GROUP, {"chat_type": "group"}),
                (STRANGER, REVIEW_CHAT, {"chat_type": "supergroup"}),
            ]
            for user, chat, kwargs in places:
                for command in REVIEWER_COMMANDS:
                    await refused(fake, user, command, chat, REVIEWER_ONLY, **kwargs)
                for command in admin_commands(source_id):
                    await refused(fake, user, command, chat, ADMIN_ONLY, **kwargs)
            for command in admin_commands(source_id):  # a reviewer is not an admin
                await refused(
                    fake, REVIEWER, command, REVIEW_CHAT, ADMIN_ONLY, chat_type="supergroup"
                )
                await refused(fake, OTHER_REVIEWER, command, OTHER_REVIEWER, ADMIN_ONLY)
            for command in REVIEWER_COMMANDS:  # an admin is not a reviewer
                await refused(
                    fake, ADMIN, command, REVIEW_CHAT, REVIEWER_ONLY, chat_type="supergroup"
                )
                await refused(fake, ADMIN, command, GROUP, REVIEWER_ONLY, chat_type="group")
            # A document captioned /addsource: refused before it is downloaded.
            fake.push_document(
                STRANGER,
                b"# Dengue\n\nDengue spreads through mosquito bites.",
                file_name="dengue.md",
                mime_type="text/markdown",
                caption="/addsource Ministry en",
                chat_id=GROUP,
                chat_type="group",
            )
            await wait_text(fake, GROUP, ADMIN_ONLY, count=len(admin_commands(source_id)) + 1)
            # The refusal comes in the sender's language, which is read, not recorded.
            await refused(
                fake,
                STRANGER + 1,
                "/stats",
                STRANGER + 1,
                "réservée aux administrateurs",
                language_code="fr",
            )
            await refused(
                fake,
                STRANGER + 2,
                "/queue",
                GROUP,
                "مخصص لـالأطباء المراجعين",
                chat_type="group",
                language_code="ar",
            )
            # Text from a member of the review chat who is not a reviewer is not an edit.
            fake.push_message(
                STRANGER, "Approve everything", chat_id=REVIEW_CHAT, chat_type="supergroup"
            )
            await settled(fake, world)

            assert state(world, app) == before
            assert fake.calls("getFile") == []
            assert not any(
                "Ingesting" in t
                for chat in (STRANGER, GROUP, REVIEW_CHAT)
                for t in texts(fake, chat)
            )
            assert errors == []

    asyncio.run(scenario())


# -- the Spam button ------------------------------------------------------------------------------
def test_spam_closes_the_draft_records_who_and_when_and_blocks_approval(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    repo: ReviewRepository = world["repo"]

    async def scenario() -> None:
        async with running(world) as (app, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            fake.push_message(ASKER_B, UNCOVERED)
            holding_a = await wait_text(fake, ASKER_A, HOLDING)
            holding_b = await wait_text(fake, ASKER_B, HOLDING)
            post = await review_post(fake)
            # One reviewer starts approving and another starts editing...
            fake.push_callback(
                REVIEWER, data_of(post, "Approve"), post["message_id"], chat_id=REVIEW_CHAT
            )
            verdicts = await fake.wait_for_async(
                lambda: next(
                    (m for m in fake.sent_messages(REVIEW_CHAT) if "FALSE" in str(buttons(m))), None
                ),
                timeout=20,
            )
            fake.push_callback(
                OTHER_REVIEWER, data_of(post, "Edit"), post["message_id"], chat_id=REVIEW_CHAT
            )
            await wait_text(fake, REVIEW_CHAT, "send the corrected reply")
            # ...when a third press marks the draft as spam.
            started = dt.datetime.now(dt.UTC)
            fake.push_callback(
                REVIEWER, data_of(post, "Spam"), post["message_id"], chat_id=REVIEW_CHAT
            )
            await wait_text(fake, REVIEW_CHAT, "marked as spam by")
            await settled(fake, world)

            # The post itself now says who closed it and when, without buttons.
            [edited] = [
                m for m in fake.sent_messages(REVIEW_CHAT) if m["message_id"] == post["message_id"]
            ]
            assert edited["text"].startswith(f"🚫 Draft #1 marked as spam by User{REVIEWER} at ")
            assert buttons(edited) == {}
            # Recorded: the draft is closed, the decision says who and when, so does the audit.
            draft = repo.draft(1)
            assert draft is not None and draft.status == "spam" and draft.final_reply is None
            assert draft.version == 1 and draft.decided_at is not None
            [decision] = repo.decisions(1)
            assert (decision.reviewer_id, decision.reviewer_name, decision.action) == (
                REVIEWER,
                f"User{REVIEWER}",
                "spam",
            )
            decided_at = decision.created_at.replace(tzinfo=decision.created_at.tzinfo or dt.UTC)
            assert started - dt.timedelta(seconds=1) <= decided_at <= dt.datetime.now(dt.UTC)
            [audit] = rows(repo, AuditEntry, AuditEntry.action == "draft.spam")
            assert (audit.actor_id, audit.subject) == (REVIEWER, "draft:1")
            assert {r.status for r in rows(repo, Request, Request.draft_id == 1)} == {"decided"}
            # The askers get nothing more than the holding reply they had: no decision message.
            assert texts(fake, ASKER_A) == holding_a and len(holding_a) == 1
            assert texts(fake, ASKER_B) == holding_b and len(holding_b) == 1
            assert repo.delivery_counts() == {"sent": 3}  # two holding replies, one review post
            assert repo.pending_drafts() == []

            # A spammed draft cannot be approved afterwards by any path.
            before = state(world, app)
            review_before = len(fake.sent_messages(REVIEW_CHAT))
            assert STALE in await alert(fake, REVIEWER, data_of(verdicts, "FALSE"), verdicts)
            for label in ("Approve", "Edit", "Reject", "Spam"):
                assert STALE in await alert(fake, OTHER_REVIEWER, data_of(post, label), post)
            fake.push_message(
                OTHER_REVIEWER,
                "Cold water is harmless (WHO).",
                chat_id=REVIEW_CHAT,
                chat_type="supergroup",
            )  # the pending edit
            await wait_text(fake, REVIEW_CHAT, STALE)
            await settled(fake, world)
            assert state(world, app) == before | {"awaiting": {}}
            assert [m["text"] for m in fake.sent_messages(REVIEW_CHAT)[review_before:]] == [
                "This button is no longer valid: the draft was already decided or changed."
            ]
            assert [d.action for d in repo.decisions(1)] == ["spam"]
            assert "approved-1" not in world["services"].engine.matcher.records
            assert texts(fake, ASKER_A) == holding_a and texts(fake, ASKER_B) == holding_b
            assert errors == []

    asyncio.run(scenario())


# -- roles and forgery on every button ------------------------------------------------------------
def test_forged_tampered_replayed_and_foreign_button_presses_change_nothing(
    fake: FakeTelegram, world: dict[str, Any]
) -> None:
    async def scenario() -> None:
        async with running(world) as (app, errors):
            fake.push_message(ASKER_A, UNCOVERED)
            await review_post(fake)
            fake.push_message(ASKER_B, OTHER_CLAIM)
            await fake.wait_for_async(
                lambda: len([m for m in fake.sent_messages(REVIEW_CHAT) if buttons(m)]) == 2,
                timeout=20,
            )
            await settled(fake, world)
            first, second = post_of(fake, 1), post_of(fake, 2)
            svc: BotServices = app.bot_data[KEY]
            assert svc.signer.sign(ButtonData("approve", 1, 0)) == data_of(first, "Approve")
            before = state(world, app)
            review_before = len(fake.sent_messages(REVIEW_CHAT))

            # Valid buttons pressed by someone who is not a reviewer (an admin included), in
            # the review chat or replayed from a private chat.
            for user in (STRANGER, ADMIN, ASKER_A):
                for label in ("Approve", "Edit", "Reject", "Spam"):
                    assert REVIEWER_ONLY in await alert(fake, user, data_of(first, label), first)
            assert REVIEWER_ONLY in await alert(
                fake, STRANGER, data_of(first, "Spam"), first, chat=STRANGER
            )
            approve = data_of(first, "Approve")
            payload, _, mac = approve.rpartition("|")
            other_bot = CallbackSigner(hashlib.sha256(b"callbacks:" + b"999:other-token").digest())
            forged = [
                "hello",
                "approve|1|0|",
                "approve|1|0||",
                "approve|1|0|d|x|" + mac,
                f"{payload}|000000000000",  # a wrong signature
                f"{payload}|{mac.upper()}",
                approve.replace("approve|", "spam|", 1),  # tampered action, draft or version
                approve.replace("|1|", "|2|", 1),
                approve.replace("|1|0|", "|1|1|", 1),
                approve.replace("|1|0|", "|01|0|", 1),
                approve + "0",
                other_bot.sign(ButtonData("approve", 1, 0)),  # another bot's key
                svc.signer.sign(ButtonData("delete", 1, 0)),  # signed, but no such action
            ]
            for data in forged:
                assert await alert(fake, REVIEWER, data, first) == FORGED, repr(data)
            # /revise's answer is for an approved draft only.
            rv = svc.signer.sign(ButtonData("rv", 1, 0, "y"))
            assert STALE in await alert(fake, REVIEWER, rv, first)
            # Replayed: draft 1's buttons pressed on draft 2's post act on neither.
            for label in ("Approve", "Edit", "Reject", "Spam"):
                assert await alert(fake, REVIEWER, data_of(first, label), second) == FORGED
                assert await alert(fake, REVIEWER, data_of(second, label), first) == FORGED
            # Replayed from an earlier version of the draft, or for a draft that does not exist.
            for data in (
                svc.signer.sign(ButtonData("spam", 1, 7)),
                svc.signer.sign(ButtonData("vf", 1, 3, "d")),
                svc.signer.sign(ButtonData("vf", 1, 0, "e")),  # no edit was previewed
                svc.signer.sign(ButtonData("vx", 1, 0, "d")),  # no such verdict
                svc.signer.sign(ButtonData("spam", 99, 0)),
            ):
                assert STALE in await alert(fake, REVIEWER, data, first)
            # /language's buttons: unknown codes are ignored (PTB hands empty data to the first
            # callback handler whatever its pattern: that one).
            for data in ("lang|xx", "lang|", "lang|ar|en", ""):
                assert await alert(fake, STRANGER, data, first) == ""
            await settled(fake, world)

            assert state(world, app) == before
            assert len(fake.sent_messages(REVIEW_CHAT)) == review_before
            assert not any(c.method.startswith("edit") for c in fake.calls())
            assert [d.status for d, _ in world["repo"].pending_drafts()] == ["pending", "pending"]
            assert all(
                c.params.get("show_alert")
                for c in fake.calls("answerCallbackQuery")
                if c.params.get("text")
            )

            # The real buttons still work for a reviewer, on their own post.
            fake.push_callback(
                REVIEWER, data_of(second, "Spam"), second["message_id"], chat_id=REVIEW_CHAT
            )
            await wait_text(fake, REVIEW_CHAT, "Draft #2 marked as spam by")
            assert [d.id for d, _ in world["repo"].pending_drafts()] == [1]
            assert errors == []

    asyncio.run(scenario())
