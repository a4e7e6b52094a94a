"""Errors raised by the vc package: every error has a stable machine ``code`` and a human ``message``.

Modules add their own subclasses of ``VcError`` next to the code that raises them and draw their part of the tree
in their module docstring. Codes that a protocol defines (e.g. OpenID4VCI ``invalid_proof``) are mapped by the HTTP
layer, not here.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = [
    "VcError",
]


class VcError(XidError):
    """Base of every vc error (code and message come from ``XidError``)."""

    code = "vcError"
