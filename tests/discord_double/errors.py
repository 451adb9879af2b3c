"""Discord-shaped errors: `{"code": n, "message": "..."}` with the matching HTTP status."""

from __future__ import annotations

from typing import Any

# code -> (HTTP status, message), as Discord words them.
CATALOGUE: dict[int, tuple[int, str]] = {
    0: (404, "404: Not Found"),
    10002: (404, "Unknown Application"),
    10003: (404, "Unknown Channel"),
    10004: (404, "Unknown Guild"),
    10007: (404, "Unknown Member"),
    10008: (404, "Unknown Message"),
    10013: (404, "Unknown User"),
    10015: (404, "Unknown Webhook"),
    10062: (404, "Unknown interaction"),
    10063: (404, "Unknown application command"),
    30046: (429, "Maximum number of edits to messages older than 1 hour reached. Try again later"),
    40005: (413, "Request entity too large"),
    40060: (400, "Interaction has already been acknowledged."),
    50005: (403, "Cannot edit a message authored by another user"),
    50001: (403, "Missing Access"),
    50006: (400, "Cannot send an empty message"),
    50013: (403, "Missing Permissions"),
    50027: (401, "Invalid Webhook Token"),
    50035: (400, "Invalid Form Body"),
    50109: (400, "The request body contains invalid JSON."),
    160002: (403, "Cannot reply without permission to read message history"),
}


class DiscordError(Exception):
    """An error reply in Discord's shape."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        status: int | None = None,
        errors: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = CATALOGUE.get(code, (400, "Error"))
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.errors = errors
        self.extra = extra or {}  # more body fields (a 429's retry_after and global)
        self.headers = headers or {}
        super().__init__(f"{self.status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        """Return the JSON body Discord would send."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            data["errors"] = self.errors
        data.update(self.extra)
        return data


def form_error(path: str, code: str, message: str) -> DiscordError:
    """Return a 50035 Invalid Form Body error for one field path like `embeds.0.title`."""
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path.split(".")):
        tree = {part: tree}
    return DiscordError(50035, errors=tree)
