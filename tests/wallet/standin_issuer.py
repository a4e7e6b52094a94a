"""A stand-in xid issuer for the wallet's tests: the enrollment, OpenID4VCI 1.0 and CA contracts, faithfully.

It verifies what a real issuer verifies (the card signature with the certificate's key over the enrollment bytes,
the holder proof, single-use nonces, pre-authorized codes and tx_codes, proof JWTs in credential requests, the CSR's
signature) and issues real credentials: an SD-JWT VC with ``vc.sd_jwt.issue`` and a ``jwt_vc_json`` JWT, both bound
to the proof key, and certificates signed with ``cryptography``. ``Behaviour`` switches on the misbehaviours the
tests need (an ``invalid_nonce`` answer, a metadata for another issuer, a pre-1.0 response shape, an error).
It is not the issuer: it keeps its state in memory and trusts any card certificate.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import segno
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from did import KeyType, PublicKey, SoftwareSigner, did_jwk, jwk_thumbprint
from foundation.b64 import b64url_decode
from foundation.jws import encode_compact, parse_compact
from foundation.strict_json import compact_json
from jpki_bridge.profile import parse_signature_certificate
from jpki_bridge.trust import verify_card_signature
from vc import sd_jwt

VCT_PATH = "/types/identity"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


@dataclass
class Behaviour:
    """What the stand-in does differently from a correct issuer."""

    tx_code: str | None = "493817"
    invalid_nonce: int = 0
    """How many credential requests are answered invalid_nonce first."""
    metadata_issuer: str | None = None
    singular_credential: bool = False
    enroll_error: tuple[int, str, str] | None = None


@dataclass
class State:
    """Everything the stand-in remembers, for the tests to look at."""

    challenges: dict[str, dict[str, Any]] = field(default_factory=dict)
    offers: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    nonces: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    proof_nonces: list[str] = field(default_factory=list)
    certificates: list[x509.Certificate] = field(default_factory=list)
    enrolled_certificates: list[x509.Certificate] = field(default_factory=list)


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


class StandinIssuer:
    """The stand-in: ``app`` to serve, ``state`` and ``behaviour`` for the tests, ``make_offer`` for accept tests."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.state = State()
        self.holder_name, self.holder_address = "Test Holder", "1 Test Street"
        self.signer = SoftwareSigner.generate(KeyType.P256)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stand-in xid CA")])
        now = dt.datetime.now(dt.UTC)
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.app = Starlette(
            routes=[
                Route("/enroll/challenge", self.challenge, methods=["POST"]),
                Route("/enroll", self.enroll, methods=["POST"]),
                Route("/offers/{offer_id}", self.offer, methods=["GET"]),
                Route("/.well-known/openid-credential-issuer", self.metadata, methods=["GET"]),
                Route("/.well-known/oauth-authorization-server", self.as_metadata, methods=["GET"]),
                Route("/.well-known/jwt-vc-issuer", self.jwt_vc_issuer, methods=["GET"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/nonce", self.nonce, methods=["POST"]),
                Route("/credential", self.credential, methods=["POST"]),
                Route("/notification", self.notification, methods=["POST"]),
                Route("/ca/certificates", self.ca, methods=["POST"]),
            ]
        )

    # -- enrollment -------------------------------------------------------------------------------------------

    @staticmethod
    def base(request: Request) -> str:
        """The issuer identifier: the URL it is served at."""
        return str(request.base_url).rstrip("/")

    async def challenge(self, request: Request) -> Response:
        """POST /enroll/challenge."""
        body = json.loads(await request.body())
        jwk = body.get("holder_jwk")
        PublicKey.from_jwk(jwk)
        nonce = secrets.token_urlsafe(24)
        self.state.challenges[nonce] = {"jwk": jwk, "expires": time.time() + 300}
        return JSONResponse({"nonce": nonce, "expires_in": 300}, status_code=201)

    async def enroll(self, request: Request) -> Response:
        """POST /enroll: the card check."""
        if self.behaviour.enroll_error is not None:
            return _error(*self.behaviour.enroll_error)
        body = json.loads(await request.body())
        challenge = self.state.challenges.pop(body.get("nonce"), None)
        if challenge is None or challenge["expires"] < time.time():
            return _error(400, "invalid_nonce", "unknown or used challenge")
        cert = x509.load_der_x509_certificate(b64url_decode(body["certificate"]))
        message = b"xid-enroll-v1" + body["nonce"].encode() + jwk_thumbprint(challenge["jwk"]).encode()
        try:
            verify_card_signature(cert, message, b64url_decode(body["signature"]))
        except Exception:
            return _error(400, "invalid_card_signature", "the card signature does not verify")
        proof = parse_compact(body["holder_proof"])
        claims = json.loads(proof.payload)
        if proof.header.get("typ") != "xid-enroll+jwt" or proof.header.get("jwk") != challenge["jwk"]:
            return _error(400, "invalid_holder_proof", "wrong typ or key")
        PublicKey.from_jwk(challenge["jwk"]).verify(proof.signature, proof.signing_input, proof.header["alg"])
        if claims.get("aud") != self.base(request) or claims.get("nonce") != body["nonce"]:
            return _error(400, "invalid_holder_proof", "wrong aud or nonce")
        self.state.enrolled_certificates.append(cert)
        info = parse_signature_certificate(cert)
        self.holder_name, self.holder_address = info.name, info.address
        offer, tx_code = self.make_offer(self.base(request))
        offer_id = secrets.token_urlsafe(12)
        self.state.offers[offer_id] = offer
        by_value = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer))
        reference = "openid-credential-offer://?credential_offer_uri=" + quote(
            f"{self.base(request)}/offers/{offer_id}"
        )
        return JSONResponse(
            {
                "credential_offer": offer,
                "credential_offer_uri": by_value,
                "credential_offer_reference": reference,
                "tx_code": tx_code,
                "expires_in": 600,
                "qr_svg": segno.make(reference).svg_inline(),
            },
            status_code=201,
        )

    def make_offer(self, base: str) -> tuple[dict[str, Any], str | None]:
        """A fresh pre-authorized offer for both configurations (and its tx_code)."""
        code = secrets.token_urlsafe(24)
        tx_code = self.behaviour.tx_code
        self.state.codes[code] = {"tx_code": tx_code, "used": False}
        grant: dict[str, Any] = {"pre-authorized_code": code}
        if tx_code is not None:
            grant["tx_code"] = {"input_mode": "numeric", "length": len(tx_code), "description": "sent by mail"}
        offer = {
            "credential_issuer": base,
            "credential_configuration_ids": ["xid_identity_sd_jwt", "xid_identity_jwt_vc"],
            "grants": {PRE_AUTH: grant},
        }
        return offer, tx_code

    async def offer(self, request: Request) -> Response:
        """GET /offers/{id}: an offer by reference."""
        offer = self.state.offers.get(request.path_params["offer_id"])
        return JSONResponse(offer) if offer is not None else _error(404, "not_found", "no such offer")

    # -- OpenID4VCI -------------------------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        """The credential issuer metadata."""
        base = self.base(request)
        proof = {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}}
        display = {"credential_metadata": {"display": [{"name": "xid identity", "locale": "en"}]}}
        return JSONResponse(
            {
                "credential_issuer": self.behaviour.metadata_issuer or base,
                "credential_endpoint": f"{base}/credential",
                "nonce_endpoint": f"{base}/nonce",
                "notification_endpoint": f"{base}/notification",
                "display": [{"name": "stand-in xid issuer", "locale": "en"}],
                "credential_configurations_supported": {
                    "xid_identity_sd_jwt": {
                        "format": "dc+sd-jwt",
                        "vct": base + VCT_PATH,
                        "cryptographic_binding_methods_supported": ["jwk"],
                        "proof_types_supported": proof,
                        **display,
                    },
                    "xid_identity_jwt_vc": {
                        "format": "jwt_vc_json",
                        "credential_definition": {"type": ["VerifiableCredential", "XidIdentityCredential"]},
                        "cryptographic_binding_methods_supported": ["did:jwk", "jwk"],
                        "proof_types_supported": proof,
                        **display,
                    },
                },
            }
        )

    async def as_metadata(self, request: Request) -> Response:
        """The authorization server metadata (RFC 8414)."""
        base = self.base(request)
        return JSONResponse(
            {"issuer": base, "token_endpoint": f"{base}/token", "pre-authorized_grant_anonymous_access_supported": True}
        )

    async def jwt_vc_issuer(self, request: Request) -> Response:
        """The JWT VC issuer metadata (SD-JWT VC issuer key discovery)."""
        jwk = {**self.signer.public_jwk, "kid": self.signer.key_id}
        return JSONResponse({"issuer": self.base(request), "jwks": {"keys": [jwk]}})

    async def token(self, request: Request) -> Response:
        """The token endpoint: the pre-authorized code grant."""
        form = await request.form()
        if form.get("grant_type") != PRE_AUTH:
            return _error(400, "unsupported_grant_type", "pre-authorized code only")
        grant = self.state.codes.get(str(form.get("pre-authorized_code")))
        if grant is None or grant["used"]:
            return _error(400, "invalid_grant", "unknown or used pre-authorized code")
        if grant["tx_code"] is not None and form.get("tx_code") is None:
            return _error(400, "invalid_request", "tx_code required")
        if grant["tx_code"] is not None and form.get("tx_code") != grant["tx_code"]:
            return _error(400, "invalid_grant", "wrong tx_code")
        grant["used"] = True
        token = secrets.token_urlsafe(24)
        self.state.tokens.add(token)
        # c_nonce in a token response is a draft leftover: a 1.0 wallet must ignore it
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 300, "c_nonce": "stale"})

    async def nonce(self, request: Request) -> Response:
        """The nonce endpoint."""
        nonce = secrets.token_urlsafe(16)
        self.state.nonces.add(nonce)
        return JSONResponse({"c_nonce": nonce}, headers={"Cache-Control": "no-store"})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.state.tokens

    async def credential(self, request: Request) -> Response:
        """The credential endpoint."""
        if not self._authorized(request):
            return _error(401, "invalid_token", "no valid access token")
        body = json.loads(await request.body())
        config_id = body.get("credential_configuration_id")
        self.state.requests.append(str(config_id))
        if config_id not in ("xid_identity_sd_jwt", "xid_identity_jwt_vc") or "format" in body or "proof" in body:
            return _error(400, "invalid_credential_request", "1.0 requests only")
        proofs = body.get("proofs", {}).get("jwt")
        if not isinstance(proofs, list) or len(proofs) != 1:
            return _error(400, "invalid_proof", "one jwt proof")
        parts = parse_compact(proofs[0])
        claims = json.loads(parts.payload)
        if parts.header.get("typ") != "openid4vci-proof+jwt" or "iss" in claims:
            return _error(400, "invalid_proof", "wrong typ or an iss")
        kid = str(parts.header.get("kid", ""))
        jwk = parts.header["jwk"] if "jwk" in parts.header else did_jwk.jwk_from_did(kid.split("#")[0])
        key = PublicKey.from_jwk(jwk)
        try:
            key.verify(parts.signature, parts.signing_input, parts.header["alg"])
        except Exception:
            return _error(400, "invalid_proof", "bad signature")
        if claims.get("aud") != self.base(request):
            return _error(400, "invalid_proof", "wrong aud")
        self.state.proof_nonces.append(str(claims.get("nonce")))
        if claims.get("nonce") not in self.state.nonces:
            return _error(400, "invalid_nonce", "unknown or used c_nonce")
        self.state.nonces.discard(claims["nonce"])
        if self.behaviour.invalid_nonce > 0:
            self.behaviour.invalid_nonce -= 1
            return _error(400, "invalid_nonce", "c_nonce expired")
        credential = self._issue(config_id, key, self.base(request))
        notification_id = secrets.token_urlsafe(8)
        if self.behaviour.singular_credential:
            return JSONResponse({"credential": credential, "notification_id": notification_id})
        return JSONResponse({"credentials": [{"credential": credential}], "notification_id": notification_id})

    def _issue(self, config_id: str, key: PublicKey, base: str) -> str:
        now = int(time.time())
        if config_id == "xid_identity_sd_jwt":
            claims = {
                "iss": base,
                "iat": now,
                "exp": now + 365 * 86400,
                "vct": base + VCT_PATH,
                "name": sd_jwt.SD(self.holder_name),
                "address": sd_jwt.SD(self.holder_address),
                "age_over_18": sd_jwt.SD(True),
            }
            return sd_jwt.issue(claims, self.signer, holder_jwk=key.to_jwk())
        subject = did_jwk.create(key.to_jwk())
        payload = {
            "iss": base,
            "sub": subject,
            "iat": now,
            "exp": now + 365 * 86400,
            "vc": {
                "@context": ["https://www.w3.org/2018/credentials/v1"],
                "type": ["VerifiableCredential", "XidIdentityCredential"],
                "credentialSubject": {"id": subject, "name": self.holder_name, "address": self.holder_address},
            },
        }
        return encode_compact({"typ": "JWT", "alg": "ES256"}, compact_json(payload), self.signer.sign)

    async def notification(self, request: Request) -> Response:
        """The notification endpoint."""
        if not self._authorized(request):
            return _error(401, "invalid_token", "no valid access token")
        self.state.notifications.append(json.loads(await request.body()))
        return Response(status_code=204)

    # -- the CA -----------------------------------------------------------------------------------------------

    async def ca(self, request: Request) -> Response:
        """POST /ca/certificates: a certificate for the CSR's key."""
        if not self._authorized(request):
            return _error(401, "invalid_token", "no valid access token")
        body = json.loads(await request.body())
        csr = x509.load_der_x509_csr(b64url_decode(body["csr"]))
        if not csr.is_signature_valid or body.get("usage") not in ("authentication", "signing"):
            return _error(400, "invalid_request", "bad CSR or usage")
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(self.ca_key, hashes.SHA256())
        )
        self.state.certificates.append(cert)
        pem = cert.public_bytes(Encoding.PEM).decode()
        return JSONResponse({"certificate": pem, "chain": [self.ca_cert.public_bytes(Encoding.PEM).decode()]}, 201)
