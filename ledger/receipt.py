"""C2SP tlog-proof@v1 receipts: an inclusion proof bound to a signed checkpoint, verifiable offline."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import InclusionProofError, InvalidReceiptError
from ledger.note import NoteVerifier
from ledger.rfc9162 import HASH_SIZE, leaf_hash, verify_inclusion

__all__ = [
    "HEADER",
    "MAX_PROOF",
    "Receipt",
    "verify_receipt",
]

HEADER: Final = "c2sp.org/tlog-proof@v1"
MAX_PROOF: Final = 64
_INDEX = re.compile(r"index (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class Receipt:
    """An entry's index, its inclusion proof, and the signed checkpoint the proof leads to."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def format(self) -> str:
        """The receipt in tlog-proof@v1 text form."""
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """Parse a tlog-proof@v1 receipt strictly."""
        head, sep, checkpoint = text.partition("\n\n")
        if not sep or not checkpoint:
            raise InvalidReceiptError("receipt has no checkpoint after a blank line")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise InvalidReceiptError(f"receipt must start with {HEADER!r}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith("extra "):
            try:
                extra = base64.b64decode(rest[0][6:], validate=True)
            except (ValueError, binascii.Error) as exc:
                raise InvalidReceiptError("receipt extra data is not valid base64") from exc
            rest = rest[1:]
        if not rest or not (match := _INDEX.fullmatch(rest[0])):
            raise InvalidReceiptError("receipt lacks an 'index <n>' line")
        hashes = rest[1:]
        if len(hashes) > MAX_PROOF:
            raise InvalidReceiptError(f"receipt proof has more than {MAX_PROOF} hashes")
        proof = []
        for line in hashes:
            try:
                value = base64.b64decode(line, validate=True)
            except (ValueError, binascii.Error) as exc:
                raise InvalidReceiptError("receipt proof line is not valid base64") from exc
            if len(value) != HASH_SIZE:
                raise InvalidReceiptError(f"receipt proof hashes must be {HASH_SIZE} bytes")
            proof.append(value)
        return cls(int(match.group(1)), tuple(proof), checkpoint, extra)


def verify_receipt(
    receipt: Receipt,
    entry: bytes,
    log_verifier: NoteVerifier,
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
) -> Checkpoint:
    """Verify that ``entry`` is in the log at the receipt's index under its signed checkpoint; return it."""
    cp = open_checkpoint(receipt.checkpoint, log_verifier, witnesses, quorum)
    try:
        verify_inclusion(leaf_hash(entry), receipt.index, cp.size, receipt.proof, cp.root_hash)
    except InclusionProofError as exc:
        raise InclusionProofError(f"receipt does not prove entry {receipt.index}: {exc.message}") from exc
    return cp
