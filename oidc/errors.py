"""The OIDC facade's error tree (codes are stable; the HTTP layer maps each to its OAuth / OpenID Connect error)::

    XidError
    └── OidcError               oidcError      (``error`` = the protocol's error code, ``status`` = the HTTP status)

Each module adds its own subclasses next to the code that raises them.
"""

from __future__ import annotations

from typing import ClassVar

from foundation.errors import XidError

__all__ = ["OidcError"]


class OidcError(XidError):
    """Base of every OIDC facade error: ``error`` is the OAuth/OIDC error code, ``status`` the HTTP status."""

    code = "oidcError"
    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400
