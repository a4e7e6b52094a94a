"""The verifier's error tree (codes are stable; the HTTP routes map each to OpenID4VP's / RFC 6749's error)::

    XidError
    └── VerifierError               verifierError

Each verifier module adds its own subclasses next to the code that raises them, each naming the OpenID4VP error it
maps to in its docstring.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = ["VerifierError"]


class VerifierError(XidError):
    """Base of every verifier error."""

    code = "verifierError"
