"""Errors raised by the ledger package: every error has a stable machine ``code`` and a human ``message``.

::

    LedgerError
    ├── InvalidProofError                invalidMerkleProof
    │   ├── InclusionProofError          invalidInclusionProof
    │   └── ConsistencyProofError        invalidConsistencyProof
    ├── InvalidNoteError                 invalidNote
    ├── NoteSignatureError               invalidNoteSignature
    ├── InvalidCheckpointError           invalidCheckpoint
    ├── CheckpointInconsistentError      inconsistentCheckpoint
    ├── InvalidReceiptError              invalidReceipt
    └── TileError                        invalidTile

Storage, records, the sequencer and anchors add their own subclasses in their modules.
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = [
    "CheckpointInconsistentError",
    "ConsistencyProofError",
    "InclusionProofError",
    "InvalidCheckpointError",
    "InvalidNoteError",
    "InvalidProofError",
    "InvalidReceiptError",
    "LedgerError",
    "NoteSignatureError",
    "TileError",
]


class LedgerError(XidError):
    """Base of every ledger error (code and message come from ``XidError``)."""

    code = "ledgerError"


class InvalidProofError(LedgerError):
    """A Merkle proof does not prove what it claims."""

    code = "invalidMerkleProof"


class InclusionProofError(InvalidProofError):
    """An inclusion proof does not lead from the leaf to the root."""

    code = "invalidInclusionProof"


class ConsistencyProofError(InvalidProofError):
    """A consistency proof does not show that the newer tree extends the older one."""

    code = "invalidConsistencyProof"


class InvalidNoteError(LedgerError):
    """A signed note is malformed."""

    code = "invalidNote"


class NoteSignatureError(LedgerError):
    """No trusted signature on a note verified, or a signature from a trusted key is bad."""

    code = "invalidNoteSignature"


class InvalidCheckpointError(LedgerError):
    """A checkpoint body is malformed or not from the expected log."""

    code = "invalidCheckpoint"


class CheckpointInconsistentError(LedgerError):
    """Two checkpoints of the same log contradict each other (fork, shrink, or bad consistency proof)."""

    code = "inconsistentCheckpoint"


class InvalidReceiptError(LedgerError):
    """A tlog-proof receipt is malformed."""

    code = "invalidReceipt"


class TileError(LedgerError):
    """A tile path or tile content is malformed."""

    code = "invalidTile"
