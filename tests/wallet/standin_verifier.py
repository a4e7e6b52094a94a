"""A stand-in OpenID4VP 1.0 verifier for the wallet's tests: the wallet-facing contract, faithfully.

It serves request objects at ``request_uri`` (GET, or POST echoing ``wallet_nonce``), signed for the
``x509_san_dns`` prefix (``x5c``: a leaf for 127.0.0.1 under its own root, which the tests trust or not) or the
``decentralized_identifier`` prefix (``kid`` a DID URL of its did:web, served at ``/.well-known/did.json``), or gives
the request by value for the ``redirect_uri`` prefix. Its response endpoint decrypts ``direct_post.jwt`` responses
with joserfc and verifies every presentation as a verifier must: the credential with the issuer's keys
(``vc.verify.CredentialVerifier``), the SD-JWT KB-JWT's ``aud`` = the full client_id, ``nonce``, ``iat`` and
``sd_hash``; a JWT VP's signature by the holder's did:jwk, ``aud`` and ``nonce``; an ``ldp_vp`` proof with
``challenge`` and ``domain``. ``Behaviour`` switches on the misbehaviours the tests need. It is not the verifier:
state is in memory and it checks no status.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from joserfc import jwe
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from did import KeyType, PublicKey, Resolver, SoftwareSigner, web_document
from foundation.b64 import b64url_encode
from foundation.strict_json import compact_json
from vc.data_integrity import verify_proof
from vc.jose import CompactJws, sign_compact
from vc.verify import CredentialVerifier

SELF_ISSUED = "https://self-issued.me/v2"
HOST = "127.0.0.1"


def certificate_authority(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh root CA (P-256) with basicConstraints cA."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, root


def leaf_certificate(
    signer: SoftwareSigner,
    dns_name: str,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    *,
    key_usage: x509.KeyUsage | None = None,
) -> x509.Certificate:
    """A leaf for the signer's key with the dNSName (and the key usage, if given), issued by the CA."""
    ca_key, root = ca
    key = signer._key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(ca_key, hashes.SHA256())


def b64_der(certificate: x509.Certificate) -> str:
    """A certificate as an x5c element (standard base64 of DER)."""
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


@dataclass
class Behaviour:
    """How the stand-in verifier builds one request (correct by default) and answers."""

    prefix: str = "x509_san_dns"
    response_mode: str = "direct_post.jwt"
    method: str = "get"
    dcql_query: dict[str, Any] | None = None
    other_key: bool = False
    """Sign the request object with a key that is not the certificate's / the DID's."""
    unsigned: bool = False
    """Serve an unsigned (alg none) request object."""
    jar_client_id: str | None = None
    echo_wallet_nonce: bool = True
    exp_in: int = 300
    response_uri: str | None = None
    aud: str = SELF_ISSUED
    typ: str = "oauth-authz-req+jwt"
    kid: str | None = None
    """The kid of a decentralized_identifier request object (default: the stand-in DID's key)."""
    x5c: list[str] | None = None
    dns_name: str = HOST
    enc_jwk: dict[str, Any] | None = None
    """The public key published in client_metadata.jwks instead of the transaction's own."""
    enc_values: list[str] | None = None
    redirect_uri: str | None = None
    """Answer a same-device redirect_uri."""


@dataclass
class Transaction:
    """One request and what came of it."""

    id: str
    client_id: str
    nonce: str
    state: str
    behaviour: Behaviour
    enc_key: ECKey
    fetches: int = 0
    wallet_nonce: str | None = None
    wallet_metadata: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    vp_token: dict[str, Any] | None = None
    jwe_header: dict[str, Any] | None = None


class StandinVerifier:
    """The stand-in verifier; ``base`` is set once it is served (``serve(standin.app)``)."""

    def __init__(self, credential_verifier: CredentialVerifier) -> None:
        self.credential_verifier = credential_verifier
        self.signer = SoftwareSigner.generate(KeyType.P256)
        self.other = SoftwareSigner.generate(KeyType.P256)
        self.ca = certificate_authority("stand-in verifier root")
        self.root = self.ca[1]
        self.base = ""
        self.transactions: dict[str, Transaction] = {}
        self.responses = 0
        self.app = Starlette(
            routes=[
                Route("/request/{tid}", self.request_object, methods=["GET", "POST"]),
                Route("/response", self.response, methods=["POST"]),
                Route("/.well-known/did.json", self.did_document, methods=["GET"]),
            ]
        )

    @property
    def did(self) -> str:
        """The stand-in's did:web (its host and port)."""
        return "did:web:" + quote(urlsplit(self.base).netloc, safe="")

    def root_pem(self) -> bytes:
        """The root of the stand-in's certificate (for ``xid wallet trust add``)."""
        return self.root.public_bytes(Encoding.PEM)

    def client_id(self, behaviour: Behaviour) -> str:
        """The full client_id of a request with this behaviour."""
        if behaviour.prefix == "x509_san_dns":
            return f"x509_san_dns:{behaviour.dns_name}"
        if behaviour.prefix == "decentralized_identifier":
            return f"decentralized_identifier:{self.did}"
        if behaviour.prefix == "redirect_uri":
            return f"redirect_uri:{self.base}/response"
        return f"{behaviour.prefix}:{HOST}"

    def start(self, behaviour: Behaviour) -> tuple[str, Transaction]:
        """A new transaction: the openid4vp:// URL a wallet is given, and the transaction."""
        tid = secrets.token_urlsafe(12)
        transaction = Transaction(
            tid,
            self.client_id(behaviour),
            secrets.token_urlsafe(16),
            secrets.token_urlsafe(16),
            behaviour,
            ECKey.generate_key("P-256", parameters={"kid": f"enc-{tid}", "use": "enc", "alg": "ECDH-ES"}),
        )
        self.transactions[tid] = transaction
        if behaviour.prefix == "redirect_uri":
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.parameters(transaction).items()}
            return "openid4vp://?" + urlencode(params), transaction
        query = {"client_id": transaction.client_id, "request_uri": f"{self.base}/request/{tid}"}
        if behaviour.method != "get":
            query["request_uri_method"] = behaviour.method
        return "openid4vp://?" + urlencode(query), transaction

    def parameters(self, transaction: Transaction) -> dict[str, Any]:
        """The authorization request parameters of a transaction."""
        behaviour = transaction.behaviour
        public = transaction.enc_key.as_dict(private=False)
        metadata: dict[str, Any] = {
            "vp_formats_supported": {"dc+sd-jwt": {}, "jwt_vc_json": {}, "ldp_vc": {}},
            "jwks": {"keys": [behaviour.enc_jwk if behaviour.enc_jwk is not None else public]},
        }
        if behaviour.enc_values is not None:
            metadata["encrypted_response_enc_values_supported"] = behaviour.enc_values
        return {
            "client_id": behaviour.jar_client_id or transaction.client_id,
            "response_type": "vp_token",
            "response_mode": behaviour.response_mode,
            "response_uri": behaviour.response_uri or f"{self.base}/response",
            "nonce": transaction.nonce,
            "state": transaction.state,
            "dcql_query": behaviour.dcql_query,
            "client_metadata": metadata,
        }

    def jar(self, transaction: Transaction) -> str:
        """The request object of a transaction, signed per its prefix (or misbehaving as told)."""
        behaviour = transaction.behaviour
        now = int(time.time())
        claims = {**self.parameters(transaction), "aud": behaviour.aud, "iat": now, "exp": now + behaviour.exp_in}
        if transaction.wallet_nonce is not None and behaviour.echo_wallet_nonce:
            claims["wallet_nonce"] = transaction.wallet_nonce
        payload = compact_json(claims)
        if behaviour.unsigned:
            unsigned = b64url_encode(compact_json({"alg": "none", "typ": behaviour.typ}))
            return f"{unsigned}.{b64url_encode(payload)}."
        signer = self.other if behaviour.other_key else self.signer
        if behaviour.prefix == "decentralized_identifier":
            kid = behaviour.kid or f"{self.did}#verifier"
            return sign_compact({"typ": behaviour.typ, "kid": kid}, payload, signer)
        x5c = behaviour.x5c
        if x5c is None:
            x5c = [b64_der(leaf_certificate(self.signer, behaviour.dns_name, self.ca))]
        header = {"typ": behaviour.typ, "x5c": x5c}
        return sign_compact(header, payload, signer)

    # -- routes -------------------------------------------------------------------------------------------------

    async def request_object(self, request: Request) -> Response:
        """GET or POST the request object."""
        transaction = self.transactions.get(request.path_params["tid"])
        if transaction is None:
            return JSONResponse({"error": "invalid_request", "error_description": "unknown request"}, 404)
        transaction.fetches += 1
        if request.method == "POST":
            if request.headers.get("content-type") != "application/x-www-form-urlencoded":
                return JSONResponse({"error": "invalid_request", "error_description": "not a form"}, 400)
            form = await request.form()
            nonce, metadata = form.get("wallet_nonce"), form.get("wallet_metadata")
            if not isinstance(nonce, str) or not isinstance(metadata, str):
                return JSONResponse({"error": "invalid_request", "error_description": "no wallet_nonce"}, 400)
            transaction.wallet_nonce = nonce
            transaction.wallet_metadata = json.loads(metadata)
        return Response(self.jar(transaction), media_type="application/oauth-authz-req+jwt")

    async def did_document(self, request: Request) -> Response:
        """The stand-in's did:web document."""
        document = web_document(self.did, [("verifier", PublicKey.from_jwk(self.signer.public_jwk))])
        return JSONResponse(document, media_type="application/did+json")

    async def response(self, request: Request) -> Response:
        """The response endpoint: decrypt, verify every presentation, remember what was disclosed."""
        self.responses += 1
        form = await request.form()
        jwe_header = None
        if "response" in form:
            raw = str(form["response"])
            header = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))
            transaction = next((t for t in self.transactions.values() if t.enc_key.kid == header.get("kid")), None)
            if transaction is None:
                return _error("the JWE names no key of ours")
            decrypted = jwe.decrypt_compact(raw, transaction.enc_key, algorithms=["ECDH-ES", "A128GCM", "A256GCM"])
            body = json.loads(decrypted.plaintext or b"")
            vp_token, state = body.get("vp_token"), body.get("state")
            jwe_header = decrypted.protected
        else:
            vp_token, state = json.loads(str(form.get("vp_token", "null"))), form.get("state")
        transaction = next((t for t in self.transactions.values() if t.state == state), None)
        if transaction is None:
            return _error("unknown state")
        if (jwe_header is None) != (transaction.behaviour.response_mode == "direct_post"):
            return _error("the response mode is not the one requested")
        if not isinstance(vp_token, dict) or not all(isinstance(v, list) and v for v in vp_token.values()):
            return _error("vp_token must be an object of non-empty arrays")
        transaction.vp_token, transaction.jwe_header = vp_token, jwe_header
        try:
            for query_id, presentations in vp_token.items():
                for presentation in presentations:
                    transaction.results.append({"query": query_id, **self.verify(transaction, presentation)})
        except Exception as exc:  # the stand-in reports any failed check as the protocol's error
            return _error(f"{type(exc).__name__}: {exc}")
        redirect = transaction.behaviour.redirect_uri
        return JSONResponse({"redirect_uri": redirect} if redirect else {})

    def verify(self, transaction: Transaction, presentation: Any) -> dict[str, Any]:
        """Verify one presentation bound to the transaction; what it disclosed."""
        client_id, nonce = transaction.client_id, transaction.nonce
        if isinstance(presentation, str) and "~" in presentation:
            result = self.credential_verifier.verify(presentation, audience=client_id, nonce=nonce, check_status=False)
            return {"format": "dc+sd-jwt", "claims": dict(result.claims), "disclosed": list(result.disclosed)}
        if isinstance(presentation, str):
            jws = CompactJws.parse(presentation)
            holder = Resolver().dereference(jws.header["kid"])
            jws.verify(holder.public_key)
            claims = json.loads(jws.payload)
            assert claims["aud"] == client_id, "aud"
            assert claims["nonce"] == nonce, "nonce"
            assert abs(claims["iat"] - time.time()) < 120, "iat"
            assert claims["iss"] == jws.header["kid"].split("#")[0], "iss"
            (credential,) = claims["vp"]["verifiableCredential"]
            result = self.credential_verifier.verify(credential, check_status=False)
            assert result.claims["credentialSubject"]["id"] == claims["iss"], "holder binding"
            return {"format": "jwt_vc_json", "claims": dict(result.claims)}
        proof = verify_proof(
            presentation, Resolver().dereference, expected_purpose="authentication", challenge=nonce, domain=client_id
        )
        (credential,) = presentation["verifiableCredential"]
        result = self.credential_verifier.verify(credential, check_status=False)
        holder = presentation["holder"]
        assert proof.verification_method.split("#")[0] == holder == credential["credentialSubject"]["id"], "holder"
        return {"format": "ldp_vc", "claims": dict(result.claims)}


def _error(description: str) -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": description[:300]}, 400)
