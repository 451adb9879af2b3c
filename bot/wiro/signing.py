"""Wiro request signing: HMAC-SHA256 with the API key as key and secret+nonce as message."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable


def wiro_signature(api_key: str, api_secret: str, nonce: str) -> str:
    """Return Wiro's lowercase hex signature for one request."""
    # Unusual direction, per Wiro's docs: the *key* is the HMAC key, the secret is in the message.
    return hmac.new(
        api_key.encode("utf-8"), (api_secret + nonce).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign_headers(api_key: str, api_secret: str, nonce: str) -> dict[str, str]:
    """Return the three authentication headers for one request."""
    return {
        "x-api-key": api_key,
        "x-nonce": nonce,
        "x-signature": wiro_signature(api_key, api_secret, nonce),
    }


class NonceSource:
    """Hand out strictly increasing millisecond nonces, even within one millisecond."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0
        # A plain lock keeps it correct if a thread ever signs too; asyncio alone would not need it.
        self._lock = threading.Lock()

    def next(self) -> str:
        """Return the next nonce as a decimal string."""
        with self._lock:
            now_ms = int(self._clock() * 1000)
            self._last = max(self._last + 1, now_ms)
            return str(self._last)
