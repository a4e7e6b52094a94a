"""The whole issuer as ``xid serve`` composes it, over real HTTP on 127.0.0.1, on the development configuration.

A card from the TEST CA the server trusts enrolls; the pinned third-party wallet library (@openid4vc/openid4vci)
redeems the offer for every configuration; each credential verifies with our verifier (resolving the issuer's did:web
over HTTP and fetching the published status lists) and, for SD-JWT VC, with @sd-jwt/sd-jwt-vc. Afterwards nothing
holds the person's name, address or birth date in clear: not the databases, not the logs, not the ledger. A revoked
card found by the re-check revokes what was issued from it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.types import Receive, Scope, Send

from did import Resolver
from did.did_web import DidWebResolver
from foundation.b64 import b64url_encode
from foundation.db import transaction
from issuer.app import wire
from jpki_bridge.testca import CardIdentity, Person, TestCA
from tests.helpers import load_person, require_component, run_node, serve
from tests.issuer.enroll_kit import Wallet
from vc.verify import CredentialRevokedError, CredentialVerifier
from xid.serve import Services, running
from xid.settings import Settings

INTEROP = Path(__file__).parents[1] / "interop"
CONFIGURATIONS = ["xid_identity_sd_jwt", "xid_identity_jwt_vc", "xid_identity_ldp_vc"]


@dataclass
class System:
    """A served issuer (its URL and services), the TEST CA it trusts, and a card issued by that CA."""

    url: str
    services: Services
    settings: Settings
    ca: TestCA
    person: Person
    card: CardIdentity


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    """xid serve's app on a real uvicorn (the base URL is the served one), with a fresh TEST card."""
    current: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await current["app"](scope, receive, send)

    with serve(app) as url:
        settings = Settings.from_env({"XID_HOME": str(tmp_path / "home")})
        with running(settings, url) as (services, starlette):
            current["app"] = starlette
            ca = TestCA.load(settings.test_ca_dir)
            person = load_person("yamada")
            card = ca.issue(person)
            ca.save(settings.test_ca_dir)  # the in-process OCSP responder reloads the saved CA
            yield System(url, services, settings, ca, person, card)


def enroll(system: System, wallet: Wallet) -> dict[str, Any]:
    """The card check over HTTP; returns the enrollment response."""
    with httpx.Client(base_url=system.url) as client:
        challenge = client.post("/enroll/challenge", json={"holder_jwk": wallet.jwk})
        assert challenge.status_code == 201, challenge.text
        answer = client.post("/enroll", json=wallet.body(system.card, challenge.json()["nonce"]))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def node(folder: str, script: str, *args: str, request: dict[str, Any]) -> dict[str, Any]:
    """Run an interop peer with one JSON request on stdin; return its JSON answer."""
    return run_node(INTEROP / folder / script, *args, request=request)


@contextmanager
def verifier() -> Iterator[CredentialVerifier]:
    """Our verifier as a relying party would run it: did:web over HTTP (loopback allowed: development)."""
    with httpx.Client(timeout=10) as client:

        def fetch(url: str) -> dict[str, Any] | str:
            response = client.get(url)
            assert response.status_code == 200, response.text
            return response.json() if "json" in response.headers["content-type"] else response.text

        web = DidWebResolver(client=client, allow_loopback=True, scheme="http")
        yield CredentialVerifier(Resolver.standard(web), fetch)


def test_enroll_and_obtain_every_format_with_a_third_party_wallet(
    system: System, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    require_component(shutil.which("node") is not None, "node")
    require_component(shutil.which("openssl") is not None, "openssl")
    require_component((INTEROP / "oid4vci" / "node_modules").exists(), "npm peers (run make interop)")
    caplog.set_level(logging.DEBUG)
    wallet = Wallet(system.url)
    enrolled = enroll(system, wallet)
    assert set(enrolled) >= {"credential_offer", "credential_offer_uri", "credential_offer_reference", "tx_code"}
    assert enrolled["credential_offer"]["credential_issuer"] == system.url
    assert enrolled["qr_svg"].startswith("<?xml") or enrolled["qr_svg"].startswith("<svg")

    obtained = node(
        "oid4vci",
        "wallet.mjs",
        request={
            "offerUri": enrolled["credential_offer_reference"],
            "txCode": enrolled["tx_code"],
            "configurationIds": CONFIGURATIONS,
            "batch": 1,
        },
    )
    assert obtained["version"] == "V1"
    credentials = {cid: obtained["credentials"][cid][0] for cid in CONFIGURATIONS}

    with verifier() as check:
        results = {cid: check.verify(c, require_key_binding=False) for cid, c in credentials.items()}
    name, address = system.person.name, system.person.address
    assert results["xid_identity_sd_jwt"].claims["name"] == name
    assert results["xid_identity_sd_jwt"].claims["address"]["formatted"] == address
    assert results["xid_identity_jwt_vc"].claims["credentialSubject"]["name"] == name
    assert results["xid_identity_ldp_vc"].claims["credentialSubject"]["name"] == name
    for cid, result in results.items():
        assert result.status, f"{cid} carries no status entry"
        assert all(entry.value == 0 for entry in result.status), cid

    # the SD-JWT VC also verifies in the OpenWallet Foundation's @sd-jwt/sd-jwt-vc: presented by the key the
    # wallet library bound it to, disclosing two claims, with the status list the issuer publishes
    holder = obtained["holderKeys"]["xid_identity_sd_jwt"][0]
    uri = results["xid_identity_sd_jwt"].status[0].list_url
    frame = {"name": True, "age_over_20": True}
    aud, nonce = "https://verifier.example.jp", "n-0001"
    presented = node(
        "vc",
        "sdjwt.mjs",
        "present",
        request={
            "sdJwt": credentials["xid_identity_sd_jwt"],
            "presentationFrame": frame,
            "holderPrivateJwk": holder,
            "nonce": nonce,
            "aud": aud,
        },
    )["presentation"]
    issuer_jwk = system.services.issuer.es256.public_jwk
    lists = {uri: httpx.get(uri).text}
    request = {"presentation": presented, "issuerJwk": issuer_jwk, "nonce": nonce, "aud": aud, "statusLists": lists}
    js = node("vc", "sdjwt.mjs", "verify", request=request)
    assert js["verified"] is True, js
    assert js["claims"]["name"] == name
    assert "address" not in js["claims"]

    # the xid CA issues both certificates for the enrolled holder key (the CSR is the proof of possession); openssl
    # validates each against the published root and asks the OCSP responder the certificate names
    certificates = {}
    token = obtained["tokenResponse"]["access_token"]
    with httpx.Client(base_url=system.url, headers={"authorization": f"Bearer {token}"}) as client:
        root = client.get("/ca/root.pem").text
        for usage in ("authentication", "signing"):
            answer = client.post("/ca/certificates", json={"csr": csr(wallet), "usage": usage})
            assert answer.status_code == 201, answer.text
            certificates[usage] = answer.json()["certificate"]
            assert answer.json()["chain"] == [root]
    for usage, pem in certificates.items():
        assert openssl_ocsp(tmp_path, root, pem, system.url) == "good", usage

    # nothing in clear: databases (with their WAL files), logs, ledger
    home = system.settings.home
    system.services.ledger.checkpoint()
    for probe in personal_data(system.person):
        for path in home.glob("*.sqlite3*"):
            assert probe not in path.read_bytes(), f"{probe!r} found in {path.name}"
        assert probe.decode("utf-8", "replace") not in caplog.text
    with transaction(system.services.ledger.store.engine) as conn:
        entries = [row[0] for row in conn.exec_driver_sql("SELECT entry FROM ledger_entries").all()]
    assert any(b'"type":"enrollment"' in entry for entry in entries)

    # the card is revoked at its CA; the re-check finds it and revokes every credential issued from it
    system.ca.revoke(system.card.sign_cert, x509.ReasonFlags.key_compromise)
    system.ca.save(system.settings.test_ca_dir)
    report = wire(system.services.issuer).recheck()
    assert report.revoked == 1
    assert report.issued_revoked == len(CONFIGURATIONS) + len(certificates)
    with verifier() as check:
        for credential in credentials.values():
            with pytest.raises(CredentialRevokedError):
                check.verify(credential, require_key_binding=False)
    for usage, pem in certificates.items():
        assert openssl_ocsp(tmp_path, root, pem, system.url) == "revoked", usage


def csr(wallet: Wallet) -> str:
    """A PKCS#10 request signed by the enrolled holder key (base64url DER)."""
    key = wallet.signer._key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored by the CA")])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return b64url_encode(request.public_bytes(serialization.Encoding.DER))


def openssl_ocsp(directory: Path, root: str, certificate: str, url: str) -> str:
    """What ``openssl ocsp`` says of a certificate, asking the responder at the issuer (verified with the root)."""
    (directory / "root.pem").write_text(root, encoding="ascii")
    (directory / "cert.pem").write_text(certificate, encoding="ascii")
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "cert.pem"], cwd=directory, capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    done = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            "root.pem",
            "-cert",
            "cert.pem",
            "-CAfile",
            "root.pem",
            "-url",
            f"{url}/ca/ocsp",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Response verify OK" in done.stderr + done.stdout
    return done.stdout.split("cert.pem: ", 1)[1].split()[0]


def personal_data(person: Person) -> list[bytes]:
    """The person's name, address and birth date as they could be stored (UTF-8, UTF-16, the date's forms)."""
    dob = person.date_of_birth[1:]  # EYYYYMMDD without the era digit
    texts = [person.name, person.address, dob, f"{dob[:4]}-{dob[4:6]}-{dob[6:]}", person.date_of_birth]
    probes = [t.encode("utf-8") for t in texts] + [t.encode("utf-16-le") for t in (person.name, person.address)]
    return probes
