"""A fake OpenAI-compatible chat server on 127.0.0.1 for end-to-end tests of the model drafter.

It serves ``POST /v1/chat/completions`` with a configurable behaviour and records every request,
so a test can check what the model was sent. Standard library only; one background thread.

Behaviours (``server.mode``):
- ``"good"``: a JSON draft in English citing the first evidence id of the request (or
  ``server.reply``, a dict or a function of the request body returning a dict);
- ``"slow"``: the same after sleeping ``server.delay_s`` seconds (past the client's timeout);
- ``"error"``: HTTP 500;
- ``"malformed"``: a completion whose content is not JSON;
- ``"garbage"``: an HTTP 200 whose body is not JSON at all.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

JSON = dict[str, Any]
GOOD_TEXT = (
    "There is no evidence that drinking cold water after meals causes stomach cancer. "
    "Trusted sources link stomach cancer to other causes, such as infection and smoking."
)
_EVIDENCE_ID = re.compile(r'"id":\s*"([^"]+)"')


def evidence_ids(body: JSON) -> list[str]:
    """The evidence ids offered in a request's user message."""
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    block = user.split("<evidence>", 1)[-1].split("</evidence>", 1)[0]
    return _EVIDENCE_ID.findall(block)


def good_reply(body: JSON) -> JSON:
    ids = evidence_ids(body)[:1]
    first, second = GOOD_TEXT.split(". ", 1)
    return {
        "verdict": "false",
        "parts": [
            {"text": first + ".", "evidence_ids": ids},
            {"text": second, "evidence_ids": ids},
        ],
    }


class FakeOpenAI:
    """``with FakeOpenAI() as server:`` then point LLM_BASE_URL at ``server.base_url``."""

    def __init__(self) -> None:
        self.mode = "good"
        self.reply: JSON | Callable[[JSON], JSON] = good_reply
        self.delay_s = 3.0
        self.requests: list[JSON] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def prompts(self) -> list[str]:
        """Every message text of every recorded request, joined per request."""
        with self._lock:
            return [
                "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
                for body in self.requests
            ]

    def _completion(self, body: JSON) -> bytes:
        if self.mode == "malformed":
            content = '{"verdict": "false", "parts": [{"text": "Cold water is fine'
        else:
            reply = self.reply(body) if callable(self.reply) else self.reply
            content = json.dumps(reply, ensure_ascii=False)
        return json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        ).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode("utf-8", "replace")}
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, b'{"error": {"message": "not found"}}')
                if fake.mode == "slow":
                    time.sleep(fake.delay_s)
                if fake.mode == "error":
                    return self._send(500, b'{"error": {"message": "internal error"}}')
                if fake.mode == "garbage":
                    return self._send(200, b"<html>not json</html>")
                self._send(200, fake._completion(body))

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
