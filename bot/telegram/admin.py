"""Admins' commands: trusted sources (/addsource, /sources, /removesource), /stats, /ban, /unban."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import re
import time
from pathlib import Path

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.i18n import t
from bot.telegram.context import BotServices, services
from bot.telegram.review import sender_language
from ingest.loaders import SUPPORTED_SUFFIXES, IngestError

log = logging.getLogger(__name__)
_SAFE_NAME = re.compile(r"[^\w.-]+")
# A Telegram user id: ASCII digits only (str.isdigit also takes "²" and other scripts' digits),
# small enough for the database's 64-bit integers (Telegram's ids have at most 52 bits).
_USER_ID = re.compile(r"[1-9][0-9]{0,15}")
_PROGRESS_EVERY_S = 1.0


async def _allowed(update: Update, svc: BotServices) -> str | None:
    """The admin's language, or None (after telling them) when the user is not an admin."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return None
    language = await sender_language(svc, update)
    if not svc.is_admin(user.id):
        await message.reply_text(t("bot.not_allowed", language, role=t("bot.role.admin", language)))
        return None
    return language


def _split_options(args: list[str]) -> tuple[str, str | None]:
    """[publisher words...] [ar|fr|en] -> (publisher, language)."""
    language = args[-1] if args and args[-1] in {"ar", "fr", "en"} else None
    words = args[:-1] if language else args
    return " ".join(words).strip() or "admin-upload", language


async def add_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/addsource URL [publisher] [language], or a document captioned /addsource."""
    svc = services(context)
    language = await _allowed(update, svc)
    message = update.effective_message
    if language is None or message is None:
        return
    if message.document is not None:
        args = (message.caption or "").split()[1:]
        publisher, source_language = _split_options(args)
        document = message.document
        name = _SAFE_NAME.sub("_", document.file_name or "document")
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
            await message.reply_text(
                t(
                    "admin.ingest_failed",
                    language,
                    name=name,
                    error=IngestError(f"unsupported type {Path(name).suffix}"),
                )
            )
            return
        folder = svc.settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{document.file_unique_id}_{name}"
        telegram_file = await document.get_file()
        await telegram_file.download_to_drive(target)
        location = str(target)
    else:
        args = context.args or []
        if not args:
            await message.reply_text(t("admin.addsource_usage", language))
            return
        location, (publisher, source_language) = args[0], _split_options(args[1:])
        name = location
    status = await message.reply_text(t("admin.ingesting", language, name=name))
    context.application.create_task(
        _ingest(
            svc,
            status,
            location,
            name,
            publisher,
            source_language,
            language,
            actor=update.effective_user.id if update.effective_user else None,
        ),
        update=update,
    )


async def _ingest(
    svc: BotServices,
    status: Message,
    location: str,
    name: str,
    publisher: str,
    source_language: str | None,
    language: str,
    actor: int | None,
) -> None:
    """Runs an ingest in a worker thread, editing one message with its progress."""
    loop = asyncio.get_running_loop()
    last = [0.0]
    pending: list[concurrent.futures.Future[None]] = []

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < _PROGRESS_EVERY_S and done < total:
            return
        last[0] = now
        text = t("admin.progress", language, name=name, done=done, total=total)
        pending.append(asyncio.run_coroutine_threadsafe(_edit(status, text), loop))

    async def progress_shown() -> None:
        # The final edit must come after every progress edit, or a late one would hide it.
        for future in pending:
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(future)

    try:
        summary = await asyncio.to_thread(
            lambda: svc.ingestor.add(
                location, publisher=publisher, language=source_language, progress=progress
            )
        )
    except IngestError as exc:
        await progress_shown()
        await _edit(status, t("admin.ingest_failed", language, name=name, error=exc))
        return
    except Exception as exc:  # report any failure to the admin rather than dying silently
        await progress_shown()
        log.exception("ingest of %s failed", name)
        await _edit(status, t("admin.ingest_failed", language, name=name, error=type(exc).__name__))
        return
    await progress_shown()
    await asyncio.to_thread(
        svc.repo.audit,
        actor,
        "source.add",
        summary.source_id,
        {"location": location, "publisher": publisher},
    )
    key = "admin.unchanged" if summary.unchanged else "admin.ingested"
    await _edit(
        status,
        t(
            key,
            language,
            name=name,
            chunks=summary.chunks,
            added=summary.added,
            removed=summary.removed,
            source_id=summary.source_id,
        ),
    )


async def _edit(message: Message, text: str) -> None:
    try:
        await message.edit_text(text[:4096])
    except TelegramError as exc:  # "message is not modified" and the like are harmless
        log.debug("progress edit skipped: %s", exc)


async def list_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the registered trusted sources."""
    svc = services(context)
    language = await _allowed(update, svc)
    if language is None or update.effective_message is None:
        return
    records = await asyncio.to_thread(svc.ingestor.list_sources)
    if not records:
        await update.effective_message.reply_text(t("admin.sources_empty", language))
        return
    lines = [
        t(
            "admin.source_line",
            language,
            source_id=r["source_id"],
            publisher=r.get("publisher", ""),
            language=r.get("language", ""),
            chunks=r.get("chunks", 0),
            retrieved=r.get("retrieved", ""),
        )
        for r in records
    ]
    await update.effective_message.reply_text("\n".join(lines)[:4096])


async def remove_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/removesource SOURCE_ID."""
    svc = services(context)
    language = await _allowed(update, svc)
    message = update.effective_message
    if language is None or message is None:
        return
    if not context.args:
        await message.reply_text(t("admin.removesource_usage", language))
        return
    source_id = context.args[0]
    try:
        count = await asyncio.to_thread(svc.ingestor.remove, source_id)
    except IngestError as exc:
        await message.reply_text(t("admin.ingest_failed", language, name=source_id, error=exc))
        return
    actor = update.effective_user.id if update.effective_user else None
    if svc.engine.evidence is not None:
        svc.engine.evidence.bm25.invalidate()
    await asyncio.to_thread(svc.repo.audit, actor, "source.remove", source_id, {"chunks": count})
    await message.reply_text(t("admin.removed", language, source_id=source_id, count=count))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: requests, answered at once vs reviewed, time to decision, most asked claims."""
    svc = services(context)
    language = await _allowed(update, svc)
    if language is None or update.effective_message is None:
        return
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    figures = await asyncio.to_thread(svc.repo.stats, since)
    median = figures["median_decision_s"]
    median_text = "-" if median is None else f"{median / 60:.1f} min"
    top = "\n".join(f"• {fc_id}: {count}" for fc_id, count in figures["top_claims"]) or "-"
    await update.effective_message.reply_text(
        t(
            "admin.stats",
            language,
            requests=figures["requests"],
            answered=figures["answered_at_once"],
            reviewed=figures["reviewed"],
            median=median_text,
            top=top,
        )
    )


async def ban(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ban USER_ID and /unban USER_ID."""
    svc = services(context)
    language = await _allowed(update, svc)
    message = update.effective_message
    if language is None or message is None or update.effective_user is None:
        return
    command = (message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    args = context.args or []
    if len(args) != 1 or not _USER_ID.fullmatch(args[0]):
        await message.reply_text(t("admin.ban_usage", language))
        return
    target = int(args[0])
    banned = command == "ban"
    await asyncio.to_thread(svc.repo.set_banned, target, banned, update.effective_user.id)
    await message.reply_text(
        t("admin.banned" if banned else "admin.unbanned", language, user=target)
    )
