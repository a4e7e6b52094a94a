"""The anchoring interface: submit a signed checkpoint to an external system, verify the receipt later.

What is anchored is the SHA-256 digest of the checkpoint *body* (origin, size and root lines, without signatures),
so the same checkpoint anchors to the same digest whatever cosignatures it later collects. Receipts are plain JSON
(``AnchorReceipt.to_json``) so they can be stored anywhere and verified with only the receipt, the checkpoint and
the back end (a chain node, a TSA's root certificate). Errors::

    LedgerError
    ├── AnchorError                  anchorFailed          (submission failed)
    ├── AnchorVerificationError      invalidAnchor         (the receipt does not anchor this checkpoint)
    └── InvalidAnchorReceiptError    invalidAnchorReceipt  (the receipt is malformed)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.audit import AnchorVerifier
from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError
from ledger.note import split_note

__all__ = [
    "Anchor",
    "AnchorError",
    "AnchorReceipt",
    "AnchorVerification",
    "AnchorVerificationError",
    "AnchoredCheckpoint",
    "InvalidAnchorReceiptError",
    "anchored",
    "audit_verifier",
    "check_receipt_matches",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")


class AnchorError(LedgerError):
    """Submitting a checkpoint to an anchor back end failed."""

    code = "anchorFailed"


class AnchorVerificationError(LedgerError):
    """An anchor receipt does not prove that this checkpoint was anchored."""

    code = "invalidAnchor"


class InvalidAnchorReceiptError(LedgerError):
    """An anchor receipt is malformed."""

    code = "invalidAnchorReceipt"


@dataclass(frozen=True)
class AnchoredCheckpoint:
    """What an anchor commits to: the checkpoint's origin, size and body digest."""

    origin: str
    size: int
    digest: bytes
    body: bytes


def anchored(checkpoint: bytes) -> AnchoredCheckpoint:
    """Parse a signed checkpoint note (or a bare body) and compute the digest an anchor commits to."""
    try:
        text = checkpoint.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnchorError("checkpoint is not UTF-8 text") from exc
    body = split_note(text)[0] if "\n\n" in text else text
    cp = Checkpoint.parse(body)
    raw = body.encode("utf-8")
    return AnchoredCheckpoint(cp.origin, cp.size, hashlib.sha256(raw).digest(), raw)


@dataclass(frozen=True)
class AnchorReceipt:
    """Proof that a checkpoint digest was handed to a back end: generic fields plus back-end evidence."""

    backend: str
    origin: str
    size: int
    digest: bytes
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The receipt as a JSON object."""
        return {
            "backend": self.backend,
            "origin": self.origin,
            "size": self.size,
            "digest": self.digest.hex(),
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, value: Any) -> AnchorReceipt:
        """Read a receipt written by to_json, strictly."""
        if not isinstance(value, dict):
            raise InvalidAnchorReceiptError("anchor receipt must be a JSON object")
        backend, origin, size = value.get("backend"), value.get("origin"), value.get("size")
        digest, evidence = value.get("digest"), value.get("evidence")
        if not isinstance(backend, str) or not backend:
            raise InvalidAnchorReceiptError("anchor receipt lacks a backend name")
        if not isinstance(origin, str) or not origin:
            raise InvalidAnchorReceiptError("anchor receipt lacks the checkpoint origin")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidAnchorReceiptError("anchor receipt size must be a non-negative integer")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise InvalidAnchorReceiptError("anchor receipt digest must be 64 lowercase hex characters")
        if not isinstance(evidence, dict):
            raise InvalidAnchorReceiptError("anchor receipt evidence must be a JSON object")
        unknown = set(value) - {"backend", "origin", "size", "digest", "evidence"}
        if unknown:
            raise InvalidAnchorReceiptError(f"anchor receipt has unknown members: {', '.join(sorted(unknown))}")
        return cls(backend, origin, size, bytes.fromhex(digest), evidence)


@dataclass(frozen=True)
class AnchorVerification:
    """What verifying a receipt proved: whether the checkpoint is anchored, when, and the evidence in words."""

    backend: str
    anchored: bool
    time: int | None
    detail: str


def check_receipt_matches(receipt: AnchorReceipt, checkpoint: bytes, backend: str) -> AnchoredCheckpoint:
    """Check that a receipt is for this back end and this checkpoint; return what was anchored."""
    if receipt.backend != backend:
        raise AnchorVerificationError(f"receipt is from back end {receipt.backend!r}, not {backend!r}")
    target = anchored(checkpoint)
    if (receipt.origin, receipt.size, receipt.digest) != (target.origin, target.size, target.digest):
        raise AnchorVerificationError(
            f"receipt anchors {receipt.origin} at size {receipt.size}, not this checkpoint "
            f"({target.origin} at size {target.size})"
        )
    return target


class Anchor(Protocol):
    """An anchor back end."""

    @property
    def name(self) -> str:
        """The back end's name, stored with its receipts."""
        ...

    def submit(self, checkpoint: bytes) -> AnchorReceipt:
        """Anchor a signed checkpoint note; return the receipt."""
        ...

    def verify(self, receipt: AnchorReceipt, checkpoint: bytes) -> AnchorVerification:
        """Check a receipt against the checkpoint; raise AnchorVerificationError if it does not anchor it."""
        ...


def audit_verifier(anchor: Anchor) -> AnchorVerifier:
    """Adapt a back end to ledger.audit: check a stored receipt (JSON) against checkpoint note bytes."""

    def verify(receipt: object, checkpoint: bytes) -> None:
        result = anchor.verify(AnchorReceipt.from_json(receipt), checkpoint)
        if not result.anchored and anchor.name != "none":
            raise AnchorVerificationError(f"{anchor.name} receipt does not anchor the checkpoint: {result.detail}")

    return verify
