"""Enrollment server time: ``Enrollment.enroll`` from a card-signed request to the offer, without card I/O.

What one timed call does: look the nonce up, verify the holder proof (ES256) and the card's RSA-2048 signature,
validate the chain to the TEST JPKI roots with pyhanko-certvalidator, check revocation, parse the basic 4 info, then
one writer transaction on SQLite (``synchronous=FULL``: the commit is fsynced) that consumes the nonce, resolves the
person, stores the AES-GCM encrypted evidence and calls the offer factory. Not included: the card (PIN, signing,
reading the certificate: the wallet's side), the HTTP layer, the ledger append (measured in bench_ledger_log; the
context has no ledger here), and a real offer store (a fake offer factory). Revocation is a ``CrlProvider`` reading
a CRL file of the TEST CA (parsed and its signature verified on every call), so no network round trip is measured
— with OCSP in production add the responder's round trip. Every call enrolls the same card with a fresh holder key
and nonce (prepared beforehand, untimed): the person is found by its certificate link, the holder key is bound anew.

Target (issue 10): ≤ 10 ms p50. The floor is the raw RSA-2048 PKCS#1 v1.5 SHA-256 verification of the card's
signature (cryptography), the one operation enrollment cannot avoid.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection

from bench.harness import bench
from did import KeyType, SoftwareSigner
from foundation.db import open_engine
from foundation.jws import encode_compact
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.contracts import CredentialOffer, GrantRequest
from issuer.db import create_schema
from issuer.enrollment import PROOF_TYPE, Enrollment, signed_bytes
from jpki_bridge.revocation import CrlProvider
from jpki_bridge.testca import Person, TestCA

FLOOR = "raw RSA-2048 PKCS#1 v1.5 SHA-256 verify (cryptography)"
BASE_URL = "https://issuer.example.jp"
POOL = 1500
"""Prepared requests (each needs its own challenge); more than a full-length run uses."""
PERSON = Person("山田　太郎", "1", "419900102", "東京都千代田区千代田1-1", "123456789018")


def _offer(conn: Connection, request: GrantRequest) -> CredentialOffer:
    return CredentialOffer(
        offer={"credential_issuer": BASE_URL, "credential_configuration_ids": ["identity"], "grants": {}},
        by_value="openid-credential-offer://?credential_offer=%7B%7D",
        by_reference=f"openid-credential-offer://?credential_offer_uri={BASE_URL}/offers/x",
        tx_code=None,
        expires_at=request.verified_at + timedelta(minutes=10),
    )


@bench("issuer", FLOOR)
def _floor() -> Callable[[], object]:
    ca = TestCA.create()
    card = ca.issue(PERSON)
    data = signed_bytes("n" * 43, "t" * 43)
    signature = card.sign_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    key: Any = card.sign_cert.public_key()
    return lambda: key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


@bench("issuer", "enrollment server time (SQLite FULL, CRL file, fake offer; no card I/O)", floor=FLOOR)
def _enroll() -> Callable[[], object]:
    directory = Path(tempfile.mkdtemp(prefix="xid-bench-enroll-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    ca = TestCA.create()
    card = ca.issue(PERSON)
    crl = directory / "sign.crl"
    crl.write_bytes(ca.crl("sign").public_bytes(Encoding.DER))
    engine = open_engine(f"sqlite:///{directory / 'issuer.sqlite3'}")
    atexit.register(engine.dispose)
    create_schema(engine)
    ctx = IssuerContext(
        base_url=BASE_URL,
        did="did:web:issuer.example.jp",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=ca.trust_anchors(),
        revocation=CrlProvider([crl]),
        settings=IssuerSettings(challenge_ttl=timedelta(hours=1), proof_max_age=timedelta(hours=1)),
    )
    enrollment = Enrollment(ctx, _offer)
    certificate = card.sign_cert.public_bytes(Encoding.DER)
    requests: list[dict[str, Any]] = []
    for _ in range(POOL):
        holder = SoftwareSigner.generate(KeyType.P256)
        nonce = enrollment.challenge(holder.public_jwk).nonce
        jkt = holder.public_key.thumbprint()
        proof = encode_compact(
            {"typ": PROOF_TYPE, "alg": "ES256", "jwk": holder.public_jwk},
            orjson.dumps({"aud": BASE_URL, "nonce": nonce, "iat": int(time.time())}),
            holder.sign,
        )
        signature = card.sign_key.sign(signed_bytes(nonce, jkt), padding.PKCS1v15(), hashes.SHA256())
        requests.append({"nonce": nonce, "certificate": certificate, "signature": signature, "holder_proof": proof})
    pending = iter(requests)

    def enroll() -> object:
        try:
            request = next(pending)
        except StopIteration:
            raise RuntimeError(f"the enrollment bench ran out of its {POOL} prepared requests") from None
        return enrollment.enroll(**request)

    return enroll
