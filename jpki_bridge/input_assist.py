"""The input-assist application (券面事項入力補助AP, card-face data input support): the My Number and the
4 attributes as printed on the card, behind a 4-digit PIN. Used only for the My Number handover (F9).
"""

from __future__ import annotations

from dataclasses import dataclass

from jpki_bridge import tlv
from jpki_bridge.apdu import Command, LastTryError, NotJpkiCardError, PinBlockedError, WrongPinError, raise_for_status
from jpki_bridge.jpki import PinStatus, check_auth_pin
from jpki_bridge.mynumber import check_my_number
from jpki_bridge.softcard import ATTRIBUTES_EF, INPUT_ASSIST_AID, INPUT_PIN, MY_NUMBER_EF
from jpki_bridge.transport import Channel, Transport

__all__ = [
    "CardFace",
    "InputAssistCard",
]


@dataclass(frozen=True)
class CardFace:
    """The input-assist data (personal data: handle in memory only, never log)."""

    my_number: str
    name: str
    address: str
    birth: str
    sex: str

    def __repr__(self) -> str:
        return "CardFace(<personal data hidden>)"


class InputAssistCard:
    """A session with the input-assist application."""

    def __init__(self, transport: Transport) -> None:
        self.channel = Channel(transport)

    def select(self) -> None:
        """Select the application."""
        response = self.channel.send(Command(0x00, 0xA4, 0x04, 0x0C, INPUT_ASSIST_AID))
        if response.sw == 0x6A82:
            raise NotJpkiCardError("the card has no input-assist application: it is not a My Number card")
        raise_for_status(response.sw, "selecting the input-assist application")

    def _select_ef(self, fid: int) -> None:
        raise_for_status(self.channel.send(Command(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))).sw, "selecting")

    def pin_status(self) -> PinStatus:
        """Tries left for the 4-digit PIN (costs no try)."""
        self._select_ef(INPUT_PIN)
        response = self.channel.send(Command(0x00, 0x20, 0x00, 0x80))
        if response.sw >> 4 == 0x63C:
            return PinStatus("input", response.sw & 0x0F)
        if response.sw in (0x6983, 0x6984):
            return PinStatus("input", 0)
        raise_for_status(response.sw, "reading the input-assist PIN status")
        return PinStatus("input", 0)

    def verify(self, pin: str, *, confirm_last_try: bool = False) -> None:
        """VERIFY the 4-digit PIN once, with the same safety rules as the JPKI PINs."""
        check_auth_pin(pin)
        status = self.pin_status()
        if status.blocked:
            raise PinBlockedError("the input-assist PIN is blocked; the municipal office can reset it", 0x6984)
        if status.tries_left == 1 and not confirm_last_try:
            raise LastTryError("only one try is left for the input-assist PIN; confirm explicitly to continue")
        response = self.channel.send(Command(0x00, 0x20, 0x00, 0x80, pin.encode("ascii")))
        try:
            raise_for_status(response.sw, "verifying the input-assist PIN")
        except WrongPinError as exc:
            raise WrongPinError(
                f"wrong input-assist PIN: {exc.tries_left} tries left", exc.sw, exc.tries_left
            ) from None

    def _read_file(self, fid: int) -> bytes:
        self._select_ef(fid)
        head = self.channel.send(Command(0x00, 0xB0, 0x00, 0x00, le=4))
        raise_for_status(head.sw, "reading the input-assist data")
        data = head.data
        _, length, header = _tlv_size(data)
        total = header + length
        while len(data) < total:
            response = self.channel.send(
                Command(0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, le=min(0xFF, total - len(data)))
            )
            raise_for_status(response.sw, "reading the input-assist data")
            if not response.data:
                raise tlv.TlvError("the input-assist file ended early")
            data += response.data
        return data[:total]

    def read(self) -> CardFace:
        """Read the My Number (check digit validated) and the 4 attributes; the PIN must be verified."""
        my_number_items = tlv.decode(self._read_file(MY_NUMBER_EF))
        if len(my_number_items) != 1:
            raise tlv.TlvError("the My Number file holds more than one item")
        my_number = check_my_number(my_number_items[0][1].decode("ascii", "replace"))
        outer = tlv.decode(self._read_file(ATTRIBUTES_EF))
        if len(outer) != 1 or outer[0][0] != b"\xff\x20":
            raise tlv.TlvError("the attributes file is not the expected structure")
        values = {tag: value for tag, value in tlv.decode(outer[0][1])}
        try:
            fields = [values[bytes([0xDF, t])].decode("utf-8") for t in (0x22, 0x23, 0x24, 0x25)]
        except (KeyError, UnicodeDecodeError) as exc:
            raise tlv.TlvError("the attributes file lacks a field or is not UTF-8") from exc
        return CardFace(my_number, *fields)


def _tlv_size(head: bytes) -> tuple[bytes, int, int]:
    """(tag, value length, header length) from the first bytes of a TLV."""
    if len(head) < 2:
        raise tlv.TlvError("the input-assist file is too short")
    tag_len = 2 if head[0] & 0x1F == 0x1F else 1
    first = head[tag_len]
    if first < 0x80:
        return head[:tag_len], first, tag_len + 1
    size = first & 0x7F
    if size not in (1, 2) or len(head) < tag_len + 1 + size:
        raise tlv.TlvError("the input-assist file has an unsupported length")
    return head[:tag_len], int.from_bytes(head[tag_len + 1 : tag_len + 1 + size], "big"), tag_len + 1 + size
