"""A software My Number card: the JPKI application and the input-assist application, behaving like the real card.

Follows the card as docs/jpki.md §1.8 describes it: the ATR of the card, selection state, READ BINARY with
offsets and short or extended Le, per-PIN security state cleared on re-selection and reset, retry counters that
persist in a state file (written atomically), blocked PINs answering ``69 84`` (configurable to ``69 83``), and
PKCS#1 v1.5 signing of the DigestInfo it is given with RSA-2048 keys. It runs in-process (``InMemoryTransport``) or
behind vsmartcard's vpcd (``jpki_bridge.vpcd``), where pcscd and any PC/SC application see it as a reader.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jpki_bridge import tlv
from jpki_bridge.apdu import CardError, Command, Response, StatusWordError

__all__ = [
    "ATR",
    "INPUT_ASSIST_AID",
    "JPKI_AID",
    "MAX_SIGN_INPUT",
    "MAX_TRIES",
    "TOKEN",
    "FaceData",
    "IdentityLike",
    "PersonLike",
    "SoftCard",
]

ATR: Final = bytes.fromhex("3BE000FF8131FE4514")
JPKI_AID: Final = bytes.fromhex("D392F000260100000001")
INPUT_ASSIST_AID: Final = bytes.fromhex("D3921000310001010408")
TOKEN: Final = b"JPKIAPICCTOKEN2".ljust(32, b" ")

# EF identifiers
SIGN_CERT, SIGN_CA, TOKEN_EF, AUTH_CERT, AUTH_CA = 0x0001, 0x0002, 0x0006, 0x000A, 0x000B
AUTH_KEY, AUTH_PIN, SIGN_KEY, SIGN_PIN = 0x0017, 0x0018, 0x001A, 0x001B
MY_NUMBER_EF, ATTRIBUTES_EF, INPUT_PIN = 0x0001, 0x0002, 0x0011

MAX_TRIES: Final = {"sign": 5, "auth": 3, "input": 3}
MAX_SIGN_INPUT: Final = 245


class IdentityLike(Protocol):
    """The keys and certificates a card holds (``jpki_bridge.testca.CardIdentity`` has this shape)."""

    @property
    def sign_key(self) -> rsa.RSAPrivateKey:
        """The signature key."""
        ...

    @property
    def sign_cert(self) -> x509.Certificate:
        """The signature certificate."""
        ...

    @property
    def sign_ca(self) -> x509.Certificate:
        """The signature tree's root."""
        ...

    @property
    def auth_key(self) -> rsa.RSAPrivateKey:
        """The authentication key."""
        ...

    @property
    def auth_cert(self) -> x509.Certificate:
        """The authentication certificate."""
        ...

    @property
    def auth_ca(self) -> x509.Certificate:
        """The authentication tree's root."""
        ...


class PersonLike(Protocol):
    """The fields of a test person the input-assist application shows."""

    @property
    def my_number(self) -> str:
        """12 digits."""
        ...

    @property
    def name(self) -> str:
        """Name as on the card."""
        ...

    @property
    def address(self) -> str:
        """Address as on the card."""
        ...

    @property
    def date_of_birth(self) -> str:
        """Era digit + YYYYMMDD."""
        ...

    @property
    def sex(self) -> str:
        """1, 2 or 3."""
        ...


@dataclass(frozen=True)
class FaceData:
    """What the input-assist application holds: the My Number and the 4 attributes as printed on the card."""

    my_number: str
    name: str
    address: str
    birth: str  # as the card stores it, e.g. 19900102
    sex: str  # "1" male, "2" female, "3" other/unknown

    @classmethod
    def of(cls, person: PersonLike) -> FaceData:
        """The face data of a test person (``jpki_bridge.testca.Person``); birth drops the era digit."""
        return cls(person.my_number, person.name, person.address, person.date_of_birth[1:], person.sex)

    def my_number_file(self) -> bytes:
        """EF 0001: the My Number in a private constructed tag 0x10."""
        return tlv.encode(tlv.encode_tag(3, True, 0x10), self.my_number.encode("ascii"))

    def attributes_file(self) -> bytes:
        """EF 0002: offsets, name, address, birth date and sex as UTF-8 in private tags 0x21-0x25 inside 0x20."""
        fields = [self.name, self.address, self.birth, self.sex]
        encoded = [f.encode("utf-8") for f in fields]
        children = [tlv.encode(tlv.encode_tag(3, False, 0x22 + i), value) for i, value in enumerate(encoded)]
        header_size = 3 + 2 * len(children) + 2  # DF21 tag (2) + length (1) + offsets, then each child's tag
        offsets, position = bytearray(), header_size
        for child in children:
            offsets += position.to_bytes(2, "big")
            position += len(child)
        body = tlv.encode(tlv.encode_tag(3, False, 0x21), bytes(offsets)) + b"".join(children)
        return tlv.encode(tlv.encode_tag(3, True, 0x20), body)


class _PinState:
    """Retry counters that survive restarts (a JSON state file, replaced atomically)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.tries = dict(MAX_TRIES)
        if path is not None and path.exists():
            try:
                stored = json.loads(path.read_text(encoding="utf-8"))
                for name in MAX_TRIES:
                    value = stored.get(name)
                    if isinstance(value, int) and 0 <= value <= MAX_TRIES[name]:
                        self.tries[name] = value
            except (OSError, ValueError, AttributeError) as exc:
                raise CardError(f"the software card's state file {path} is unreadable") from exc

    def save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".card-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.tries, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)


class SoftCard:
    """A software My Number card (JPKI AP + input-assist AP) answering APDUs like the real card."""

    def __init__(
        self,
        identity: IdentityLike,
        *,
        sign_pin: str,
        auth_pin: str,
        face: FaceData | None = None,
        input_pin: str | None = None,
        state_file: Path | None = None,
        blocked_sw: int = 0x6984,
    ) -> None:
        der = serialization.Encoding.DER
        self._files: dict[bytes, dict[int, bytes]] = {
            JPKI_AID: {
                SIGN_CERT: identity.sign_cert.public_bytes(der),
                SIGN_CA: identity.sign_ca.public_bytes(der),
                TOKEN_EF: TOKEN,
                AUTH_CERT: identity.auth_cert.public_bytes(der),
                AUTH_CA: identity.auth_ca.public_bytes(der),
            },
            INPUT_ASSIST_AID: {},
        }
        if face is not None:
            self._files[INPUT_ASSIST_AID] = {
                MY_NUMBER_EF: face.my_number_file(),
                ATTRIBUTES_EF: face.attributes_file(),
            }
        self._keys = {SIGN_KEY: identity.sign_key, AUTH_KEY: identity.auth_key}
        self._pins = {
            (JPKI_AID, SIGN_PIN): ("sign", sign_pin.encode("ascii")),
            (JPKI_AID, AUTH_PIN): ("auth", auth_pin.encode("ascii")),
        }
        if input_pin is not None:
            self._pins[(INPUT_ASSIST_AID, INPUT_PIN)] = ("input", input_pin.encode("ascii"))
        self._state = _PinState(state_file)
        self._blocked_sw = blocked_sw
        self._lock = threading.Lock()
        self._df: bytes | None = None
        self._ef: int | None = None
        self._verified: set[str] = set()
        self.removed = False

    @property
    def atr(self) -> bytes:
        """The answer to reset of a My Number card."""
        return ATR

    def tries_left(self, pin: str) -> int:
        """Remaining tries of a PIN ('sign', 'auth' or 'input')."""
        return self._state.tries[pin]

    def reset(self) -> None:
        """Power cycle: nothing selected, no PIN verified."""
        with self._lock:
            self._df, self._ef, self._verified = None, None, set()

    def transmit(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response bytes."""
        with self._lock:
            try:
                command = Command.decode(apdu)
                return self._dispatch(command).encode()
            except StatusWordError as exc:
                return exc.sw.to_bytes(2, "big")
            except ValueError:
                return b"\x67\x00"

    # -- commands ---------------------------------------------------------------------------------------------

    def _dispatch(self, c: Command) -> Response:
        if c.cla not in (0x00, 0x80):
            return Response(b"", 0x6E00)
        handlers = {0xA4: self._select, 0xB0: self._read_binary, 0x20: self._verify, 0x2A: self._sign}
        handler = handlers.get(c.ins)
        if handler is None or (c.cla == 0x80) != (c.ins == 0x2A):
            return Response(b"", 0x6D00)
        return handler(c)

    def _select(self, c: Command) -> Response:
        if c.p1 == 0x04:  # by DF name
            if c.data not in self._files:
                return Response(b"", 0x6A82)
            self._df, self._ef, self._verified = c.data, None, set()
            return Response(b"", 0x9000)
        if c.p1 == 0x02:  # EF under the current DF
            if self._df is None or len(c.data) != 2:
                return Response(b"", 0x6A82 if self._df is None else 0x6700)
            fid = int.from_bytes(c.data, "big")
            known = set(self._files[self._df]) | {f for (df, f) in self._pins if df == self._df}
            if self._df == JPKI_AID:
                known |= set(self._keys)
            if fid not in known:
                return Response(b"", 0x6A82)
            self._ef = fid
            return Response(b"", 0x9000)
        return Response(b"", 0x6A86)

    def _required_pin(self, fid: int) -> str | None:
        if self._df == JPKI_AID and fid in (SIGN_CERT, SIGN_KEY):
            return "sign"
        if self._df == JPKI_AID and fid == AUTH_KEY:
            return "auth"
        if self._df == INPUT_ASSIST_AID:
            return "input"
        return None

    def _read_binary(self, c: Command) -> Response:
        if self._df is None or self._ef is None or self._ef not in self._files[self._df]:
            return Response(b"", 0x6986)
        if c.p1 & 0x80:
            return Response(b"", 0x6A86)  # short-EF addressing is not supported
        needed = self._required_pin(self._ef)
        if needed is not None and needed not in self._verified:
            return Response(b"", 0x6982)
        content = self._files[self._df][self._ef]
        offset = (c.p1 << 8) | c.p2
        if offset > len(content):
            return Response(b"", 0x6B00)
        want = c.le or 256
        return Response(content[offset : offset + want], 0x9000)

    def _verify(self, c: Command) -> Response:
        if self._df is None or self._ef is None or (self._df, self._ef) not in self._pins or c.p2 != 0x80:
            return Response(b"", 0x6986 if c.p2 == 0x80 else 0x6A86)
        name, secret = self._pins[(self._df, self._ef)]
        tries = self._state.tries[name]
        if not c.data:  # status query: always 63 Cx, costs nothing
            return Response(b"", 0x63C0 | tries) if tries else Response(b"", self._blocked_sw)
        if tries == 0:
            return Response(b"", self._blocked_sw)
        if c.data == secret:
            self._state.tries[name] = MAX_TRIES[name]
            self._state.save()
            self._verified.add(name)
            return Response(b"", 0x9000)
        self._state.tries[name] = tries - 1
        self._state.save()
        self._verified.discard(name)
        return Response(b"", 0x63C0 | (tries - 1))

    def _sign(self, c: Command) -> Response:
        if c.p1 != 0x00 or c.p2 != 0x80:
            return Response(b"", 0x6A86)
        if self._df != JPKI_AID or self._ef not in self._keys:
            return Response(b"", 0x6986)
        needed = self._required_pin(self._ef)
        if needed not in self._verified:
            return Response(b"", 0x6982)
        if not 1 <= len(c.data) <= MAX_SIGN_INPUT:
            return Response(b"", 0x6700)
        key = self._keys[self._ef]
        return Response(_pkcs1_type1_sign(key, c.data), 0x9000)


def _pkcs1_type1_sign(key: rsa.RSAPrivateKey, digest_info: bytes) -> bytes:
    """EMSA-PKCS1-v1_5 type-1 padding of the given bytes, then the raw RSA private operation (what the card does)."""
    size = (key.key_size + 7) // 8
    padded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    n = key.private_numbers()
    m = int.from_bytes(padded, "big")
    s1, s2 = pow(m, n.dmp1, n.p), pow(m, n.dmq1, n.q)  # CRT: four times faster than pow(m, d, n)
    signature = s2 + n.q * ((n.iqmp * (s1 - s2)) % n.p)
    return signature.to_bytes(size, "big")
