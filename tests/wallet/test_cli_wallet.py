"""``xid wallet`` end to end against the stand-in issuer (served on 127.0.0.1) with the emulated TEST card."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from did import KeyType, PublicKey
from jpki_bridge.profile import parse_signature_certificate
from tests.helpers import PERSONS, serve
from tests.wallet.standin_issuer import Behaviour, StandinIssuer
from xid.cli import main

PASSPHRASE = "correct horse battery staple"
PIN = "TEST1234"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An XID_HOME with the emulated TEST card of yamada.toml."""
    home = tmp_path / "home"
    result = CliRunner().invoke(main, ["card", "emulate", "--person", str(PERSONS / "yamada.toml")], env=_env(home))
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def issuer() -> Iterator[tuple[StandinIssuer, str]]:
    """The stand-in issuer, served."""
    standin = StandinIssuer()
    with serve(standin.app) as url:
        yield standin, url


def _env(home: Path) -> dict[str, str]:
    return {"XID_HOME": str(home), "XID_WALLET": ""}


def run(home: Path, *args: str, input: str | None = None) -> Result:
    """Run xid with the home's environment."""
    return CliRunner().invoke(main, list(args), env=_env(home), input=input)


def init(home: Path, *extra: str) -> Path:
    """Create the default wallet under the home."""
    result = run(home, "wallet", "init", "--passphrase-stdin", *extra, input=f"{PASSPHRASE}\n")
    assert result.exit_code == 0, result.output
    return home / "wallet"


def error_line(result: Result) -> str:
    """The one error line of a failed run (asserting it is one line)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under the directory with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def enroll(home: Path, url: str, *extra: str, input: str | None = None) -> Result:
    """xid wallet enroll --emulated with the passphrase and the PIN on stdin."""
    stdin = f"{PASSPHRASE}\n{PIN}\n" if input is None else input
    args = ["wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin", *extra]
    return run(home, *args, input=stdin)


def sign_tries_left(home: Path) -> int:
    """The signature password's tries left on the emulated card."""
    result = run(home, "card", "status", "--emulated", "--json")
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["triesLeft"]["sign"])


def test_enroll_stores_credentials_and_certificates(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    wallet = init(home)
    result = enroll(home, url, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["issuer"] == url
    assert [c["format"] for c in report["credentials"]] == ["dc+sd-jwt", "jwt_vc_json"]
    assert [c["usage"] for c in report["certificates"]] == ["authentication", "signing"]
    for progress in ("reading the card", "5 tries left", "checking the card with the issuer", "received the signing"):
        assert progress in result.stderr
    # the issuer saw the card's certificate, both credential requests, and both acknowledgements
    assert len(standin.state.enrolled_certificates) == 1
    assert standin.state.requests == ["xid_identity_sd_jwt", "xid_identity_jwt_vc"]
    assert [n["event"] for n in standin.state.notifications] == ["credential_accepted"] * 2
    # the CA certified the wallet's holder key
    holder = json.loads(run(home, "wallet", "init", "--json").stdout or "{}")  # refused: exists
    assert holder == {}
    listing = json.loads(run(home, "wallet", "list", "--json").stdout)
    assert sorted(item["kind"] for item in listing) == ["certificate"] * 2 + ["credential"] * 2
    assert {item.get("format") for item in listing if item["kind"] == "credential"} == {"dc+sd-jwt", "jwt_vc_json"}
    keys = {PublicKey.from_cryptography(c.public_key()) for c in standin.state.certificates}  # type: ignore[arg-type]
    assert len(keys) == 1
    # nothing personal and no key material in clear in the wallet's files
    card_cert = standin.state.enrolled_certificates[0]
    info = parse_signature_certificate(card_cert)
    everything = b"".join(snapshot(wallet).values())
    for secret in (info.name, info.address, "山田", "千代田", info.date_of_birth.text):
        assert secret.encode() not in everything
        assert quote(secret).encode() not in everything
    assert card_cert.public_bytes(Encoding.DER)[-64:] not in everything
    for cert in standin.state.certificates:
        assert cert.public_bytes(Encoding.PEM).split(b"\n")[3] not in everything
    text = run(home, "wallet", "list")
    assert "xid_identity_sd_jwt: SD-JWT VC" in text.stdout
    assert "xid CA signing certificate" in text.stdout


def test_enroll_text_summary_and_pin_order(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    _, url = issuer
    init(home)
    result = enroll(home, url)
    assert result.exit_code == 0, result.output
    assert f"stored 2 credential(s) from {url}:" in result.stdout
    assert "SD-JWT VC (selective disclosure), valid until" in result.stdout
    assert "authentication: valid until" in result.stdout
    assert "山田" not in result.output  # the basic 4 info is never printed
    # the passphrase line comes first: swapped lines fail on the passphrase, before the card is touched
    swapped = enroll(home, url, input=f"{PIN}\n{PASSPHRASE}\n")
    assert error_line(swapped).startswith("error [wrongPassphrase]: ")
    assert sign_tries_left(home) == 5


def test_offer_only_prints_the_offer_and_a_qr_code(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    as_json = enroll(home, url, "--offer-only", "--json")  # no wallet: a one-time key; the passphrase line is skipped
    assert as_json.exit_code == 0, as_json.output
    printed = json.loads(as_json.stdout)
    assert set(printed) == {"offer", "tx_code"}
    assert printed["offer"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert printed["tx_code"] == standin.behaviour.tx_code
    assert standin.state.requests == []  # not redeemed
    text = run(home, "wallet", "enroll", "--issuer", url, "--emulated", "--pin-stdin", "--offer-only", input=f"{PIN}\n")
    assert text.exit_code == 0, text.output
    assert "openid-credential-offer://?credential_offer_uri=" in text.stdout
    assert "█" in text.stdout or "▀" in text.stdout  # the terminal QR code
    assert f"transaction code (type it into the wallet): {standin.behaviour.tx_code}" in text.stdout
    # the printed offer is redeemable by another wallet
    other = home / "other-wallet"
    made = run(home, "wallet", "init", "--wallet", str(other), "--passphrase-stdin", input=f"{PASSPHRASE}\n")
    assert made.exit_code == 0, made.output
    accepted = run(
        home, "wallet", "accept", printed["offer"], "--wallet", str(other), "--passphrase-stdin",
        "--tx-code", str(printed["tx_code"]), input=f"{PASSPHRASE}\n",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output


@pytest.mark.parametrize("by", ["value", "reference"])
def test_accept_by_value_and_by_reference_with_a_tx_code_option(
    home: Path, issuer: tuple[StandinIssuer, str], by: str
) -> None:
    standin, url = issuer
    init(home)
    offer, tx_code = standin.make_offer(url)
    if by == "value":
        uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer))
    else:
        standin.state.offers["ref"] = offer
        uri = "openid-credential-offer://?credential_offer_uri=" + quote(f"{url}/offers/ref")
    result = run(home, "wallet", "accept", uri, "--passphrase-stdin", "--tx-code", str(tx_code), "--json",
                 input=f"{PASSPHRASE}\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [c["configurationId"] for c in json.loads(result.stdout)["credentials"]] == [
        "xid_identity_sd_jwt",
        "xid_identity_jwt_vc",
    ]


def test_accept_asks_for_the_tx_code_and_a_wrong_one_is_the_issuers_error(
    home: Path, issuer: tuple[StandinIssuer, str]
) -> None:
    standin, url = issuer
    init(home)
    offer, tx_code = standin.make_offer(url)
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer))
    wrong = run(home, "wallet", "accept", uri, "--passphrase-stdin", input=f"{PASSPHRASE}\n000000\n")
    assert (
        error_line(wrong)
        == "error [issuerRefused]: the token request: the issuer answered 400 invalid_grant: wrong tx_code"
    )
    assert "transaction code (sent by mail) [6 digits]" in wrong.stderr
    offer, tx_code = standin.make_offer(url)
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer))
    asked = run(home, "wallet", "accept", uri, "--passphrase-stdin", input=f"{PASSPHRASE}\n{tx_code}\n")
    assert asked.exit_code == 0, asked.output
    assert len([i for i in json.loads(run(home, "wallet", "list", "--json").stdout)]) == 2


def test_wrong_passphrase_decrypts_nothing_and_writes_nothing(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    wallet = init(home)
    before = snapshot(wallet)
    result = enroll(home, url, input=f"not the passphrase\n{PIN}\n")
    assert result.exit_code == 1
    assert error_line(result) == "error [wrongPassphrase]: the passphrase does not open this wallet"
    assert snapshot(wallet) == before
    assert standin.state.challenges == {}
    assert standin.state.enrolled_certificates == []
    assert sign_tries_left(home) == 5


def test_wrong_pin_shows_tries_left_and_is_never_retried(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    wallet = init(home)
    before = snapshot(wallet)
    result = enroll(home, url, input=f"{PASSPHRASE}\nWRONG999\n{PIN}\n{PIN}\n")
    assert result.exit_code == 1
    assert "5 tries left" in result.stderr
    assert error_line(result).startswith("error [wrongPin]: wrong sign PIN: 4 tries left")
    assert sign_tries_left(home) == 4  # exactly one VERIFY was spent
    assert standin.state.enrolled_certificates == []
    assert snapshot(wallet) == before


def test_invalid_nonce_is_retried_once_with_a_fresh_nonce(home: Path) -> None:
    standin = StandinIssuer(Behaviour(invalid_nonce=1))
    init(home)
    with serve(standin.app) as url:
        result = enroll(home, url)
    assert result.exit_code == 0, result.output
    assert standin.state.requests == ["xid_identity_sd_jwt"] * 2 + ["xid_identity_jwt_vc"]
    first, second = standin.state.proof_nonces[:2]
    assert first != second  # the retry used a new nonce


def test_a_second_invalid_nonce_is_one_error_line(home: Path) -> None:
    standin = StandinIssuer(Behaviour(invalid_nonce=2))
    wallet = init(home)
    with serve(standin.app) as url:
        result = enroll(home, url)
    assert error_line(result) == (
        "error [issuerRefused]: the xid_identity_sd_jwt credential request: the issuer answered 400 invalid_nonce: "
        "c_nonce expired"
    )
    assert standin.state.requests == ["xid_identity_sd_jwt"] * 2  # one retry, no more
    assert [i for i in json.loads(run(home, "wallet", "list", "--json").stdout)] == []
    assert wallet.is_dir()


def test_metadata_for_another_issuer_is_refused(home: Path) -> None:
    standin = StandinIssuer(Behaviour(metadata_issuer="https://evil.example"))
    init(home)
    with serve(standin.app) as url:
        result = enroll(home, url)
    assert error_line(result).startswith("error [issuerMismatch]: the metadata names the credential issuer ")
    assert standin.state.requests == []
    assert json.loads(run(home, "wallet", "list", "--json").stdout) == []


def test_a_pre_final_response_shape_is_refused(home: Path) -> None:
    standin = StandinIssuer(Behaviour(singular_credential=True))
    init(home)
    with serve(standin.app) as url:
        result = enroll(home, url)
    assert error_line(result).startswith("error [preFinalShape]: the xid_identity_sd_jwt credential response has a")
    assert json.loads(run(home, "wallet", "list", "--json").stdout) == []


def test_an_issuer_error_is_one_line(home: Path) -> None:
    standin = StandinIssuer(Behaviour(enroll_error=(403, "card_revoked", "the card certificate\nis revoked")))
    init(home)
    with serve(standin.app) as url:
        result = enroll(home, url)
    assert error_line(result) == (
        "error [issuerRefused]: the card check: the issuer answered 403 card_revoked: the card certificate is revoked"
    )
    assert result.exit_code == 1


def test_an_unreachable_issuer_and_a_plain_http_issuer(home: Path) -> None:
    init(home)
    down = enroll(home, "http://127.0.0.1:9")
    assert error_line(down).startswith("error [issuerUnreachable]: the enrollment challenge: cannot connect")
    plain = enroll(home, "http://issuer.example")
    assert error_line(plain).startswith("error [issuerProtocol]: the issuer URL must be an https URL")


def test_init_refuses_an_existing_wallet_and_differing_passphrases(home: Path) -> None:
    wallet = init(home, "--key-type", "ed25519")
    before = snapshot(wallet)
    again = run(home, "wallet", "init", "--passphrase-stdin", input="other\n")
    assert error_line(again).startswith("error [walletExists]: ")
    assert snapshot(wallet) == before
    listing = run(home, "wallet", "list")
    assert listing.stdout == "the wallet holds no credential yet\n"


def test_enroll_without_a_wallet_says_so(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    _, url = issuer
    result = enroll(home, url)
    assert error_line(result).startswith("error [noWallet]: no wallet in ")


def test_certificates_are_checked(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    init(home)
    assert enroll(home, url).exit_code == 0
    root = standin.ca_cert
    for cert in standin.state.certificates:
        cert.verify_directly_issued_by(root)
        assert isinstance(cert, x509.Certificate)


def test_enroll_with_an_ed25519_holder_key(home: Path, issuer: tuple[StandinIssuer, str]) -> None:
    standin, url = issuer
    init(home, "--key-type", "ed25519")
    result = enroll(home, url, "--json", "--tx-code", str(standin.behaviour.tx_code))
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["certificates"]) == 2
    keys = {PublicKey.from_cryptography(c.public_key()).key_type for c in standin.state.certificates}  # type: ignore[arg-type]
    assert keys == {KeyType.ED25519}


def test_the_last_try_needs_confirmation(home: Path, issuer: tuple[StandinIssuer, str], tmp_path: Path) -> None:
    standin, url = issuer
    init(home)
    data = tmp_path / "data.txt"
    data.write_text("x")
    for _ in range(4):  # spend four tries with a wrong password
        spent = run(home, "card", "sign", str(data), "--emulated", "--pin-stdin", input="WRONG999\n")
        assert spent.exit_code == 1
    assert sign_tries_left(home) == 1
    refused = enroll(home, url)
    assert error_line(refused).startswith("error [lastPinTry]: only one try is left")
    assert sign_tries_left(home) == 1  # nothing was verified
    assert standin.state.enrolled_certificates == []
    confirmed = enroll(home, url, "--confirm-last-try")
    assert confirmed.exit_code == 0, confirmed.output
    assert sign_tries_left(home) == 5  # a right password resets the counter
