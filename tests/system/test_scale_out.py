"""Scale-out: two ``xid serve`` processes on one PostgreSQL behind a load balancer act as one issuer and verifier.

Both processes share the settings a production deployment shares (``XID_DATABASE_URL`` and
``XID_LEDGER_DATABASE_URL`` on PostgreSQL, the keys and operator secrets under one ``XID_HOME``, one
``XID_PUBLIC_URL``: the balancer's). The balancer (``tests.system.servers.LoadBalancer``) sends each step of a flow to
the process the test names, so state made by one must be found by the other, and records every exchange, so each
single-use message can be replayed byte for byte at the other process, which must refuse it:

- enrollment: the challenge taken on A, the card check finished on B, the credential offer made there redeemed on A
  (token on A, c_nonce from B, credential on A);
- replays at the other process: the pre-authorized code (``invalid_grant``), the credential request whose c_nonce was
  used (``invalid_nonce``), the card check whose challenge was used;
- presentation: the request created on A, its request object fetched and answered at B, the result read on B with the
  response code, which A then refuses; the wallet's response replayed at A is refused;
- the ledger both processes append to audits clean (``xid ledger verify``), and a checkpoint read from A's view is
  proven consistent with a later one read from B's;
- an OpenID Connect login split across both (RP registered once): ``/authorize`` on A, the login page on B (the same
  browser cookie), the wallet's answer at A, its same-device response code redeemed and the consent form answered on
  B, ``/token`` on A; the code replayed byte for byte at B is refused (``invalid_grant``) and the access token issued
  from it is revoked (RFC 6749 §4.1.2); the ID token verifies against the JWKS of either process (the OP's signing
  keys live under the shared ``XID_HOME``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from joserfc import jwt
from joserfc.jwk import KeySet

from did import PublicKey
from ledger.checkpoint import open_checkpoint
from ledger.note import Ed25519NoteVerifier, vkey
from ledger.rfc9162 import verify_consistency
from tests.database import database_url
from tests.helpers import PERSONS, serve
from tests.system.servers import LoadBalancer, XidServer, wait_until
from xid.cli import main
from xid.cli_ledger import DEFAULT_ORIGIN
from xid.demo_login import Browser, log_in, wallet_of
from xid.files import load_signer

PASSPHRASE = "correct horse battery staple"
A, B = 0, 1


@dataclass
class Pair:
    """Two xid serve processes behind one balancer, their shared home and settings."""

    balancer: LoadBalancer
    url: str
    servers: tuple[XidServer, XidServer]
    home: Path
    env: dict[str, str]

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` (in-process) with the shared home and databases."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home), **self.env})

    def route(self, rules: dict[str, int]) -> None:
        """Send requests whose path starts with a rule's prefix (longest first) to its backend; others to A."""
        ordered = sorted(rules.items(), key=lambda rule: len(rule[0]), reverse=True)

        def pick(method: str, path: str) -> int:
            return next((backend for prefix, backend in ordered if path.startswith(prefix)), A)

        self.balancer.route = pick

    def only(self, method: str, path: str) -> tuple[int, int, bytes]:
        """The one recorded exchange of a method on an exact path: (backend, status, answer)."""
        found = [e for e in self.balancer.exchanges if e.method == method and e.path == path]
        assert len(found) == 1, (method, path, [(e.method, e.path, e.status) for e in self.balancer.exchanges])
        return found[0].backend, found[0].status, found[0].answer


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    home = tmp_path / "home"
    balancer = LoadBalancer()
    with (
        database_url("postgresql", tmp_path) as services_db,
        database_url("postgresql", tmp_path) as ledger_db,
        serve(balancer) as url,
    ):
        env = {"XID_DATABASE_URL": services_db, "XID_LEDGER_DATABASE_URL": ledger_db, "XID_PUBLIC_URL": url}
        first, second = XidServer("A", home, env), XidServer("B", home, env)
        try:
            first.start()  # creates the keys, secrets and schema once; B then finds them
            second.start()
            balancer.backends = [first.url, second.url]
            yield Pair(balancer, url, (first, second), home, env)
        finally:
            second.stop()
            first.stop()


def _error(answer: httpx.Response) -> str:
    body: dict[str, Any] = answer.json()
    return str(body.get("error"))


def test_two_processes_on_one_postgresql_act_as_one_service(pair: Pair) -> None:
    assert pair.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    assert pair.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0

    # -- enrollment across both processes
    pair.route(
        {"/enroll/challenge": A, "/enroll": B, "/credential-offer/": B, "/token": A, "/nonce": B, "/credential": A}
    )
    enrolled = pair.xid(
        "wallet", "enroll", "--issuer", pair.url, "--emulated", "--passphrase-stdin", "--pin-stdin", "--json",
        stdin=f"{PASSPHRASE}\nTEST1234\n",
    )  # fmt: skip
    assert enrolled.exit_code == 0, (enrolled.output, pair.servers[A].tail(), pair.servers[B].tail())
    assert pair.only("POST", "/enroll/challenge")[:2] == (A, 201)
    assert pair.only("POST", "/enroll")[0] == B
    assert pair.only("POST", "/enroll")[1] in (200, 201)
    assert pair.only("POST", "/token")[:2] == (A, 200)
    credentials = [e for e in pair.balancer.find("POST", "/credential") if e.path == "/credential"]
    assert credentials
    assert all((e.backend, e.status) == (A, 200) for e in credentials)
    nonces = pair.balancer.find("POST", "/nonce")
    assert nonces
    assert all((e.backend, e.status) == (B, 200) for e in nonces)
    listing = pair.xid("wallet", "list", "--json")
    assert listing.exit_code == 0, listing.output
    assert "xid_identity_sd_jwt" in listing.stdout

    # -- every single-use message, replayed byte for byte at the other process, is refused there
    (token,) = pair.balancer.find("POST", "/token")
    replayed = pair.balancer.replay(token, B)
    assert replayed.status_code == 400, replayed.text
    assert _error(replayed) == "invalid_grant"
    replayed = pair.balancer.replay(credentials[0], B)
    assert replayed.status_code == 400, replayed.text
    assert _error(replayed) == "invalid_nonce"
    (card_check,) = [e for e in pair.balancer.find("POST", "/enroll") if e.path == "/enroll"]
    replayed = pair.balancer.replay(card_check, A)
    assert replayed.status_code == 400, replayed.text
    assert _error(replayed) == "invalid_nonce"  # the challenge taken on A was used up by the card check on B

    # -- a presentation request made on A, answered at B, its result read once
    added = pair.xid("rp", "add", "--name", "Example Shop", "--redirect-uri", "https://shop.example.jp/cb", "--json")
    assert added.exit_code == 0, added.output
    registered = json.loads(added.stdout)
    rp = (registered["client_id"], registered["client_secret"])
    pair.route({"/verifier/v1/request/": B, "/verifier/v1/response/": B})
    wait_until(lambda: _signed(pair.servers[A]), "a checkpoint covering the enrollment", 30)
    checkpoint_before = _checkpoint(pair.servers[A])
    with httpx.Client(base_url=pair.servers[A].url, auth=rp, timeout=60) as on_a:
        created = on_a.post(
            "/verifier/v1/requests", json={"preset": "identity", "redirect_uri": "https://shop.example.jp/cb"}
        )
        assert created.status_code == 201, created.text
        request = created.json()
        presented = pair.xid(
            "wallet", "present", request["request_url"], "--yes", "--passphrase-stdin", "--json",
            stdin=PASSPHRASE + "\n",
        )  # fmt: skip
        assert presented.exit_code == 0, (presented.output, pair.servers[B].tail())
        report = json.loads(presented.stdout)
        assert report["verification_code"] == request["verification_code"]
        responses = pair.balancer.find("POST", "/verifier/v1/response/")
        assert len(responses) == 1
        assert (responses[0].backend, responses[0].status) == (B, 200)
        assert all(e.backend == B for e in pair.balancer.find("GET", "/verifier/v1/request/"))

        replayed = pair.balancer.replay(responses[0], A)  # the same vp_token at the other process
        assert replayed.status_code == 400, replayed.text
        assert "already answered" in replayed.json()["error_description"]

        code = urllib.parse.unquote(report["redirect_uri"].split("#response_code=", 1)[1])
        with httpx.Client(base_url=pair.servers[B].url, auth=rp, timeout=60) as on_b:
            result = on_b.get("/verifier/v1/results", params={"response_code": code})
            assert result.status_code == 200, result.text
            assert result.json()["result"]["credentials"][0]["claims"]["name"] == "山田\u3000太郎"
        again = on_a.get("/verifier/v1/results", params={"response_code": code})
        assert again.status_code in (400, 404), again.text

    # -- and the other way round (made on B, answered at A), so both processes append to the one ledger
    pair.route({"/verifier/v1/request/": A, "/verifier/v1/response/": A})
    with httpx.Client(base_url=pair.servers[B].url, auth=rp, timeout=60) as on_b:
        created = on_b.post("/verifier/v1/requests", json={"preset": "age_over_20"})
        assert created.status_code == 201, created.text
        request = created.json()
        presented = pair.xid(
            "wallet", "present", request["request_url"], "--yes", "--passphrase-stdin", "--json",
            stdin=PASSPHRASE + "\n",
        )  # fmt: skip
        assert presented.exit_code == 0, (presented.output, pair.servers[A].tail())
        answered = [e for e in pair.balancer.find("POST", "/verifier/v1/response/") if e.path.endswith(request["id"])]
        assert [(e.backend, e.status) for e in answered] == [(A, 200)]
        answer = on_b.get(f"/verifier/v1/requests/{request['id']}").json()
        assert answer["status"] == "verified", answer
        assert answer["result"]["credentials"][0]["claims"]["age_over_20"] is True

    # -- one ledger: it audits clean, and A's earlier view is consistent with B's later one
    audited = pair.xid("ledger", "verify", "--json")
    assert audited.exit_code == 0, audited.output
    audit = json.loads(audited.stdout)
    assert audit["ok"] is True, audit
    assert audit["size"] >= 3  # at least the enrollment (B) and the presentations (B, then A)
    _wait_for_checkpoint(pair, checkpoint_before.size)
    checkpoint_after = _checkpoint(pair.servers[B])
    assert checkpoint_after.size > checkpoint_before.size
    answer = httpx.get(
        f"{pair.servers[A].url}/ledger/proof/consistency",
        params={"old": checkpoint_before.size, "new": checkpoint_after.size},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    proof = [base64.b64decode(p) for p in answer.json()["proof"]]
    verify_consistency(
        checkpoint_before.size, checkpoint_after.size, checkpoint_before.root_hash, checkpoint_after.root_hash, proof
    )


def test_an_oidc_login_split_across_two_processes_is_one_login(pair: Pair) -> None:
    assert pair.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    assert pair.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
    enrolled = pair.xid(
        "wallet", "enroll", "--issuer", pair.url, "--emulated", "--passphrase-stdin", "--pin-stdin",
        stdin=f"{PASSPHRASE}\nTEST1234\n",
    )  # fmt: skip
    assert enrolled.exit_code == 0, (enrolled.output, pair.servers[A].tail(), pair.servers[B].tail())
    redirect_uri = "https://shop.example.jp/cb"
    added = pair.xid("rp", "add", "--name", "Example Shop", "--redirect-uri", redirect_uri, "--json")
    assert added.exit_code == 0, added.output
    registered = json.loads(added.stdout)
    client = (registered["client_id"], registered["client_secret"])

    def pick(method: str, path: str) -> int:
        if path.startswith("/oidc/login/"):  # the login page, its status, the continue page, the consent form
            return B
        return A  # /authorize, the request object and the wallet's answer, /token, /userinfo

    pair.balancer.route = pick
    pair.balancer.exchanges.clear()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client[0],
        "redirect_uri": redirect_uri,
        "scope": "openid name birthdate",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    authorize = f"{pair.url}/authorize?{urllib.parse.urlencode(params)}"
    with Browser() as browser:
        landing = log_in(browser, authorize, wallet_of(pair.home / "wallet", PASSPHRASE), stop_at=redirect_uri)
        assert browser.client.cookies.get("xid_browser")  # one browser cookie, set by B, sent back to B
    assert landing.response is None, (landing.url, pair.servers[A].tail(), pair.servers[B].tail())
    answer = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landing.url).query))
    assert answer["state"] == state
    assert answer["iss"] == pair.url
    code = answer["code"]

    # every step ran where the test sent it, and the OP steps the person saw all answered there
    assert pair.only("GET", "/authorize")[:2] == (A, 303)
    pages = [e for e in pair.balancer.find("GET", "/oidc/login/") if not e.path.startswith("/oidc/login/continue")]
    assert pages
    assert all(e.backend == B for e in pages)
    (consent,) = [e for e in pair.balancer.find("POST", "/oidc/login/") if e.path.endswith("/consent")]
    assert (consent.backend, consent.status) == (B, 303)  # the consent step was asked (first login) and answered
    assert [(e.backend, e.status) for e in pair.balancer.find("POST", "/oidc/login/continue")] == [(B, 303)]
    responses = pair.balancer.find("POST", "/verifier/v1/response/")
    assert [(e.backend, e.status) for e in responses] == [(A, 200)]

    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    token = httpx.post(f"{pair.url}/token", data=form, auth=client, timeout=60)
    assert token.status_code == 200, (token.text, pair.servers[A].tail())
    issued = token.json()
    assert pair.only("POST", "/token")[:2] == (A, 200)

    # the ID token verifies with the JWKS of either process: one OP
    documents = [httpx.get(f"{server.url}/jwks", timeout=30).json() for server in pair.servers]
    assert documents[A] == documents[B]
    for document in documents:
        decoded = jwt.decode(issued["id_token"], KeySet.import_key_set(document))
        assert decoded.claims["iss"] == pair.url
        assert decoded.claims["aud"] == client[0]
        assert decoded.claims["nonce"] == nonce
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    userinfo = httpx.get(f"{pair.servers[B].url}/userinfo", headers=bearer, timeout=30)
    assert userinfo.status_code == 200, userinfo.text  # the token issued on A is known on B
    assert userinfo.json()["sub"] == decoded.claims["sub"]
    assert userinfo.json()["name"] == "山田\u3000太郎"  # scope claims go to the userinfo (OIDC Core §5.4)
    assert userinfo.json()["birthdate"] == "1990-01-02"

    # the code replayed at the other process: refused, and the tokens issued from it are revoked there and here
    replayed = pair.balancer.replay(pair.balancer.find("POST", "/token")[0], B)
    assert replayed.status_code == 400, replayed.text
    assert _error(replayed) == "invalid_grant"
    for server in pair.servers:
        revoked = httpx.get(f"{server.url}/userinfo", headers=bearer, timeout=30)
        assert revoked.status_code == 401, (server.name, revoked.text)
        assert _error(revoked) == "invalid_token"


def _verifier(home: Path) -> Ed25519NoteVerifier:
    signer = load_signer(home / "keys" / "ledger.jwk", "the ledger key")
    return Ed25519NoteVerifier.from_vkey(vkey(DEFAULT_ORIGIN, PublicKey.from_jwk(signer.public_jwk).raw))


def _checkpoint(server: XidServer) -> Any:
    """The latest checkpoint as one process serves it, its signature checked against the log's key."""
    answer = httpx.get(f"{server.url}/ledger/checkpoint", timeout=30)
    assert answer.status_code == 200, answer.text
    return open_checkpoint(answer.text, _verifier(server.home))


def _signed(server: XidServer) -> bool:
    return httpx.get(f"{server.url}/ledger/checkpoint", timeout=30).status_code == 200


def _wait_for_checkpoint(pair: Pair, size: int) -> None:
    """Checkpoints are signed within a second of an append; wait for one beyond ``size``."""
    wait_until(lambda: _checkpoint(pair.servers[B]).size > size, "a checkpoint covering the presentation", 30)
