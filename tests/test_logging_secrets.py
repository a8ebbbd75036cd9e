"""The bot token never reaches a log line, on success or on errors (httpx logs request URLs)."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
from telegram.error import NetworkError
from telegram.ext import ApplicationBuilder

from bot.logs import SecretFilter, configure
from tests.telegram_fake import FakeTelegram

TOKEN = "987654:SECRET-token-never-logged"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    try:
        configure("DEBUG", [TOKEN])
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # the worst case: URLs logged
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for each in root.handlers:
            for found in [f for f in each.filters if isinstance(f, SecretFilter)]:
                each.removeFilter(found)


def test_token_is_masked_in_request_logs_and_errors(captured: io.StringIO) -> None:
    async def scenario(fake: FakeTelegram) -> None:
        app = ApplicationBuilder().token(TOKEN).base_url(fake.base_url).build()
        async with app:
            await app.bot.get_me()
            fake.fail_next("sendMessage", status=502)
            try:
                await app.bot.send_message(1, "hello")
            except NetworkError as exc:
                logging.getLogger("bot").exception("send failed for %s", fake.base_url + TOKEN)
                assert exc
            fake.set_unreachable(True)
            try:
                await app.bot.get_me()
            except NetworkError:
                logging.getLogger("bot").error("unreachable: %s/bot%s/getMe", fake.base_url, TOKEN)

    with FakeTelegram() as fake:
        asyncio.run(scenario(fake))
    text = captured.getvalue()
    assert "getMe" in text, "the request log lines were captured"
    assert TOKEN not in text
    assert "[REDACTED]" in text


def test_filter_masks_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s", (TOKEN,), None)
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    SecretFilter([TOKEN]).filter(record)
    assert TOKEN not in record.getMessage()
    assert record.exc_text is not None and TOKEN not in record.exc_text
