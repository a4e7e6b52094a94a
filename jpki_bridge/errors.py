"""Errors raised by jpki_bridge: every error has a stable machine ``code`` and a human ``message``.

Modules add their own subclasses of ``JpkiError`` next to the code that raises them (card access in
``jpki_bridge.apdu`` and friends, trust validation in ``jpki_bridge.trust``, revocation in
``jpki_bridge.revocation``); each module docstring draws its part of the tree.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = [
    "JpkiError",
]


class JpkiError(XidError):
    """Base of every jpki_bridge error (code and message come from ``XidError``)."""

    code = "jpkiError"
