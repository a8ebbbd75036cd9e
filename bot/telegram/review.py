"""Clinicians' flows in the review chat: drafts with Approve / Edit / Reject, /queue, /revise.

Every button is signed (see `callbacks`) and every press is checked against REVIEWER_IDS on the
server. A decision is recorded with who, when and what text before anything is sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.ext import ContextTypes

from bot.engine import compose
from bot.i18n import LANGUAGES, messages, t
from bot.review.models import Delivery, Draft
from bot.review.repository import review_post_draft
from bot.telegram.callbacks import ButtonData
from bot.telegram.context import BotServices, services
from knowledge_base.factchecks import ClaimText, FactCheck

log = logging.getLogger(__name__)
VERDICTS = ("false", "misleading", "true", "unproven")
POST_ACTIONS = frozenset({"approve", "edit", "reject", "spam"})  # the buttons of a draft's post
_MAX_EVIDENCE_CHARS = 600
_MAX_DRAFT_CHARS = 2500  # a model's reply (at most 1,500) and its numbered sources


def _lang(svc: BotServices) -> str:
    return svc.settings.review_language


def draft_text(svc: BotServices, draft: Draft, askers: int, ref: str = "") -> str:
    """The review post: the redacted question, the draft reply and its evidence. No asker id."""
    lang = _lang(svc)
    parts = [
        t("review.header", lang, id=draft.id, language=draft.language, askers=askers, ref=ref),
        f"{t('review.claim', lang)}\n{draft.claim[:1500]}",
        *_draft_parts(draft, lang),
    ]
    if draft.suggestion:
        parts.append(
            t(
                "review.suggestion",
                lang,
                id=draft.suggestion.get("id"),
                score=draft.suggestion.get("score"),
            )
        )
    if draft.evidence:
        lines = [t("review.evidence", lang)]
        for item in draft.evidence:
            lines.append(
                f"• {item.get('publisher', '')}: {item.get('title', '')} "
                f"({item.get('date', '')}, {item.get('score', '')}) {item.get('url', '')}"
            )
        parts.append("\n".join(lines)[:_MAX_EVIDENCE_CHARS])
    else:
        parts.append(t("review.no_evidence", lang))
    return "\n\n".join(parts)[:4096]


def _draft_parts(draft: Draft, lang: str) -> list[str]:
    """The draft, saying whether a language model wrote it or why its draft was not used."""
    if draft.draft_source == "model":
        parts = [f"{t('review.draft_model', lang)}\n{draft.draft_reply[:_MAX_DRAFT_CHARS]}"]
        if draft.draft_verdict in VERDICTS:
            verdict = t(f"verdict.{draft.draft_verdict}", lang)
            parts.append(t("review.model_verdict", lang, verdict=verdict))
        return parts
    parts = [f"{t('review.draft', lang)}\n{draft.draft_reply[:_MAX_DRAFT_CHARS]}"]
    if draft.draft_note:
        key = f"draft.reason.{draft.draft_note}"
        reason = t(key if key in messages(lang) else "draft.reason.error", lang)
        parts.insert(0, t("review.draft_fallback", lang, reason=reason))
    return parts


def draft_keyboard(svc: BotServices, draft: Draft) -> InlineKeyboardMarkup:
    lang = _lang(svc)

    def button(action: str, key: str) -> InlineKeyboardButton:
        data = svc.signer.sign(ButtonData(action, draft.id, draft.version))
        return InlineKeyboardButton(t(key, lang), callback_data=data)

    return InlineKeyboardMarkup(
        [
            [button("approve", "review.approve")],
            [
                button("edit", "review.edit"),
                button("reject", "review.reject"),
                button("spam", "review.spam"),
            ],
        ]
    )


def verdict_keyboard(svc: BotServices, draft: Draft, source: str) -> InlineKeyboardMarkup:
    """`source` says which text is approved: 'd' the draft as it is, 'e' the reviewer's edit."""
    lang = _lang(svc)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(f"verdict.{verdict}", lang),
                    callback_data=svc.signer.sign(
                        ButtonData(f"v{verdict[:1]}", draft.id, draft.version, source)
                    ),
                )
                for verdict in VERDICTS
            ]
        ]
    )


async def post_unposted_drafts(svc: BotServices, bot: Bot, *, restart: bool = False) -> None:
    """Queues the post of every pending draft not yet in the review chat in the outbox, which
    sends it durably (see `outbox`) and then records its message id on the draft. At a
    `restart`, posts already queued are checked too: one that was given up is tried again."""
    chat_id = svc.settings.review_chat_id
    if chat_id is None:
        return
    queued = False
    for draft, askers in await asyncio.to_thread(svc.repo.unposted_drafts, queued=restart):
        refs = ", ".join(await asyncio.to_thread(svc.repo.asker_refs, draft.id))
        text = draft_text(svc, draft, askers, refs)
        queued |= await asyncio.to_thread(
            lambda draft=draft, text=text: svc.repo.queue_review_post(
                draft.id, chat_id, text, revive=restart
            )
        )
    if queued and svc.outbox is not None:
        svc.outbox.notify()


def render_post(svc: BotServices, delivery: Delivery) -> tuple[str, InlineKeyboardMarkup] | None:
    """The outbox's renderer for review posts: the draft as it is when the post is sent (askers
    may have joined meanwhile) with its signed buttons; None once the draft was decided."""
    draft_id = review_post_draft(delivery)
    draft = svc.repo.draft(draft_id) if draft_id is not None else None
    if draft is None or draft.status != "pending" or draft.review_message_id is not None:
        return None
    refs = svc.repo.asker_refs(draft.id)
    return draft_text(svc, draft, len(refs), ", ".join(refs)), draft_keyboard(svc, draft)


async def _refuse(update: Update, svc: BotServices, key: str, **values: object) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(t(key, _lang(svc), **values), show_alert=True)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any signed review button: checks the role and the draft's state, then acts."""
    svc = services(context)
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    data = svc.signer.verify(query.data)
    if data is None:
        await _refuse(update, svc, "bot.forged")
        return
    if not svc.is_reviewer(user.id):
        role = t("bot.role.reviewer", _lang(svc))
        await _refuse(update, svc, "bot.not_allowed", role=role)
        return
    draft = await asyncio.to_thread(svc.repo.draft, data.draft_id)
    if data.action == "rv":  # the answer to /revise's offer: an approved draft, not a pending one
        if draft is None or draft.status != "approved" or draft.version != data.version:
            await _refuse(update, svc, "bot.stale")
            return
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        await _revise(svc, context.bot, draft, user, notify=data.arg == "y")
        return
    if draft is None or draft.status != "pending" or draft.version != data.version:
        await _refuse(update, svc, "bot.stale")
        return
    if data.action in POST_ACTIONS and not _on_post(query.message, draft):
        # Signed data copied from another draft's post: it acts only on the post it came with.
        await _refuse(update, svc, "bot.forged")
        return
    lang = _lang(svc)
    if data.action == "approve":
        await query.answer()
        await query.message.reply_text(  # type: ignore[union-attr]
            t("review.choose_verdict", lang, id=draft.id),
            reply_markup=verdict_keyboard(svc, draft, "d"),
        )
    elif data.action in {"edit", "reject"}:
        svc.awaiting[user.id] = (data.action, draft.id, draft.version)
        await query.answer()
        key = "review.send_edit" if data.action == "edit" else "review.send_reason"
        await query.message.reply_text(t(key, lang, id=draft.id))  # type: ignore[union-attr]
    elif data.action == "confirm":
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=verdict_keyboard(svc, draft, "e"))
    elif data.action == "cancel":
        svc.previews.pop((user.id, draft.id), None)
        await query.answer(t("review.cancelled", lang))
        await query.edit_message_reply_markup(reply_markup=None)
    elif data.action == "spam":
        await query.answer()
        await _decide(svc, context.bot, draft, user, "spam")
    elif data.action.startswith("v"):
        verdict = next((v for v in VERDICTS if v[:1] == data.action[1:]), None)
        text = draft.draft_reply if data.arg == "d" else svc.previews.get((user.id, draft.id))
        if verdict is None or not text:
            await _refuse(update, svc, "bot.stale")
            return
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        await _decide(svc, context.bot, draft, user, "approve", text=text, verdict=verdict)
    else:
        await _refuse(update, svc, "bot.forged")


def _on_post(message: object, draft: Draft) -> bool:
    """Whether a button press came from the draft's own post in the review chat (or, before
    Telegram's confirmation of the post was recorded, from any message: nothing to check)."""
    if message is None:
        return False
    if draft.review_message_id is None:
        return True
    chat = getattr(message, "chat", None)
    return getattr(message, "message_id", None) == draft.review_message_id and (
        draft.review_chat_id is None or getattr(chat, "id", None) == draft.review_chat_id
    )


async def reviewer_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reviewer's message in the review chat: the edited reply or the reason for rejecting."""
    svc = services(context)
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or user.id not in svc.awaiting:
        return
    if not svc.is_reviewer(user.id):
        svc.awaiting.pop(user.id, None)
        return
    action, draft_id, version = svc.awaiting.pop(user.id)
    draft = await asyncio.to_thread(svc.repo.draft, draft_id)
    if draft is None or draft.status != "pending" or draft.version != version:
        await message.reply_text(t("bot.stale", _lang(svc)))
        return
    text = (message.text or "").strip()
    if action == "reject":
        await _decide(svc, context.bot, draft, user, "reject", reason=text)
        return
    svc.previews[(user.id, draft.id)] = text
    lang = _lang(svc)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("review.confirm", lang),
                    callback_data=svc.signer.sign(ButtonData("confirm", draft.id, draft.version)),
                ),
                InlineKeyboardButton(
                    t("review.cancel", lang),
                    callback_data=svc.signer.sign(ButtonData("cancel", draft.id, draft.version)),
                ),
            ]
        ]
    )
    preview = compose.decision_reply(text, draft.language)
    await message.reply_text(
        f"{t('review.preview', lang, id=draft.id)}\n\n{preview}", reply_markup=keyboard
    )


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: drops a pending edit or rejection."""
    svc = services(context)
    if update.effective_user and update.effective_message:
        svc.awaiting.pop(update.effective_user.id, None)
        await update.effective_message.reply_text(t("review.cancelled", _lang(svc)))


async def _decide(
    svc: BotServices,
    bot: Bot,
    draft: Draft,
    user: object,
    action: str,
    *,
    text: str | None = None,
    verdict: str | None = None,
    reason: str | None = None,
) -> None:
    reviewer_id = int(getattr(user, "id", 0))
    name = str(getattr(user, "full_name", "") or reviewer_id)
    fact_check_id = f"approved-{draft.id}" if action == "approve" else None
    delivered_text = compose.decision_reply(text, draft.language) if text else None
    if action == "reject":
        delivered_text = t("bot.reviewed_no_answer", draft.language)
    decided = await asyncio.to_thread(
        lambda: svc.repo.decide(
            draft.id,
            reviewer_id=reviewer_id,
            reviewer_name=name,
            action=action,
            text=text,
            reason=reason,
            fact_check_id=fact_check_id,
            delivered_text=delivered_text,
        )
    )
    lang = _lang(svc)
    if decided is None:
        if svc.settings.review_chat_id is not None:
            await bot.send_message(svc.settings.review_chat_id, t("bot.stale", lang))
        return
    svc.previews.pop((reviewer_id, draft.id), None)
    if action == "approve" and text and verdict:
        await asyncio.to_thread(_store_fact_check, svc, decided, text, verdict)
    if svc.outbox is not None:
        svc.outbox.notify()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    askers = len(decided.requests) if decided.requests else 0
    summary = {
        "approve": t("review.approved", lang, id=draft.id, name=name, time=when, count=askers),
        "reject": t("review.rejected", lang, id=draft.id, name=name, time=when, reason=reason),
        "spam": t("review.spammed", lang, id=draft.id, name=name, time=when),
    }[action]
    if draft.review_chat_id and draft.review_message_id:
        await bot.edit_message_text(
            summary, chat_id=draft.review_chat_id, message_id=draft.review_message_id
        )
    elif svc.settings.review_chat_id is not None:
        await bot.send_message(svc.settings.review_chat_id, summary)


def _store_fact_check(svc: BotServices, draft: Draft, text: str, verdict: str) -> None:
    """An approved reply becomes a fact-check: later matching rumours get it at once."""
    check = FactCheck(
        id=f"approved-{draft.id}",
        verdict=verdict,  # type: ignore[arg-type]
        reviewed=dt.date.today(),
        citations=[],
        claims={draft.language: ClaimText(claim=draft.claim[:4000], explanation=text)},
        origin="approved",
    )
    svc.ingestor.kb.upsert_fact_checks([check])
    svc.engine.matcher.add(check)


async def _reviewer(update: Update, svc: BotServices) -> tuple[User, Message] | None:
    """The sender and message of a reviewer's command; anyone else is told it is not theirs."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return None
    if not svc.is_reviewer(user.id):
        lang = await sender_language(svc, update)
        await message.reply_text(t("bot.not_allowed", lang, role=t("bot.role.reviewer", lang)))
        return None
    return user, message


async def sender_language(svc: BotServices, update: Update) -> str:
    """The sender's language (chosen with /language, else their client's), read without
    recording anything: a refused command must leave no trace in the database."""
    user = update.effective_user
    if user is None:
        return "en"
    chosen = await asyncio.to_thread(svc.repo.language_of, user.id)
    code = chosen or (user.language_code or "")[:2]
    return code if code in LANGUAGES else "en"


async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/queue: the pending drafts, oldest first (reviewers only)."""
    svc = services(context)
    sender = await _reviewer(update, svc)
    if sender is None:
        return
    _, message = sender
    lang = _lang(svc)
    drafts = await asyncio.to_thread(svc.repo.pending_drafts)
    if not drafts:
        await message.reply_text(t("review.queue_empty", lang))
        return
    now = dt.datetime.now(dt.UTC)
    lines = []
    for draft, askers in drafts[:30]:
        created = (
            draft.created_at if draft.created_at.tzinfo else draft.created_at.replace(tzinfo=dt.UTC)
        )
        age = f"{int((now - created).total_seconds() // 60)} min"
        lines.append(
            t(
                "review.queue_line",
                lang,
                id=draft.id,
                language=draft.language,
                askers=askers,
                age=age,
                claim=draft.claim[:80],
            )
        )
    await message.reply_text("\n".join(lines)[:4096])


async def revise(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/revise DRAFT_ID NEW TEXT: revises an approved reply, offering to send the correction."""
    svc = services(context)
    sender = await _reviewer(update, svc)
    if sender is None:
        return
    user, message = sender
    lang = _lang(svc)
    args = context.args or []
    if len(args) < 2 or not args[0].isdigit():
        await message.reply_text(t("review.revise_prompt", lang, id="ID"))
        return
    draft_id = int(args[0])
    text = (message.text or "").split(None, 2)[2].strip()
    draft = await asyncio.to_thread(svc.repo.draft, draft_id)
    if draft is None or draft.status != "approved":
        await message.reply_text(t("bot.stale", lang))
        return
    # Offer, rather than impose, a correction to everyone who received the old reply.
    svc.previews[(user.id, -draft_id)] = text
    received = await asyncio.to_thread(svc.repo.received_count, draft_id)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("review.revise_send", lang),
                    callback_data=svc.signer.sign(ButtonData("rv", draft.id, draft.version, "y")),
                ),
                InlineKeyboardButton(
                    t("review.revise_quiet", lang),
                    callback_data=svc.signer.sign(ButtonData("rv", draft.id, draft.version, "n")),
                ),
            ]
        ]
    )
    preview = compose.decision_reply(text, draft.language, correction=True)
    await message.reply_text(
        f"{t('review.revise_offer', lang, id=draft_id, count=received)}\n\n{preview}",
        reply_markup=keyboard,
    )


async def _revise(svc: BotServices, bot: Bot, draft: Draft, user: object, notify: bool) -> None:
    """Records the revision (and queues the corrections when asked) after the reviewer chose."""
    reviewer_id = int(getattr(user, "id", 0))
    text = svc.previews.pop((reviewer_id, -draft.id), None)
    lang = _lang(svc)
    if not text:
        if svc.settings.review_chat_id is not None:
            await bot.send_message(svc.settings.review_chat_id, t("bot.stale", lang))
        return
    correction = compose.decision_reply(text, draft.language, correction=True)
    count = await asyncio.to_thread(
        lambda: svc.repo.revise(
            draft.id,
            reviewer_id=reviewer_id,
            reviewer_name=str(getattr(user, "full_name", "") or reviewer_id),
            text=text,
            delivered_text=correction,
            notify=notify,
        )
    )
    if draft.fact_check_id:
        record = svc.engine.matcher.records.get(draft.fact_check_id)
        if record is not None:
            await asyncio.to_thread(_store_fact_check, svc, draft, text, record.verdict)
    if svc.outbox is not None:
        svc.outbox.notify()
    if svc.settings.review_chat_id is not None:
        await bot.send_message(
            svc.settings.review_chat_id, t("review.revised", lang, id=draft.id, count=count)
        )
