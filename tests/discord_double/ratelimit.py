"""Opt-in rate-limit simulator: fixed-window buckets per (route template, major parameter)."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

MAJOR_PARAMS = ("channel_id", "guild_id", "token", "interaction_id")


@dataclass
class Bucket:
    limit: int
    per: float
    remaining: int
    reset_at: float  # monotonic; 0 means the window has not started

    def take(self, now: float) -> bool:
        """Consume one request; return False when the window is exhausted."""
        if self.reset_at <= now:
            self.remaining = self.limit
            self.reset_at = now + self.per
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class RateLimiter:
    """Discord-style buckets; a route without a configured limit is never limited."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str, str], Bucket] = {}
        self.global_bucket: Bucket | None = None

    def check_global(self, limit: tuple[int, float]) -> tuple[bool, float]:
        """Take a token from the bot's global bucket; return (allowed, retry_after)."""
        now = time.monotonic()
        if self.global_bucket is None:
            self.global_bucket = Bucket(limit[0], limit[1], limit[0], 0.0)
        allowed = self.global_bucket.take(now)
        return allowed, max(self.global_bucket.reset_at - now, 0.0)

    def check(
        self,
        method: str,
        template: str,
        match_info: dict[str, str],
        limits: dict[tuple[str, str], tuple[int, float]],
    ) -> tuple[bool, dict[str, str], float]:
        """Take a token; return (allowed, headers, retry_after)."""
        spec = limits.get((method, template))
        if spec is None:
            return True, {}, 0.0
        major = "+".join(match_info[k] for k in MAJOR_PARAMS if k in match_info)
        key = (method, template, major)
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(spec[0], spec[1], spec[0], 0.0)
        allowed = bucket.take(now)
        reset_after = max(bucket.reset_at - now, 0.0)
        bucket_hash = hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash,
        }
        if not allowed:
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(math.ceil(reset_after))
            # discord.py treats a 429 without Via as a Cloudflare ban and raises.
            headers["Via"] = "1.1 google"
        return allowed, headers, reset_after
