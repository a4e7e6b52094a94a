"""The My Number handover end to end: ``xid wallet mynumber send`` with the emulated TEST card, against the business's
receiver (``verifier.mynumber``) served on 127.0.0.1; and the wallet's checks of the business's published key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from foundation.b64 import b64url_decode, b64url_encode
from jpki_bridge.apdu import LastTryError, WrongPinError
from jpki_bridge.mynumber import MyNumberError
from jpki_bridge.softcard import FaceData, SoftCard
from jpki_bridge.testca import CardIdentity, Person
from jpki_bridge.transport import InMemoryTransport
from tests.helpers import AUTH_PIN, INPUT_PIN, PERSONS, SIGN_PASSWORD, load_person, make_card, serve
from verifier.mynumber import Handover, Receiver, generate_key, routes
from wallet.mynumber import (
    RecipientKeyError,
    RecipientRefusedError,
    check_recipient_key,
    fetch_recipient_key,
    hand_over,
    read_my_number,
    seal,
)
from xid.cli import main

PERSON = load_person("yamada")
NUMBER = PERSON.my_number
PURPOSE = "employment"
CARD_PIN = "1234"  # the emulated card's input-assist PIN (xid.card_session.TEST_PINS)


# -- a business: the real receiver, or one publishing a chosen key ---------------------------------------------------


class Business:
    """The receiver served on 127.0.0.1, with what its store was given."""

    def __init__(self, keep: str = "number") -> None:
        self.kept: list[Handover] = []
        self.key = generate_key()
        self.keep = keep
        self.url = ""

    def start(self, url: str) -> Receiver:
        self.url = url
        return Receiver(self.key, url, {PURPOSE}, self.keep, self.kept.append)  # type: ignore[arg-type]


@pytest.fixture
def business() -> Iterator[Business]:
    """The business's receiver, served; its audience is its own URL."""
    shop = Business()
    app = Starlette()
    with serve(app) as url:  # the audience is the served URL, known once the server runs: routes added then
        app.router.routes.extend(routes(shop.start(url)))
        yield shop


class Impostor:
    """A business publishing a chosen key document; it records every POST (there must be none)."""

    def __init__(self, key: Any, status: int = 200) -> None:
        self.posts: list[bytes] = []

        async def get_key(request: Request) -> Response:
            return JSONResponse(key, status_code=status)

        async def post(request: Request) -> Response:
            self.posts.append(await request.body())
            return JSONResponse({"received": True, "kept": "number", "id": "x"}, status_code=201)

        self.app = Starlette(routes=[Route("/mynumber/key", get_key), Route("/mynumber", post, methods=["POST"])])


# -- the recipient key checks ----------------------------------------------------------------------------------------

P = 2**255 - 19
ORDER_8 = [
    int.from_bytes(bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"), "little"),
    int.from_bytes(bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"), "little"),
]


def _small_order_encodings() -> list[bytes]:
    """Every 32-byte encoding of the small-order X25519 points: canonical, plus p, and with the top bit set."""
    found: set[bytes] = set()
    for u in [0, 1, P - 1, *ORDER_8]:
        for value in (u, u + P):
            if value < 2**255:
                found.add(value.to_bytes(32, "little"))
                found.add((value | (1 << 255)).to_bytes(32, "little"))
    return sorted(found)


def _x25519(raw: bytes) -> dict[str, str]:
    return {"kty": "OKP", "crv": "X25519", "x": b64url_encode(raw), "use": "enc", "alg": "ECDH-ES", "kid": "k"}


def _public(private: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in private.items() if k != "d"}


def test_usable_keys_are_accepted() -> None:
    for curve in ("P-256", "P-384", "X25519"):
        key = check_recipient_key(_public(generate_key(curve)))
        assert key.jwk["crv"] == curve
        assert "d" not in key.jwk


@pytest.mark.parametrize("raw", _small_order_encodings(), ids=lambda raw: raw.hex()[:8] + "-" + raw.hex()[-4:])
def test_small_order_x25519_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(RecipientKeyError, match=r"small order|canonical"):
        check_recipient_key(_x25519(raw))


def test_the_small_order_list_holds_the_libsodium_entries() -> None:
    assert len(_small_order_encodings()) >= 12
    ordinary = _public(generate_key("X25519"))
    check_recipient_key(ordinary)
    raw = b64url_decode(ordinary["x"])
    with pytest.raises(RecipientKeyError, match="canonical"):
        check_recipient_key(_x25519((int.from_bytes(raw, "little") % P + P).to_bytes(32, "little")))


def test_the_all_zero_secret_probe_refuses_what_the_list_would_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    import wallet.mynumber

    monkeypatch.setattr(wallet.mynumber, "_SMALL_ORDER_U", frozenset())
    with pytest.raises(RecipientKeyError, match="all-zero shared secret"):
        check_recipient_key(_x25519(ORDER_8[1].to_bytes(32, "little")))


def _rsa_jwk() -> dict[str, Any]:
    public = RSAKey.import_key(rsa.generate_private_key(65537, 2048).public_key()).as_dict(private=False)
    return {**public, "use": "enc", "alg": "ECDH-ES", "kid": "k"}


def _off_curve() -> dict[str, str]:
    jwk = _public(generate_key("P-256"))
    y = bytearray(b64url_decode(jwk["y"]))
    y[-1] ^= 1
    return {**jwk, "y": b64url_encode(bytes(y))}


def _secp256k1() -> dict[str, Any]:
    public = ECKey.import_key(ec.generate_private_key(ec.SECP256K1()).public_key()).as_dict(private=False)
    return {**public, "use": "enc", "alg": "ECDH-ES", "kid": "k"}


BAD_KEYS: dict[str, tuple[Any, str]] = {
    "not an object": (["a key"], "no key"),
    "RSA": (_rsa_jwk(), "is RSA; only ECDH-ES keys"),
    "private EC": (generate_key("P-256"), "private key"),
    "private X25519": (generate_key("X25519"), "private key"),
    "signing key": ({**_public(generate_key()), "use": "sig"}, "use"),
    "no alg": ({k: v for k, v in _public(generate_key()).items() if k != "alg"}, "ECDH-ES"),
    "another alg": ({**_public(generate_key()), "alg": "RSA-OAEP-256"}, "ECDH-ES"),
    "no kid": ({k: v for k, v in _public(generate_key()).items() if k != "kid"}, "kid"),
    "off the curve": (_off_curve(), "not a point"),
    "short coordinate": ({**_public(generate_key()), "x": b64url_encode(b"\x01" * 31)}, "32 bytes"),
    "secp256k1": (_secp256k1(), "not used"),
    "Ed25519": ({**_x25519(b"\x09" + b"\x00" * 31), "crv": "Ed25519"}, "not used"),
    "symmetric": ({"kty": "oct", "use": "enc", "alg": "ECDH-ES", "kid": "k"}, "not used"),
}


@pytest.mark.parametrize("name", sorted(BAD_KEYS))
def test_unusable_keys_are_refused(name: str) -> None:
    jwk, words = BAD_KEYS[name]
    with pytest.raises(RecipientKeyError, match=words):
        check_recipient_key(jwk)


# -- the library: key first, then the card, then sealing and delivery --------------------------------------------------


class CountingTransport(InMemoryTransport):
    """The in-memory card transport, counting the APDUs sent."""

    def __init__(self, card: SoftCard) -> None:
        super().__init__(card)
        self.sent = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.sent += 1
        return super().transmit(apdu)


@pytest.fixture(scope="module")
def identity() -> CardIdentity:
    from jpki_bridge.testca import TestCA

    return TestCA.create(key_size=2048).issue(PERSON)


def test_hand_over_reads_the_card_and_the_business_keeps_the_number(
    business: Business, identity: CardIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = CountingTransport(make_card(identity, PERSON))
    asked: list[int] = []

    def ask(tries_left: int) -> str:
        asked.append(tries_left)
        return INPUT_PIN

    receipt = hand_over(business.url, PURPOSE, lambda: read_my_number(transport, ask))
    assert receipt is not None
    assert asked == [3]  # the tries left were known before the PIN was asked
    assert receipt.kept == "number"
    assert [h.my_number for h in business.kept] == [NUMBER]
    assert receipt.id == business.kept[0].id
    assert NUMBER not in caplog.text


@pytest.mark.parametrize("name", ["RSA", "private EC", "off the curve", "small-order X25519", "missing"])
def test_an_unusable_key_is_refused_before_the_card_is_touched(name: str, identity: CardIdentity) -> None:
    document, status = {
        "RSA": (BAD_KEYS["RSA"][0], 200),
        "private EC": (BAD_KEYS["private EC"][0], 200),
        "off the curve": (BAD_KEYS["off the curve"][0], 200),
        "small-order X25519": (_x25519(ORDER_8[0].to_bytes(32, "little")), 200),
        "missing": ({"error": "not_found", "error_description": "no key here"}, 404),
    }[name]
    impostor = Impostor(document, status)
    transport = CountingTransport(make_card(identity, PERSON))
    with serve(impostor.app) as url, pytest.raises(RecipientKeyError):
        hand_over(url, PURPOSE, lambda: read_my_number(transport, lambda _: INPUT_PIN))
    assert transport.sent == 0
    assert impostor.posts == []


def test_declining_reads_nothing_and_sends_nothing(business: Business, identity: CardIdentity) -> None:
    transport = CountingTransport(make_card(identity, PERSON))
    shown: list[str] = []

    def decline(key: Any) -> bool:
        shown.append(key.description)
        return False

    assert (
        hand_over(business.url, PURPOSE, lambda: read_my_number(transport, lambda _: INPUT_PIN), consent=decline)
        is None
    )
    assert shown == ["EC P-256"]
    assert transport.sent == 0
    assert business.kept == []


def test_an_invalid_check_digit_on_the_card_is_refused_and_nothing_sent(
    business: Business, identity: CardIdentity
) -> None:
    face = FaceData.of(PERSON)
    bad_number = NUMBER[:11] + str((int(NUMBER[11]) + 1) % 10)
    bad = FaceData(bad_number, face.name, face.address, face.birth, face.sex)
    card = SoftCard(identity, sign_pin=SIGN_PASSWORD, auth_pin=AUTH_PIN, face=bad, input_pin=INPUT_PIN)
    with pytest.raises(MyNumberError) as info:
        hand_over(business.url, PURPOSE, lambda: read_my_number(InMemoryTransport(card), lambda _: INPUT_PIN))
    assert bad_number not in str(info.value)
    assert business.kept == []
    with pytest.raises(MyNumberError):  # sealing checks the digit too, whatever the number's source
        seal(bad_number, check_recipient_key(_public(business.key)), purpose=PURPOSE, audience=business.url)


def test_a_wrong_pin_spends_one_try_and_is_not_retried(business: Business, identity: CardIdentity) -> None:
    card = make_card(identity, PERSON)
    asked: list[int] = []

    def wrong(tries_left: int) -> str:
        asked.append(tries_left)
        return "0000"

    with pytest.raises(WrongPinError, match="2 tries left"):
        hand_over(business.url, PURPOSE, lambda: read_my_number(InMemoryTransport(card), wrong))
    assert asked == [3]
    with pytest.raises(WrongPinError, match="1 tries left"):
        read_my_number(InMemoryTransport(card), wrong)
    with pytest.raises(LastTryError):  # the last try is not spent without confirmation; the PIN is not asked
        read_my_number(InMemoryTransport(card), wrong)
    assert asked == [3, 2]
    assert read_my_number(InMemoryTransport(card), lambda _: INPUT_PIN, confirm_last_try=True) == NUMBER
    assert business.kept == []


def test_the_business_refusal_is_one_clear_error(business: Business) -> None:
    key = fetch_recipient_key(business.url)
    from wallet.mynumber import deliver

    stale = seal(NUMBER, key, purpose=PURPOSE, audience=business.url, now=1_000_000_000)
    with pytest.raises(RecipientRefusedError) as info:
        deliver(business.url, stale)
    assert info.value.status == 400
    assert "expired" in info.value.message
    assert NUMBER not in info.value.message
    wrong_purpose = seal(NUMBER, key, purpose="marketing", audience=business.url)
    with pytest.raises(RecipientRefusedError, match="purpose"):
        deliver(business.url, wrong_purpose)
    assert business.kept == []


# -- the command line ------------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An XID_HOME with the emulated TEST card of yamada.toml."""
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["card", "emulate", "--person", str(PERSONS / "yamada.toml")], env=_env(home))
    assert result.exit_code == 0, result.output
    return home


def _env(home: Path) -> dict[str, str]:
    return {"XID_HOME": str(home), "XID_WALLET": ""}


def run(home: Path, *args: str, input: str | None = None) -> Result:
    """Run xid with the home's environment."""
    return CliRunner().invoke(main, list(args), env=_env(home), input=input)


def send(home: Path, url: str, *extra: str, input: str = f"{CARD_PIN}\n") -> Result:
    """xid wallet mynumber send --emulated --pin-stdin."""
    args = ["wallet", "mynumber", "send", "--to", url, "--purpose", PURPOSE, "--emulated", "--pin-stdin", *extra]
    return run(home, *args, input=input)


def error_line(result: Result) -> str:
    """The one error line of a failed run."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def input_tries_left(home: Path) -> int:
    """The input-assist PIN's tries left on the emulated card."""
    result = run(home, "card", "status", "--emulated", "--json")
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["triesLeft"]["inputAssist"])


def _files_holding(directory: Path, needle: bytes, skip: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and not p.is_relative_to(skip) and needle in p.read_bytes()]


def test_send_hands_the_number_over_after_showing_who_and_why(
    home: Path, business: Business, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = send(home, business.url, "--yes", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer == {"to": business.url, "purpose": PURPOSE, "id": business.kept[0].id, "kept": "number"}
    assert [h.my_number for h in business.kept] == [NUMBER]
    assert f"your My Number goes to: {business.url}" in result.stderr
    assert f"for the purpose:        {PURPOSE}" in result.stderr
    assert "3 tries left" in result.stderr
    assert NUMBER not in result.output
    assert NUMBER not in caplog.text
    # the card's own files (the emulated card holds the number) aside, nothing under XID_HOME holds it
    assert _files_holding(home, NUMBER.encode(), home / "card") == []
    text = send(home, business.url, "--yes")
    assert text.exit_code == 0, text.output
    assert "the business says it keeps your My Number" in text.stdout
    assert len(business.kept) == 2


def test_send_asks_for_consent_and_a_no_reads_nothing(home: Path, business: Business) -> None:
    declined = send(home, business.url, input="n\n")
    assert error_line(declined).startswith("error [consentDeclined]: you declined; the card was not read")
    assert "hand over your My Number?" in declined.stderr
    assert "tries left" not in declined.stderr
    assert business.kept == []
    agreed = send(home, business.url, input=f"y\n{CARD_PIN}\n")
    assert agreed.exit_code == 0, agreed.output
    assert len(business.kept) == 1


def test_send_with_a_wrong_pin_shows_tries_left_and_never_retries(home: Path, business: Business) -> None:
    result = send(home, business.url, "--yes", input=f"0000\n{CARD_PIN}\n{CARD_PIN}\n")
    assert result.exit_code == 1
    assert "3 tries left" in result.stderr
    assert error_line(result).startswith("error [wrongPin]: wrong input-assist PIN: 2 tries left")
    assert input_tries_left(home) == 2  # exactly one VERIFY was spent
    assert business.kept == []
    again = send(home, business.url, "--yes", input="0000\n")
    assert again.exit_code == 1
    assert input_tries_left(home) == 1
    last = send(home, business.url, "--yes")
    assert error_line(last).startswith("error [lastPinTry]: only one try is left")
    assert input_tries_left(home) == 1  # nothing was verified
    confirmed = send(home, business.url, "--yes", "--confirm-last-try")
    assert confirmed.exit_code == 0, confirmed.output
    assert input_tries_left(home) == 3
    assert len(business.kept) == 1


@pytest.mark.parametrize("name", ["RSA", "private EC", "Ed25519"])
def test_send_refuses_a_bad_business_key_before_the_card(home: Path, name: str) -> None:
    impostor = Impostor(BAD_KEYS[name][0])
    with serve(impostor.app) as url:
        result = send(home, url, "--yes")
    assert error_line(result).startswith("error [invalidRecipientKey]: ")
    assert "tries left" not in result.stderr
    assert input_tries_left(home) == 3
    assert impostor.posts == []


def test_send_refuses_a_business_without_a_key_and_plain_http(home: Path) -> None:
    impostor = Impostor({"error": "not_found"}, status=404)
    with serve(impostor.app) as url:
        missing = send(home, url, "--yes")
    assert error_line(missing).startswith("error [invalidRecipientKey]: fetching the business's key: ")
    insecure = send(home, "http://shop.example.jp", "--yes")
    assert error_line(insecure).startswith("error [recipientProtocol]: the business URL must be an https URL")
    unreachable = send(home, "http://127.0.0.1:9", "--yes")
    assert error_line(unreachable).startswith("error [recipientUnreachable]: ")
    assert impostor.posts == []


def test_keygen_and_the_receiver_key_file(tmp_path: Path) -> None:
    out = tmp_path / "shop.jwk"
    result = CliRunner().invoke(main, ["mynumber", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    public = json.loads(result.stdout)
    private = json.loads(out.read_text())
    assert "d" not in public
    assert private["d"]
    assert out.stat().st_mode & 0o777 == 0o600
    assert check_recipient_key(public).kid == private["kid"]
    again = CliRunner().invoke(main, ["mynumber", "keygen", "--out", str(out)])
    assert again.exit_code == 1  # never overwritten
    assert json.loads(out.read_text()) == private
    wrong = tmp_path / "public.jwk"
    wrong.write_text(json.dumps(public))
    refused = CliRunner().invoke(
        main, ["mynumber", "receive", "--key", str(wrong), "--audience", "http://127.0.0.1:9", "--purpose", "p"]
    )
    assert refused.exit_code == 2
    assert "not a private" in refused.stderr


def test_person_fixture_is_the_test_person() -> None:
    assert isinstance(PERSON, Person)
