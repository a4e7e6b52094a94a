"""Card access in memory: APDU encoding, the software card's behaviour, the JPKI client and its PIN safety rules."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jpki_bridge.apdu import (
    CardAbsentError,
    CardError,
    Command,
    LastTryError,
    NotJpkiCardError,
    PinBlockedError,
    PinFormatError,
    Response,
    SecurityStatusError,
    StatusWordError,
    TransportError,
    WrongPinError,
    raise_for_status,
)
from jpki_bridge.input_assist import InputAssistCard
from jpki_bridge.jpki import JpkiCard, normalise_sign_password, sha256_digest_info
from jpki_bridge.profile import parse_signature_certificate
from jpki_bridge.softcard import ATR, FaceData, SoftCard
from jpki_bridge.testca import CardIdentity, Person
from jpki_bridge.transport import Channel, InMemoryTransport
from tests.helpers import AUTH_PIN, INPUT_PIN, SIGN_PASSWORD, make_card, require_component, rsa_verify


class RecordingTransport(InMemoryTransport):
    """Remembers every APDU sent, to prove what did and did not reach the card."""

    def __init__(self, card: SoftCard) -> None:
        super().__init__(card)
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        return super().transmit(apdu)


# -- APDU layer -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "encoded"),
    [
        (Command(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("D392F000260100000001")), "00A4040C0AD392F000260100000001"),
        (Command(0x00, 0xB0, 0x01, 0x02, le=256), "00B0010200"),
        (Command(0x00, 0xB0, 0x00, 0x00, le=2048), "00B00000000800"),
        (Command(0x00, 0x20, 0x00, 0x80), "00200080"),
        (Command(0x80, 0x2A, 0x00, 0x80, b"\x01" * 51, le=256), "802A008033" + "01" * 51 + "00"),
        (Command(0x00, 0xD6, 0x00, 0x00, b"\x02" * 300, le=65536), "00D6000000012C" + "02" * 300 + "0000"),
    ],
)
def test_command_encoding_round_trips(command: Command, encoded: str) -> None:
    assert command.encode().hex().upper() == encoded
    assert Command.decode(bytes.fromhex(encoded)) == command


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=400), st.one_of(st.none(), st.integers(1, 65536)))
def test_command_encoding_property(ins: int, p1: int, data: bytes, le: int | None) -> None:
    command = Command(0x00, ins, p1, 0x00, data, le)
    assert Command.decode(command.encode()) == command


@given(st.binary(max_size=300))
def test_response_parser_never_crashes(raw: bytes) -> None:
    try:
        response = Response.parse(raw)
    except TransportError:
        assert len(raw) < 2
        return
    assert response.encode() == raw
    if response.sw == 0x9000:
        assert response.check("test") == response.data
    else:
        with pytest.raises(StatusWordError) as info:
            response.check("test")
        assert info.value.sw == response.sw


@given(st.binary(max_size=40))
def test_command_decoder_raises_only_card_errors(raw: bytes) -> None:
    with contextlib.suppress(CardError):
        Command.decode(raw)


@pytest.mark.parametrize(
    ("sw", "code"),
    [
        (0x63C3, "wrongPin"),
        (0x63C0, "pinBlocked"),
        (0x6983, "pinBlocked"),
        (0x6984, "pinBlocked"),
        (0x6982, "securityStatusNotSatisfied"),
        (0x6A82, "fileNotFound"),
        (0x6700, "wrongLength"),
        (0x6B00, "wrongParameters"),
        (0x6A86, "wrongParameters"),
        (0x6985, "conditionsNotSatisfied"),
        (0x6986, "commandNotAllowed"),
        (0x6D00, "notSupported"),
        (0x6E00, "notSupported"),
        (0x6F00, "unexpectedStatus"),
    ],
)
def test_status_words_map_to_specific_errors(sw: int, code: str) -> None:
    with pytest.raises(StatusWordError) as info:
        raise_for_status(sw, "doing something")
    assert info.value.code == code
    assert f"{sw:04X}" in info.value.message
    if code == "wrongPin":
        assert isinstance(info.value, WrongPinError)
        assert info.value.tries_left == 3


class _ChainingCard:
    """A card that answers with 61xx / 6Cxx, as some readers and phones do."""

    atr = ATR

    def reset(self) -> None:
        pass

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and apdu[-1] != 0x05:
            return b"\x6c\x05"
        if apdu[1] == 0xB0:
            return b"ABC" + b"\x61\x02"
        if apdu[1] == 0xC0:
            return b"DE\x90\x00"
        return b"\x90\x00"


def test_channel_follows_61xx_and_6cxx() -> None:
    channel = Channel(InMemoryTransport(_ChainingCard()))
    response = channel.send(Command(0x00, 0xB0, 0, 0, le=100))
    assert response == Response(b"ABCDE", 0x9000)


# -- the JPKI application ---------------------------------------------------------------------------------------


class RewritingTransport(InMemoryTransport):
    """Replaces bytes in every response, like a faulty reader or a forged card would."""

    def __init__(self, card: SoftCard, old: bytes, new: bytes) -> None:
        super().__init__(card)
        self.old, self.new, self.rewritten = old, new, 0

    def transmit(self, apdu: bytes) -> bytes:
        response = super().transmit(apdu)
        self.rewritten += response.count(self.old)
        return response.replace(self.old, self.new)


def test_a_certificate_with_an_undecodable_name_is_a_transport_error(identity: CardIdentity, person: Person) -> None:
    # countryName typed BIT STRING: cryptography loads the certificate and fails only when the name is read.
    transport = RewritingTransport(
        make_card(identity, person), b"\x06\x03U\x04\x06\x13\x02JP", b"\x06\x03U\x04\x06\x03\x02JP"
    )
    card = JpkiCard(transport)
    card.select()
    with pytest.raises(TransportError, match=r"not a valid certificate \(the certificate's names or extensions"):
        card.read_auth_certificate()
    assert transport.rewritten > 0


def test_read_certificates_sign_and_verify(identity: CardIdentity, person: Person) -> None:
    card = JpkiCard(InMemoryTransport(make_card(identity, person)))
    card.select()
    assert card.token_type == "my-number-card"
    assert card.read_auth_certificate() == identity.auth_cert
    assert card.read_sign_ca_certificate() == identity.sign_ca
    assert card.read_auth_ca_certificate() == identity.auth_ca
    with pytest.raises(SecurityStatusError):
        card.read_sign_certificate()  # needs the signature password first
    assert card.pin_status("sign").tries_left == 5
    card.verify("sign", "abc123")  # normalised to upper case
    cert = card.read_sign_certificate()
    assert cert == identity.sign_cert
    assert parse_signature_certificate(cert) == person.basic4()
    message = b"xid-enroll-v1 nonce thumbprint"
    signature = card.sign("sign", message)
    rsa_verify(cert, signature, message)
    with pytest.raises(SecurityStatusError):
        card.sign("auth", message)  # the auth key needs the auth PIN
    card.verify("auth", AUTH_PIN)
    auth_signature = card.sign("auth", message)
    rsa_verify(identity.auth_cert, auth_signature, message)
    card.select()  # re-selecting the application clears the PIN state
    with pytest.raises(SecurityStatusError):
        card.read_sign_certificate()


def test_tampered_signature_fails(identity: CardIdentity, person: Person) -> None:
    from cryptography.exceptions import InvalidSignature

    card = JpkiCard(InMemoryTransport(make_card(identity, person)))
    card.select()
    card.verify("sign", SIGN_PASSWORD)
    signature = bytearray(card.sign("sign", b"message"))
    signature[5] ^= 1
    with pytest.raises(InvalidSignature):
        rsa_verify(identity.sign_cert, bytes(signature), b"message")
    assert len(sha256_digest_info(b"x")) == 51


def test_wrong_pin_counts_down_blocks_and_persists(identity: CardIdentity, person: Person, tmp_path: Path) -> None:
    state = tmp_path / "card-state.json"
    soft = make_card(identity, person, state)
    card = JpkiCard(InMemoryTransport(soft))
    card.select()
    for left in (4, 3, 2):
        with pytest.raises(WrongPinError) as info:
            card.verify("sign", "WRONG1")
        assert info.value.tries_left == left
    with pytest.raises(WrongPinError):
        card.verify("sign", "WRONG1")
    assert card.pin_status("sign").tries_left == 1
    # The counter survives a restart of the software card (state file).
    assert json.loads(state.read_text())["sign"] == 1
    restarted = JpkiCard(InMemoryTransport(make_card(identity, person, state)))
    restarted.select()
    assert restarted.pin_status("sign").tries_left == 1
    with pytest.raises(LastTryError):
        restarted.verify("sign", SIGN_PASSWORD)  # refused without explicit confirmation
    with pytest.raises(PinBlockedError):
        restarted.verify("sign", "WRONG1", confirm_last_try=True)
    assert restarted.pin_status("sign").blocked
    with pytest.raises(PinBlockedError):
        restarted.verify("sign", SIGN_PASSWORD, confirm_last_try=True)  # even the right one: blocked is blocked


def test_correct_pin_resets_the_counter(identity: CardIdentity, person: Person) -> None:
    card = JpkiCard(InMemoryTransport(make_card(identity, person)))
    card.select()
    with pytest.raises(WrongPinError):
        card.verify("auth", "0000")
    card.verify("auth", AUTH_PIN)
    assert card.pin_status("auth").tries_left == 3


@pytest.mark.parametrize("bad", ["abc", "ABC12", "A" * 17, "ABC 123", "ÅBC123", "abc-123", ""])
def test_malformed_sign_password_never_reaches_the_card(identity: CardIdentity, person: Person, bad: str) -> None:
    transport = RecordingTransport(make_card(identity, person))
    card = JpkiCard(transport)
    card.select()
    before = list(transport.sent)
    with pytest.raises(PinFormatError):
        card.verify("sign", bad)
    assert transport.sent == before  # not even the status query was sent
    with pytest.raises(PinFormatError):
        normalise_sign_password(bad)


def test_auth_pin_format(identity: CardIdentity, person: Person) -> None:
    card = JpkiCard(InMemoryTransport(make_card(identity, person)))
    card.select()
    for bad in ["123", "12345", "12a4", "\uff11\uff12\uff13\uff14"]:  # the last is full-width digits
        with pytest.raises(PinFormatError):
            card.verify("auth", bad)


def test_status_query_is_read_before_every_verify(identity: CardIdentity, person: Person) -> None:
    transport = RecordingTransport(make_card(identity, person))
    card = JpkiCard(transport)
    card.select()
    transport.sent.clear()
    card.verify("sign", SIGN_PASSWORD)
    verifies = [apdu for apdu in transport.sent if apdu[1] == 0x20]
    assert verifies[0] == bytes.fromhex("00200080")  # status first, no data
    assert len(verifies) == 2
    assert SIGN_PASSWORD.encode() not in b"".join(transport.sent[:-1])


def test_not_a_my_number_card() -> None:
    class OtherCard:
        atr = b"\x3b\x00"

        def reset(self) -> None:
            pass

        def transmit(self, apdu: bytes) -> bytes:
            return b"\x6a\x82"

    with pytest.raises(NotJpkiCardError, match="not a My Number card"):
        JpkiCard(InMemoryTransport(OtherCard())).select()


def test_software_card_edge_cases(identity: CardIdentity, person: Person) -> None:
    soft = make_card(identity, person)
    t = InMemoryTransport(soft)
    assert t.transmit(bytes.fromhex("00B0000010")) == b"\x69\x86"  # nothing selected
    assert t.transmit(bytes.fromhex("00A4040C0AD392F000260100000001")) == b"\x90\x00"
    assert t.transmit(bytes.fromhex("00A4020C021234")) == b"\x6a\x82"  # unknown EF
    assert t.transmit(bytes.fromhex("00A4090C021234")) == b"\x6a\x86"  # only P1=02 selects EFs
    assert t.transmit(bytes.fromhex("00A4020C020001")) == b"\x90\x00"
    assert t.transmit(bytes.fromhex("00B0000010")) == b"\x69\x82"  # sign certificate needs the password
    assert t.transmit(bytes.fromhex("00A4020C02000A")) == b"\x90\x00"
    der_len = len(
        identity.auth_cert.public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER
        )
    )
    assert (
        t.transmit(bytes.fromhex("00B0") + der_len.to_bytes(2, "big") + b"\x10") == b"\x90\x00"
    )  # at the end: no data
    assert t.transmit(bytes.fromhex("00B0") + (der_len + 1).to_bytes(2, "big") + b"\x10") == b"\x6b\x00"
    extended = t.transmit(bytes.fromhex("00B00000000800"))
    assert extended[-2:] == b"\x90\x00"
    assert len(extended) == der_len + 2
    assert t.transmit(bytes.fromhex("00FF0000")) == b"\x6d\x00"
    assert t.transmit(bytes.fromhex("A0B00000")) == b"\x6e\x00"
    assert t.transmit(bytes.fromhex("00A4")) == b"\x67\x00"
    assert t.transmit(bytes.fromhex("802A0180020102")) == b"\x6a\x86"  # only P1=00
    t.close()
    with pytest.raises(TransportError):
        t.transmit(bytes.fromhex("00A4040C0AD392F000260100000001"))


def test_unreadable_state_file_is_a_clear_error(identity: CardIdentity, person: Person, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text("{broken")
    with pytest.raises(CardError, match="state file"):
        make_card(identity, person, state)


# -- the input-assist application ------------------------------------------------------------------------------


def test_input_assist_reads_my_number_and_attributes(identity: CardIdentity, person: Person) -> None:
    app = InputAssistCard(InMemoryTransport(make_card(identity, person)))
    app.select()
    with pytest.raises(SecurityStatusError):
        app.read()
    assert app.pin_status().tries_left == 3
    with pytest.raises(WrongPinError):
        app.verify("0000")
    app.verify(INPUT_PIN)
    face = app.read()
    assert face.my_number == person.my_number
    assert (face.name, face.address, face.birth, face.sex) == (
        person.name, person.address, person.date_of_birth[1:], person.sex
    )  # fmt: skip
    assert person.my_number not in repr(face)


def test_input_assist_rejects_a_bad_check_digit(identity: CardIdentity, person: Person) -> None:
    from jpki_bridge.mynumber import MyNumberError

    face = FaceData.of(person)
    bad = FaceData(
        face.my_number[:11] + str((int(face.my_number[11]) + 1) % 10), face.name, face.address, face.birth, face.sex
    )
    soft = SoftCard(identity, sign_pin=SIGN_PASSWORD, auth_pin=AUTH_PIN, face=bad, input_pin=INPUT_PIN)
    app = InputAssistCard(InMemoryTransport(soft))
    app.select()
    app.verify(INPUT_PIN)
    with pytest.raises(MyNumberError) as info:
        app.read()
    assert bad.my_number not in info.value.message


# -- PC/SC failures, simulated below pyscard --------------------------------------------------------------------


def test_pcsc_service_down_and_reader_unplugged(monkeypatch: pytest.MonkeyPatch) -> None:
    require_component(importlib.util.find_spec("smartcard") is not None, "pyscard (the 'card' extra)")
    import smartcard.System
    from smartcard.Exceptions import CardConnectionException, CardServiceNotFoundException

    from jpki_bridge.apdu import NoReaderError, PcscUnavailableError
    from jpki_bridge.pcsc import PcscTransport, list_readers

    def no_service(groups: object = None) -> list[object]:
        raise CardServiceNotFoundException(hresult=-2146435026)

    monkeypatch.setattr(smartcard.System, "readers", no_service)
    with pytest.raises(PcscUnavailableError, match="pcscd"):
        list_readers()
    with pytest.raises(PcscUnavailableError):
        PcscTransport()
    monkeypatch.setattr(smartcard.System, "readers", lambda groups=None: [])
    with pytest.raises(NoReaderError, match="no card reader is connected"):
        PcscTransport()

    class Connection:
        def __init__(self, failure: str) -> None:
            self.failure = failure

        def connect(self) -> None:
            pass

        def getATR(self) -> list[int]:
            return list(ATR)

        def transmit(self, apdu: list[int]) -> tuple[list[int], int, int]:
            raise CardConnectionException(self.failure)

        def disconnect(self) -> None:
            pass

    for failure, error, needle in [
        ("Card was removed.", CardAbsentError, "removed during the operation"),
        ("Unknown reader specified.", TransportError, "reader was disconnected"),
    ]:

        class Reader:
            def __str__(self) -> str:
                return "Test Reader 0"

            def createConnection(self, failure: str = failure) -> Connection:
                return Connection(failure)

        monkeypatch.setattr(smartcard.System, "readers", lambda groups=None: [Reader()])
        transport = PcscTransport("Test Reader")
        with pytest.raises(error, match=needle) as caught:
            JpkiCard(transport).select()
        assert type(caught.value) is error
        transport.close()
