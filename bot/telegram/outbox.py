"""The outbox: every reply is stored first and counted as delivered only when Telegram confirms it.

One worker sends pending deliveries in the order they were queued; within a chat, in the order
of the messages they answer, a reply waiting for a retry holding back the later ones. A 429 pauses all sending for
Telegram's `retry_after`; timeouts, network errors and 5xx are retried with exponential backoff;
a chat that blocked the bot or no longer exists is given up. Pending deliveries survive a restart.
The one gap Telegram's API leaves: a send that timed out may have arrived, and is sent again.

Drafts' posts to the review chat go the same way. A `renderer` for their kind gives the text and
the buttons when they are sent (the draft as it is then), or None when the post is no longer
wanted (the draft was decided); they are retried until Telegram takes them rather than given up
after `max_attempts`, since a draft nobody sees is never answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.review.models import Delivery
from bot.review.repository import REVIEW_POST, ReviewRepository

log = logging.getLogger(__name__)
T = TypeVar("T")
# A delivery -> (text, buttons) to send now, or None when it is no longer to be sent. Called in
# the outbox's database thread: it may read the database.
Renderer = Callable[[Delivery], tuple[str, InlineKeyboardMarkup | None] | None]


class Outbox:
    def __init__(
        self,
        bot: Bot,
        repo: ReviewRepository,
        *,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        max_attempts: int = 12,
        idle_poll_s: float = 2.0,
        renderers: dict[str, Renderer] | None = None,
    ) -> None:
        self.bot = bot
        self.repo = repo
        self.renderers = dict(renderers or {})
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_attempts = max_attempts
        self.idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Its own thread for the database: under a burst the shared pool is busy checking
        # messages, and replies must not wait behind that work.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-db")

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, function, *args)

    def notify(self) -> None:
        """New deliveries were queued: send them now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._db.shutdown(wait=False)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                pause = await self.send_due()
            except Exception:  # a database hiccup must not end delivery for good
                log.exception("outbox pass failed")
                pause = self.idle_poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=pause)

    async def send_due(self) -> float:
        """Sends what is due, in order; returns how long to wait before the next pass."""
        while True:
            due = await self._call(self.repo.sendable_deliveries, 100)
            if not due:
                return self.idle_poll_s
            for delivery in due:
                pause = await self._send(delivery)
                if pause is not None:
                    return pause

    async def _send(self, delivery: Delivery) -> float | None:
        """Sends one delivery; returns a pause when sending must stop for a while."""
        reply = (
            ReplyParameters(delivery.reply_to_message_id, allow_sending_without_reply=True)
            if delivery.reply_to_message_id
            else None
        )
        text, markup = delivery.text, None
        renderer = self.renderers.get(delivery.kind)
        if renderer is not None:
            rendered = await self._call(renderer, delivery)
            if rendered is None:
                await self._call(self.repo.cancel_delivery, delivery.id, "no longer wanted")
                return None
            text, markup = rendered
        try:
            message = await self.bot.send_message(
                delivery.chat_id, text, reply_parameters=reply, reply_markup=markup
            )
        except RetryAfter as exc:
            delay = _seconds(exc.retry_after)
            await self._later(delivery, f"429 retry after {delay:g} s", delay)
            return delay
        except (Forbidden, BadRequest) as exc:
            # The user blocked the bot or the chat is gone: retrying cannot help.
            await self._call(self.repo.retry_later, delivery.id, str(exc), 0, True)
            return None
        except (NetworkError, TelegramError) as exc:  # timeouts, 5xx, Telegram unreachable
            delay = min(self.max_delay_s, self.base_delay_s * 2 ** min(delivery.attempts, 12))
            await self._later(delivery, f"{type(exc).__name__}: {exc}", delay)
            return delay
        await self._call(self.repo.delivered, delivery.id, message.message_id)
        return None

    async def _later(self, delivery: Delivery, error: str, delay: float) -> None:
        # A draft's review post is never given up while Telegram is only unreachable.
        give_up = delivery.kind != REVIEW_POST and delivery.attempts + 1 >= self.max_attempts
        if give_up:
            log.warning(
                "delivery %s given up after %s attempts", delivery.id, delivery.attempts + 1
            )
        await self._call(self.repo.retry_later, delivery.id, error, delay, give_up)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
