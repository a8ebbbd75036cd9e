"""What every handler needs, built once and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from telegram.ext import ContextTypes

from bot.engine.drafting import Drafter, EvidenceDrafter
from bot.engine.engine import FactCheckEngine
from bot.review.repository import ReviewRepository
from bot.settings import Settings
from bot.telegram.callbacks import CallbackSigner
from bot.telegram.outbox import Outbox
from bot.telegram.ratelimit import RateLimiter
from ingest.pipeline import Ingestor

KEY = "factcheck"


@dataclass
class BotServices:
    settings: Settings
    engine: FactCheckEngine
    repo: ReviewRepository
    ingestor: Ingestor
    signer: CallbackSigner
    limiter: RateLimiter
    outbox: Outbox | None = None
    drafter: Drafter = field(default_factory=EvidenceDrafter)
    # Reviewer id -> what their next message in the review chat is for ("edit"/"reject", draft).
    awaiting: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    # (reviewer id, draft id) -> edited text waiting for confirmation.
    previews: dict[tuple[int, int], str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def is_reviewer(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.reviewer_ids

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


def services(context: ContextTypes.DEFAULT_TYPE) -> BotServices:
    return context.application.bot_data[KEY]  # type: ignore[no-any-return]
