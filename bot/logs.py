"""Logging set-up: no secret reaches a log line, and no message text at the default level."""

from __future__ import annotations

import logging

_MASK = "[REDACTED]"


class SecretFilter(logging.Filter):
    """Replaces every configured secret (the bot token above all) in formatted log records.

    httpx logs request URLs, and Telegram's URLs contain the token; exceptions can too.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self.secrets:
            message = message.replace(secret, _MASK)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, _MASK)
        record.msg, record.args = message, None
        return True


def configure(level: str, secrets: list[str]) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret_filter = SecretFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    # Request URLs carry the token: keep httpx quiet unless debugging, and filtered even then.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(max(logging.WARNING, logging.getLogger().level))
    # The model client's debug lines may describe requests, which carry the claim.
    logging.getLogger("openai").setLevel(logging.WARNING)
