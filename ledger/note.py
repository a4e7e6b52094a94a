"""C2SP signed notes: text plus signature lines ``— <name> base64(key id || signature)``.

Verifiers ignore signatures from keys they do not know (that is what lets a log rotate keys and collect extra
cosignatures) but any signature from a known key must verify. Ed25519 note keys use signature type 0x01; the
key id is the first four bytes of SHA-256(name || 0x0A || type || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from did import InvalidSignatureError, PublicKey, Signer
from did.keys import KeyType
from ledger.errors import InvalidNoteError, NoteSignatureError

__all__ = [
    "ED25519_TYPE",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "NoteKey",
    "NoteSigner",
    "NoteVerifier",
    "Signature",
    "VerifiedNote",
    "ed25519_public_key",
    "key_id",
    "open_note",
    "parse_vkey",
    "sign_note",
    "split_note",
    "vkey",
]

ED25519_TYPE: Final = 0x01
MAX_SIGNATURES: Final = 100
MAX_NOTE_SIZE: Final = 1 << 20
_DASH: Final = "\u2014 "


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id of a note key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise InvalidNoteError(f"note key name {name!r} must be non-empty, without spaces or '+'")


class NoteSigner(Protocol):
    """Signs note text for one key."""

    @property
    def name(self) -> str:
        """The key name written on the signature line."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The signature bytes that follow the key id on the signature line."""
        ...


class NoteVerifier(Protocol):
    """Verifies note signatures of one key."""

    @property
    def name(self) -> str:
        """The key name."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        ...

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise NoteSignatureError unless signature is valid over message."""
        ...


class NoteKey:
    """A named Ed25519 note key of one signature type: name, raw public key, key id and verifier-key string."""

    def __init__(self, name: str, key_type: int, public_key: bytes) -> None:
        _check_name(name)
        self._name = name
        self.key_type = key_type
        self.public_key = public_key
        self._key = PublicKey(KeyType.ED25519, public_key)
        self._key_id = key_id(name, key_type, public_key)

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self._key_id

    def vkey(self) -> str:
        """The verifier key string ``name+hexid+base64(type||key)``."""
        blob = bytes([self.key_type]) + self.public_key
        return f"{self._name}+{self._key_id.hex()}+{base64.b64encode(blob).decode()}"

    @classmethod
    def _parse_vkey(cls, value: str, key_type: int, what: str) -> tuple[str, bytes]:
        name, found_type, raw, expected_id = parse_vkey(value)
        if found_type != key_type:
            kind = "Ed25519 (0x01)" if key_type == ED25519_TYPE else f"type 0x{key_type:02x}"
            raise InvalidNoteError(f"{what} key type 0x{found_type:02x} is not {kind}")
        if key_id(name, key_type, raw) != expected_id:
            raise InvalidNoteError(f"{what} key id does not match its name and key")
        return name, raw


def ed25519_public_key(signer: Signer, what: str) -> bytes:
    """The raw Ed25519 public key of a signer, refusing other algorithms."""
    if signer.algorithm != "EdDSA":
        raise InvalidNoteError(f"{what} keys must be Ed25519, not {signer.algorithm}")
    return PublicKey.from_jwk(signer.public_jwk).raw


class Ed25519NoteSigner(NoteKey):
    """A note signer over a did.Signer holding an Ed25519 key."""

    def __init__(self, name: str, signer: Signer) -> None:
        super().__init__(name, ED25519_TYPE, ed25519_public_key(signer, "note"))
        self._signer = signer

    def sign(self, message: bytes) -> bytes:
        """Sign the note text."""
        return self._signer.sign(message)


class Ed25519NoteVerifier(NoteKey):
    """Verifies Ed25519 note signatures (type 0x01)."""

    def __init__(self, name: str, public_key: bytes) -> None:
        super().__init__(name, ED25519_TYPE, public_key)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise NoteSignatureError unless the signature is valid."""
        try:
            self._key.verify(signature, message)
        except InvalidSignatureError as exc:
            raise NoteSignatureError(f"signature by {self._name} does not verify") from exc

    @classmethod
    def from_vkey(cls, value: str) -> Ed25519NoteVerifier:
        """Parse a verifier key ``name+hexid+base64(type||key)``."""
        return cls(*cls._parse_vkey(value, ED25519_TYPE, "verifier"))


def parse_vkey(value: str) -> tuple[str, int, bytes, bytes]:
    """Split a verifier key into (name, type byte, public key, key id)."""
    parts = value.split("+", 2)
    if len(parts) != 3:
        raise InvalidNoteError("verifier key must be name+keyid+key")
    name, hex_id, b64 = parts
    _check_name(name)
    try:
        expected_id = bytes.fromhex(hex_id)
        blob = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise InvalidNoteError("verifier key id or key is not valid hex/base64") from exc
    if len(expected_id) != 4 or len(blob) < 2:
        raise InvalidNoteError("verifier key id must be 4 bytes and the key non-empty")
    return name, blob[0], blob[1:], expected_id


def vkey(name: str, public_key_raw: bytes) -> str:
    """The verifier key string of an Ed25519 note key."""
    return Ed25519NoteVerifier(name, public_key_raw).vkey()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InvalidNoteError("note text must end with a newline")
    if any((not c.isprintable() and c != "\n") for c in text):
        raise InvalidNoteError("note text contains control characters")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign note text with each signer and return the full note."""
    _check_text(text)
    if "\n\n" in text:
        raise InvalidNoteError("note text must not contain a blank line")
    if not signers:
        raise InvalidNoteError("a note needs at least one signer")
    message = text.encode("utf-8")
    lines = [f"{_DASH}{s.name} {base64.b64encode(s.key_id + s.sign(message)).decode()}\n" for s in signers]
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose text was verified by at least one known key."""

    text: str
    verified_by: tuple[str, ...]
    signatures: tuple[Signature, ...]


def split_note(note: str) -> tuple[str, list[Signature]]:
    """Split a note into its text and parsed signature lines, checking the format strictly."""
    if len(note) > MAX_NOTE_SIZE:
        raise InvalidNoteError(f"note is larger than {MAX_NOTE_SIZE} characters")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise InvalidNoteError("note has no blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise InvalidNoteError("note signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(_DASH):
            raise InvalidNoteError("malformed signature line (expected '— <name> <signature>')")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep or " " in b64:
            raise InvalidNoteError("malformed signature line (expected '— <name> <signature>')")
        _check_name(name)
        try:
            blob = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise InvalidNoteError(f"signature by {name} is not valid base64") from exc
        if len(blob) < 5:
            raise InvalidNoteError(f"signature by {name} is too short")
        signatures.append(Signature(name, blob[:4], blob[4:]))
    return text, signatures


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Verify a note: every signature from a known key must verify and at least one must be present."""
    text, signatures = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = text.encode("utf-8")
    seen: set[tuple[str, bytes]] = set()
    verified = []
    for sig in signatures:
        key = (sig.name, sig.key_id)
        if key in seen:
            raise InvalidNoteError(f"note has two signatures from key {sig.name}")
        seen.add(key)
        verifier = known.get(key)
        if verifier is None:
            continue
        verifier.verify(message, sig.signature)
        verified.append(sig.name)
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "none given"
        raise NoteSignatureError(f"note carries no signature from a trusted key ({names})")
    return VerifiedNote(text, tuple(verified), tuple(signatures))
