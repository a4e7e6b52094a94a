"""Errors raised by the vc package: every error has a stable machine ``code`` and a human ``message``.

Modules add their own subclasses of ``VcError`` next to the code that raises them and draw their part of the tree
in their module docstring. Codes that a protocol defines (e.g. OpenID4VCI ``invalid_proof``) are mapped by the HTTP
layer, not here.
"""

from __future__ import annotations

__all__ = [
    "VcError",
]


class VcError(Exception):
    """Base of every vc error: a machine code and a human message."""

    code: str = "vcError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
