"""Anchor back ends for ledger checkpoints: an EVM chain, an RFC 3161 TSA, and ``none``."""

from ledger.anchors.base import (
    Anchor,
    AnchorError,
    AnchorReceipt,
    AnchorVerification,
    AnchorVerificationError,
    InvalidAnchorReceiptError,
    audit_verifier,
)
from ledger.anchors.null import NullAnchor

__all__ = [
    "Anchor",
    "AnchorError",
    "AnchorReceipt",
    "AnchorVerification",
    "AnchorVerificationError",
    "InvalidAnchorReceiptError",
    "NullAnchor",
    "audit_verifier",
]
