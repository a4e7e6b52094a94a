"""The issuer's error tree (codes are stable; the HTTP routes map each to its protocol's error response)::

    XidError
    └── IssuerError                 issuerError

(Request-body and rate-limit errors are the shared ones of ``foundation.web``.)

Each issuer module adds its own subclasses of ``IssuerError`` next to the code that raises them.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = ["IssuerError"]


class IssuerError(XidError):
    """Base of every issuer error."""

    code = "issuerError"
