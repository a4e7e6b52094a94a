"""The JPKI application client: certificates, PIN status and VERIFY with safety rules, and signing.

PIN safety (the retry counters are shared with every other application that uses the card, and a blocked PIN
means a trip to the municipal office):

- a PIN is never retried automatically;
- the tries left are read (a VERIFY without data, which costs nothing) before every VERIFY;
- with one try left, VERIFY is refused unless the caller passes ``confirm_last_try=True``;
- the signature password is normalised as the card expects (upper case; 6-16 of A-Z0-9) and malformed input is
  rejected before any command reaches the card. The auth PIN must be 4 digits.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final, Literal

from cryptography import x509

from jpki_bridge.apdu import (
    Command,
    LastTryError,
    NotJpkiCardError,
    PinBlockedError,
    PinFormatError,
    TransportError,
    WrongPinError,
    raise_for_status,
)
from jpki_bridge.profile import CertificateParseError, load_certificate
from jpki_bridge.softcard import (
    AUTH_CA,
    AUTH_CERT,
    AUTH_KEY,
    AUTH_PIN,
    JPKI_AID,
    SIGN_CA,
    SIGN_CERT,
    SIGN_KEY,
    SIGN_PIN,
    TOKEN_EF,
)
from jpki_bridge.transport import Channel, Transport

__all__ = [
    "MAX_CERT_SIZE",
    "READ_CHUNK",
    "SHA256_DIGEST_INFO_PREFIX",
    "JpkiCard",
    "PinName",
    "PinStatus",
    "check_auth_pin",
    "normalise_sign_password",
    "sha256_digest_info",
]

PinName = Literal["sign", "auth"]
SHA256_DIGEST_INFO_PREFIX: Final = bytes.fromhex("3031300d060960864801650304020105000420")
_SIGN_PASSWORD = re.compile(r"[A-Z0-9]{6,16}")
_AUTH_PIN = re.compile(r"[0-9]{4}")
_PIN_EF: Final = {"sign": SIGN_PIN, "auth": AUTH_PIN}
_KEY_EF: Final = {"sign": SIGN_KEY, "auth": AUTH_KEY}
_TOKENS: Final = {
    "JPKIAPICCTOKEN2": "my-number-card",
    "JPKIAPGPSETOKEN": "android-smartphone",
    "JPKIAPIOSTOKEN": "iphone-smartphone",
}
READ_CHUNK: Final = 0xFF
MAX_CERT_SIZE: Final = 0x7FFF


def normalise_sign_password(password: str) -> str:
    """Upper-case a signature password and check it is 6-16 of A-Z0-9; raise PinFormatError otherwise."""
    value = password.strip().upper()
    if not _SIGN_PASSWORD.fullmatch(value):
        raise PinFormatError("the signature password must be 6 to 16 letters A-Z or digits 0-9")
    return value


def check_auth_pin(pin: str) -> str:
    """Check a 4-digit PIN (authentication or input-assist); raise PinFormatError otherwise."""
    if not _AUTH_PIN.fullmatch(pin):
        raise PinFormatError("the PIN must be exactly 4 digits")
    return pin


def sha256_digest_info(data: bytes) -> bytes:
    """The DER DigestInfo of SHA-256(data), the input the card signs."""
    return SHA256_DIGEST_INFO_PREFIX + hashlib.sha256(data).digest()


@dataclass(frozen=True)
class PinStatus:
    """Tries left for a PIN, read without spending one."""

    pin: PinName | Literal["input"]
    tries_left: int

    @property
    def blocked(self) -> bool:
        """Whether no tries are left."""
        return self.tries_left == 0


class JpkiCard:
    """A session with the JPKI application of a My Number card over any transport."""

    def __init__(self, transport: Transport) -> None:
        self.channel = Channel(transport)
        self.token_type = ""
        self._verified: set[str] = set()

    # -- selection ----------------------------------------------------------------------------------------------

    def select(self) -> None:
        """Select the JPKI application (clears every PIN state) and check the token says My Number card."""
        response = self.channel.send(Command(0x00, 0xA4, 0x04, 0x0C, JPKI_AID))
        if response.sw == 0x6A82:
            raise NotJpkiCardError("the card has no JPKI application: it is not a My Number card")
        raise_for_status(response.sw, "selecting the JPKI application")
        self._verified.clear()
        label = self._read_ef(TOKEN_EF, 32).rstrip(b" \x00").decode("ascii", "replace")
        if label == "JPKIAPICCTOKEN":
            raise NotJpkiCardError("this is an old Basic Resident Register card (住基カード); its certificates expired")
        if label not in _TOKENS:
            raise NotJpkiCardError(f"unknown JPKI token {label!r}")
        self.token_type = _TOKENS[label]

    def _select_ef(self, fid: int) -> None:
        response = self.channel.send(Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))
        raise_for_status(response.sw, f"selecting EF {fid:04X}")

    def _read_ef(self, fid: int, size: int) -> bytes:
        self._select_ef(fid)
        return self._read_binary(0, size, f"EF {fid:04X}")

    def _read_binary(self, offset: int, size: int, what: str) -> bytes:
        out = bytearray()
        while len(out) < size:
            chunk = min(READ_CHUNK, size - len(out))
            position = offset + len(out)
            response = self.channel.send(Command(0x00, 0xB0, position >> 8, position & 0xFF, le=chunk))
            raise_for_status(response.sw, f"reading {what}")
            if not response.data:
                raise TransportError(f"reading {what}: the card returned no data at offset {position}")
            out += response.data
        return bytes(out[:size])

    def _read_certificate(self, fid: int, what: str) -> x509.Certificate:
        self._select_ef(fid)
        head = self._read_binary(0, 4, what)
        if head[0] != 0x30 or head[1] != 0x82:
            raise TransportError(f"{what} on the card does not start like a DER certificate")
        total = int.from_bytes(head[2:4], "big") + 4
        if total > MAX_CERT_SIZE:
            raise TransportError(f"{what} claims {total} bytes, more than a card file holds")
        der = head + self._read_binary(4, total - 4, what)
        try:
            return load_certificate(der)
        except CertificateParseError as exc:
            raise TransportError(f"{what} read from the card is not a valid certificate ({exc.message})") from None

    # -- certificates -------------------------------------------------------------------------------------------

    def read_auth_certificate(self) -> x509.Certificate:
        """The authentication certificate (readable without a PIN)."""
        return self._read_certificate(AUTH_CERT, "the authentication certificate")

    def read_sign_certificate(self) -> x509.Certificate:
        """The signature certificate (needs the signature password verified first)."""
        return self._read_certificate(SIGN_CERT, "the signature certificate")

    def read_sign_ca_certificate(self) -> x509.Certificate:
        """The signature tree's CA certificate."""
        return self._read_certificate(SIGN_CA, "the signature CA certificate")

    def read_auth_ca_certificate(self) -> x509.Certificate:
        """The authentication tree's CA certificate."""
        return self._read_certificate(AUTH_CA, "the authentication CA certificate")

    # -- PINs ---------------------------------------------------------------------------------------------------

    def pin_status(self, pin: PinName) -> PinStatus:
        """Tries left for a PIN, read with a VERIFY without data (costs no try)."""
        self._select_ef(_PIN_EF[pin])
        response = self.channel.send(Command(0x00, 0x20, 0x00, 0x80))
        if response.sw >> 4 == 0x63C:
            return PinStatus(pin, response.sw & 0x0F)
        if response.sw in (0x6983, 0x6984):
            return PinStatus(pin, 0)
        raise_for_status(response.sw, f"reading the {pin} PIN status")
        raise TransportError(f"the card did not report the {pin} PIN's tries (SW {response.sw:04X})")

    def verify(self, pin: PinName, value: str, *, confirm_last_try: bool = False) -> None:
        """VERIFY a PIN once, after checking its format and the tries left; never retries."""
        secret = normalise_sign_password(value) if pin == "sign" else check_auth_pin(value)
        status = self.pin_status(pin)
        if status.blocked:
            raise PinBlockedError(f"the {pin} PIN is blocked; the municipal office can reset it", 0x6984)
        if status.tries_left == 1 and not confirm_last_try:
            raise LastTryError(
                f"only one try is left for the {pin} PIN; a wrong PIN now blocks it. Confirm explicitly to continue"
            )
        response = self.channel.send(Command(0x00, 0x20, 0x00, 0x80, secret.encode("ascii")))
        if response.sw == 0x9000:
            self._verified.add(pin)
            return
        self._verified.discard(pin)
        try:
            raise_for_status(response.sw, f"verifying the {pin} PIN")
        except WrongPinError as exc:
            raise WrongPinError(f"wrong {pin} PIN: {exc.tries_left} tries left", exc.sw, exc.tries_left) from None

    def sign_digest_info(self, pin: PinName, digest_info: bytes) -> bytes:
        """Sign a DigestInfo with the sign or auth key (PIN verified before); returns the 256-byte signature."""
        if not 1 <= len(digest_info) <= 245:
            raise ValueError("the card signs 1 to 245 bytes of DigestInfo")
        self._select_ef(_KEY_EF[pin])
        response = self.channel.send(Command(0x80, 0x2A, 0x00, 0x80, digest_info, le=256))
        raise_for_status(response.sw, f"signing with the {pin} key")
        if len(response.data) != 256:
            raise TransportError(f"the card returned a {len(response.data)}-byte signature, expected 256")
        return response.data

    def sign(self, pin: PinName, data: bytes) -> bytes:
        """Sign SHA-256(data) with the sign or auth key (RSASSA-PKCS1-v1_5); the PIN must be verified."""
        return self.sign_digest_info(pin, sha256_digest_info(data))
