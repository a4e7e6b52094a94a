"""Errors raised by jpki_bridge: every error has a stable machine ``code`` and a human ``message``.

Modules add their own subclasses of ``JpkiError`` next to the code that raises them (card access in
``jpki_bridge.apdu`` and friends, trust validation in ``jpki_bridge.trust``, revocation in
``jpki_bridge.revocation``); each module docstring draws its part of the tree.
"""

from __future__ import annotations

__all__ = [
    "JpkiError",
]


class JpkiError(Exception):
    """Base of every jpki_bridge error: a machine code and a human message."""

    code: str = "jpkiError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
