"""xid's wallet against an issuer and a verifier we did not write: ``xid wallet accept`` takes a credential from an
issuer built with @openid4vc/openid4vci 0.4.6's ``Openid4vciIssuer`` (and @openid4vc/oauth2's authorization and
resource servers, @sd-jwt/sd-jwt-vc 0.19.0 for the credential), and ``xid wallet present`` answers a verifier built
with @openid4vc/openid4vp 0.4.6's ``Openid4vpVerifier`` (pinned in tests/interop/wallet/, see its README).

The libraries accept pre-1.0 shapes (a singular ``proof``, ``format`` in a credential request, ``c_nonce`` in a token
response), so the test asserts the OpenID4VCI / OpenID4VP 1.0 shapes of what our wallet sent from the exchanges the
node servers record.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qs

import httpx
import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from did import KeyType, SoftwareSigner
from foundation.b64 import b64url_decode
from tests.helpers import require_component
from tests.verifier.conftest import certificate_chain
from vc.oid4vp import verification_code
from wallet.keystore import Keystore
from wallet.store import CredentialStore
from xid.cli import main

PEER = Path(__file__).parent / "wallet"
PASSPHRASE = "correct horse battery staple"
TX_CODE = "493536"
CLAIMS = {"given_name": "Hanako", "family_name": "Sato", "birthdate": "1985-04-01", "age_over_20": True}
VCT = "https://interop.example/identity"


@pytest.fixture(autouse=True, scope="module")
def node_peer() -> None:
    """Require node and the npm peer installed by ``make interop`` (skip locally, fail in CI)."""
    require_component(shutil.which("node") is not None, "node")
    installed = (PEER / "node_modules" / "@openid4vc" / "openid4vci").exists()
    require_component(installed, "npm peer in tests/interop/wallet (run make interop)")


class NodeServer:
    """A node server of tests/interop/wallet: started with a JSON input, its first stdout line describes it."""

    def __init__(self, script: str, given: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            ["node", script], cwd=PEER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdin = cast(IO[bytes], self.process.stdin)
        stdin.write(json.dumps(given).encode())
        stdin.close()
        line = cast(IO[bytes], self.process.stdout).readline()
        if not line:
            self.process.wait(timeout=30)
            raise AssertionError(cast(IO[bytes], self.process.stderr).read().decode())
        self.info: dict[str, Any] = json.loads(line)
        self.url: str = self.info["url"]

    def log(self) -> dict[str, Any]:
        """What the server recorded: every exchange and every error the library raised."""
        recorded: dict[str, Any] = httpx.get(f"{self.url}/_log", timeout=30).json()
        return recorded

    def stop(self) -> None:
        """End the server process (ours) and close its pipes."""
        self.process.terminate()
        self.process.wait(timeout=30)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def node_issuer() -> Iterator[NodeServer]:
    server = NodeServer("issuer.mjs", {"txCode": TX_CODE, "claims": CLAIMS, "vct": VCT})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def wallet(tmp_path: Path) -> Path:
    directory = tmp_path / "wallet"
    assert xid("wallet", "init", "--wallet", str(directory), "--passphrase-stdin").exit_code == 0
    return directory


def xid(*args: str, stdin: str = PASSPHRASE + "\n") -> Result:
    """Run ``xid`` in-process with the passphrase on stdin."""
    return CliRunner().invoke(main, list(args), input=stdin, env={"XID_WALLET": ""})


def by_path(log: dict[str, Any], method: str, path: str) -> list[dict[str, Any]]:
    """The recorded exchanges of one method and path (without query)."""
    return [e for e in log["log"] if e["method"] == method and e["path"].split("?")[0] == path]


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """A decoded JWT header (0) or payload (1)."""
    value: dict[str, Any] = json.loads(b64url_decode(token.split(".")[index]))
    return value


@pytest.mark.parametrize("offer_kind", ["offer", "offerByValue"])
def test_wallet_accepts_from_the_npm_issuer(node_issuer: NodeServer, wallet: Path, offer_kind: str) -> None:
    accepted = xid("wallet", "accept", node_issuer.info[offer_kind], "--wallet", str(wallet), "--passphrase-stdin",
                   "--tx-code", TX_CODE, "--json")  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    report = json.loads(accepted.stdout)
    assert report["issuer"] == node_issuer.url
    assert [c["configurationId"] for c in report["credentials"]] == ["identity_sd_jwt"]
    log = node_issuer.log()
    assert log["errors"] == []

    # OpenID4VCI 1.0 shapes of what the wallet sent (the library would also take draft ones).
    (token,) = by_path(log, "POST", "/token")
    assert token["contentType"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(token["request"]).items()}
    assert form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
        "pre-authorized_code": form["pre-authorized_code"],
        "tx_code": TX_CODE,
    }
    (nonce,) = by_path(log, "POST", "/nonce")
    (credential,) = by_path(log, "POST", "/credential")
    assert credential["authorization"] == "Bearer"
    request = json.loads(credential["request"])
    assert set(request) == {"credential_configuration_id", "proofs"}
    assert request["credential_configuration_id"] == "identity_sd_jwt"
    (proof,) = request["proofs"]["jwt"]
    header, payload = jwt_part(proof, 0), jwt_part(proof, 1)
    assert header["typ"] == "openid4vci-proof+jwt"
    assert header["alg"] == "ES256"
    assert payload["aud"] == node_issuer.url
    assert payload["nonce"] == nonce["response"]["c_nonce"]
    assert "iss" not in payload  # anonymous pre-authorized access
    (notification,) = by_path(log, "POST", "/notification")
    assert json.loads(notification["request"])["event"] == "credential_accepted"
    assert notification["status"] == 204

    # Stored as issued, bound to the wallet's key, readable with show (issuer key via its did:web on 127.0.0.1).
    keystore = Keystore.open(wallet, PASSPHRASE)
    listed = json.loads(xid("wallet", "list", "--wallet", str(wallet), "--json").stdout)
    (item,) = listed
    stored = CredentialStore(keystore.vault).credential(item["id"])
    assert isinstance(stored, str)
    assert stored == credential["response"]["credentials"][0]["credential"]
    assert jwt_part(stored.split("~")[0], 1)["cnf"]["jwk"] == keystore.holder().public_jwk
    shown = xid("wallet", "show", item["id"], "--wallet", str(wallet), "--passphrase-stdin", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["verified"] is True
    assert view["issuer"] == node_issuer.url
    assert view["claims"] == CLAIMS
    for secret in ("Hanako", "1985-04-01"):
        assert secret.encode() not in b"".join(p.read_bytes() for p in wallet.rglob("*") if p.is_file())


def test_a_wrong_transaction_code_stores_nothing(node_issuer: NodeServer, wallet: Path) -> None:
    refused = xid("wallet", "accept", node_issuer.info["offer"], "--wallet", str(wallet), "--passphrase-stdin",
                  "--tx-code", "000000")  # fmt: skip
    assert refused.exit_code == 1
    assert "error [issuerRefused]" in refused.stderr
    assert "invalid_grant" in refused.stderr
    assert json.loads(xid("wallet", "list", "--wallet", str(wallet), "--json").stdout) == []
    assert by_path(node_issuer.log(), "POST", "/credential") == []


@pytest.fixture
def holding(node_issuer: NodeServer, wallet: Path) -> tuple[Path, NodeServer]:
    """A wallet holding the SD-JWT VC of the npm issuer."""
    accepted = xid("wallet", "accept", node_issuer.info["offer"], "--wallet", str(wallet), "--passphrase-stdin",
                   "--tx-code", TX_CODE)  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    return wallet, node_issuer


def start_verifier(tmp_path: Path, issuer: NodeServer, prefix: str, mode: str, claims: list[str]) -> NodeServer:
    """The npm verifier asking for claims of the npm issuer's credential; its root CA is written to root.pem."""
    signer = SoftwareSigner.generate(KeyType.P256)
    x5c, root = certificate_chain(signer, "127.0.0.1")
    (tmp_path / "root.pem").write_bytes(x509.load_der_x509_certificate(root).public_bytes(Encoding.PEM))
    given = {
        "prefix": prefix,
        "responseMode": mode,
        "x5c": [base64.b64encode(der).decode() for der in x5c],
        "leafPrivateJwk": signer.to_private_jwk(),
        "issuerJwk": issuer.info["issuerJwk"],
        "vct": VCT,
        "claims": claims,
    }
    return NodeServer("verifier.mjs", given)


@pytest.mark.parametrize(
    ("prefix", "mode"),
    [("redirect_uri", "direct_post"), ("x509_san_dns", "direct_post.jwt"), ("x509_san_dns", "direct_post")],
)
def test_wallet_presents_to_the_npm_verifier(
    holding: tuple[Path, NodeServer], tmp_path: Path, prefix: str, mode: str
) -> None:
    wallet, issuer = holding
    verifier = start_verifier(tmp_path, issuer, prefix, mode, ["age_over_20"])
    try:
        if prefix == "x509_san_dns":
            trusted = xid("wallet", "trust", "add", str(tmp_path / "root.pem"), "--wallet", str(wallet),
                          "--passphrase-stdin")  # fmt: skip
            assert trusted.exit_code == 0, trusted.output
        presented = xid("wallet", "present", verifier.info["request"], "--wallet", str(wallet), "--passphrase-stdin",
                        "--yes", "--json")  # fmt: skip
        assert presented.exit_code == 0, presented.output
        report = json.loads(presented.stdout)
        log = verifier.log()
    finally:
        verifier.stop()
    assert log["errors"] == []
    (result,) = log["results"]
    assert result["verified"] is True
    client_id = verifier.info["clientId"]
    assert report["verification_code"] == verification_code(client_id, verifier.info["nonce"])
    assert report["redirect_uri"].startswith("https://rp.example/done#response_code=")
    # Only what was asked was disclosed; the KB-JWT names the full client_id and the request's nonce.
    assert result["claims"]["age_over_20"] is True
    for withheld in ("given_name", "family_name", "birthdate"):
        assert withheld not in result["claims"]
    assert result["kb"]["aud"] == client_id
    assert result["kb"]["nonce"] == verifier.info["nonce"]
    assert isinstance(result["kb"]["sd_hash"], str)
    # OpenID4VP 1.0 shapes: vp_token is a JSON object of arrays keyed by the DCQL credential query id.
    assert set(result["vpToken"]) == {"identity"}
    assert isinstance(result["vpToken"]["identity"], list)
    assert result["encrypted"] is (mode == "direct_post.jwt")
    (posted,) = [e for e in log["log"] if e["path"] == "/response"]
    form = parse_qs(posted["request"])
    assert set(form) == ({"response"} if mode == "direct_post.jwt" else {"vp_token", "state"})
    if prefix == "x509_san_dns":
        assert [e["method"] for e in log["log"] if e["path"] == "/request"] == ["GET"]


def test_an_untrusted_certificate_sends_nothing(holding: tuple[Path, NodeServer], tmp_path: Path) -> None:
    wallet, issuer = holding
    verifier = start_verifier(tmp_path, issuer, "x509_san_dns", "direct_post.jwt", ["age_over_20"])
    try:
        refused = xid("wallet", "present", verifier.info["request"], "--wallet", str(wallet), "--passphrase-stdin",
                      "--yes")  # fmt: skip
        log = verifier.log()
    finally:
        verifier.stop()
    assert refused.exit_code == 1
    assert "error [untrustedVerifier]" in refused.stderr
    assert [e for e in log["log"] if e["path"] == "/response"] == []


def test_a_claim_the_wallet_lacks_sends_nothing(holding: tuple[Path, NodeServer], tmp_path: Path) -> None:
    wallet, issuer = holding
    verifier = start_verifier(tmp_path, issuer, "redirect_uri", "direct_post", ["nationality"])
    try:
        refused = xid("wallet", "present", verifier.info["request"], "--wallet", str(wallet), "--passphrase-stdin",
                      "--yes")  # fmt: skip
        log = verifier.log()
    finally:
        verifier.stop()
    assert refused.exit_code == 1
    assert "error [cannotSatisfyQuery]" in refused.stderr
    assert [e for e in log["log"] if e["path"] == "/response"] == []
