"""Signed inline-button data: forged or altered callback data is refused.

Telegram returns whatever data a button was created with, and any client can send any data, so
each button carries an HMAC over its action, draft and version, keyed by a server-side secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

SIGNATURE_CHARS = 12  # Telegram allows 64 bytes of callback data.


@dataclass(frozen=True)
class ButtonData:
    action: str
    draft_id: int
    version: int
    arg: str = ""


class CallbackSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        return digest[:SIGNATURE_CHARS]

    def sign(self, data: ButtonData) -> str:
        payload = f"{data.action}|{data.draft_id}|{data.version}|{data.arg}"
        signed = f"{payload}|{self._mac(payload)}"
        if len(signed.encode()) > 64:
            raise ValueError("callback data longer than Telegram's 64 bytes")
        return signed

    def verify(self, raw: str | None) -> ButtonData | None:
        """The button's data, or None when it was not made by this server."""
        if not raw or raw.count("|") != 4:
            return None
        payload, _, mac = raw.rpartition("|")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        action, draft_id, version, arg = payload.split("|")
        try:
            return ButtonData(action, int(draft_id), int(version), arg)
        except ValueError:
            return None
