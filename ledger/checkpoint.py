"""C2SP tlog-checkpoint bodies, their signing as notes, and tlog-cosignature/v1 witness cosignatures."""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from did import InvalidSignatureError, Signer
from ledger.errors import (
    CheckpointInconsistentError,
    ConsistencyProofError,
    InvalidCheckpointError,
    NoteSignatureError,
)
from ledger.note import NoteKey, NoteSigner, NoteVerifier, ed25519_public_key, open_note, sign_note, split_note
from ledger.rfc9162 import HASH_SIZE, verify_consistency

__all__ = [
    "COSIGNATURE_TYPE",
    "Checkpoint",
    "CosignatureVerifier",
    "Ed25519CosignatureSigner",
    "check_consistent",
    "cosign",
    "open_checkpoint",
    "sign_checkpoint",
]

COSIGNATURE_TYPE: Final = 0x04
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class Checkpoint:
    """A log checkpoint: origin, tree size and root hash (plus optional extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or any(c.isspace() for c in self.origin) or not self.origin.isprintable():
            raise InvalidCheckpointError("checkpoint origin must be a non-empty line without spaces")
        if self.size < 0 or self.size >= 1 << 64:
            raise InvalidCheckpointError(f"checkpoint size {self.size} is out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise InvalidCheckpointError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for line in self.extensions:
            if not line or "\n" in line or not line.isprintable():
                raise InvalidCheckpointError("checkpoint extension lines must be non-empty printable lines")

    def body(self) -> str:
        """The checkpoint text (each line ending in a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body strictly."""
        if not body.endswith("\n"):
            raise InvalidCheckpointError("checkpoint must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidCheckpointError("checkpoint needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE.fullmatch(size_text):
            raise InvalidCheckpointError(f"checkpoint size {size_text!r} is not a decimal number without leading zeros")
        try:
            root_hash = base64.b64decode(root_text, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise InvalidCheckpointError("checkpoint root hash is not valid base64") from exc
        return cls(origin, int(size_text), root_hash, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """Sign a checkpoint as a note; the signer's name must be the checkpoint's origin."""
    if signer.name != cp.origin:
        raise InvalidCheckpointError(f"log key name {signer.name!r} must equal the origin {cp.origin!r}")
    return sign_note(cp.body(), [signer])


def open_checkpoint(
    note: str,
    log_verifier: NoteVerifier,
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
) -> Checkpoint:
    """Verify a signed checkpoint (log signature, then ``quorum`` witness cosignatures) and parse it."""
    if quorum > len(witnesses):
        raise ValueError(f"quorum {quorum} is larger than the {len(witnesses)} witnesses given")
    verified = open_note(note, [log_verifier, *witnesses])
    if log_verifier.name not in verified.verified_by:
        raise NoteSignatureError(f"checkpoint is not signed by the log key {log_verifier.name}")
    cp = Checkpoint.parse(verified.text)
    if cp.origin != log_verifier.name:
        raise InvalidCheckpointError(f"checkpoint origin {cp.origin!r} is not the log {log_verifier.name!r}")
    cosigned = len({name for name in verified.verified_by if name != log_verifier.name})
    if cosigned < quorum:
        raise NoteSignatureError(f"checkpoint has {cosigned} witness cosignatures; {quorum} required")
    return cp


def check_consistent(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Check that ``new`` extends ``old`` (same origin); forks and shrinking raise CheckpointInconsistentError."""
    if old.origin != new.origin:
        raise CheckpointInconsistentError(f"checkpoints are from different logs ({old.origin}, {new.origin})")
    if new.size < old.size:
        raise CheckpointInconsistentError(f"log shrank from {old.size} to {new.size} entries")
    if new.size == old.size and new.root_hash != old.root_hash:
        raise CheckpointInconsistentError(f"fork: two different roots for size {old.size}")
    if old.size == 0 or old.size == new.size:
        return
    try:
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except ConsistencyProofError as exc:
        raise CheckpointInconsistentError(f"checkpoint {new.size} does not extend {old.size}: {exc.message}") from exc


# -- tlog-cosignature/v1 ----------------------------------------------------------------------------------------


def _cosigned_message(timestamp: int, text: str) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


class Ed25519CosignatureSigner(NoteKey):
    """A witness that cosigns checkpoints (tlog-cosignature/v1, Ed25519)."""

    def __init__(self, name: str, signer: Signer, clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, COSIGNATURE_TYPE, ed25519_public_key(signer, "cosignature"))
        self._signer = signer
        self._clock = clock

    def sign(self, message: bytes) -> bytes:
        """Timestamp (8 bytes, big-endian seconds) followed by the signature over the cosigned message."""
        timestamp = int(self._clock())
        return timestamp.to_bytes(8, "big") + self._signer.sign(_cosigned_message(timestamp, message.decode()))


class CosignatureVerifier(NoteKey):
    """Verifies a witness's tlog-cosignature/v1 signatures."""

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, COSIGNATURE_TYPE, public_key)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check the timestamped cosignature over the note text."""
        if len(signature) != 8 + 64:
            raise NoteSignatureError(f"cosignature by {self._name} has the wrong length")
        timestamp = int.from_bytes(signature[:8], "big")
        try:
            self._key.verify(signature[8:], _cosigned_message(timestamp, message.decode()))
        except InvalidSignatureError as exc:
            raise NoteSignatureError(f"cosignature by {self._name} does not verify") from exc

    @classmethod
    def from_vkey(cls, value: str) -> CosignatureVerifier:
        """Parse a witness verifier key (type 0x04)."""
        return cls(*cls._parse_vkey(value, COSIGNATURE_TYPE, "witness"))


def cosign(note: str, log_verifier: NoteVerifier, witness: Ed25519CosignatureSigner) -> str:
    """Verify a signed checkpoint and return it with the witness's cosignature added."""
    open_checkpoint(note, log_verifier)
    text, _ = split_note(note)
    line = f"\u2014 {witness.name} {base64.b64encode(witness.key_id + witness.sign(text.encode())).decode()}\n"
    return note + line
