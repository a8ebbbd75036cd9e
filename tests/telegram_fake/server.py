"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests of a real PTB Application.

The test plays Telegram: it queues updates (``push_message``, ``push_callback``, ``push_document``)
and inspects what the bot did (``calls``, ``sent_messages``). The server is a standard-library
``ThreadingHTTPServer`` in a background thread; all state sits behind one condition variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import SHUT_RDWR, socket
from typing import Any, NamedTuple, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

JSON = dict[str, Any]
T = TypeVar("T")

# Form fields are decoded by key: JSON-encoded objects, numbers and booleans; all else stays raw.
_JSON_KEYS = {
    "reply_markup",
    "entities",
    "caption_entities",
    "allowed_updates",
    "reply_parameters",
    "link_preview_options",
    "media",
    "commands",
    "scope",
    "results",
    "message_ids",
}
_INT_KEYS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "user_id",
    "from_chat_id",
    "cache_time",
    "message_thread_id",
    "reply_to_message_id",
    "max_connections",
}
_FLOAT_KEYS = {"timeout"}
_BOOL_KEYS = {
    "disable_notification",
    "protect_content",
    "show_alert",
    "drop_pending_updates",
    "disable_web_page_preview",
    "allow_sending_without_reply",
    "disable_content_type_detection",
}
_API_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_FILE_PATH = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


class ApiError(Exception):
    """A Bot API error reply; custom handlers registered with ``on()`` may raise it too."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class Call(NamedTuple):
    method: str
    params: JSON
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (e.g. the ``document`` of sendDocument)."""

    file_name: str | None
    mime_type: str | None
    data: bytes


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


@dataclass
class _Queued:
    update: JSON
    redelivered: bool = False  # served even if the offset already passed it, until served once


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_value(key: str, raw: str) -> Any:
    try:
        if key in _JSON_KEYS:
            return json.loads(raw)
        if key in _INT_KEYS and re.fullmatch(r"-?\d+", raw):
            return int(raw)
        if key in _FLOAT_KEYS:
            return float(raw)
    except ValueError:
        return raw
    if key in _BOOL_KEYS:
        return raw.lower() in ("true", "1")
    return raw


def _parse_multipart(body: bytes, content_type: str) -> JSON:
    boundary = HeaderParser().parsestr(f"Content-Type: {content_type}").get_param("boundary")
    params: JSON = {}
    for chunk in body.split(b"--" + str(boundary).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = HeaderParser().parsestr(head.decode("utf-8", "replace"))
        name = str(headers.get_param("name", header="content-disposition"))
        if headers.get_filename() is None and headers.get_content_type() == "text/plain":
            params[name] = _decode_value(name, data.decode())
        else:
            params[name] = UploadedFile(headers.get_filename(), headers.get_content_type(), data)
    for key, value in list(params.items()):  # resolve attach://<part> references
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.pop(value.removeprefix("attach://"), value)
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTelegram

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return not self.fake._unreachable  # "Telegram is down": close accepted connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # aborted connections are expected (unreachable mode, close())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def do_POST(self) -> None:
        fake = self.server.fake
        fake._busy(+1)
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = (
                None
                if fake._unreachable
                else fake._handle(self.path, self.headers.get("Content-Type", ""), body)
            )
            if reply is None or fake._unreachable:  # "Telegram is down": no answer at all
                self.close_connection = True
                return
            status, ctype, payload = reply
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client went away (e.g. a cancelled long poll)
        finally:
            fake._busy(-1)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeTelegram:
    """Fake Bot API on 127.0.0.1; use ``with FakeTelegram() as fake:`` (any bot token works)."""

    def __init__(
        self,
        port: int = 0,
        *,
        bot_id: int = 7000001,
        bot_username: str = "fake_test_bot",
        bot_name: str = "Fake Bot",
    ) -> None:
        self._requested_port = port
        self.bot: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._cond = threading.Condition()  # guards all state below
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(100001)
        self._queue: list[_Queued] = []
        self._updates: dict[int, JSON] = {}
        self._calls: list[Call] = []
        self._sent: list[JSON] = []
        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._files: dict[str, _StoredFile] = {}
        self._open_callbacks: set[str] = set()
        self._failures: dict[str, deque[ApiError]] = {}
        self._custom: dict[str, Callable[[JSON], Any]] = {}
        self._conns: set[socket] = set()
        self._active = 0  # requests being handled
        self.webhook: JSON | None = None
        self._unreachable = False
        self._closed = False
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        self._httpd = _Server(("127.0.0.1", self._requested_port), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; pending long polls return at once and open connections are closed."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._active == 0, 2.0)  # woken long polls answer []
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        self._abort_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "call start() first"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- test side: updates ---------------------------------------------------------------
    def message_update(
        self,
        user_id: int,
        text: str | None = None,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = "en",
        forward: bool | JSON = False,
        caption: str | None = None,
        document: JSON | None = None,
        entities: list[JSON] | None = None,
        reply_to_message_id: int | None = None,
        **extra: Any,
    ) -> JSON:
        """Build (not queue) a message Update as a user would send it; ``extra`` is merged in."""
        user = self._user(user_id, username, first_name, language_code)
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -1_000_000_000_000 - user_id
        chat: JSON = {"id": chat_id, "type": chat_type}
        chat.update(
            {"first_name": user["first_name"], "username": user["username"]}
            if chat_type == "private"
            else {"title": f"Test {chat_type} {chat_id}"}
        )
        if entities is None and text and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": _utf16_len(text.split()[0])}]
        with self._cond:
            self._chats[chat_id] = chat
            reply_to = self._messages.get((chat_id, reply_to_message_id or 0))
            message = self._store(
                {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": chat,
                    "from": user,
                    "text": text,
                    "entities": entities,
                    "caption": caption,
                    "document": document,
                    "reply_to_message": self._reply_copy(reply_to),
                    "forward_origin": self._forward_origin(forward),
                    **extra,
                }
            )
            return self._new_update(message=message)

    def push_message(self, user_id: int, text: str | None = None, **kwargs: Any) -> int:
        """Queue a message from a user (see ``message_update`` for options); returns update_id."""
        return self.push_update(self.message_update(user_id, text, **kwargs))

    def push_document(
        self,
        user_id: int,
        file_bytes: bytes,
        file_name: str = "file.txt",
        mime_type: str = "text/plain",
        caption: str | None = None,
        **kwargs: Any,
    ) -> int:
        """Queue a user's document; the bot can fetch it with get_file + download_to_memory."""
        document = self.register_file(file_bytes, file_name=file_name, mime_type=mime_type)
        return self.push_message(user_id, None, caption=caption, document=document, **kwargs)

    def push_callback(
        self, user_id: int, data: str, message_id: int, chat_id: int | None = None
    ) -> int:
        """Queue a button press on message ``message_id`` (a bot message, usually)."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            message = self._messages.get((chat_id, message_id)) or self._store(
                {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "from": self.bot,
                    "chat": self._chat(chat_id),
                }
            )
            query_id = str(4_000_000_000_000_000 + next(self._ids))
            self._open_callbacks.add(query_id)
            return self.push_update(
                self._new_update(
                    callback_query={
                        "id": query_id,
                        "from": self._user(user_id),
                        "chat_instance": f"ci{chat_id}",
                        "data": data,
                        "message": copy.deepcopy(message),
                    }
                )
            )

    def push_update(self, update: JSON) -> int:
        """Queue a raw update dict (an ``update_id`` is assigned if missing)."""
        with self._cond:
            if "update_id" not in update:
                update = self._new_update(**update)
            self._queue.append(_Queued(update))
            self._cond.notify_all()
            return int(update["update_id"])

    def redeliver(self, update_id: int) -> None:
        """Queue an update again, as Telegram does when a bot crashed before confirming it."""
        with self._cond:
            self._queue.append(_Queued(copy.deepcopy(self._updates[update_id]), redelivered=True))
            self._queue.sort(key=lambda q: int(q.update["update_id"]))
            self._cond.notify_all()

    def pending_updates(self) -> list[int]:
        """update_ids still queued (served or not, but not yet confirmed by an offset)."""
        with self._cond:
            return [int(q.update["update_id"]) for q in self._queue]

    def register_file(
        self, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> JSON:
        """Store a file the bot may download; returns its Document dict (with file_id)."""
        with self._cond:
            n = next(self._ids)
            suffix = file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
            stored = _StoredFile(
                f"BQACAgI{n:06d}", f"AgAD{n:04d}", f"documents/file_{n}.{suffix}", data
            )
            self._files[stored.file_id] = stored
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return {k: v for k, v in document.items() if v is not None}

    # -- test side: inspection ------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:
        """Recorded (method, params) in order; ``calls()`` leaves out getUpdates polls."""
        with self._cond:
            return [
                Call(c.method, dict(c.params), c.at)
                for c in self._calls
                if c.method == method or (method is None and c.method != "getUpdates")
            ]

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSON]:
        """Messages the bot sent successfully, in order, with later edits applied."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._sent if chat_id in (None, m["chat"]["id"])]

    def uploaded_files(self) -> list[UploadedFile]:
        with self._cond:
            return [
                v for c in self._calls for v in c.params.values() if isinstance(v, UploadedFile)
            ]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until ``predicate()`` is truthy (re-checked on every request); return it."""
        with self._cond:
            if result := self._cond.wait_for(predicate, timeout):
                return result
            raise TimeoutError(f"condition not met in {timeout}s; calls: {self._summary()}")

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        self.wait_for(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    async def wait_for_async(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """``wait_for`` for a test running the bot in its own event loop (does not block it)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met in {timeout}s; calls: {self._summary()}")
            await asyncio.sleep(0.005)
        return result

    async def wait_for_calls_async(
        self, method: str, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        await self.wait_for_async(lambda: len(self.calls(method)) >= count, timeout)
        return self.calls(method)

    # -- test side: failures, custom methods, webhooks --------------------------------------
    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (429 carries retry_after)."""
        default = {
            429: f"Too Many Requests: retry after {retry_after}",
            400: "Bad Request",
            403: "Forbidden: bot was blocked by the user",
            502: "Bad Gateway",
        }
        error = ApiError(
            status,
            description or default.get(status, "Internal Server Error"),
            retry_after if status == 429 else None,
        )
        with self._cond:
            self._failures.setdefault(method, deque()).extend([error] * times)

    def set_unreachable(self, unreachable: bool = True) -> None:
        """Simulate Telegram down: drop open connections and close new ones unanswered."""
        with self._cond:
            self._unreachable = unreachable
            self._cond.notify_all()
        if unreachable:
            self._abort_connections()

    def on(self, method: str, handler: Callable[[JSON], Any]) -> None:
        """Serve ``method`` with ``handler(params) -> result`` (may raise ApiError)."""
        with self._cond:
            self._custom[method] = handler

    def deliver_webhook(
        self,
        url: str | None,
        update: JSON | int,
        secret_token: str | None = None,
        *,
        attempts: int = 50,
        delay: float = 0.05,
        timeout: float = 5.0,
    ) -> int:
        """POST an update to a bot's webhook; returns the HTTP status.

        ``url``/``secret_token`` default to those of the last setWebhook (``""``: no header).
        Failures to connect, or no webhook set yet, are retried: the bot calls setWebhook
        before it listens."""
        with self._cond:
            body = json.dumps(self._updates[update] if isinstance(update, int) else update).encode()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        last_error: Exception | None = None
        for _ in range(attempts):
            hook = self.webhook or {}
            secret = hook.get("secret_token") if secret_token is None else secret_token
            headers = {"Content-Type": "application/json"}
            if secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = secret
            try:
                request = urllib.request.Request(url or hook["url"], body, headers, method="POST")
                with opener.open(request, timeout=timeout) as response:
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                return exc.code
            except (urllib.error.URLError, ConnectionError, KeyError) as exc:
                last_error = exc
                time.sleep(delay)
        raise ConnectionError(
            f"webhook {url} unreachable after {attempts} attempts"
        ) from last_error

    async def deliver_webhook_async(
        self, url: str | None, update: JSON | int, secret_token: str | None = None, **kwargs: Any
    ) -> int:
        return await asyncio.to_thread(self.deliver_webhook, url, update, secret_token, **kwargs)

    # -- server side ------------------------------------------------------------------------
    def _handle(self, path: str, content_type: str, body: bytes) -> tuple[int, str, bytes]:
        url = urlsplit(path)
        if match := _FILE_PATH.match(url.path):
            with self._cond:
                found = [f for f in self._files.values() if f.file_path == match["path"]]
            if found:
                return 200, "application/octet-stream", found[0].data
            return (
                404,
                "application/json",
                b'{"ok":false,"error_code":404,"description":"Not Found"}',
            )
        try:
            if not (match := _API_PATH.match(url.path)):
                raise ApiError(404, "Not Found")
            result = self._call(match["method"], self._decode_body(url.query, content_type, body))
            reply: JSON = {"ok": True, "result": result}
            status = 200
        except ApiError as error:
            reply, status = error.body(), error.status
        except Exception as exc:  # a bug in the fake or in a custom handler: say so
            reply, status = (
                ApiError(500, f"Internal Server Error: fake failed: {exc!r}").body(),
                500,
            )
        return status, "application/json", json.dumps(reply).encode()

    @staticmethod
    def _decode_body(query: str, content_type: str, body: bytes) -> JSON:
        params: JSON = {k: _decode_value(k, v) for k, v in parse_qsl(query)}
        try:
            if content_type.startswith("application/json") and body:
                params.update(json.loads(body))
            elif content_type.startswith("multipart/form-data"):
                params.update(_parse_multipart(body, content_type))
            elif body:
                params.update({k: _decode_value(k, v) for k, v in parse_qsl(body.decode())})
        except ValueError as exc:
            raise ApiError(400, f"Bad Request: can't parse request body: {exc}") from exc
        return params

    def _call(self, method: str, params: JSON) -> Any:
        with self._cond:  # a long poll's wait() releases the lock however deeply it is held
            self._calls.append(Call(method, params, time.monotonic()))
            try:
                if failures := self._failures.get(method):
                    raise failures.popleft()
                handler = self._custom.get(method) or getattr(self, f"_api_{method}", None)
                if handler is None:
                    raise ApiError(404, "Not Found: method not found")
                return copy.deepcopy(handler(params))
            finally:
                self._cond.notify_all()  # wake wait_for() once the effect is visible

    def _api_getUpdates(self, p: JSON) -> list[JSON]:
        offset, limit, timeout = p.get("offset"), int(p.get("limit") or 100), p.get("timeout") or 0
        with self._cond:
            if self.webhook:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(offset, int) and offset < 0:
                self._queue = self._queue[offset:]
            elif isinstance(offset, int) and offset > 0:
                self._queue = [
                    q for q in self._queue if q.redelivered or int(q.update["update_id"]) >= offset
                ]
            self._cond.wait_for(lambda: self._queue or self._closed or self._unreachable, timeout)
            if self._closed or self._unreachable:
                return []
            batch = self._queue[:limit]
            for queued in batch:
                queued.redelivered = False  # served: the next offset past it confirms it
            return copy.deepcopy([q.update for q in batch])

    def _api_getMe(self, p: JSON) -> JSON:
        return self.bot

    def _api_setWebhook(self, p: JSON) -> bool:
        self.webhook = {
            k: p.get(k)
            for k in (
                "url",
                "secret_token",
                "allowed_updates",
                "max_connections",
                "drop_pending_updates",
            )
        }
        if not p.get("url"):
            self.webhook = None
        if p.get("drop_pending_updates"):
            self._queue.clear()
        return True

    def _api_deleteWebhook(self, p: JSON) -> bool:
        return self._api_setWebhook(
            {"url": "", "drop_pending_updates": p.get("drop_pending_updates")}
        )

    def _api_sendMessage(self, p: JSON) -> JSON:
        text = str(p.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return self._bot_message(p, text=text, entities=p.get("entities"))

    def _api_sendDocument(self, p: JSON) -> JSON:
        document = p.get("document")
        if isinstance(document, UploadedFile):
            doc = self.register_file(
                document.data, file_name=document.file_name, mime_type=document.mime_type
            )
        elif isinstance(document, str) and document in self._files:
            doc = {"file_id": document, "file_unique_id": self._files[document].file_unique_id}
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        return self._bot_message(
            p, document=doc, caption=p.get("caption"), caption_entities=p.get("caption_entities")
        )

    def _api_editMessageText(self, p: JSON) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        message = self._existing(p, "edit")
        markup = self._inline_markup(p)
        if message.get("text") == p.get("text") and message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current "
                "content and reply markup of the message",
            )
        message.update(text=p.get("text"), edit_date=int(time.time()))
        for key, value in (("entities", p.get("entities")), ("reply_markup", markup)):
            self._set_or_drop(message, key, value)
        return message

    def _api_editMessageReplyMarkup(self, p: JSON) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        message = self._existing(p, "edit")
        self._set_or_drop(message, "reply_markup", self._inline_markup(p))
        message["edit_date"] = int(time.time())
        return message

    def _api_deleteMessage(self, p: JSON) -> bool:
        message = self._existing(p, "delete")
        del self._messages[(message["chat"]["id"], message["message_id"])]
        return True

    def _api_answerCallbackQuery(self, p: JSON) -> bool:
        if str(p.get("callback_query_id")) not in self._open_callbacks:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_callbacks.discard(str(p["callback_query_id"]))
        return True

    def _api_sendChatAction(self, p: JSON) -> bool:
        return True

    def _api_getFile(self, p: JSON) -> JSON:
        stored = self._files.get(str(p.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # -- helpers (called with the lock held) -------------------------------------------------
    def _new_update(self, **content: Any) -> JSON:
        update = {"update_id": next(self._update_ids), **content}
        self._updates[update["update_id"]] = update
        return update

    def _store(self, message: JSON) -> JSON:
        message = {k: v for k, v in message.items() if v is not None and v is not False}
        self._messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def _chat(self, chat_id: int | str) -> JSON:
        """A chat the test pushed from, else a made-up one (private for positive ids)."""
        if chat_id not in self._chats:
            private = isinstance(chat_id, int) and chat_id > 0
            self._chats[chat_id] = (
                {"id": chat_id, "type": "private", "first_name": "User"}
                if private
                else {"id": chat_id, "type": "supergroup", "title": "Test chat"}
            )
        return self._chats[chat_id]

    @staticmethod
    def _user(
        user_id: int,
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        user = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "username": username or f"user{user_id}",
            "language_code": language_code,
        }
        return {k: v for k, v in user.items() if v is not None}

    def _bot_message(self, p: JSON, **content: Any) -> JSON:
        chat = self._chat(p.get("chat_id", 0))
        reply_id = (p.get("reply_parameters") or {}).get("message_id") or p.get(
            "reply_to_message_id"
        )
        reply_to = self._messages.get((chat["id"], reply_id or 0))
        message = self._store(
            {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": chat,
                "from": self.bot,
                **content,
                "reply_to_message": self._reply_copy(reply_to),
                "reply_markup": self._inline_markup(p),
            }
        )
        self._sent.append(message)
        return message

    def _existing(self, p: JSON, action: str) -> JSON:
        key = (self._chat(p.get("chat_id", 0))["id"], p.get("message_id"))
        if key not in self._messages:
            raise ApiError(400, f"Bad Request: message to {action} not found")
        return self._messages[key]

    @staticmethod
    def _set_or_drop(message: JSON, key: str, value: Any) -> None:
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value

    @staticmethod
    def _reply_copy(message: JSON | None) -> JSON | None:
        reply = copy.deepcopy(message)  # Telegram does not nest reply_to_message further
        if reply is not None:
            reply.pop("reply_to_message", None)
        return reply

    @staticmethod
    def _inline_markup(p: JSON) -> JSON | None:
        markup = p.get("reply_markup")  # only inline keyboards are part of a Message
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    @staticmethod
    def _forward_origin(forward: bool | JSON) -> JSON | None:
        if isinstance(forward, dict) or not forward:
            return forward or None
        return {
            "type": "hidden_user",
            "sender_user_name": "Forwarded Sender",
            "date": int(time.time()) - 3600,
        }

    def _summary(self) -> str:
        return ", ".join(c.method for c in self._calls if c.method != "getUpdates") or "none"

    def _busy(self, delta: int) -> None:
        with self._cond:
            self._active += delta
            self._cond.notify_all()

    def _track(self, conn: socket, *, add: bool) -> None:
        with self._cond:
            (self._conns.add if add else self._conns.discard)(conn)

    def _abort_connections(self) -> None:
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(SHUT_RDWR)
