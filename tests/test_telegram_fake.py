"""End-to-end tests of the fake Telegram Bot API with a real python-telegram-bot Application."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import NetworkError, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.telegram_fake import FakeTelegram

TOKEN = "123456:TEST-token"
USER = 4242
App = Application[Any, Any, Any, Any, Any, Any]
BINARY = b"%PDF-1.7\r\n\x00\xff\xfe line\rbreak\n--not-a-boundary\r\n" + bytes(range(256))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with FakeTelegram() as server:
        yield server


# -- a tiny bot -------------------------------------------------------------------------------
async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    prefix = "forwarded: " if update.message.forward_origin else ""
    await update.message.reply_text(prefix + update.message.text)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    buttons = [
        [
            InlineKeyboardButton("Yes", callback_data="yes"),
            InlineKeyboardButton("No", callback_data="no"),
        ]
    ]
    await update.message.reply_text("Is it true?", reply_markup=InlineKeyboardMarkup(buttons))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"Got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.document is not None
    buffer = io.BytesIO()
    tg_file = await update.message.document.get_file()
    await tg_file.download_to_memory(buffer)
    data = buffer.getvalue()
    await update.message.reply_text(f"{update.message.caption}: {hashlib.sha256(data).hexdigest()}")
    await update.message.reply_document(document=data[::-1], filename="reversed.bin")


def build_app(fake: FakeTelegram, errors: list[BaseException]) -> App:
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    app.add_handler(CallbackQueryHandler(on_button))

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.append(context.error)

    app.add_error_handler(on_error)
    return app


@asynccontextmanager
async def polling(fake: FakeTelegram, errors: list[BaseException]) -> AsyncIterator[App]:
    app = build_app(fake, errors)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


# -- raw Bot API calls, for the protocol-level tests -----------------------------------------
def api(
    fake: FakeTelegram, method: str, json_body: dict[str, Any] | None = None, **params: Any
) -> tuple[int, dict[str, Any]]:
    if json_body is not None:
        data, ctype = json.dumps(json_body).encode(), "application/json"
    else:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        data, ctype = urlencode(form).encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(
        f"{fake.base_url}{TOKEN}/{method}", data, {"Content-Type": ctype}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def update_ids(fake: FakeTelegram, **params: Any) -> list[int]:
    status, body = api(fake, "getUpdates", **params)
    assert status == 200, body
    return [update["update_id"] for update in body["result"]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- tests ------------------------------------------------------------------------------------
def test_echo_round_trip(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            started = time.monotonic()
            fake.push_message(USER, "123")
            (call,) = await fake.wait_for_calls_async("sendMessage")
            assert time.monotonic() - started < 2
        assert call.params["text"] == "123" and call.params["chat_id"] == USER
        (sent,) = fake.sent_messages(chat_id=USER)
        assert sent["text"] == "123" and sent["from"]["id"] == fake.bot["id"]
        assert sent["chat"]["type"] == "private" and abs(sent["date"] - time.time()) < 5
        assert [c.method for c in fake.calls()][:2] == ["getMe", "deleteWebhook"]
        assert errors == []

    asyncio.run(scenario())


def test_forwarded_unicode_message_in_a_group(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            update_id = fake.push_message(
                USER, "الثوم يعالج الزكام؟ 🧄", chat_type="supergroup", forward=True
            )
            (sent,) = await fake.wait_for_async(lambda: fake.sent_messages())
        assert sent["text"] == "forwarded: الثوم يعالج الزكام؟ 🧄" and errors == []
        assert sent["chat"]["id"] < 0 and sent["chat"]["type"] == "supergroup"
        # PTB quotes in groups: the fake links the reply to the user's message
        assert sent["reply_to_message"]["from"]["id"] == USER
        assert fake.pending_updates() == [] and update_id > 0

    asyncio.run(scenario())


def test_callback_query_answered_and_message_edited(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            fake.push_message(USER, "/start")
            (question,) = await fake.wait_for_async(lambda: fake.sent_messages(USER))
            assert question["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "yes"
            fake.push_callback(USER, "yes", question["message_id"])
            await fake.wait_for_calls_async("editMessageText")
        (answer,) = fake.calls("answerCallbackQuery")
        assert answer.params["text"] == "Got yes"
        (edited,) = fake.sent_messages(USER)
        assert edited["text"] == "You chose yes" and "reply_markup" not in edited
        assert "edit_date" in edited and errors == []

    asyncio.run(scenario())


def test_get_updates_offset_long_poll_and_redelivery(fake: FakeTelegram) -> None:
    u1, u2 = fake.push_message(USER, "one"), fake.push_message(USER, "two")
    status, body = api(fake, "getUpdates")
    assert status == 200
    first = body["result"][0]["message"]
    assert first["text"] == "one" and first["from"]["id"] == USER and first["date"] > 0
    assert update_ids(fake) == [u1, u2]  # serving an update does not confirm it
    assert update_ids(fake, offset=u1 + 1) == [u2]  # the offset confirms u1
    assert update_ids(fake, offset=u2 + 1, timeout=0) == [] and fake.pending_updates() == []

    fake.redeliver(u1)  # as after a crash: the same update again, despite the offset
    assert update_ids(fake, offset=u2 + 1) == [u1]
    assert update_ids(fake, offset=u2 + 1, timeout=0) == []

    started = time.monotonic()
    assert update_ids(fake, offset=u2 + 1, timeout=0.5) == []
    assert time.monotonic() - started >= 0.45  # a long poll waits for its timeout...
    threading.Timer(0.2, fake.push_message, args=(USER, "late")).start()
    started = time.monotonic()
    (u3,) = update_ids(fake, offset=u2 + 1, timeout=10)
    assert time.monotonic() - started < 2  # ...but wakes at once for a new update

    results: list[object] = []
    poller = threading.Thread(
        target=lambda: results.append(update_ids(fake, offset=u3 + 1, timeout=30))
    )
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.close()  # wakes the pending long poll, which answers []
    poller.join(5)
    assert not poller.is_alive() and results == [[]] and time.monotonic() - started < 2


def test_redelivered_update_is_handled_again(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            update_id = fake.push_message(USER, "hello")
            await fake.wait_for_calls_async("sendMessage", 1)
            fake.redeliver(update_id)
            await fake.wait_for_calls_async("sendMessage", 2)
            await fake.wait_for_async(lambda: not fake.pending_updates())
        assert [m["text"] for m in fake.sent_messages(USER)] == ["hello", "hello"]

    asyncio.run(scenario())


def test_request_decoding_and_errors(fake: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "1"}]]}
    status, body = api(fake, "sendMessage", chat_id=7, text="123", reply_markup=markup)
    assert status == 200 and body["result"]["text"] == "123"
    assert body["result"]["reply_markup"] == markup
    status, body = api(fake, "sendMessage", json_body={"chat_id": 7, "text": "456"})
    assert status == 200 and body["result"]["message_id"] > 0
    assert [c.params for c in fake.calls("sendMessage")] == [
        {"chat_id": 7, "text": "123", "reply_markup": markup},
        {"chat_id": 7, "text": "456"},
    ]
    assert api(fake, "sendMessage", chat_id=7, text="x" * 4097)[0] == 400
    assert api(fake, "noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    fake.fail_next("sendChatAction", status=429, retry_after=3)
    assert api(fake, "sendChatAction", chat_id=7, action="typing") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert api(fake, "sendChatAction", chat_id=7, action="typing")[0] == 200
    assert api(fake, "setWebhook", url="http://127.0.0.1:9/hook", secret_token="s")[0] == 200
    assert fake.webhook is not None and fake.webhook["secret_token"] == "s"
    assert api(fake, "getUpdates")[0] == 409  # as Telegram: no polling while a webhook is set


def test_rate_limit_is_seen_by_ptb_then_next_send_works(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            fake.fail_next("sendMessage", status=429, retry_after=1)
            fake.push_message(USER, "first")
            await fake.wait_for_async(lambda: errors)
            fake.push_message(USER, "second")
            await fake.wait_for_async(lambda: fake.sent_messages(USER))
        assert len(errors) == 1 and isinstance(errors[0], RetryAfter)
        assert [m["text"] for m in fake.sent_messages(USER)] == ["second"]
        assert [c.params["text"] for c in fake.calls("sendMessage")] == ["first", "second"]

    asyncio.run(scenario())


def test_bad_gateway_and_unreachable_telegram(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors) as app:
            fake.fail_next("sendMessage", status=502)
            fake.push_message(USER, "first")
            await fake.wait_for_async(lambda: errors)
            assert isinstance(errors[0], NetworkError) and "Bad Gateway" in str(errors[0])

            fake.set_unreachable(True)
            with pytest.raises(NetworkError):
                await app.bot.send_message(USER, "while down")
            fake.push_message(USER, "queued while down")
            await asyncio.sleep(0.3)
            fake.set_unreachable(False)  # polling recovers after its back-off (1 s)
            (sent,) = await fake.wait_for_async(lambda: fake.sent_messages(USER), timeout=5)
            assert sent["text"] == "queued while down"

    asyncio.run(scenario())


def test_document_from_user_is_downloaded_and_answered(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        errors: list[BaseException] = []
        async with polling(fake, errors):
            fake.push_document(USER, BINARY, "claim.pdf", "application/pdf", caption="check")
            await fake.wait_for_calls_async("sendDocument")
        assert errors == []
        text, document = fake.sent_messages(USER)
        assert text["text"] == f"check: {hashlib.sha256(BINARY).hexdigest()}"
        (upload,) = fake.uploaded_files()
        assert upload.data == BINARY[::-1] and upload.file_name == "reversed.bin"
        assert document["document"]["file_size"] == len(BINARY)
        methods = [c.method for c in fake.calls()]
        assert (
            methods.index("getFile") < methods.index("sendMessage") < methods.index("sendDocument")
        )

    asyncio.run(scenario())


def test_webhook_mode_with_secret_token(fake: FakeTelegram) -> None:
    pytest.importorskip("tornado", reason="PTB webhooks need python-telegram-bot[webhooks]")

    async def scenario() -> None:
        errors: list[BaseException] = []
        port = free_port()
        url = f"http://127.0.0.1:{port}/hook"
        app = build_app(fake, errors)
        async with app:
            await app.start()
            assert app.updater is not None
            # Delivered before the bot listens (and before setWebhook): the helper retries with
            # the URL and secret of the bot's setWebhook, as Telegram does.
            delivery = asyncio.create_task(
                fake.deliver_webhook_async(None, fake.message_update(USER, "via webhook"))
            )
            try:
                await app.updater.start_webhook(
                    listen="127.0.0.1",
                    port=port,
                    url_path="hook",
                    webhook_url=url,
                    secret_token="s3cret",
                )
                assert await delivery == 200
                (sent,) = await fake.wait_for_async(lambda: fake.sent_messages(USER))
                forged = fake.message_update(USER, "forged")
                assert await fake.deliver_webhook_async(url, forged, "wrong") == 403
                assert await fake.deliver_webhook_async(url, forged, "") == 403  # no header
            finally:
                await app.updater.stop()
                await app.stop()
        assert sent["text"] == "via webhook" and errors == []
        assert fake.webhook is not None and fake.webhook["url"] == url
        assert fake.webhook["secret_token"] == "s3cret"
        assert [m["text"] for m in fake.sent_messages(USER)] == ["via webhook"]

    asyncio.run(scenario())


def test_deliver_webhook_retries_until_the_bot_listens(fake: FakeTelegram) -> None:
    port, received = free_port(), []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ok = self.headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
            received.append((self.headers["Content-Type"], body))
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", port), Hook, bind_and_activate=False)

    def serve_late() -> None:  # the bot's server comes up 0.3 s after the first delivery try
        time.sleep(0.3)
        server.server_bind()
        server.server_activate()
        server.serve_forever(poll_interval=0.05)

    threading.Thread(target=serve_late, daemon=True).start()
    url = f"http://127.0.0.1:{port}/hook"
    update_id = fake.push_message(USER, "hi")
    try:
        started = time.monotonic()
        assert fake.deliver_webhook(url, update_id, "s3cret") == 200
        assert time.monotonic() - started >= 0.25
        assert fake.deliver_webhook(url, update_id, "bad") == 403
    finally:
        server.shutdown()
        server.server_close()
    ctype, body = received[0]
    assert ctype == "application/json" and body["update_id"] == update_id
    assert body["message"]["text"] == "hi"
