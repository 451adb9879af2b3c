"""One family of errors for everything that can go wrong talking to Wiro."""

from __future__ import annotations


class WiroError(Exception):
    """A Wiro call failed; `code` is Wiro's error code, `status` the HTTP status, when known."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        return parts[0] if len(parts) == 1 else f"{parts[0]} ({', '.join(parts[1:])})"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, code={self.code!r}, status={self.status!r})"


class WiroAuthError(WiroError):
    """Wiro refused the credentials or the signature (HTTP 401/403)."""


class WiroPermissionError(WiroAuthError):
    """The credentials are valid but may not do this (code 0 "You don't have any permission").

    On Task/Detail it usually means the task belongs to another Wiro project (the API key was
    changed): asking again will not help."""


class WiroSchemaUnavailable(WiroError):
    """An image run was refused before sending: Tool/Detail has not named the image field yet.

    Never billed. The client keeps asking Tool/Detail in the background."""


class WiroValidationError(WiroError):
    """Wiro rejected the request parameters (code 0 validation, HTTP 400/422)."""


class WiroNotFound(WiroError):
    """The task, tool or state does not exist or is not accessible (code 1, HTTP 404)."""


class WiroConcurrencyLimit(WiroError):
    """The account reached its concurrent task limit (code 96); retry after a task finishes."""


class WiroInsufficientBalance(WiroError):
    """The account balance is too low to run (code 97)."""


class WiroRateLimited(WiroError):
    """Wiro answered HTTP 429; `retry_after` is in seconds when Wiro said."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class WiroServerError(WiroError):
    """Wiro failed on its side (HTTP 5xx, or a code 0 that is not a validation message)."""


class WiroTransportError(WiroError):
    """No usable answer: connection error, timeout, or a body that is not Wiro's JSON."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        maybe_submitted: bool = False,
    ):
        super().__init__(message, code=code, status=status)
        # True when a Run may have reached Wiro: the caller must not blindly resubmit.
        self.maybe_submitted = maybe_submitted


class DownloadRefused(WiroError):
    """A download was refused before or while fetching: bad host, bad scheme or too big."""

    def __init__(self, reason: str, *, too_big: bool = False):
        super().__init__(f"download refused: {reason}")
        self.reason = reason
        self.too_big = too_big  # the only refusal where linking the file instead is safe


class TaskDeadlineExceeded(WiroError):
    """A task reached no terminal state before its deadline."""
