"""The one error base of xid.

Every package has its own root (``DidError``, ``VcError``, ``JpkiError``, ``LedgerError``, ...) that subclasses
``XidError``; modules add specific subclasses next to the code that raises them. Each class names a stable machine
``code`` as class data (where a specification defines one, that one), and each instance carries a human ``message``.
The command line and the HTTP layers catch ``XidError`` once and map ``code`` to their output::

    XidError                         (code and message, owned here once)
    ├── did.DidError
    ├── vc.VcError
    ├── jpki_bridge.JpkiError
    ├── ledger.LedgerError
    └── foundation.*                 the wire helpers' errors (strict JSON, compact JWS, bounded HTTP fetch)

Codes are unique across xid, except the few that are deliberately shared because they mean the same thing in
every package (``DELIBERATELY_SHARED_CODES``); ``tests/test_errors.py`` keeps it so.
"""

from __future__ import annotations

from typing import ClassVar, Final

__all__ = [
    "DELIBERATELY_SHARED_CODES",
    "XidError",
]

DELIBERATELY_SHARED_CODES: Final = frozenset(
    {
        # A signature algorithm that is not allowed or does not fit the key: did's keys and vc's JOSE layer report
        # the same condition (vc.jose re-raises did's error as its own type so callers need catch only VcError).
        "unsupportedAlgorithm",
    }
)
"""Codes that more than one error class uses on purpose; every other code names exactly one class."""


class XidError(Exception):
    """Base of every xid error: a stable machine code (class data) and a human message."""

    code: ClassVar[str] = "xidError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
