"""Signing without a server: the pyHanko signer over ``did.Signer`` (ES256 and EdDSA), outputs and refusals.

The certificate here comes from a test CA built with ``cryptography`` (no OCSP responder named), so pyHanko's
validator checks the signature and the chain with revocation checking off; the full system, with the xid CA and
OCSP, is ``tests/test_signing_system.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from did import KeyType, PublicKey, SoftwareSigner
from foundation.b64 import b64url_bytes
from wallet.keystore import Keystore
from wallet.signing import (
    NoSigningCertificateError,
    SigningCertificate,
    SigningError,
    detached_jws,
    sign_document,
    sign_pdf,
    signing_certificate,
)
from wallet.verify_signature import ReceiptInvalidError, SignatureInvalidError, verify_receipt_for
from xid.demo import sample_pdf


def signing_ca(holder: SoftwareSigner) -> SigningCertificate:
    """A root and a signing certificate (non-repudiation) for the holder's key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test signing root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .sign(key, hashes.SHA256())
    )
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)  # digitalSignature, nonRep.
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pseudonym-1")]))
        .issuer_name(name)
        .public_key(PublicKey.from_jwk(holder.public_jwk).public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    return SigningCertificate(leaf, (root,), "http://127.0.0.1:9")


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.ED25519])
def test_the_holder_key_makes_a_pades_signature_pyhanko_validates(key_type: KeyType) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    holder = SoftwareSigner.generate(key_type)
    certificate = signing_ca(holder)
    original = sample_pdf()
    signed = sign_pdf(original, holder, certificate)
    assert signed.startswith(original)
    context = ValidationContext(trust_roots=[_asn1(certificate.chain[0])], revocation_mode="soft-fail")
    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(embedded, context)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.signing_cert.dump() == certificate.certificate.public_bytes(Encoding.DER)
    # signed again: a second signature field, both validate
    twice = sign_pdf(signed, holder, certificate)
    signatures = PdfFileReader(BytesIO(twice)).embedded_signatures
    assert [s.field_name for s in signatures] == ["xid-signature-1", "xid-signature-2"]
    assert all(validate_pdf_signature(s, context).intact for s in signatures)


def test_a_certificate_for_another_key_is_refused() -> None:
    holder = SoftwareSigner.generate(KeyType.P256)
    other = signing_ca(SoftwareSigner.generate(KeyType.P256))
    with pytest.raises(SigningError, match="another key"):
        sign_pdf(sample_pdf(), holder, other)
    with pytest.raises(SigningError, match="another key"):
        detached_jws(b"x", holder, other, 0)


def test_the_detached_jws_is_rfc7515_detached_content() -> None:
    holder = SoftwareSigner.generate(KeyType.P256)
    certificate = signing_ca(holder)
    data = b"any bytes \x00\xff"
    head, payload, signature = detached_jws(data, holder, certificate, 1_700_000_000).split(".")
    assert payload == ""
    from foundation.b64 import b64url_decode

    # re-attached, it is an ordinary compact JWS over the file
    PublicKey.from_jwk(holder.public_jwk).verify(
        b64url_decode(signature), head.encode() + b"." + b64url_bytes(data), "ES256"
    )


def test_outputs_are_never_overwritten_and_the_input_never_changes(tmp_path: Path) -> None:
    holder = SoftwareSigner.generate(KeyType.P256)
    certificate = signing_ca(holder)
    document = tmp_path / "a.txt"
    document.write_text("text\n")
    signed = sign_document(document, holder, certificate, record=False)
    assert signed.signature == tmp_path / "a.txt.jws"
    assert signed.receipt is None
    assert document.read_text() == "text\n"
    with pytest.raises(SigningError, match="never overwritten"):
        sign_document(document, holder, certificate, record=False)
    with pytest.raises(SigningError, match="overwrite the document"):
        sign_document(document, holder, certificate, out=document, record=False)


def test_a_wallet_without_a_signing_certificate_says_so(tmp_path: Path) -> None:
    keystore = Keystore.create(tmp_path / "wallet", "pass phrase")
    with pytest.raises(NoSigningCertificateError, match="enroll"):
        signing_certificate(keystore.vault)


def test_receipts_without_their_entry_or_malformed_are_refused() -> None:
    with pytest.raises(ReceiptInvalidError, match="malformed"):
        verify_receipt_for("not a receipt", "ab" * 32, "example.org/log+00000000+AAAA")
    no_extra = "c2sp.org/tlog-proof@v1\nindex 0\n\nexample.org/log\n1\nAAAA\n"
    with pytest.raises(ReceiptInvalidError, match="extra"):
        verify_receipt_for(no_extra, "ab" * 32, "example.org/log+00000000+AAAA")


def test_a_detached_signature_that_is_not_detached_is_refused() -> None:
    from wallet.verify_signature import TrustInputs, verify_detached

    holder = SoftwareSigner.generate(KeyType.P256)
    certificate = signing_ca(holder)
    trust = TrustInputs(certificate.chain[0], None)
    with pytest.raises(SignatureInvalidError, match="detached"):
        verify_detached(b"x", "a.b.c", trust)


def test_a_receipt_for_another_document_is_refused_at_signing(tmp_path: Path) -> None:
    import httpx

    from ledger.receipt import Receipt
    from ledger.records import EventType, Record
    from wallet.errors import IssuerProtocolError
    from wallet.http import WalletHttp

    holder = SoftwareSigner.generate(KeyType.P256)
    certificate = signing_ca(holder)
    document = tmp_path / "a.txt"
    document.write_text("text\n")
    recorded: dict[str, str] = {"object": "00" * 32}

    def ledger(request: httpx.Request) -> httpx.Response:
        entry = Record(type=EventType.SIGNATURE, time=dt.datetime.now(dt.UTC), object=recorded["object"])
        receipt = Receipt(0, (), "example.org/log\n1\nAAAA\n", extra=entry.to_bytes()).format()
        return httpx.Response(200, json={"receipt": receipt, "index": 0})

    http = WalletHttp(httpx.Client(transport=httpx.MockTransport(ledger)))
    with pytest.raises(IssuerProtocolError, match="does not record this document"):
        sign_document(document, holder, certificate, http=http, issuer="http://127.0.0.1:9")
    assert not (tmp_path / "a.txt.jws").exists()  # nothing written without its ledger record
    recorded["object"] = hashlib.sha256(b"text\n").hexdigest()
    signed = sign_document(document, holder, certificate, http=http, issuer="http://127.0.0.1:9")
    assert signed.receipt is not None
    assert signed.receipt.exists()
    assert signed.index == 0


def test_xid_wallet_sign_refuses_an_existing_output_before_asking_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xid.cli import main

    Keystore.create(tmp_path / "wallet", "pass phrase")
    document = tmp_path / "a.pdf"
    document.write_bytes(sample_pdf())
    (tmp_path / "a.pdf.signed.pdf").write_bytes(b"earlier")
    args = ["wallet", "sign", str(document), "--wallet", str(tmp_path / "wallet"), "--passphrase-stdin"]
    result = CliRunner().invoke(main, args, input="pass phrase\n")
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert (tmp_path / "a.pdf.signed.pdf").read_bytes() == b"earlier"
    # a wallet without a signing certificate says what to do
    args[2] = str(tmp_path / "b.txt")
    (tmp_path / "b.txt").write_text("b\n")
    result = CliRunner().invoke(main, args, input="pass phrase\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [noSigningCertificate]")
