"""Handlers for the public: /start, /help, /language, /forget, and every rumour they send."""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.engine.drafting import attach_draft
from bot.i18n import LANGUAGES, t
from bot.telegram.context import BotServices, services
from bot.telegram.review import post_unposted_drafts

log = logging.getLogger(__name__)
LANGUAGE_NAMES = {"ar": "العربية", "fr": "Français", "en": "English"}


async def user_language(svc: BotServices, update: Update) -> str:
    """The language a user chose with /language, else their Telegram client's, else English."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return "en"
    record = await asyncio.to_thread(svc.repo.user, user.id, chat.id)
    if record.language:
        return record.language
    code = (user.language_code or "")[:2]
    return code if code in LANGUAGES else "en"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greets the user and explains what the bot does, in their language."""
    svc = services(context)
    language = await user_language(svc, update)
    if update.effective_message:
        await update.effective_message.reply_text(
            f"{t('reply.help', language)}\n\n{t('bot.commands', language)}"
        )


async def choose_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language [ar|fr|en]: sets the language at once, or offers the three as buttons."""
    svc = services(context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    wanted = (context.args or [""])[0].lower()[:2]
    if wanted in LANGUAGES:
        await asyncio.to_thread(svc.repo.set_language, user.id, chat.id, wanted)
        await message.reply_text(t("bot.language_set", wanted))
        return
    language = await user_language(svc, update)
    buttons = [
        InlineKeyboardButton(LANGUAGE_NAMES[code], callback_data=f"lang|{code}")
        for code in LANGUAGES
    ]
    await message.reply_text(
        t("bot.language_prompt", language), reply_markup=InlineKeyboardMarkup([buttons])
    )


async def language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on one of /language's buttons."""
    svc = services(context)
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None:
        return
    code = (query.data or "").partition("|")[2]
    if code not in LANGUAGES:
        await query.answer()
        return
    await asyncio.to_thread(svc.repo.set_language, user.id, chat.id, code)
    await query.answer()
    await query.edit_message_text(t("bot.language_set", code))


async def forget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/forget: deletes the user's stored messages and personal data."""
    svc = services(context)
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    language = await user_language(svc, update)
    count = await asyncio.to_thread(svc.repo.forget, user.id)
    await message.reply_text(t("bot.forgotten", language, count=count))


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, voice, video, locations, contacts...: say that only text can be checked."""
    svc = services(context)
    if update.effective_message:
        language = await user_language(svc, update)
        await update.effective_message.reply_text(t("reply.unsupported", language))


async def rumour(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Text, forwards and photo captions: check, record, and queue the reply (or a draft)."""
    svc = services(context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is None or chat is None or message is None:
        return
    text = message.text or message.caption or ""
    if not svc.limiter.allow(user.id):
        if svc.limiter.should_warn(user.id):
            banned = (await asyncio.to_thread(svc.repo.user, user.id, chat.id)).banned
            if not banned:  # a banned user gets nothing, not even the polite warning
                await message.reply_text(t("bot.rate_limited", await user_language(svc, update)))
        return
    record = await asyncio.to_thread(svc.repo.user, user.id, chat.id)
    if record.banned:
        return
    hint = record.language or (user.language_code or "")[:2] or None
    outcome = await asyncio.to_thread(svc.engine.check, text, None, hint)
    if outcome.status == "needs_review":
        # A model's draft only for a new claim: askers of a pending one join its draft.
        pending = await asyncio.to_thread(svc.repo.pending_claim, outcome.vector)
        if pending is None:
            await attach_draft(svc.drafter, outcome)
    received = await asyncio.to_thread(
        lambda: svc.repo.receive(
            update_id=update.update_id,
            user=record,
            chat_id=chat.id,
            message_id=message.message_id,
            text=text,
            redacted_text=outcome.redacted_text,
            outcome=outcome,
            vector=outcome.vector,
            draft_reply=outcome.review_draft,
            draft_source=outcome.draft_source,
            draft_note=outcome.draft_note,
            draft_verdict=outcome.draft_verdict,
        )
    )
    if received is None:
        log.info("update %s was already handled", update.update_id)
    if svc.outbox is not None:
        svc.outbox.notify()
    if received is not None and received.new_draft:
        await post_unposted_drafts(svc, context.bot)
