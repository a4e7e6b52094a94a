"""The client of the xid CA: certificates for the holder key (``POST {issuer}/ca/certificates``).

The wallet sends a PKCS#10 request (RFC 2986) signed by the holder key, so the CA sees proof of possession, with the
access token of the credential issuance and the usage (``authentication`` or ``signing``). The request is built with
asn1crypto and signed through ``did.Signer`` (so a PKCS#11 holder key works the same); its subject is only the key's
thumbprint, no personal data. The answer's certificate must hold the holder's public key and be signed by the root
the answer sends, which is returned with it for storing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from did import PublicKey, Signer, jwk_thumbprint
from foundation.b64 import b64url_encode
from wallet.errors import IssuerProtocolError
from wallet.http import WalletHttp

__all__ = ["USAGES", "IssuedCertificate", "build_csr", "request_certificate"]

USAGES: Final = ("authentication", "signing")
"""The certificate usages the xid CA issues for a holder key."""

_SIGNATURE_OIDS: Final = {"ES256": "sha256_ecdsa", "EdDSA": "ed25519"}


def build_csr(holder: Signer) -> bytes:
    """A DER PKCS#10 request for the holder key, signed by it (subject: CN = the key's JWK thumbprint)."""
    algorithm = _SIGNATURE_OIDS.get(holder.algorithm)
    if algorithm is None:
        raise ValueError(f"a holder key signs with ES256 or EdDSA, not {holder.algorithm}")
    spki = PublicKey.from_jwk(holder.public_jwk).public_key.public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.build({"common_name": jwk_thumbprint(holder.public_jwk)}),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(spki),
            "attributes": [],
        }
    )
    signature = holder.sign(info.dump())
    if holder.algorithm == "ES256":  # JOSE r||s to the DER ECDSA-Sig-Value of X.509
        size = len(signature) // 2
        signature = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": signature,
        }
    )
    return bytes(request.dump())


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the xid CA issued for the holder key, with its chain up to the root (PEM)."""

    usage: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def pem(self) -> tuple[str, list[str]]:
        """The certificate and the chain as PEM text."""
        chain = [c.public_bytes(Encoding.PEM).decode("ascii") for c in self.chain]
        return self.certificate.public_bytes(Encoding.PEM).decode("ascii"), chain


def _pem(value: object, what: str) -> x509.Certificate:
    if not isinstance(value, str):
        raise IssuerProtocolError(f"{what} is not a PEM string")
    try:
        return x509.load_pem_x509_certificate(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise IssuerProtocolError(f"{what} is not a PEM certificate") from None


def request_certificate(
    http: WalletHttp, issuer: str, access_token: str, holder: Signer, usage: str
) -> IssuedCertificate:
    """Ask the xid CA for a certificate of the given usage for the holder key, and check what it returns."""
    if usage not in USAGES:
        raise ValueError(f"usage must be one of {USAGES}")
    what = f"the {usage} certificate request"
    body = {"csr": b64url_encode(build_csr(holder)), "usage": usage}
    answer = http.post_json(f"{issuer}/ca/certificates", body, what, bearer=access_token, ok=(200, 201))
    certificate = _pem(answer.get("certificate"), f"{what}: the certificate")
    chain_value = answer.get("chain")
    if not isinstance(chain_value, list) or not chain_value:
        raise IssuerProtocolError(f"{what}: the answer has no chain")
    chain = tuple(_pem(item, f"{what}: a chain certificate") for item in chain_value)
    if PublicKey.from_cryptography(certificate.public_key()) != PublicKey.from_jwk(holder.public_jwk):  # type: ignore[arg-type]
        raise IssuerProtocolError(f"{what}: the certificate is for another key than the holder's")
    issuer_cert = chain[0]
    try:
        certificate.verify_directly_issued_by(issuer_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise IssuerProtocolError(f"{what}: the certificate is not signed by the chain's first certificate") from None
    return IssuedCertificate(usage, certificate, chain)
