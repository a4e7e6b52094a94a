"""Document signing end to end: an enrolled wallet signs a PDF and a text file, ``xid verify-signature`` checks them.

Everything runs as ``xid serve`` composes it, on 127.0.0.1 (with the signature-record routes mounted here until the
composition root mounts them): the wallet enrolls the emulated TEST card, signs with its xid CA signing certificate,
the issuer records the event in the ledger and the receipt is stored beside the signature. pyHanko's own validator
(a separate code path from signing) accepts the PDF with the xid CA root as trust anchor; a changed byte, a wrong
receipt and a revoked certificate are each reported with exit status 1.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

from foundation.b64 import b64url_decode, b64url_encode
from foundation.db import transaction
from issuer.ca import XidCA, revoke
from issuer.persons import pairwise_subject
from tests.helpers import enroll_wallet, serve, serve_system
from wallet.verify_signature import SignatureInvalidError, SignerUntrustedError, TrustInputs, verify_pdf
from xid.cli import main
from xid.demo import sample_pdf
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"


@dataclass
class World:
    """xid serve's app on a real uvicorn with an enrolled wallet."""

    url: str
    home: Path
    services: Services
    ca: XidCA

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` with this XID_HOME."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home)})

    def sign(self, path: Path, *extra: str) -> dict[str, Any]:
        """``xid wallet sign`` with the wallet's passphrase; returns its JSON report."""
        result = self.xid("wallet", "sign", str(path), "--passphrase-stdin", "--json", *extra, stdin=PASSPHRASE + "\n")
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def verify(self, path: Path, *extra: str) -> Result:
        """``xid verify-signature`` against this issuer."""
        return self.xid("verify-signature", str(path), "--issuer", self.url, "--json", *extra)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, starlette):
        issuer = services.issuer
        ca = XidCA(issuer, pairwise=lambda person, sector: pairwise_subject(issuer, person, sector))
        assert any(getattr(r, "path", None) == "/ledger/v1/signatures" for r in starlette.router.routes)
        world = World(url, home, services, ca)
        enroll_wallet(home, url, PASSPHRASE)
        yield world


def root_of(world: World) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(world.ca.root().der)


def error_code(result: Result) -> str:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error [")]
    assert len(errors) == 1, result.stderr
    return errors[0].split("]", 1)[0].removeprefix("error [")


def test_a_signed_pdf_validates_with_pyhanko_and_a_changed_byte_is_detected(world: World, tmp_path: Path) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    document = tmp_path / "contract.pdf"
    original = sample_pdf()
    document.write_bytes(original)
    report = world.sign(document)
    signed_path = tmp_path / "contract.pdf.signed.pdf"
    assert report["kind"] == "pades"
    assert report["signature"] == str(signed_path)
    assert document.read_bytes() == original  # the input is never changed
    signed = signed_path.read_bytes()
    assert signed.startswith(original)  # an incremental update

    # pyHanko's validator, on its own, with the xid CA root as the only trust anchor
    reader = PdfFileReader(BytesIO(signed))
    (embedded,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[root_of(world)], allow_fetching=True, revocation_mode="hard-fail")
    status = validate_pdf_signature(embedded, context)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line
    assert not status.revoked
    assert status.signing_cert.subject.native["organization_name"] == "xid"

    verified = world.verify(signed_path)
    assert verified.exit_code == 0, verified.output
    out = json.loads(verified.stdout)
    assert out["valid"] is True
    assert out["kind"] == "pades"
    assert out["certificate_status"] == "good"
    assert out["signer_did"].startswith("did:jwk:")
    assert out["receipt"]["index"] == report["ledger_index"]

    # one byte inside the signed content changed: pyHanko's digest no longer matches
    position = signed.index(b"/MediaBox")
    tampered = signed[:position] + b"/MediaBoy" + signed[position + len(b"/MediaBox") :]
    changed = tmp_path / "changed.pdf"
    changed.write_bytes(tampered)
    (tmp_path / "changed.pdf.receipt").write_bytes((tmp_path / "contract.pdf.signed.pdf.receipt").read_bytes())
    assert error_code(world.verify(changed)) == "signatureInvalid"
    status = validate_pdf_signature(PdfFileReader(BytesIO(tampered)).embedded_signatures[0], context)
    assert not status.intact

    # bytes appended after the signature: the signature no longer covers the whole file
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed + b"\n% appended\n")
    (tmp_path / "appended.pdf.receipt").write_bytes((tmp_path / "contract.pdf.signed.pdf.receipt").read_bytes())
    assert error_code(world.verify(appended)) == "signatureInvalid"
    trust = TrustInputs(x509.load_der_x509_certificate(world.ca.root().der), None)
    with pytest.raises(SignatureInvalidError, match="added after the last signature"):
        verify_pdf(signed + b"\n% appended\n", trust)


def test_a_detached_jws_verifies_and_tampering_is_detected(world: World, tmp_path: Path) -> None:
    document = tmp_path / "note.txt"
    document.write_text("I agree to the terms of 2026-04-01.\n")
    report = world.sign(document)
    assert report["kind"] == "jws"
    jws = tmp_path / "note.txt.jws"
    receipt = tmp_path / "note.txt.jws.receipt"
    assert (report["signature"], report["receipt"]) == (str(jws), str(receipt))
    _head, empty, _ = jws.read_text().strip().split(".")
    assert empty == ""  # detached content

    verified = world.verify(document)
    assert verified.exit_code == 0, verified.output
    out = json.loads(verified.stdout)
    assert (out["kind"], out["certificate_status"]) == ("jws", "good")
    assert out["receipt"]["index"] == report["ledger_index"]

    # the file changed after signing
    original = document.read_bytes()
    document.write_bytes(original.replace(b"2026", b"2027"))
    assert error_code(world.verify(document)) == "signatureInvalid"
    document.write_bytes(original)

    # a receipt of another signature: the entry is for another document
    other = tmp_path / "other.txt"
    other.write_text("something else\n")
    world.sign(other)
    assert error_code(world.verify(document, "--receipt", str(tmp_path / "other.txt.jws.receipt"))) == "receiptInvalid"

    # the receipt's checkpoint signed by another log key
    wrong_key = "example.org/log+00000000+AeJP7wJmf6nIL5c2tEyp5Nn5qVQxGU0HQMTxT3cWiCLu"
    result = world.xid(
        "verify-signature", str(document), "--issuer", world.url, "--vkey", wrong_key, "--json"
    )  # fmt: skip
    assert error_code(result) == "receiptInvalid"

    # a proof hash changed inside the receipt text
    text = receipt.read_text()
    lines = text.split("\n")
    index_line = next(i for i, line in enumerate(lines) if line.startswith("index "))
    lines[index_line] = f"index {int(lines[index_line].split()[1]) + 1}"
    receipt.write_text("\n".join(lines))
    assert error_code(world.verify(document)) == "receiptInvalid"


def test_a_revoked_signing_certificate_is_reported(world: World, tmp_path: Path) -> None:
    document = tmp_path / "order.txt"
    document.write_text("one hundred boxes\n")
    world.sign(document)
    pdf = tmp_path / "order.pdf"
    pdf.write_bytes(sample_pdf())
    world.sign(pdf)
    assert world.verify(document).exit_code == 0

    jws = (tmp_path / "order.txt.jws").read_text().split(".")[0]
    header = json.loads(b64url_decode(jws))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    with transaction(world.services.issuer.engine) as conn:
        assert revoke(world.services.issuer, conn, leaf.serial_number, "keyCompromise")

    assert error_code(world.verify(document)) == "signerRevoked"
    assert error_code(world.verify(tmp_path / "order.pdf.signed.pdf")) == "signerRevoked"
    # and signing with it is refused by the ledger endpoint: nothing is written
    another = tmp_path / "later.txt"
    another.write_text("later\n")
    result = world.xid("wallet", "sign", str(another), "--passphrase-stdin", stdin=PASSPHRASE + "\n")
    assert error_code(result) == "issuerRefused"
    assert not (tmp_path / "later.txt.jws").exists()


def _forged(genuine: x509.Certificate, status_url: str | None = None) -> tuple[x509.Certificate, x509.Certificate]:
    """The genuine certificate's exact fields (serial, subject, key, extensions) signed by another CA's key.

    With ``status_url`` its OCSP responder and CRL distribution point are that URL instead.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(genuine.issuer)
        .issuer_name(genuine.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(genuine.public_key())
        .serial_number(genuine.serial_number)
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
    )
    for extension in genuine.extensions:
        value: x509.ExtensionType = extension.value
        if status_url is not None and isinstance(value, x509.AuthorityInformationAccess):
            value = x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(status_url))]
            )
        elif status_url is not None and isinstance(value, x509.CRLDistributionPoints):
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(status_url)], None, None, None)
            value = x509.CRLDistributionPoints([point])
        builder = builder.add_extension(value, extension.critical)
    return builder.sign(key, hashes.SHA256()), root


def test_the_signature_record_endpoint_refuses_what_it_cannot_trust_and_appends_nothing(world: World) -> None:
    from wallet.keystore import Keystore
    from wallet.signing import SigningCertificate, record_proof, signing_certificate
    from wallet.vault import list_records

    keystore = Keystore.open(world.home / "wallet", PASSPHRASE)
    holder = keystore.holder()
    signing = signing_certificate(keystore.vault)
    (auth_record,) = [
        r for r in list_records(keystore.vault.directory, "certificate") if r.meta["usage"] == "authentication"
    ]
    auth_body = json.loads(keystore.vault.get(auth_record.id)[1])
    authentication = SigningCertificate(
        x509.load_pem_x509_certificate(auth_body["certificate"].encode()), signing.chain, signing.issuer
    )
    forged_leaf, forged_root = _forged(signing.certificate)
    forged = SigningCertificate(forged_leaf, (forged_root,), signing.issuer)
    sha256 = "ab" * 32
    now = time.time()
    endpoint = f"{world.url}/ledger/v1/signatures"

    def post(proof: str) -> httpx.Response:
        return httpx.post(endpoint, json={"proof": proof}, timeout=30)

    def size() -> int:
        return world.services.ledger.store.state().size

    good = record_proof(holder, signing, sha256, now)
    head, payload, signature = good.split(".")
    flipped = bytearray(b64url_decode(signature))
    flipped[5] ^= 0x01
    before = size()
    refusals = {
        "another CA": (post(record_proof(holder, forged, sha256, now)), 401, "not issued by this xid CA"),
        "authentication certificate": (
            post(record_proof(holder, authentication, sha256, now)),
            401,
            "not a signing certificate",
        ),
        "signature changed": (post(f"{head}.{payload}.{b64url_encode(bytes(flipped))}"), 401, "does not verify"),
        "not a JWS": (post("not.a-jws"), 400, "compact JWS"),
        "stale iat": (post(record_proof(holder, signing, sha256, now - 3600)), 400, "not recent"),
        "future iat": (post(record_proof(holder, signing, sha256, now + 3600)), 400, "not recent"),
    }
    for name, (answer, status, words) in refusals.items():
        assert answer.status_code == status, (name, answer.text)
        body = answer.json()
        assert body["error"] == ("invalid_client" if status == 401 else "invalid_request"), name
        assert words in body["error_description"], (name, body)
    assert size() == before  # nothing appended

    accepted = post(good)
    assert accepted.status_code == 200, accepted.text
    assert size() == before + 1

    with transaction(world.services.issuer.engine) as conn:
        assert revoke(world.services.issuer, conn, signing.certificate.serial_number, "keyCompromise")
    revoked = post(record_proof(holder, signing, sha256, time.time()))
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error_description"]
    assert size() == before + 1


def test_a_certificate_whose_status_cannot_be_established_is_not_accepted(world: World) -> None:
    from wallet.keystore import Keystore
    from wallet.signing import SigningCertificate, detached_jws, signing_certificate
    from wallet.verify_signature import RevocationUnknownError, verify_detached

    keystore = Keystore.open(world.home / "wallet", PASSPHRASE)
    holder = keystore.holder()
    signing = signing_certificate(keystore.vault)
    # a root the verifier trusts, whose certificates name the xid CA's OCSP responder: it knows nothing of them
    leaf, root = _forged(signing.certificate)
    data = b"a document\n"
    token = detached_jws(data, holder, SigningCertificate(leaf, (root,), signing.issuer), time.time())
    with pytest.raises(RevocationUnknownError):
        verify_detached(data, token, TrustInputs(root, None))
    # nobody answers at its status URLs: no status is no acceptance
    leaf, root = _forged(signing.certificate, "http://127.0.0.1:9/ocsp")
    token = detached_jws(data, holder, SigningCertificate(leaf, (root,), signing.issuer), time.time())
    with pytest.raises(RevocationUnknownError):
        verify_detached(data, token, TrustInputs(root, None))
    # the same chain with the xid CA's own root as trust anchor is simply not trusted
    with pytest.raises(SignerUntrustedError):
        verify_detached(data, token, TrustInputs(x509.load_der_x509_certificate(world.ca.root().der), None))


def _test_tsa() -> tuple[Any, x509.Certificate]:
    """An RFC 3161 timestamp authority (pyHanko's dummy TSA behind a Starlette route) and its root."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import tsp
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test TSA root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's dummy TSA signs RSA only
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test TSA")]))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(tsa.public_bytes(Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(tsa_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())),
    )

    async def stamp(request: Request) -> Response:
        answer = stamper.request_tsa_response(tsp.TimeStampReq.load(await request.body()))
        return Response(answer.dump(), media_type="application/timestamp-reply")

    return Starlette(routes=[Route("/tsa", stamp, methods=["POST"])]), root


def test_a_timestamped_pdf_reports_its_timestamp_when_the_tsa_is_trusted(world: World, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    app, tsa_root = _test_tsa()
    tsa_root_pem = tmp_path / "tsa-root.pem"
    tsa_root_pem.write_bytes(tsa_root.public_bytes(Encoding.PEM))
    document = tmp_path / "stamped.pdf"
    document.write_bytes(sample_pdf())
    with serve(app) as tsa_url:
        report = world.sign(document, "--tsa", f"{tsa_url}/tsa")
    signed = Path(report["signature"])
    verified = world.verify(signed, "--tsa-root", str(tsa_root_pem))
    assert verified.exit_code == 0, verified.output
    out = json.loads(verified.stdout)
    assert out["timestamp"] is not None
    # the TSA's root not trusted: the timestamp is not accepted
    assert error_code(world.verify(signed)) == "timestampUntrusted"
