"""The wallet's OpenID4VP 1.0 holder against the stand-in verifier (served on 127.0.0.1), with real xid credentials.

Every negative test also checks that nothing reached the response endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from did import KeyType, SoftwareSigner, did_jwk
from foundation.b64 import b64url_decode, b64url_encode
from foundation.db import open_engine, transaction
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT
from issuer.db import create_schema
from jpki_bridge.trust import TrustAnchors
from tests.database import database_url
from tests.helpers import serve
from tests.issuer.credentials_support import BASE, Issuer, facts, make_issuer
from tests.wallet.standin_verifier import Behaviour, StandinVerifier, b64_der, certificate_authority, leaf_certificate
from vc.oid4vp import verification_code
from wallet.errors import (
    CannotSatisfyQueryError,
    PresentationRequestError,
    UntrustedVerifierError,
    VerifierRefusedError,
)
from wallet.keystore import Keystore
from wallet.oid4vp import Oid4vpHolder, PresentationRequest, expanded_types, parse_request_url, sd_jwt_claims
from wallet.store import CredentialStore
from wallet.trust import add_root, trusted_roots
from xid.cli import main

PASSPHRASE = "correct horse battery staple"
VCT = f"{BASE}/vct/identity"
W3C_TYPES = [
    "https://www.w3.org/2018/credentials#VerifiableCredential",
    "https://w3id.org/xid/identity#XidIdentityCredential",
]


def sd_query(*paths: list[str | int | None], query_id: str = "pid") -> dict[str, Any]:
    """A DCQL query for the xid SD-JWT VC asking for the claims at ``paths``."""
    query: dict[str, Any] = {"id": query_id, "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}}
    if paths:
        query["claims"] = [{"path": list(p)} for p in paths]
    return {"credentials": [query]}


def w3c_query(fmt: str, *paths: list[str | int | None]) -> dict[str, Any]:
    """A DCQL query for the xid W3C credential in ``fmt``."""
    query: dict[str, Any] = {"id": "identity", "format": fmt, "meta": {"type_values": [W3C_TYPES]}}
    if paths:
        query["claims"] = [{"path": list(p)} for p in paths]
    return {"credentials": [query]}


@dataclass
class World:
    """A wallet with the three xid credentials, the issuer that issued them, and the served stand-in verifier."""

    directory: Path
    keystore: Keystore
    issuer: Issuer
    verifier: StandinVerifier

    def holder(self, **kwargs: Any) -> Oid4vpHolder:
        """The wallet's OpenID4VP holder (trusting the wallet's roots unless ``roots`` is given)."""
        kwargs.setdefault("roots", trusted_roots(self.keystore.vault))
        roots = kwargs.pop("roots")
        return Oid4vpHolder(self.keystore.holder(), CredentialStore(self.keystore.vault), roots, **kwargs)

    def start(self, **behaviour: Any) -> tuple[str, Any]:
        """A new request of the stand-in (SD-JWT birthdate by default)."""
        behaviour.setdefault("dcql_query", sd_query(["birthdate"]))
        return self.verifier.start(Behaviour(**behaviour))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Issue the three xid credentials to a new wallet, trust the stand-in's root, serve the stand-in."""
    root = tmp_path_factory.mktemp("oid4vp")
    with database_url("sqlite", root) as url:
        engine = open_engine(url)
        create_schema(engine)
        issuer = make_issuer(engine, TrustAnchors([]))
        keystore = Keystore.create(root / "wallet", PASSPHRASE)
        holder = keystore.holder()
        store = CredentialStore(keystore.vault)
        until = datetime.now(UTC) + timedelta(days=30)
        for configuration, fmt in ((SD_JWT, "dc+sd-jwt"), (JWT_VC, "jwt_vc_json"), (LDP_VC, "ldp_vc")):
            with transaction(engine, write=True) as conn:
                credential = issuer.issue(conn, configuration, facts(), holder.public_jwk)
            store.add_credential(
                credential_format=fmt,
                configuration_id=configuration,
                issuer=BASE,
                credential=credential,
                valid_until=until,
            )
        verifier = StandinVerifier(issuer.verifier())
        add_root(keystore.vault, verifier.root_pem())
        with serve(verifier.app) as base:
            verifier.base = base
            yield World(root / "wallet", keystore, issuer, verifier)
        engine.dispose()


def answered(world: World, url: str, **kwargs: Any) -> tuple[PresentationRequest, Any]:
    """Resolve, plan and present; the request and the result."""
    holder = world.holder(**kwargs)
    request = holder.resolve(url)
    plan = holder.plan(request)
    return request, holder.present(request, plan)


def refused(world: World, url: str, error: type[Exception], text: str, **kwargs: Any) -> None:
    """Resolving (and planning) the request fails with ``error`` mentioning ``text``; nothing is sent."""
    before = world.verifier.responses
    holder = world.holder(**kwargs)
    with pytest.raises(error) as caught:
        holder.plan(holder.resolve(url))
    assert type(caught.value) is error, caught.value
    assert text in str(caught.value)
    assert world.verifier.responses == before


# -- the three prefixes, both response modes ----------------------------------------------------------------------


def test_x509_san_dns_direct_post_jwt_discloses_only_what_was_asked(world: World) -> None:
    url, tx = world.start(dcql_query=sd_query(["birthdate"], ["address", "formatted"]))
    request, result = answered(world, url)
    assert request.client_id == "x509_san_dns:127.0.0.1"
    assert request.response_mode == "direct_post.jwt"
    assert request.verification_code == verification_code(tx.client_id, tx.nonce)
    assert result.disclosed == {"pid": [["birthdate"], ["address", "formatted"]]}
    # the verifier decrypted a JWE to its transaction key and verified KB-JWT aud/nonce/iat/sd_hash
    assert tx.jwe_header == {"alg": "ECDH-ES", "enc": "A128GCM", "kid": tx.enc_key.kid, "epk": tx.jwe_header["epk"]}
    (presentation,) = tx.vp_token["pid"]
    (verified,) = tx.results
    assert verified["claims"]["birthdate"] == "1990-01-02"
    assert verified["claims"]["address"] == {"formatted": "東京都千代田区千代田\uff11\uff0d\uff11"}
    for undisclosed in ("name", "sex", "age_over_18", "age_over_20", "jpki_date_of_birth", "verification"):
        assert undisclosed not in verified["claims"]
    # decode what was sent: exactly two disclosures, and the KB-JWT is bound to the full client_id and the nonce
    _jwt, *disclosures, kb_jwt = presentation.split("~")
    names = sorted(json.loads(b64url_decode(d))[1] for d in disclosures)
    assert names == ["address", "birthdate"]
    kb = json.loads(b64url_decode(kb_jwt.split(".")[1]))
    assert kb["aud"] == "x509_san_dns:127.0.0.1"
    assert kb["nonce"] == tx.nonce
    assert result.redirect_uri is None


def test_request_uri_post_sends_wallet_metadata_and_a_fresh_wallet_nonce(world: World) -> None:
    url, tx = world.start(method="post", response_mode="direct_post")
    assert parse_request_url(url).request_uri_method == "post"
    answered(world, url)
    assert tx.wallet_nonce
    assert len(tx.wallet_nonce) >= 22
    assert set(tx.wallet_metadata["vp_formats_supported"]) == {"dc+sd-jwt", "jwt_vc_json", "ldp_vc"}
    assert "x509_san_dns" in tx.wallet_metadata["client_id_prefixes_supported"]
    assert tx.jwe_header is None
    assert tx.results[0]["claims"]["birthdate"] == "1990-01-02"
    first = tx.wallet_nonce
    url, tx = world.start(method="post", response_mode="direct_post")
    world.holder().resolve(url)
    assert tx.wallet_nonce != first


def test_decentralized_identifier_with_a_jwt_vp(world: World) -> None:
    url, tx = world.start(
        prefix="decentralized_identifier",
        response_mode="direct_post",
        dcql_query=w3c_query("jwt_vc_json", ["credentialSubject", "birthdate"]),
    )
    request, result = answered(world, url)
    assert request.client_id == f"decentralized_identifier:{world.verifier.did}"
    (verified,) = tx.results
    assert verified["format"] == "jwt_vc_json"
    (vp_jwt,) = tx.vp_token["identity"]
    claims = json.loads(b64url_decode(vp_jwt.split(".")[1]))
    holder_did = did_jwk.create(world.keystore.holder().public_jwk)
    assert claims["aud"] == request.client_id
    assert claims["nonce"] == tx.nonce
    assert claims["iss"] == holder_did
    # a JWT VC cannot disclose selectively: the wallet says it presents the whole credential subject
    assert ["credentialSubject", "name"] in result.disclosed["identity"]


def test_redirect_uri_by_value_with_an_ldp_vp(world: World) -> None:
    url, tx = world.start(
        prefix="redirect_uri",
        response_mode="direct_post",
        dcql_query=w3c_query("ldp_vc", ["credentialSubject", "age_over_20"]),
        redirect_uri="https://rp.example/done#response_code=abc",
    )
    assert "request_uri" not in url
    request, result = answered(world, url)
    assert request.client_id == f"redirect_uri:{world.verifier.base}/response"
    (vp,) = tx.vp_token["identity"]
    assert vp["proof"]["challenge"] == tx.nonce
    assert vp["proof"]["domain"] == request.client_id
    assert vp["proof"]["proofPurpose"] == "authentication"
    assert vp["proof"]["cryptosuite"] == "ecdsa-jcs-2019"
    assert tx.results[0]["format"] == "ldp_vc"
    assert result.redirect_uri == "https://rp.example/done#response_code=abc"


def test_the_verifiers_content_encryption_choice_is_followed(world: World) -> None:
    url, tx = world.start(enc_values=["A256CBC-HS512", "A256GCM"])
    answered(world, url)
    assert tx.jwe_header["enc"] == "A256GCM"
    url, tx = world.start(enc_values=["A256CBC-HS512"])
    refused(world, url, PresentationRequestError, "no content encryption")


def test_w3c_type_values_as_written_match_too(world: World) -> None:
    query = w3c_query("ldp_vc", ["credentialSubject", "age_over_20"])
    query["credentials"][0]["meta"]["type_values"] = [["VerifiableCredential", "XidIdentityCredential"]]
    url, _ = world.start(prefix="redirect_uri", response_mode="direct_post", dcql_query=query)
    holder = world.holder()
    plan = holder.plan(holder.resolve(url))
    assert plan.selections[0].format == "ldp_vc"
    query["credentials"][0]["meta"]["type_values"] = [["https://example.org/Other"]]
    url, _ = world.start(prefix="redirect_uri", response_mode="direct_post", dcql_query=query)
    refused(world, url, CannotSatisfyQueryError, "nothing was sent")


def test_the_w3c_types_are_expanded_iris() -> None:
    credential = {"@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/xid/identity/v1"]}
    assert expanded_types({**credential, "type": ["VerifiableCredential", "XidIdentityCredential"]}) == set(W3C_TYPES)
    assert expanded_types({"@context": ["https://unknown.example/ctx"], "type": ["X"]}) == frozenset()


def test_an_sd_jwt_with_array_disclosures_decodes_fully() -> None:
    from vc.sd_jwt import SD, issue

    signer = SoftwareSigner.generate(KeyType.P256)
    token = issue({"iss": "did:example:x", "nationalities": [SD("JP"), "FR"], "name": SD("Hanako")}, signer)
    assert sd_jwt_claims(token) == {"iss": "did:example:x", "nationalities": ["JP", "FR"], "name": "Hanako"}


# -- refusals: nothing sent -----------------------------------------------------------------------------------------


def test_request_object_signed_by_another_key(world: World) -> None:
    url, _ = world.start(other_key=True)
    refused(world, url, UntrustedVerifierError, "signature does not verify")
    url, _ = world.start(other_key=True, prefix="decentralized_identifier")
    refused(world, url, UntrustedVerifierError, "signature does not verify")


def test_certificate_chain_to_an_untrusted_root(world: World) -> None:
    url, _ = world.start()
    other_root = certificate_authority("someone else")[1]
    refused(world, url, UntrustedVerifierError, "does not chain to a trusted root", roots=[other_root])
    url, _ = world.start()
    refused(world, url, UntrustedVerifierError, "trusts no root", roots=[])


def test_certificate_issued_by_a_non_ca(world: World) -> None:
    # a leaf signed by the stand-in's leaf key (not a CA): the chain leaf <- "CA" without basicConstraints cA
    signer = world.verifier.signer
    fake_ca_key = ec.generate_private_key(ec.SECP256R1())
    fake_ca = leaf_certificate(
        SoftwareSigner.from_private_jwk(_private_jwk(fake_ca_key)), "ca.example", world.verifier.ca
    )
    leaf = leaf_certificate(signer, "127.0.0.1", (fake_ca_key, fake_ca))
    url, _ = world.start(x5c=[b64_der(leaf), b64_der(fake_ca)])
    refused(world, url, UntrustedVerifierError, "does not chain to a trusted root")


def test_certificate_san_is_not_the_client_id_host(world: World) -> None:
    leaf = leaf_certificate(world.verifier.signer, "evil.example", world.verifier.ca)
    url, _ = world.start(x5c=[b64_der(leaf)])
    refused(world, url, UntrustedVerifierError, "is not for '127.0.0.1'")


def test_certificate_that_may_not_sign(world: World) -> None:
    usage = x509.KeyUsage(False, False, True, False, False, False, False, False, False)  # keyEncipherment only
    leaf = leaf_certificate(world.verifier.signer, "127.0.0.1", world.verifier.ca, key_usage=usage)
    url, _ = world.start(x5c=[b64_der(leaf)])
    refused(world, url, UntrustedVerifierError, "may not sign")


def test_decentralized_identifier_kid_of_another_did(world: World) -> None:
    other = world.verifier.other
    url, _ = world.start(prefix="decentralized_identifier", other_key=True, kid=f"{did_jwk.create(other.public_jwk)}#0")
    refused(world, url, UntrustedVerifierError, "kid is not a DID URL of the client identifier's DID")
    url, _ = world.start(prefix="decentralized_identifier", kid=f"{world.verifier.did}#missing")
    refused(world, url, UntrustedVerifierError, "cannot find the verifier's key")


def test_response_uri_host_is_not_the_client_id_host(world: World) -> None:
    port = world.verifier.base.rsplit(":", 1)[1]
    url, _ = world.start(response_uri=f"http://localhost:{port}/response")
    refused(world, url, UntrustedVerifierError, "response_uri's host")
    url, _ = world.start(prefix="redirect_uri", response_uri=f"http://localhost:{port}/response")
    refused(world, url, UntrustedVerifierError, "not the client identifier's URI")


def test_client_id_in_the_request_object_differs_from_the_url(world: World) -> None:
    url, _ = world.start(jar_client_id="x509_san_dns:other.example")
    refused(world, url, PresentationRequestError, "client_id is not the one in the URL")


def test_wallet_nonce_not_echoed(world: World) -> None:
    url, _ = world.start(method="post", echo_wallet_nonce=False)
    refused(world, url, PresentationRequestError, "does not echo the wallet_nonce")


def test_expired_request_object(world: World) -> None:
    url, _ = world.start(exp_in=-120)
    refused(world, url, PresentationRequestError, "has expired")


def test_unsigned_request_object_for_a_signed_prefix(world: World) -> None:
    url, _ = world.start(unsigned=True)
    refused(world, url, UntrustedVerifierError, "not a signed JWT")
    url, _tx = world.start(prefix="redirect_uri")
    signed_prefix_by_value = url.replace("redirect_uri%3A", "x509_san_dns%3A", 1)
    refused(world, signed_prefix_by_value, PresentationRequestError, "needs a signed request object")


def test_a_redirect_uri_request_may_not_be_signed(world: World) -> None:
    url, _tx = world.start()
    by_reference = url.replace("x509_san_dns%3A127.0.0.1", f"redirect_uri%3A{world.verifier.base}/response")
    refused(world, by_reference, PresentationRequestError, "cannot be signed")


def test_other_prefixes_types_audiences_and_modes(world: World) -> None:
    url, _ = world.start(prefix="x509_hash")
    refused(world, url, PresentationRequestError, "prefix is not one this wallet accepts")
    refused(
        world, "openid4vp://?client_id=s6BhdRkqt3&request_uri=https://x.example/r", PresentationRequestError, "prefix"
    )
    url, _ = world.start(typ="JWT")
    refused(world, url, PresentationRequestError, "typ is 'JWT'")
    url, _ = world.start(aud="https://wallet.example")
    refused(world, url, PresentationRequestError, "aud is not https://self-issued.me/v2")
    url, _ = world.start(response_mode="fragment")
    refused(world, url, PresentationRequestError, "response_mode 'fragment'")


def test_a_claim_the_wallet_lacks(world: World) -> None:
    url, _ = world.start(dcql_query=sd_query(["birthdate"], ["nationality"]))
    refused(world, url, CannotSatisfyQueryError, "nothing was sent")
    url, _ = world.start(dcql_query=w3c_query("ldp_vc", ["credentialSubject", "passport_number"]))
    refused(world, url, CannotSatisfyQueryError, "nothing was sent")


def test_a_query_satisfied_only_in_part(world: World) -> None:
    query = {
        "credentials": [*sd_query(["birthdate"])["credentials"], *w3c_query("ldp_vc", ["passport"])["credentials"]]
    }
    url, _ = world.start(dcql_query=query)
    refused(world, url, CannotSatisfyQueryError, "asks for (identity); nothing was sent")


def test_expired_credentials_are_not_offered(world: World) -> None:
    holder = world.holder(clock=lambda: (datetime.now(UTC) + timedelta(days=31)).timestamp())
    url, _ = world.start(prefix="redirect_uri")  # no certificate: it would have expired too
    request = holder.resolve(url)
    with pytest.raises(CannotSatisfyQueryError):
        holder.plan(request)


@pytest.mark.parametrize(
    ("jwk", "text"),
    [
        ({"kty": "OKP", "crv": "X25519", "x": b64url_encode(bytes(32)), "kid": "k", "use": "enc"}, "no EC encryption"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k"}, "no EC encryption"),
        ({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "k", "use": "enc"}, "must be P-256"),
        ({"kty": "EC", "crv": "P-256", "x": b64url_encode(bytes(32)), "y": b64url_encode(bytes(31) + b"\x01"),
          "kid": "k", "use": "enc"}, "not a P-256 point"),
        ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "k", "use": "sig"}, "no EC encryption"),
    ],
)  # fmt: skip
def test_an_encryption_key_of_the_wrong_type(world: World, jwk: dict[str, Any], text: str) -> None:
    url, _ = world.start(enc_jwk=jwk)
    refused(world, url, PresentationRequestError, text)


def test_a_verifier_error_is_reported(world: World) -> None:
    url, tx = world.start()
    holder = world.holder()
    request = holder.resolve(url)
    plan = holder.plan(request)
    tampered = PresentationRequest(**{**request.__dict__, "nonce": "not-the-nonce"})
    with pytest.raises(VerifierRefusedError, match="400 invalid_request"):
        holder.present(tampered, plan)
    assert tx.results == []


def _private_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    numbers = key.private_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.public_numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.public_numbers.y.to_bytes(32, "big")),
        "d": b64url_encode(numbers.private_value.to_bytes(32, "big")),
    }


# -- xid wallet present / trust -------------------------------------------------------------------------------------


def present_cli(world: World, url: str, *extra: str, input: str = f"{PASSPHRASE}\n") -> Result:
    """Run ``xid wallet present`` on the world's wallet."""
    args = ["wallet", "present", url, "--wallet", str(world.directory), "--passphrase-stdin", *extra]
    return CliRunner().invoke(main, args, input=input, env={"XID_WALLET": ""})


def test_cli_present_shows_the_request_and_prints_json(world: World) -> None:
    url, tx = world.start(dcql_query=sd_query(["age_over_20"]), redirect_uri="https://rp.example/cb#response_code=x")
    result = present_cli(world, url, "--yes", "--json")
    assert result.exit_code == 0, result.output
    code = verification_code(tx.client_id, tx.nonce)
    assert json.loads(result.stdout) == {
        "verification_code": code,
        "disclosed": {"pid": [["age_over_20"]]},
        "redirect_uri": "https://rp.example/cb#response_code=x",
    }
    assert "127.0.0.1 (x509_san_dns) asks for:" in result.stderr
    assert "    age_over_20" in result.stderr
    assert f"verification code: {code}" in result.stderr
    assert tx.results[0]["claims"]["age_over_20"] is True


def test_cli_present_asks_for_consent_and_sends_nothing_on_no(world: World) -> None:
    url, tx = world.start()
    before = world.verifier.responses
    result = present_cli(world, url, input=f"{PASSPHRASE}\nn\n")
    assert result.exit_code == 1
    assert "error [consentDeclined]" in result.stderr
    assert "present this?" in result.stderr
    assert world.verifier.responses == before
    assert tx.results == []
    result = present_cli(world, url, input=f"{PASSPHRASE}\ny\n")
    assert result.exit_code == 0, result.output
    assert "presented to 127.0.0.1" in result.stdout
    assert tx.results[0]["claims"]["birthdate"] == "1990-01-02"


def test_cli_wrong_passphrase_fetches_and_sends_nothing(world: World) -> None:
    url, tx = world.start()
    before = world.verifier.responses
    result = present_cli(world, url, "--yes", input="not the passphrase\n")
    assert result.exit_code == 1
    assert "error [wrongPassphrase]" in result.stderr
    assert tx.fetches == 0
    assert world.verifier.responses == before


def test_cli_refusal_is_one_error_line(world: World) -> None:
    url, _ = world.start(dcql_query=sd_query(["nationality"]))
    result = present_cli(world, url, "--yes")
    assert result.exit_code == 1
    assert "error [cannotSatisfyQuery]" in result.stderr
    assert "Traceback" not in result.output


def test_cli_trust_add_and_list(tmp_path: Path) -> None:
    directory = tmp_path / "wallet"
    Keystore.create(directory, PASSPHRASE)
    key, root = certificate_authority("a verifier CA")
    pem = tmp_path / "root.pem"
    pem.write_bytes(root.public_bytes(Encoding.PEM))
    runner = CliRunner()
    env = {"XID_WALLET": str(directory)}
    added = runner.invoke(
        main, ["wallet", "trust", "add", str(pem), "--passphrase-stdin", "--json"], input=f"{PASSPHRASE}\n", env=env
    )
    assert added.exit_code == 0, added.output
    fingerprint = root.fingerprint(hashes.SHA256()).hex()
    assert json.loads(added.stdout)["sha256"] == fingerprint
    listed = runner.invoke(main, ["wallet", "trust", "list", "--json"], env=env)
    assert [r["sha256"] for r in json.loads(listed.stdout)] == [fingerprint]
    keystore = Keystore.open(directory, PASSPHRASE)
    assert [r.fingerprint(hashes.SHA256()).hex() for r in trusted_roots(keystore.vault)] == [fingerprint]
    # a leaf certificate and a text file are refused, and nothing is added
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(
        leaf_certificate(SoftwareSigner.generate(KeyType.P256), "x.example", (key, root)).public_bytes(Encoding.PEM)
    )
    text = tmp_path / "text.pem"
    text.write_text("not a certificate\n")
    for bad, message in ((leaf, "not a CA certificate"), (text, "no PEM certificate")):
        refused = runner.invoke(
            main, ["wallet", "trust", "add", str(bad), "--passphrase-stdin"], input=f"{PASSPHRASE}\n", env=env
        )
        assert refused.exit_code == 1
        assert "error [invalidCertificate]" in refused.stderr
        assert message in refused.stderr
    assert len(json.loads(runner.invoke(main, ["wallet", "trust", "list", "--json"], env=env).stdout)) == 1


def test_a_signed_request_by_value(world: World) -> None:
    _, tx = world.start(response_mode="direct_post")
    jar = world.verifier.jar(tx)
    url = "openid4vp://?" + urlencode({"client_id": tx.client_id, "request": jar})
    request, _ = answered(world, url)
    assert request.nonce == tx.nonce
    assert tx.fetches == 0
    assert tx.results[0]["claims"]["birthdate"] == "1990-01-02"
    header, payload, signature = jar.split(".")
    forged = b64url_encode(json.dumps({**json.loads(b64url_decode(payload)), "nonce": "forged"}).encode())
    url = "openid4vp://?" + urlencode({"client_id": tx.client_id, "request": f"{header}.{forged}.{signature}"})
    refused(world, url, UntrustedVerifierError, "signature does not verify")


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("client_id=x509_san_dns%3Ah&request=a&request_uri=https%3A%2F%2Fh%2Fr", "both request and request_uri"),
        (
            "client_id=x509_san_dns%3Ah&request_uri=https%3A%2F%2Fh%2Fr&request_uri_method=put",
            "invalid_request_uri_method",
        ),
        ("client_id=x509_san_dns%3Ah&client_id=x509_san_dns%3Ai&request_uri=https%3A%2F%2Fh%2Fr", "repeats client_id"),
        ("request_uri=https%3A%2F%2Fh%2Fr", "no client_id"),
        ("client_id=x509_san_dns%3Ah&request_uri=http%3A%2F%2Fh.example%2Fr", "must be an https URL"),
    ],
)
def test_malformed_request_urls(world: World, query: str, text: str) -> None:
    refused(world, f"openid4vp://?{query}", PresentationRequestError, text)
