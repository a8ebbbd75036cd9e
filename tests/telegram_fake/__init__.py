"""A fake Telegram Bot API server (127.0.0.1 only) for end-to-end tests of a PTB v22 Application.

    with FakeTelegram() as fake:                       # port 0: a free port, any bot token
        app = (ApplicationBuilder().token("123:TEST").base_url(fake.base_url)
               .base_file_url(fake.base_file_url).build())
        ...                                            # start the app, then play Telegram:
        fake.push_message(42, "hello")                 # -> update_id
        await fake.wait_for_calls_async("sendMessage")
        assert fake.sent_messages(42)[0]["text"] == "hello"

Test side: push_message / push_document / push_callback / push_update, message_update (build an
update without queueing it, e.g. for deliver_webhook), redeliver, pending_updates, register_file;
calls(method), sent_messages(chat_id), uploaded_files(), webhook; wait_for / wait_for_calls
(blocking) and wait_for_async / wait_for_calls_async (for a bot in the test's own event loop);
fail_next(method, status, retry_after, times), set_unreachable, on(method, handler);
deliver_webhook / deliver_webhook_async.

Set NO_PROXY=127.0.0.1,localhost in the test (httpx honours proxy variables).
"""

from tests.telegram_fake.server import ApiError, Call, FakeTelegram, UploadedFile

__all__ = ["ApiError", "Call", "FakeTelegram", "UploadedFile"]
