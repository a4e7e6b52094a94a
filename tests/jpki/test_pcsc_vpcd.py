"""The card path through the real stack: pcscd + vsmartcard-vpcd + pyscard + the software card over vpcd.

This is the path a real USB or NFC reader takes; in CI it must run (a missing pcscd is a failure).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jpki_bridge.apdu import CardAbsentError, NoReaderError, PinBlockedError, WrongPinError
from jpki_bridge.jpki import JpkiCard
from jpki_bridge.pcsc import PcscTransport
from jpki_bridge.profile import parse_signature_certificate
from jpki_bridge.softcard import SoftCard
from jpki_bridge.testca import CardIdentity, Person
from jpki_bridge.vpcd import VpcdLink
from tests.helpers import AUTH_PIN, SIGN_PASSWORD, make_card, rsa_verify
from tests.jpki.pcscd import pcscd  # noqa: F401 - fixture

pytestmark = pytest.mark.pcsc


@pytest.fixture
def inserted(pcscd: str, identity: CardIdentity, person: Person) -> Iterator[tuple[SoftCard, PcscTransport]]:  # noqa: F811
    soft = make_card(identity, person)
    link = VpcdLink(soft)
    link.start()
    transport = PcscTransport(pcscd, wait=15)
    try:
        yield soft, transport
    finally:
        transport.close()
        link.close()
        time.sleep(0.3)  # let pcscd notice the removal before the next test inserts a card


def test_read_sign_and_verify_through_pcsc(inserted: tuple[SoftCard, PcscTransport], identity: CardIdentity,
                                           person: Person) -> None:  # fmt: skip
    soft, transport = inserted
    assert transport.atr == soft.atr
    card = JpkiCard(transport)
    card.select()
    assert card.read_auth_certificate() == identity.auth_cert
    assert card.pin_status("sign").tries_left == 5
    card.verify("sign", SIGN_PASSWORD)
    cert = card.read_sign_certificate()
    assert parse_signature_certificate(cert) == person.basic4()
    message = b"xid-enroll-v1 nonce thumbprint"
    rsa_verify(cert, card.sign("sign", message), message)


def test_wrong_pin_counts_down_and_blocks_through_pcsc(inserted: tuple[SoftCard, PcscTransport]) -> None:
    soft, transport = inserted
    card = JpkiCard(transport)
    card.select()
    for left in (2, 1):
        with pytest.raises(WrongPinError) as info:
            card.verify("auth", "0000", confirm_last_try=True)
        assert info.value.tries_left == left
    assert card.pin_status("auth").tries_left == 1
    with pytest.raises(PinBlockedError):
        card.verify("auth", "0000", confirm_last_try=True)
    assert soft.tries_left("auth") == 0
    with pytest.raises(PinBlockedError):
        card.verify("auth", AUTH_PIN, confirm_last_try=True)


def test_card_removed_mid_operation(pcscd: str, identity: CardIdentity, person: Person) -> None:  # noqa: F811
    link = VpcdLink(make_card(identity, person))
    link.start()
    transport = PcscTransport(pcscd, wait=15)
    try:
        card = JpkiCard(transport)
        card.select()
        card.verify("sign", SIGN_PASSWORD)
        link.close()  # the card leaves the reader between two commands
        deadline = time.monotonic() + 10
        while True:  # until pcscd has seen the card go, so the next command meets a removed card, not a dying link
            try:
                PcscTransport(pcscd, wait=0).close()
            except CardAbsentError:
                break
            assert time.monotonic() < deadline, "pcscd did not notice that the card left"
            time.sleep(0.1)
        with pytest.raises(CardAbsentError, match="removed during the operation") as info:
            card.read_sign_certificate()
        assert info.value.code == "cardAbsent"
    finally:
        transport.close()
        link.close()
        time.sleep(0.3)


def test_no_such_reader(pcscd: str) -> None:  # noqa: F811
    with pytest.raises(NoReaderError, match="no reader named"):
        PcscTransport("Nonexistent Reader 99")


def test_no_card_inserted(pcscd: str) -> None:  # noqa: F811
    time.sleep(0.3)
    with pytest.raises(CardAbsentError, match="no card in reader") as caught:
        PcscTransport(pcscd, wait=0)
    assert caught.value.code == "cardAbsent"
