"""The card check: POST /enroll/challenge and POST /enroll, on SQLite and PostgreSQL, with the served TEST CA.

Every refusal gets its protocol error and changes nothing; the only exception, documented in issuer.enrollment, is a
card-signed request whose certificate is refused: its nonce is burnt and nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_encode
from foundation.db import open_engine, transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings
from issuer.enroll_routes import routes
from issuer.enrollment import Enrollment, EnrollmentNonceError, challenges, signed_bytes
from issuer.evidence import evidence_table, load
from issuer.persons import persons
from jpki_bridge.jpki import JpkiCard
from jpki_bridge.profile import SIGN_POLICY_OID
from jpki_bridge.revocation import RevocationUnavailableError, UncheckedProvider
from jpki_bridge.revocation.common import RevocationMode, RevocationOutcome
from jpki_bridge.testca import CardIdentity, TestCA
from jpki_bridge.transport import InMemoryTransport
from ledger.errors import LedgerError
from ledger.records import Record
from tests.helpers import SIGN_PASSWORD, AsgiClient, load_person, make_card
from tests.issuer.enroll_kit import FakeOffers, Wallet, later, snapshot

CHALLENGES = "issuer_enroll_challenges"


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def expired_card(served_ca: Any) -> CardIdentity:
    ca: TestCA = served_ca.ca
    """A yamada card issued six years ago under the 02 root: its certificate expired about a year ago."""
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=6 * 365)
    return ca.issue(load_person("yamada"), issued, generation="02")


@pytest.fixture(scope="module")
def revoked_card(served_ca: Any) -> CardIdentity:
    ca: TestCA = served_ca.ca
    """A card of its own, revoked at the served CA (yamada_card stays good)."""
    card = ca.issue(load_person("substitute"))
    ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise)
    return card


@pytest.fixture(scope="module")
def untrusted_card() -> CardIdentity:
    """A card from another TEST CA, whose roots the issuer does not trust."""
    return TestCA.create().issue(load_person("yamada"))


@pytest.fixture(scope="module")
def other_card(served_ca: Any) -> CardIdentity:
    ca: TestCA = served_ca.ca
    """Another valid card (another key) from the served CA."""
    return ca.issue(load_person("leap_day"))


@pytest.fixture
def offers(issuer_context: IssuerContext) -> FakeOffers:
    return FakeOffers(issuer_context.base_url)


@pytest.fixture
def enrollment(issuer_context: IssuerContext, offers: FakeOffers) -> Enrollment:
    return Enrollment(issuer_context, offers)


def app_for(ctx: IssuerContext, enrollment: Enrollment) -> Starlette:
    return Starlette(routes=routes(ctx, enrollment), exception_handlers=dict(EXCEPTION_HANDLERS))


@pytest.fixture
def client(issuer_context: IssuerContext, enrollment: Enrollment) -> AsgiClient:
    return AsgiClient(app_for(issuer_context, enrollment))


@pytest.fixture
def wallet(issuer_context: IssuerContext) -> Wallet:
    return Wallet(issuer_context.base_url)


def challenge(client: AsgiClient, wallet: Wallet) -> str:
    answer = client.post("/enroll/challenge", json={"holder_jwk": wallet.jwk})
    assert answer.status_code == 201, answer.text
    nonce: str = answer.json()["nonce"]
    return nonce


def refused(
    client: AsgiClient, engine: Engine, body: Any, status: int, error: str, *, burns: bool = False, **kwargs: Any
) -> httpx.Response:
    """POST /enroll, expect the error, and check that nothing changed (except the burnt nonce when ``burns``)."""
    before = snapshot(engine)
    answer = client.post("/enroll", json=body, **kwargs) if body is not None else client.post("/enroll", **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]
    assert answer.headers["cache-control"] == "no-store"
    after = snapshot(engine)
    if burns:
        assert len(after[CHALLENGES]) == len(before[CHALLENGES]) - 1
        before.pop(CHALLENGES)
        after.pop(CHALLENGES)
    assert after == before
    return answer


def count(engine: Engine, table: Any) -> int:
    with transaction(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- the happy path -----------------------------------------------------------------------------------------------


def test_enrollment_over_http(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity, offers: FakeOffers
) -> None:
    answer = client.post("/enroll/challenge", json={"holder_jwk": wallet.jwk})
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert len(body["nonce"]) == 43
    assert 0 < body["expires_in"] <= 300
    assert count(issuer_context.engine, challenges) == 1

    answer = client.post("/enroll", json=wallet.body(yamada_card, body["nonce"]))
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    result = answer.json()
    assert set(result) == {
        "credential_offer",
        "credential_offer_uri",
        "credential_offer_reference",
        "tx_code",
        "expires_in",
        "qr_svg",
    }
    assert result["credential_offer"]["credential_issuer"] == issuer_context.base_url
    assert result["credential_offer_uri"].startswith("openid-credential-offer://?credential_offer=")
    assert result["credential_offer_reference"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert result["tx_code"] == "123456"
    assert 590 <= result["expires_in"] <= 600
    assert result["qr_svg"].startswith("<svg")
    assert result["qr_svg"].rstrip().endswith("</svg>")

    [grant] = offers.requests
    assert grant.holder_jwk == wallet.jwk
    assert grant.certificate_fingerprint == yamada_card.sign_cert.fingerprint(hashes.SHA256()).hex()
    assert grant.person_id not in answer.text
    assert "山田" not in answer.text
    assert count(issuer_context.engine, challenges) == 0
    assert count(issuer_context.engine, persons) == 1
    assert count(issuer_context.engine, evidence_table) == 1


def test_challenge_from_one_process_enrolls_in_another(
    issuer_context: IssuerContext, offers: FakeOffers, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    url = issuer_context.engine.url.render_as_string(hide_password=False)
    second = open_engine(url)
    try:
        other = IssuerContext(**{**vars(issuer_context), "engine": second})
        nonce = Enrollment(issuer_context, offers).challenge(wallet.jwk).nonce
        result = Enrollment(other, offers).enroll(
            nonce=nonce,
            certificate=yamada_card.sign_cert.public_bytes(Encoding.DER),
            signature=wallet.card_signature(yamada_card, nonce),
            holder_proof=wallet.proof(nonce),
        )
        assert result.new_person
    finally:
        second.dispose()


def test_nonce_consumed_in_one_process_is_refused_in_another(
    issuer_context: IssuerContext, offers: FakeOffers, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    url = issuer_context.engine.url.render_as_string(hide_password=False)
    second = open_engine(url)
    try:
        other = IssuerContext(**{**vars(issuer_context), "engine": second})
        first = Enrollment(issuer_context, offers)
        nonce = first.challenge(wallet.jwk).nonce
        args: dict[str, Any] = {
            "nonce": nonce,
            "certificate": yamada_card.sign_cert.public_bytes(Encoding.DER),
            "signature": wallet.card_signature(yamada_card, nonce),
            "holder_proof": wallet.proof(nonce),
        }
        first.enroll(**args)
        before = snapshot(issuer_context.engine)
        with pytest.raises(EnrollmentNonceError):
            Enrollment(other, offers).enroll(**args)
        assert snapshot(issuer_context.engine) == before
    finally:
        second.dispose()


class _Racing:
    """A revocation provider that lets another process complete the same enrollment while this one validates."""

    def __init__(self, good: Any, race: Any) -> None:
        self.good, self.race, self.mode = good, race, good.mode

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        race, self.race = self.race, None
        if race is not None:
            race()
        outcome: RevocationOutcome = self.good.check(cert, issuer, at)
        return outcome


def test_concurrent_use_of_one_nonce_enrolls_once(
    issuer_context: IssuerContext, offers: FakeOffers, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    url = issuer_context.engine.url.render_as_string(hide_password=False)
    second = open_engine(url)
    try:
        other = Enrollment(IssuerContext(**{**vars(issuer_context), "engine": second}), offers)
        first = Enrollment(issuer_context, offers)
        nonce = first.challenge(wallet.jwk).nonce
        args: dict[str, Any] = {
            "nonce": nonce,
            "certificate": yamada_card.sign_cert.public_bytes(Encoding.DER),
            "signature": wallet.card_signature(yamada_card, nonce),
            "holder_proof": wallet.proof(nonce),
        }
        issuer_context.revocation = _Racing(issuer_context.revocation, lambda: other.enroll(**args))
        with pytest.raises(EnrollmentNonceError, match="meanwhile"):
            first.enroll(**args)
        assert len(offers.requests) == 1  # the other process's enrollment, and only that one
        assert count(issuer_context.engine, persons) == 1
        assert count(issuer_context.engine, evidence_table) == 1
    finally:
        second.dispose()


# -- refusals that keep the nonce usable ---------------------------------------------------------------------------


def test_replayed_nonce(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    body = wallet.body(yamada_card, challenge(client, wallet))
    assert client.post("/enroll", json=body).status_code == 201
    refused(client, issuer_context.engine, body, 400, "invalid_nonce")
    refused(client, issuer_context.engine, {**body, "nonce": "A" * 43}, 400, "invalid_nonce")


def test_expired_nonce(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    nonce = challenge(client, wallet)
    later(issuer_context, issuer_context.settings.challenge_ttl + dt.timedelta(seconds=1))
    answer = refused(client, issuer_context.engine, wallet.body(yamada_card, nonce), 400, "invalid_nonce")
    assert "expired" in answer.json()["error_description"]


def _bad_proofs(wallet: Wallet, nonce: str) -> Iterator[tuple[str, str, str]]:
    """(what is wrong, the proof, words its error description must contain)."""
    other = SoftwareSigner.generate(KeyType.P256)
    yield "wrong aud", wallet.proof(nonce, aud="https://elsewhere.example"), "aud must be"
    yield "aud list without us", wallet.proof(nonce, aud=["https://elsewhere.example"]), "aud must be"
    yield "wrong nonce", wallet.proof(b64url_encode(b"x" * 32)), "nonce is not"
    yield "wrong typ", wallet.proof(nonce, typ="JWT"), "typ must be"
    yield "other key", wallet.proof(nonce, signer=other), "another key"
    yield "key swapped in header", wallet.proof(nonce, signer=other, header_jwk=wallet.jwk), "does not verify"
    yield "old iat", wallet.proof(nonce, iat=int(time.time()) - 3600), "iat is more than"
    yield "future iat", wallet.proof(nonce, iat=int(time.time()) + 3600), "iat is more than"
    yield "iat not a number", wallet.proof(nonce, iat="now"), "iat must be"  # type: ignore[arg-type]
    yield "alg HS256", wallet.proof(nonce, alg="HS256"), "alg must be one of"
    yield "alg ES384 on a P-256 key", wallet.proof(nonce, alg="ES384"), "does not verify"
    good = wallet.proof(nonce)
    head, payload, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    yield "flipped signature", f"{head}.{payload}.{flipped}", "does not verify"
    header = {"alg": "none", "typ": "xid-enroll+jwt", "jwk": wallet.jwk}
    yield "alg none", f"{b64url_encode(orjson.dumps(header))}.{payload}.", "alg must be one of"
    yield "not a JWS", "not-a-jws", "compact JWS"
    no_jwk = {"alg": "ES256", "typ": "xid-enroll+jwt", "kid": "did:example:123#key-1"}
    yield "kid instead of jwk", f"{b64url_encode(orjson.dumps(no_jwk))}.{payload}.{signature}", "public key as jwk"


def test_bad_holder_proofs(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    nonce = challenge(client, wallet)
    body = wallet.body(yamada_card, nonce)
    for what, proof, words in _bad_proofs(wallet, nonce):
        answer = refused(client, issuer_context.engine, {**body, "holder_proof": proof}, 400, "invalid_proof")
        assert words in answer.json()["error_description"], what
    assert client.post("/enroll", json=body).status_code == 201  # the nonce survived every refusal


def test_card_signature_by_another_card_or_over_another_nonce(
    client: AsgiClient,
    issuer_context: IssuerContext,
    wallet: Wallet,
    yamada_card: CardIdentity,
    other_card: CardIdentity,
) -> None:
    nonce = challenge(client, wallet)
    body = wallet.body(yamada_card, nonce)
    by_other = b64url_encode(wallet.card_signature(other_card, nonce))
    refused(client, issuer_context.engine, {**body, "signature": by_other}, 400, "invalid_signature")
    other_nonce = b64url_encode(wallet.card_signature(yamada_card, challenge(client, wallet)))
    refused(client, issuer_context.engine, {**body, "signature": other_nonce}, 400, "invalid_signature")
    other_holder = b64url_encode(wallet.card_signature(yamada_card, nonce, jkt="x" * 43))
    refused(client, issuer_context.engine, {**body, "signature": other_holder}, 400, "invalid_signature")
    assert client.post("/enroll", json=body).status_code == 201


def test_malformed_requests(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    engine = issuer_context.engine
    nonce = challenge(client, wallet)
    body = wallet.body(yamada_card, nonce)
    json_type = {"content-type": "application/json"}
    refused(client, engine, None, 400, "invalid_request", content=b'{"nonce":', headers=json_type)
    refused(client, engine, None, 400, "invalid_request", content=b"[]", headers=json_type)
    refused(client, engine, None, 400, "invalid_request", content=b"nonce=x", headers={"content-type": "text/plain"})
    big = b'{"nonce":"' + b"x" * (issuer_context.settings.max_body_bytes + 1) + b'"}'
    refused(client, engine, None, 413, "invalid_request", content=big, headers=json_type)
    for field, value in [
        ("nonce", 5),
        ("certificate", ["x"]),
        ("signature", None),
        ("holder_proof", {"a": 1}),
        ("certificate", "not base64url!"),
        ("certificate", "AAAA"),
        ("signature", "a+b/"),
        ("certificate", "A" * 20000),
    ]:
        refused(client, engine, {**body, field: value}, 400, "invalid_request")
    for missing in body:
        refused(client, engine, {k: v for k, v in body.items() if k != missing}, 400, "invalid_request")
    assert client.post("/enroll", json=body).status_code == 201


def test_bad_challenge_requests(client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet) -> None:
    private = SoftwareSigner.generate(KeyType.P256).to_private_jwk()
    x25519 = {"kty": "OKP", "crv": "X25519", "x": wallet.jwk["x"]}
    p521 = SoftwareSigner.generate(KeyType.P521).public_jwk
    descriptions: list[str] = []
    for body in [
        {"holder_jwk": private},
        {"holder_jwk": x25519},
        {"holder_jwk": p521},
        {"holder_jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"holder_jwk": {**wallet.jwk, "y": wallet.jwk["x"][:-2] + "AA"}},
        {"holder_jwk": "a JWK"},
        {"holder": wallet.jwk},
    ]:
        before = snapshot(issuer_context.engine)
        answer = client.post("/enroll/challenge", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"] == "invalid_request"
        assert snapshot(issuer_context.engine) == before
        descriptions.append(answer.json()["error_description"])
    assert "private key members" in descriptions[0]
    ed25519 = SoftwareSigner.generate(KeyType.ED25519).public_jwk
    p384 = SoftwareSigner.generate(KeyType.P384).public_jwk
    for jwk in (ed25519, p384):
        assert client.post("/enroll/challenge", json={"holder_jwk": jwk}).status_code == 201


@pytest.mark.parametrize("key_type", [KeyType.ED25519, KeyType.P384])
def test_other_holder_key_types_enroll(
    issuer_context: IssuerContext, enrollment: Enrollment, yamada_card: CardIdentity, key_type: KeyType
) -> None:
    wallet = Wallet(issuer_context.base_url, SoftwareSigner.generate(key_type))
    assert wallet.enroll(enrollment, yamada_card).new_person


class _Unavailable:
    mode: RevocationMode = "ocsp"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        raise RevocationUnavailableError("cannot reach the responder")


def test_revocation_unavailable_fails_closed_and_keeps_the_nonce(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    good = issuer_context.revocation
    body = wallet.body(yamada_card, challenge(client, wallet))
    issuer_context.revocation = _Unavailable()
    refused(client, issuer_context.engine, body, 503, "temporarily_unavailable")
    issuer_context.revocation = good
    assert client.post("/enroll", json=body).status_code == 201  # the same signed request, retried


def test_unchecked_revocation_only_in_development(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    issuer_context.revocation = UncheckedProvider()
    issuer_context.settings = IssuerSettings(development=False)
    body = wallet.body(yamada_card, challenge(client, wallet))
    answer = refused(client, issuer_context.engine, body, 503, "temporarily_unavailable")
    assert "revocation checking is switched off" in answer.json()["error_description"]
    issuer_context.settings = IssuerSettings(development=True)
    assert client.post("/enroll", json=body).status_code == 201
    with transaction(issuer_context.engine) as conn:
        [evidence_id] = conn.execute(select(evidence_table.c.evidence_id)).scalars()
        record = load(issuer_context, conn, evidence_id)
    assert record.validation["revocation_checked"] is False
    assert record.validation["summary"].endswith("revocation not checked")


def test_enrollment_through_the_software_card(
    issuer_context: IssuerContext, enrollment: Enrollment, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    """The wallet's side as it runs against a card: VERIFY, read the certificate, sign the DigestInfo."""
    card = JpkiCard(InMemoryTransport(make_card(yamada_card, load_person("yamada"))))
    card.select()
    nonce = enrollment.challenge(wallet.jwk).nonce
    assert card.pin_status("sign").tries_left == 5
    card.verify("sign", SIGN_PASSWORD)
    certificate = card.read_sign_certificate().public_bytes(Encoding.DER)
    signature = card.sign("sign", signed_bytes(nonce, wallet.jkt))
    result = enrollment.enroll(
        nonce=nonce, certificate=certificate, signature=signature, holder_proof=wallet.proof(nonce)
    )
    assert result.new_person
    assert result.offer.tx_code == "123456"


def test_signature_certificate_without_basic4_info(
    client: AsgiClient, issuer_context: IssuerContext, wallet: Wallet, served_ca: Any
) -> None:
    """A certificate of the sign tree (key usage, policy) that carries no basic 4 info is refused, nonce burnt."""
    ca: TestCA = served_ca.ca
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = ca.current_root("sign")
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    policy = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(SIGN_POLICY_OID), None)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "TEST no basic 4 info")]))
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(usage, critical=True)
        .add_extension(policy, critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        .sign(root.key, hashes.SHA256())
    )
    issuer_context.revocation = UncheckedProvider()  # the CA never recorded this certificate; OCSP says unknown
    nonce = challenge(client, wallet)
    body = {
        "nonce": nonce,
        "certificate": b64url_encode(cert.public_bytes(Encoding.DER)),
        "signature": b64url_encode(key.sign(signed_bytes(nonce, wallet.jkt), padding.PKCS1v15(), hashes.SHA256())),
        "holder_proof": wallet.proof(nonce),
    }
    answer = refused(client, issuer_context.engine, body, 403, "certificate_rejected", burns=True)
    assert "basic 4 info" in answer.json()["error_description"]


class _BrokenLedger:
    def append(self, record: Record, timeout: float | None = None) -> None:
        raise LedgerError("the ledger database is unavailable")


def test_ledger_failure_after_commit_keeps_the_enrollment(
    issuer_context: IssuerContext,
    enrollment: Enrollment,
    wallet: Wallet,
    yamada_card: CardIdentity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer_context.ledger = _BrokenLedger()  # type: ignore[assignment]
    result = wallet.enroll(enrollment, yamada_card)
    assert count(issuer_context.engine, evidence_table) == 1
    [message] = [r.getMessage() for r in caplog.records if r.name == "issuer.enrollment"]
    assert "ledger record of an enrollment could not be appended: LedgerError" in message
    assert result.person_id not in caplog.text
    assert "山田" not in caplog.text


def test_offer_failure_rolls_everything_back(
    issuer_context: IssuerContext, enrollment: Enrollment, offers: FakeOffers, wallet: Wallet, yamada_card: CardIdentity
) -> None:
    nonce = enrollment.challenge(wallet.jwk).nonce
    args: dict[str, Any] = {
        "nonce": nonce,
        "certificate": yamada_card.sign_cert.public_bytes(Encoding.DER),
        "signature": wallet.card_signature(yamada_card, nonce),
        "holder_proof": wallet.proof(nonce),
    }
    before = snapshot(issuer_context.engine)
    offers.fail = True
    with pytest.raises(RuntimeError):
        enrollment.enroll(**args)
    assert snapshot(issuer_context.engine) == before
    offers.fail = False
    assert enrollment.enroll(**args).new_person


# -- refused certificates: the card-signed nonce is burnt, nothing else changes ------------------------------------


@pytest.mark.parametrize(
    ("card_fixture", "auth", "words"),
    [
        ("expired_card", False, "expired"),
        ("revoked_card", False, "revoked"),
        ("untrusted_card", False, "trusted root"),
        ("yamada_card", True, "tree"),
    ],
    ids=["expired", "revoked", "untrusted", "auth-certificate"],
)
def test_refused_certificates(
    request: pytest.FixtureRequest,
    client: AsgiClient,
    issuer_context: IssuerContext,
    wallet: Wallet,
    card_fixture: str,
    auth: bool,
    words: str,
) -> None:
    card: CardIdentity = request.getfixturevalue(card_fixture)
    nonce = challenge(client, wallet)
    body = wallet.body(card, nonce, auth=auth)
    answer = refused(client, issuer_context.engine, body, 403, "certificate_rejected", burns=True)
    assert words in answer.json()["error_description"]
    refused(client, issuer_context.engine, body, 400, "invalid_nonce")


def test_rate_limit(issuer_context: IssuerContext, enrollment: Enrollment, wallet: Wallet) -> None:
    issuer_context.settings = IssuerSettings(enroll_rate_per_minute=2)
    client = AsgiClient(app_for(issuer_context, enrollment))
    for _ in range(2):
        assert client.post("/enroll/challenge", json={"holder_jwk": wallet.jwk}).status_code == 201
    answer = client.post("/enroll/challenge", json={"holder_jwk": wallet.jwk})
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) > 0
    assert (
        AsgiClient(client.app, client_host="127.0.0.2")
        .post("/enroll/challenge", json={"holder_jwk": wallet.jwk})
        .status_code
        == 201
    )
    for _ in range(2):
        client.post("/enroll", json={})
    assert client.post("/enroll", json={}).status_code == 429


# -- no personal data in clear ------------------------------------------------------------------------------------


def _needles() -> list[bytes]:
    person = load_person("yamada")
    texts = [
        person.name,
        person.name.replace("\u3000", ""),
        person.name.split("\u3000")[0],
        person.address,
        person.date_of_birth,
        person.date_of_birth[1:],
        "1990-01-02",
        "東京都千代田区",
        person.my_number,
    ]
    needles = [text.encode(encoding) for text in texts for encoding in ("utf-8", "utf-16-le", "utf-16-be")]
    return [needle for needle in needles if len(needle) >= 6]


def test_no_basic4_info_in_clear_in_the_database(
    issuer_context: IssuerContext,
    enrollment: Enrollment,
    wallet: Wallet,
    yamada_card: CardIdentity,
    tmp_path: Path,
) -> None:
    wallet.enroll(enrollment, yamada_card)
    der = yamada_card.sign_cert.public_bytes(Encoding.DER)
    rows = repr(snapshot(issuer_context.engine)).encode("utf-8")
    values = [value for table in snapshot(issuer_context.engine).values() for row in table for value in row]
    blobs = [rows, *(value for value in values if isinstance(value, bytes))]
    if issuer_context.engine.dialect.name == "sqlite":
        issuer_context.engine.dispose()
        database = Path(issuer_context.engine.url.database or "")
        blobs += [path.read_bytes() for path in database.parent.glob(database.name + "*")]
    assert any(len(blob) > 1000 for blob in blobs)
    assert load_person("yamada").name.encode() in der  # what is searched for is in the certificate
    for blob in blobs:
        for needle in _needles():
            assert needle not in blob, needle
        assert der[-64:] not in blob  # the certificate (its signature) is only inside the ciphertext
