"""The issuer's error tree (codes are stable; the HTTP routes map each to its protocol's error response)::

    XidError
    └── IssuerError                 issuerError
        ├── RequestBodyError        invalidRequestBody   (not JSON / not a form / wrong media type / bad shape)
        │   └── BodyTooLargeError   bodyTooLarge         (413)
        └── RateLimitedError        rateLimited          (429, with Retry-After)

Each issuer module adds its own subclasses of ``IssuerError`` next to the code that raises them.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = ["BodyTooLargeError", "IssuerError", "RateLimitedError", "RequestBodyError"]


class IssuerError(XidError):
    """Base of every issuer error."""

    code = "issuerError"


class RequestBodyError(IssuerError):
    """The request body is not what the endpoint takes: wrong media type, not JSON or a form, or the wrong shape."""

    code = "invalidRequestBody"


class BodyTooLargeError(RequestBodyError):
    """The request body is larger than the endpoint accepts."""

    code = "bodyTooLarge"


class RateLimitedError(IssuerError):
    """Too many requests from one client in a short time; ``retry_after`` says when to try again (seconds)."""

    code = "rateLimited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
