"""Independent implementations check the xid CA over real HTTP: the openssl CLI and pyhanko-certvalidator.

openssl verifies both certificates (with ``-purpose``), asks the served OCSP responder (good, then revoked with
the reason, nonce checked) and verifies the CRL; a flipped bit in a certificate, a CRL or an OCSP response makes it
fail. pyhanko-certvalidator (what the wallet and verifier will use for document signatures) builds the path to the
root, fetches OCSP from the certificate's AIA and accepts, then reports the revocation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from foundation.db import transaction
from foundation.web import EXCEPTION_HANDLERS
from issuer.ca import CA_SECTOR, IssuedCertificate, XidCA, revoke
from issuer.ca_routes import routes
from issuer.context import IssuerContext
from tests.helpers import require_component, serve
from tests.issuer.test_ca import flip_bit_in, holder_for, make_csr, pairwise

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def openssl() -> str:
    require_component(OPENSSL is not None, "openssl CLI (apt: openssl)")
    assert OPENSSL is not None
    return OPENSSL


def run(openssl: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([openssl, *args], capture_output=True, text=True, encoding="utf-8", check=check, timeout=60)


@dataclasses.dataclass
class Live:
    ca: XidCA
    ctx: IssuerContext
    url: str
    root: Path
    auth: IssuedCertificate
    sign: IssuedCertificate
    auth_file: Path
    sign_file: Path
    requests: list[tuple[str, str]]
    """(method, path) of every request the served CA answered."""


def _live(ctx: IssuerContext, tmp_path: Path) -> Iterator[Live]:
    ca = XidCA(ctx, pairwise=pairwise)
    app = Starlette(routes=routes(ctx, ca, lambda token: None), exception_handlers=dict(EXCEPTION_HANDLERS))
    requests: list[tuple[str, str]] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            requests.append((scope["method"], scope["path"]))
        await app(scope, receive, send)

    with serve(recording) as url:
        ctx.base_url = url  # the certificates' AIA and CRL DP name the served responder
        key = ec.generate_private_key(ec.SECP256R1())
        holder = holder_for(key)
        auth, _ = ca.issue(holder, make_csr(key), "authentication")
        sign, _ = ca.issue(holder, make_csr(key), "signing")
        root = tmp_path / "root.pem"
        root.write_text(ca.root().pem)
        auth_file, sign_file = tmp_path / "auth.pem", tmp_path / "sign.pem"
        auth_file.write_text(auth.pem)
        sign_file.write_text(sign.pem)
        yield Live(ca, ctx, url, root, auth, sign, auth_file, sign_file, requests)


@pytest.fixture
def live(issuer_context: IssuerContext, tmp_path: Path) -> Iterator[Live]:
    yield from _live(dataclasses.replace(issuer_context), tmp_path)


def test_openssl_verifies_both_certificates(openssl: str, live: Live) -> None:
    for cert_file, purpose in ((live.auth_file, "sslclient"), (live.sign_file, "smimesign")):
        result = run(openssl, "verify", "-CAfile", str(live.root), "-purpose", purpose, str(cert_file))
        assert result.stdout.strip() == f"{cert_file}: OK"
    # the authentication certificate is for clients only; the signing one is not for TLS at all
    for cert_file, purpose in ((live.auth_file, "sslserver"), (live.sign_file, "sslclient")):
        refused = run(openssl, "verify", "-CAfile", str(live.root), "-purpose", purpose, str(cert_file), check=False)
        assert refused.returncode != 0
        assert "unsuitable certificate purpose" in refused.stdout + refused.stderr
    text = run(openssl, "x509", "-in", str(live.sign_file), "-noout", "-text").stdout
    assert re.search(r"X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation", text)
    assert re.search(r"X509v3 Extended Key Usage:\s+1\.3\.6\.1\.5\.5\.7\.3\.36, E-mail Protection", text)
    assert f"Subject: O = xid, CN = {pairwise('person-1', CA_SECTOR)}" in text
    assert f"OCSP - URI:{live.url}/ca/ocsp" in text


def test_openssl_rejects_a_flipped_bit_in_a_certificate(openssl: str, live: Live, tmp_path: Path) -> None:
    cert = x509.load_der_x509_certificate(live.sign.der)
    tampered = flip_bit_in(live.sign.der, cert.signature[-6:])
    tampered_file = tmp_path / "tampered.der"
    tampered_file.write_bytes(tampered)
    pem_file = tmp_path / "tampered.pem"
    run(openssl, "x509", "-inform", "DER", "-in", str(tampered_file), "-out", str(pem_file))
    result = run(openssl, "verify", "-CAfile", str(live.root), str(pem_file), check=False)
    assert result.returncode != 0
    assert "signature failure" in result.stdout + result.stderr


def _ocsp(openssl: str, live: Live, cert_file: Path, *digest: str) -> subprocess.CompletedProcess[str]:
    return run(
        openssl,
        "ocsp",
        "-issuer",
        str(live.root),
        *digest,  # the CertID digest applies to the -cert options after it
        "-cert",
        str(cert_file),
        "-url",
        f"{live.url}/ca/ocsp",
        "-CAfile",
        str(live.root),
        "-resp_text",
        check=False,
    )


def test_openssl_ocsp_good_then_revoked(openssl: str, live: Live) -> None:
    for extra in ((), ("-sha256",)):
        good = _ocsp(openssl, live, live.sign_file, *extra)
        assert good.returncode == 0, good.stderr
        assert "Response verify OK" in good.stderr
        assert f"{live.sign_file}: good" in good.stdout
        assert "OCSP Nonce" in good.stdout  # openssl sends a nonce by default and checks the echo
    assert live.requests.count(("POST", "/ca/ocsp")) == 2
    with transaction(live.ctx.engine, write=True) as conn:
        revoke(live.ctx, conn, live.sign.serial, "keyCompromise")
    revoked = _ocsp(openssl, live, live.sign_file)
    assert "Response verify OK" in revoked.stderr
    assert f"{live.sign_file}: revoked" in revoked.stdout
    assert "Reason: keyCompromise" in revoked.stdout
    still_good = _ocsp(openssl, live, live.auth_file)
    assert f"{live.auth_file}: good" in still_good.stdout


def test_openssl_rejects_a_flipped_bit_in_an_ocsp_response(openssl: str, live: Live, tmp_path: Path) -> None:
    request, response = tmp_path / "request.der", tmp_path / "response.der"
    run(openssl, "ocsp", "-issuer", str(live.root), "-cert", str(live.sign_file), "-no_nonce", "-reqout", str(request))
    answer = live.ca.ocsp(request.read_bytes()).der
    response.write_bytes(answer)
    args = ["ocsp", "-issuer", str(live.root), "-cert", str(live.sign_file), "-CAfile", str(live.root)]
    assert "Response verify OK" in run(openssl, *args, "-respin", str(response), check=False).stderr
    serial = live.sign.serial.to_bytes(17, "big").lstrip(b"\0")
    response.write_bytes(flip_bit_in(answer, serial))  # the CertID's serial, inside the signed response data
    tampered = run(openssl, *args, "-respin", str(response), check=False)
    assert "Response verify OK" not in tampered.stderr
    assert "Response Verify Failure" in tampered.stderr


def _hex(serial: int) -> str:
    """A serial as openssl prints it: uppercase hex, an even number of digits."""
    digits = format(serial, "X")
    return digits.zfill(len(digits) + len(digits) % 2)


def test_openssl_verifies_the_crl(openssl: str, live: Live, tmp_path: Path) -> None:
    with transaction(live.ctx.engine, write=True) as conn:
        revoke(live.ctx, conn, live.sign.serial, "keyCompromise")
    crl_file = tmp_path / "crl.der"
    crl_file.write_bytes(live.ca.crl()[0])
    result = run(openssl, "crl", "-in", str(crl_file), "-inform", "DER", "-CAfile", str(live.root), "-noout", "-text")
    assert "verify OK" in result.stderr + result.stdout
    assert f"Serial Number: {_hex(live.sign.serial)}" in result.stdout
    assert "Key Compromise" in result.stdout
    assert _hex(live.auth.serial) not in result.stdout
    tampered = tmp_path / "tampered.der"
    tampered.write_bytes(flip_bit_in(crl_file.read_bytes(), live.sign.serial.to_bytes(17, "big").lstrip(b"\0")))
    failed = run(
        openssl, "crl", "-in", str(tampered), "-inform", "DER", "-CAfile", str(live.root), "-noout", check=False
    )
    # openssl crl exits 0 either way; it says what the signature check found
    assert "verify failure" in failed.stderr + failed.stdout
    assert "verify OK" not in failed.stderr + failed.stdout


def _validate(live: Live, cert: IssuedCertificate, usage: set[str]) -> None:
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(live.ca.root().der)],
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=RequestsFetcherBackend(),
    )
    validator = CertificateValidator(asn1_x509.Certificate.load(cert.der), validation_context=context)
    asyncio.run(validator.async_validate_usage(usage))  # type: ignore[no-untyped-call]


def test_pyhanko_certvalidator_checks_path_and_ocsp(live: Live) -> None:
    _validate(live, live.sign, {"non_repudiation"})
    _validate(live, live.auth, {"digital_signature"})
    assert ("POST", "/ca/ocsp") in live.requests  # it asked the responder the certificates name
    with transaction(live.ctx.engine, write=True) as conn:
        revoke(live.ctx, conn, live.sign.serial, "keyCompromise")
    with pytest.raises(RevokedError, match="revoked"):
        _validate(live, live.sign, {"non_repudiation"})
    _validate(live, live.auth, {"digital_signature"})


def test_ed25519_ca_with_openssl(openssl: str, issuer_context: IssuerContext, tmp_path: Path) -> None:
    ctx = dataclasses.replace(issuer_context, ca_signer=SoftwareSigner.generate(KeyType.ED25519))
    for live in _live(ctx, tmp_path):
        result = run(openssl, "verify", "-CAfile", str(live.root), str(live.sign_file), str(live.auth_file))
        assert result.stdout.count(": OK") == 2
        good = _ocsp(openssl, live, live.sign_file)
        assert "Response verify OK" in good.stderr
        assert f"{live.sign_file}: good" in good.stdout
        holder_key = ed25519.Ed25519PrivateKey.generate()
        issued, _ = live.ca.issue(holder_for(holder_key, grant="g-ed"), make_csr(holder_key), "signing")
        (tmp_path / "ed.pem").write_text(issued.pem)
        assert run(openssl, "verify", "-CAfile", str(live.root), str(tmp_path / "ed.pem")).returncode == 0


SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
_ON_TOKEN = """
import sys
from pathlib import Path

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from did.keys import KeyType, PublicKey
from did.pkcs11 import Pkcs11Signer, generate_key
from did.signer import SoftwareSigner
from foundation.db import open_engine
from issuer.ca import XidCA
from issuer.context import IssuerContext, OperatorSecrets
from issuer.contracts import AuthorizedHolder
from issuer.db import create_schema

out, module = Path(sys.argv[1]), sys.argv[2]
key_type = KeyType[sys.argv[3]]
with pkcs11.lib(module).get_token(token_label="xid-ca").open(rw=True, user_pin="1234") as session:
    generate_key(session, key_type, "ca")
engine = open_engine(f"sqlite:///{out / 'db.sqlite3'}")
create_schema(engine)
with Pkcs11Signer.open(module, "xid-ca", "1234", "ca") as ca_signer:
    ctx = IssuerContext(
        base_url="http://127.0.0.1:8000",
        did="did:web:127.0.0.1%3A8000",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=ca_signer,
        secrets=OperatorSecrets.generate(),
        trust=None,
        revocation=None,
    )
    ca = XidCA(ctx, pairwise=lambda person, sector: "pseudonym")
    holder_key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(holder_key, hashes.SHA256())
    jwk = PublicKey.from_cryptography(holder_key.public_key()).to_jwk()
    holder = AuthorizedHolder("grant", "person", "evidence", jwk, "ab" * 32)
    issued, _ = ca.issue(holder, csr.public_bytes(serialization.Encoding.DER), "signing")
    (out / "root.pem").write_text(ca.root().pem)
    (out / "cert.pem").write_text(issued.pem)
    (out / "crl.der").write_bytes(ca.crl()[0])
    (out / "ca.jwk").write_text(str(sorted(ca_signer.public_jwk.items())))
engine.dispose()
"""


@pytest.mark.softhsm
@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.ED25519], ids=["p256", "ed25519"])
def test_ca_key_on_a_pkcs11_token(openssl: str, tmp_path: Path, key_type: KeyType) -> None:
    """The CA signs through a PKCS#11 signer (SoftHSM2), never holding the private key; openssl checks the result.

    It runs in a child process: SoftHSM2 reads its configuration once per process, and other tests use their own.
    """
    require_component(shutil.which("softhsm2-util") is not None and Path(SOFTHSM).exists(), "SoftHSM2 (apt softhsm2)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    init = ["softhsm2-util", "--init-token", "--free", "--label", "xid-ca", "--so-pin", "0000", "--pin", "1234"]
    subprocess.run(init, check=True, capture_output=True, env=env, timeout=60)
    child = subprocess.run(
        [sys.executable, "-c", _ON_TOKEN, str(tmp_path), SOFTHSM, key_type.name],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    root, cert = tmp_path / "root.pem", tmp_path / "cert.pem"
    assert run(openssl, "verify", "-CAfile", str(root), "-purpose", "smimesign", str(cert)).stdout.strip() == (
        f"{cert}: OK"
    )
    crl = run(openssl, "crl", "-in", str(tmp_path / "crl.der"), "-inform", "DER", "-CAfile", str(root), "-noout")
    assert "verify OK" in crl.stderr + crl.stdout
    root_key = x509.load_pem_x509_certificate(root.read_bytes()).public_key()
    token_key = PublicKey.from_cryptography(root_key)  # type: ignore[arg-type]
    assert str(sorted(token_key.to_jwk().items())) == (tmp_path / "ca.jwk").read_text()
