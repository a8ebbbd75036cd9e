"""Builds the Telegram Application from settings and services, and runs it (polling or webhook)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest
from threadpoolctl import threadpool_limits

from bot.review.repository import REVIEW_POST, ReviewRepository
from bot.services import Services
from bot.telegram import admin, public, review
from bot.telegram.callbacks import CallbackSigner
from bot.telegram.context import KEY, BotServices
from bot.telegram.outbox import Outbox
from bot.telegram.ratelimit import RateLimiter

log = logging.getLogger(__name__)
CONCURRENCY = 32  # updates handled at once
ACK_WAIT_S = 60.0  # longest a poll waits for the previous batch to be handled


class _Handled:
    """Update ids fetched by long polling and not yet handled.

    Telegram forgets an update once a later `getUpdates` call passes its id as the offset. PTB
    makes that call as soon as a batch is queued, so a crash (kill -9, power loss) while the batch
    was being handled would lose those messages. The bot's `get_updates` therefore waits until
    every earlier update has been handled (recorded in the database) before confirming them."""

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.changed = asyncio.Event()

    def fetched(self, update_ids: list[int]) -> None:
        self.pending.update(update_ids)

    def done(self, update_id: int) -> None:
        if update_id in self.pending:
            self.pending.discard(update_id)
            self.changed.set()

    async def wait_below(self, offset: int, timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while any(update_id < offset for update_id in self.pending):
            self.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                log.warning("confirming updates still being handled after %.0f s", timeout)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


class _AckAfterHandlingBot(ExtBot[None]):
    """Confirms polled updates to Telegram only once they were handled (see `_Handled`)."""

    def __init__(self, *args: object, handled: _Handled, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._handled = handled

    async def get_updates(self, offset: int | None = None, *args: object, **kwargs: object):  # type: ignore[no-untyped-def, override]
        if offset:
            await self._handled.wait_below(offset, ACK_WAIT_S)
        updates = await super().get_updates(offset, *args, **kwargs)  # type: ignore[arg-type]
        self._handled.fetched([update.update_id for update in updates])
        return updates


class _Application(Application):  # type: ignore[type-arg]
    """Marks each update as handled (for `_AckAfterHandlingBot`) once its handlers finished."""

    handled: _Handled | None = None

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if self.handled is not None and isinstance(update, Update):
                self.handled.done(update.update_id)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One place for unexpected errors: logged without message text or secrets."""
    update_id = getattr(update, "update_id", None)
    log.error(
        "error while handling update %s: %s",
        update_id,
        type(context.error).__name__,
        exc_info=context.error,
    )


async def startup(application: Application) -> None:
    """Starts the outbox (which resends what a previous run left undelivered, review posts
    included) and queues the posts of drafts that never reached the review chat."""
    bot_services: BotServices = application.bot_data[KEY]
    # Handlers run the engine and the database in threads; enough of them to keep both cores
    # busy and to let concurrent messages share one embedding batch.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="factcheck")
    )
    # Parallelism comes from handling updates concurrently; BLAS threads inside each matrix
    # product would only fight over the same two cores.
    bot_services.extra["blas"] = threadpool_limits(limits=1, user_api="blas")
    bot_services.outbox = Outbox(
        application.bot,
        bot_services.repo,
        renderers={REVIEW_POST: functools.partial(review.render_post, bot_services)},
    )
    bot_services.outbox.start()
    bot_services.extra["purge"] = asyncio.create_task(_purge_raw_text(bot_services))
    await review.post_unposted_drafts(bot_services, application.bot, restart=True)


async def shutdown(application: Application) -> None:
    bot_services: BotServices = application.bot_data[KEY]
    if bot_services.outbox is not None:
        await bot_services.outbox.stop()
    purge = bot_services.extra.pop("purge", None)
    if purge is not None:
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge


async def _purge_raw_text(bot_services: BotServices, every_s: float = 3600.0) -> None:
    """Drops raw message text older than RETENTION_DAYS, at start and then every hour."""
    while True:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=bot_services.settings.retention_days)
        try:
            purged = await asyncio.to_thread(bot_services.repo.purge_raw_text, cutoff)
            if purged:
                log.info("purged the raw text of %d request(s)", purged)
        except Exception:  # the next pass retries
            log.exception("retention purge failed")
        await asyncio.sleep(every_s)


def build_application(services: Services, repo: ReviewRepository) -> Application:
    """The bot: handlers wired in one place; the outbox starts and stops with the application."""
    settings = services.settings
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    secret = hashlib.sha256(b"callbacks:" + token.encode()).digest()
    bot_services = BotServices(
        settings=settings,
        engine=services.engine,
        repo=repo,
        drafter=services.drafter,
        ingestor=services.ingestor,
        signer=CallbackSigner(secret),
        limiter=RateLimiter(settings.rate_limit_per_minute),
    )

    handled = _Handled()
    telegram_bot = _AckAfterHandlingBot(
        token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.resolved_file_url,
        request=HTTPXRequest(connection_pool_size=256),
        get_updates_request=HTTPXRequest(),
        handled=handled,
    )
    application = (
        ApplicationBuilder()
        .application_class(_Application)
        .bot(telegram_bot)
        .concurrent_updates(CONCURRENCY)
        .post_init(startup)
        .post_shutdown(shutdown)
        .build()
    )
    application.handled = handled
    application.bot_data[KEY] = bot_services
    review_chat = filters.Chat(chat_id=settings.review_chat_id) if settings.review_chat_id else None
    private = filters.ChatType.PRIVATE

    application.add_handler(CommandHandler(["start", "help"], public.start))
    application.add_handler(CommandHandler("language", public.choose_language))
    application.add_handler(CommandHandler("forget", public.forget))
    application.add_handler(CommandHandler("queue", review.queue))
    application.add_handler(CommandHandler("revise", review.revise))
    application.add_handler(CommandHandler("cancel", review.cancel))
    application.add_handler(CommandHandler("addsource", admin.add_source))
    application.add_handler(
        MessageHandler(
            filters.Document.ALL & filters.CaptionRegex(r"^/addsource\b"), admin.add_source
        )
    )
    application.add_handler(CommandHandler("sources", admin.list_sources))
    application.add_handler(CommandHandler("removesource", admin.remove_source))
    application.add_handler(CommandHandler("stats", admin.stats))
    application.add_handler(CommandHandler(["ban", "unban"], admin.ban))
    application.add_handler(CallbackQueryHandler(public.language_button, pattern=r"^lang\|"))
    application.add_handler(CallbackQueryHandler(review.button))
    if review_chat is not None:
        application.add_handler(
            MessageHandler(review_chat & filters.TEXT & ~filters.COMMAND, review.reviewer_text)
        )
    rumour_filter = (filters.TEXT & ~filters.COMMAND) | filters.CAPTION
    application.add_handler(MessageHandler(private & rumour_filter, public.rumour))
    application.add_handler(
        MessageHandler(private & ~filters.COMMAND & ~rumour_filter, public.unsupported)
    )
    # An unknown /command in a private chat: the help, rather than silence.
    application.add_handler(MessageHandler(private & filters.COMMAND, public.start))
    application.add_error_handler(on_error)
    return application


def run(services: Services, repo: ReviewRepository) -> None:
    """Runs until interrupted: long polling, or a webhook server when WEBHOOK_URL is set."""
    settings = services.settings
    application = build_application(services, repo)
    if settings.webhook_url:
        from urllib.parse import urlsplit

        path = urlsplit(settings.webhook_url).path.lstrip("/")
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value()
            if settings.webhook_secret
            else None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
