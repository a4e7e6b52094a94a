"""ISO 7816-4 APDUs: command encoding (short and extended), response parsing, and status words as exceptions.

Card errors (all ``JpkiError``)::

    CardError                      cardError
    ├── StatusWordError            unexpectedStatus     (any SW without a specific class; carries sw)
    │   ├── WrongPinError          wrongPin             (63 Cx; carries tries_left)
    │   ├── PinBlockedError        pinBlocked           (69 83 / 69 84, or 63 C0)
    │   ├── SecurityStatusError    securityStatusNotSatisfied (69 82)
    │   ├── FileNotFoundOnCardError fileNotFound        (6A 82)
    │   ├── WrongLengthError       wrongLength          (67 00, 6B 00)
    │   ├── WrongParametersError   wrongParameters      (6A 86, 6B 00 for P1P2)
    │   ├── ConditionsNotSatisfiedError conditionsNotSatisfied (69 85)
    │   ├── CommandNotAllowedError commandNotAllowed    (69 86)
    │   └── NotSupportedError      notSupported         (6D 00 / 6E 00)
    ├── TransportError             transportError       (talking to the reader failed)
    │   ├── PcscUnavailableError   pcscUnavailable      (no PC/SC daemon)
    │   ├── NoReaderError          noReader             (no reader, or not the named one)
    │   ├── CardAbsentError        cardAbsent           (no card, or removed mid-operation)
    │   └── CardTimeoutError       cardTimeout          (no card inserted in time)
    ├── NotJpkiCardError           notJpkiCard
    ├── PinFormatError             invalidPinFormat     (refused before touching the card)
    └── LastTryError               lastPinTry           (one try left and no explicit confirmation)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from jpki_bridge.errors import JpkiError

__all__ = [
    "MAX_EXTENDED_LE",
    "MAX_SHORT_LE",
    "SW_OK",
    "CardAbsentError",
    "CardError",
    "CardTimeoutError",
    "Command",
    "CommandNotAllowedError",
    "ConditionsNotSatisfiedError",
    "FileNotFoundOnCardError",
    "LastTryError",
    "NoReaderError",
    "NotJpkiCardError",
    "NotSupportedError",
    "PcscUnavailableError",
    "PinBlockedError",
    "PinFormatError",
    "Response",
    "SecurityStatusError",
    "StatusWordError",
    "TransportError",
    "WrongLengthError",
    "WrongParametersError",
    "WrongPinError",
    "raise_for_status",
]

SW_OK: Final = 0x9000
MAX_SHORT_LE: Final = 256
MAX_EXTENDED_LE: Final = 65536


class CardError(JpkiError):
    """Base of card access errors."""

    code = "cardError"


class StatusWordError(CardError):
    """The card answered a status word other than 90 00."""

    code = "unexpectedStatus"

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(f"{message} (SW {sw:04X})")
        self.sw = sw


class WrongPinError(StatusWordError):
    """The PIN was wrong; ``tries_left`` tries remain."""

    code = "wrongPin"

    def __init__(self, message: str, sw: int, tries_left: int) -> None:
        super().__init__(message, sw)
        self.tries_left = tries_left


class PinBlockedError(StatusWordError):
    """The PIN is blocked; only the municipal office can reset it."""

    code = "pinBlocked"


class SecurityStatusError(StatusWordError):
    """The command needs a PIN that has not been verified."""

    code = "securityStatusNotSatisfied"


class FileNotFoundOnCardError(StatusWordError):
    """The application or file does not exist on the card."""

    code = "fileNotFound"


class WrongLengthError(StatusWordError):
    """The command's length fields do not suit the card."""

    code = "wrongLength"


class WrongParametersError(StatusWordError):
    """P1/P2 (e.g. an offset) are not acceptable."""

    code = "wrongParameters"


class ConditionsNotSatisfiedError(StatusWordError):
    """Conditions of use not satisfied (e.g. bad signing input)."""

    code = "conditionsNotSatisfied"


class CommandNotAllowedError(StatusWordError):
    """Command not allowed (e.g. no file selected)."""

    code = "commandNotAllowed"


class NotSupportedError(StatusWordError):
    """The card does not support this instruction or class."""

    code = "notSupported"


class TransportError(CardError):
    """Talking to the reader or card failed."""

    code = "transportError"


class PcscUnavailableError(TransportError):
    """The PC/SC service (pcscd) is not running or not reachable."""

    code = "pcscUnavailable"


class NoReaderError(TransportError):
    """No card reader is connected (or not the one asked for)."""

    code = "noReader"


class CardAbsentError(TransportError):
    """No card is in the reader, or it was removed during the operation."""

    code = "cardAbsent"


class CardTimeoutError(TransportError):
    """No card was inserted within the time allowed."""

    code = "cardTimeout"


class NotJpkiCardError(CardError):
    """The card in the reader is not a My Number card (or holds an expired Basic Resident Register token)."""

    code = "notJpkiCard"


class PinFormatError(CardError):
    """A PIN or password has the wrong format; it was not sent to the card."""

    code = "invalidPinFormat"


class LastTryError(CardError):
    """Only one try is left; the caller must confirm explicitly before the card is asked."""

    code = "lastPinTry"


@dataclass(frozen=True)
class Command:
    """A command APDU."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # expected response length; None = no Le field (256/65536 = maximum)

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be a byte")
        if len(self.data) > 65535:
            raise ValueError("command data is longer than 65535 bytes")
        if self.le is not None and not 1 <= self.le <= MAX_EXTENDED_LE:
            raise ValueError("Le must be 1..65536")

    @property
    def extended(self) -> bool:
        """Whether the command needs extended length fields."""
        return len(self.data) > 255 or (self.le is not None and self.le > MAX_SHORT_LE)

    def encode(self) -> bytes:
        """The APDU bytes (cases 1-4, short or extended)."""
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        if not self.extended:
            body = bytes([len(self.data)]) + self.data if self.data else b""
            le = bytes([self.le % 256]) if self.le is not None else b""
            return header + body + le
        body = b"\x00" + len(self.data).to_bytes(2, "big") + self.data if self.data else b""
        if self.le is None:
            return header + body
        le = (self.le % 65536).to_bytes(2, "big")
        return header + (body + le if self.data else b"\x00" + le)

    @classmethod
    def decode(cls, apdu: bytes) -> Command:
        """Parse command APDU bytes (the software card's side)."""
        if len(apdu) < 4:
            raise WrongLengthError("command APDU shorter than its 4-byte header", 0x6700)
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        if body[0] != 0:  # short Lc
            lc = body[0]
            if len(body) == 1 + lc:
                return cls(cla, ins, p1, p2, body[1:])
            if len(body) == 2 + lc:
                return cls(cla, ins, p1, p2, body[1 : 1 + lc], body[-1] or 256)
            raise WrongLengthError("Lc does not match the command length", 0x6700)
        if len(body) == 3:  # extended Le only
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536)
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise WrongLengthError("extended Lc of zero", 0x6700)
        if len(body) == 3 + lc:
            return cls(cla, ins, p1, p2, body[3:])
        if len(body) == 5 + lc:
            return cls(cla, ins, p1, p2, body[3 : 3 + lc], int.from_bytes(body[-2:], "big") or 65536)
        raise WrongLengthError("extended Lc does not match the command length", 0x6700)


@dataclass(frozen=True)
class Response:
    """A response APDU: data and status word."""

    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        """Split response bytes into data and the trailing status word."""
        if len(raw) < 2:
            raise TransportError(f"response of {len(raw)} bytes has no status word")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    def encode(self) -> bytes:
        """The response bytes."""
        return self.data + self.sw.to_bytes(2, "big")

    def check(self, what: str) -> bytes:
        """Return the data if the status is 90 00; otherwise raise the matching exception."""
        raise_for_status(self.sw, what)
        return self.data


def raise_for_status(sw: int, what: str) -> None:
    """Raise the exception for a status word other than 90 00."""
    if sw == SW_OK:
        return
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        tries = sw2 & 0x0F
        if tries == 0:
            raise PinBlockedError(f"{what}: wrong PIN, and that was the last try: the PIN is now blocked", sw)
        raise WrongPinError(f"{what}: wrong PIN, {tries} tries left", sw, tries)
    specific: dict[int, tuple[type[StatusWordError], str]] = {
        0x6983: (PinBlockedError, "the PIN is blocked"),
        0x6984: (PinBlockedError, "the PIN is blocked"),
        0x6982: (SecurityStatusError, "security status not satisfied (verify the PIN first)"),
        0x6A82: (FileNotFoundOnCardError, "file or application not found"),
        0x6700: (WrongLengthError, "wrong length"),
        0x6B00: (WrongParametersError, "wrong parameters (offset outside the file)"),
        0x6A86: (WrongParametersError, "wrong parameters P1/P2"),
        0x6985: (ConditionsNotSatisfiedError, "conditions of use not satisfied"),
        0x6986: (CommandNotAllowedError, "command not allowed (no file selected)"),
        0x6D00: (NotSupportedError, "instruction not supported"),
        0x6E00: (NotSupportedError, "class not supported"),
    }
    if sw in specific:
        error, text = specific[sw]
        raise error(f"{what}: {text}", sw)
    raise StatusWordError(f"{what}: the card answered an unexpected status", sw)
