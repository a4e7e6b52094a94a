"""A bounded, loopback-only load test of ``xid serve``: a mixed workload at a fixed concurrency for a fixed time.

``run_load(workers, seconds, concurrency)`` starts ``xid serve --workers N`` on a free 127.0.0.1 port in a temporary
XID_HOME (the embedded default: SQLite, software keys, the TEST CA), prepares TEST cards and a relying party, and then
runs ``concurrency`` virtual users for ``seconds``. Each user repeats a mix of the journeys people make:

- **enrollment**: challenge → card signature → ``POST /enroll`` → token → nonce → one SD-JWT VC credential;
- **presentation**: the RP creates a request → the holder fetches the signed request object → answers it with a
  key-bound SD-JWT presentation → the RP reads the verified result;
- **login**: the relying party (registered once with ``xid rp add``, also the OIDC client) sends a fresh browser to
  ``/authorize`` (PKCE S256, nonce, state, scope ``openid name birthdate``) → the login page → the holder answers
  the QR code's cross-device request (its ``data-request-url``) as in a presentation → the page's status →
  the consent form on the person's first login at that RP (its CSRF token from the page) → the code → ``/token``
  (``client_secret_basic``) → ``/userinfo``.

The mix is 25% enrollments, 35% presentations and 40% logins; the first journeys of a run are one of each kind
(so even a short run has every kind), the rest are drawn from the mix.

Every journey's latency (first request to last response) and every non-2xx answer or transport error is recorded;
the target is zero errors. The load generator shares the machine's cores with the server: on a 2-core machine the
2-worker figures are a lower bound.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from bench.harness import free_port
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_decode, b64url_encode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from issuer.enrollment import signed_bytes
from jpki_bridge.testca import Person, TestCA

__all__ = ["LoadReport", "run_load"]

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
REDIRECT_URI = "https://rp.example.jp/cb"
"""The load RP's redirect URI (never opened: the code is read from the redirect's Location)."""
JOURNEYS = (("enrollment", 0.25), ("presentation", 0.35), ("login", 0.40))
"""The mix: each journey kind and its share."""
_QR_REQUEST = re.compile(r'data-request-url="([^"]+)"')
_CSRF = re.compile(r'name=csrf_token value="([^"]+)"')
_PERSONS = [
    Person("山田\u3000太郎", "1", "419900102", "東京都千代田区千代田1-1", "123456789018"),
    Person("佐藤\u3000花子", "2", "319850315", "大阪府大阪市北区梅田1-1", "123456789018"),
]  # TEST data only


@dataclass
class LoadReport:
    """What one load run measured: journeys done, their latencies, and the errors seen."""

    workers: int
    concurrency: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    consents: int = 0
    """Logins that went through the consent form (a person's first login at the RP)."""

    @property
    def journeys(self) -> int:
        """Journeys completed without error."""
        return sum(len(v) for v in self.latencies.values())

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1) of all journeys' latencies, in seconds."""
        values = sorted(v for vs in self.latencies.values() for v in vs)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> str:
        """One line: throughput, p50/p99 and errors, and the mix."""
        mix = ", ".join(f"{k} {len(v)}" for k, v in sorted(self.latencies.items()))
        return (
            f"{self.journeys / self.seconds:.1f} journeys/s, p50 {self.percentile(0.5) * 1e3:.0f} ms, "
            f"p99 {self.percentile(0.99) * 1e3:.0f} ms, {len(self.errors)} errors ({mix})"
        )


@contextlib.contextmanager
def _served(workers: int) -> Iterator[tuple[str, Path]]:
    """``xid serve --workers N`` on a free loopback port in a temporary home; yields (base URL, home)."""
    home = Path(tempfile.mkdtemp(prefix="xid-load-"))
    port = free_port()
    env = {**os.environ, "XID_HOME": str(home), "XID_TX_CODE": "0"}
    env.pop("XID_DATABASE_URL", None)
    env.pop("XID_LEDGER_DATABASE_URL", None)
    xid = Path(sys.executable).with_name("xid")
    argv = [str(xid), "serve", "--port", str(port), "--workers", str(workers)]
    log = (home / "serve.log").open("wb")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/.well-known/openid-credential-issuer", timeout=5).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                log_text = (home / "serve.log").read_text(errors="replace")
                raise RuntimeError("xid serve did not start: " + log_text[-500:])
            time.sleep(0.2)
        yield url, home
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class _Card:
    certificate: str
    key: rsa.RSAPrivateKey

    def sign(self, message: bytes) -> bytes:
        """The card's signature (RSA PKCS#1 v1.5, SHA-256) over the enrollment's to-be-signed bytes."""
        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def _cards(home: Path, count: int) -> list[_Card]:
    """TEST cards from the served instance's TEST CA (the issuer trusts it in the development configuration)."""
    ca_dir = home / "card" / "testca"
    ca = TestCA.load(ca_dir)
    cards = []
    for index in range(count):
        issued = ca.issue(_PERSONS[index % len(_PERSONS)])
        cards.append(_Card(b64url_encode(issued.sign_cert.public_bytes(Encoding.DER)), issued.sign_key))
    ca.save(ca_dir)
    return cards


def _register_rp(home: Path) -> tuple[str, str]:
    """``xid rp add`` for the load's relying party; returns (client_id, secret)."""
    xid = Path(sys.executable).with_name("xid")
    env = {**os.environ, "XID_HOME": str(home)}
    env.pop("XID_DATABASE_URL", None)
    argv = [str(xid), "rp", "add", "--name", "Load RP", "--redirect-uri", REDIRECT_URI, "--json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    registered = json.loads(done.stdout)
    return registered["client_id"], registered["client_secret"]


class _User:
    """One virtual user: enrolls a card, keeps the credential, presents it, logs in with it."""

    def __init__(self, url: str, card: _Card, rp: tuple[str, str]) -> None:
        self.client = httpx.AsyncClient(base_url=url)
        self.url = url
        self.card = card
        self.rp = rp
        self.holder = SoftwareSigner.generate(KeyType.P256)
        self.credential: str | None = None
        self.consents = 0

    async def _ok(self, response: Awaitable[httpx.Response]) -> httpx.Response:
        answer = await response
        if answer.status_code >= 300:
            raise AssertionError(
                f"{answer.request.method} {urlsplit(str(answer.request.url)).path} "
                f"answered {answer.status_code}: {answer.text[:160]}"
            )
        return answer

    async def _redirect(self, response: Awaitable[httpx.Response]) -> str:
        """The Location of a 303 answer (the browser's next URL), absolute."""
        return _location(await response)

    async def _answer(self, request_uri: str) -> None:
        """The holder fetches a request object and answers it with the claims it asks for (key-bound)."""
        from vc.sd_jwt import present

        assert self.credential is not None
        jar = (await self._ok(self.client.get(request_uri))).text
        params = json.loads(b64url_decode(jar.split(".")[1]))
        queries = params["dcql_query"]["credentials"]
        vp_token = {}
        for query in queries:
            paths = [tuple(claim["path"]) for claim in query.get("claims", [])]
            vp_token[query["id"]] = [
                present(self.credential, paths, self.holder, audience=params["client_id"], nonce=params["nonce"])
            ]
        if params.get("response_mode") == "direct_post.jwt":  # the facade's logins: encrypted to the verifier
            form = {"response": _encrypted({"vp_token": vp_token, "state": params["state"]}, params["client_metadata"])}
        else:
            form = {"vp_token": json.dumps(vp_token), "state": params["state"]}
        await self._ok(self.client.post(params["response_uri"], data=form))

    async def enrollment(self) -> None:
        """Card check, offer, token, nonce, one SD-JWT VC."""
        jwk = self.holder.public_jwk
        challenge = await self._ok(self.client.post("/enroll/challenge", json={"holder_jwk": jwk}))
        nonce = challenge.json()["nonce"]
        proof = encode_compact(
            {"typ": "xid-enroll+jwt", "alg": "ES256", "jwk": jwk},
            compact_json({"aud": self.url, "nonce": nonce, "iat": int(time.time())}),
            self.holder.sign,
        )
        signature = self.card.sign(signed_bytes(nonce, self.holder.public_key.thumbprint()))
        body = {
            "nonce": nonce,
            "certificate": self.card.certificate,
            "signature": b64url_encode(signature),
            "holder_proof": proof,
        }
        offer = (await self._ok(self.client.post("/enroll", json=body))).json()["credential_offer"]
        code = offer["grants"][PRE_AUTHORIZED]["pre-authorized_code"]
        token = await self._ok(
            self.client.post("/token", data={"grant_type": PRE_AUTHORIZED, "pre-authorized_code": code})
        )
        access = token.json()["access_token"]
        c_nonce = (await self._ok(self.client.post("/nonce"))).json()["c_nonce"]
        key_proof = encode_compact(
            {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": jwk},
            compact_json({"aud": self.url, "iat": int(time.time()), "nonce": c_nonce}),
            self.holder.sign,
        )
        request = {"credential_configuration_id": "xid_identity_sd_jwt", "proofs": {"jwt": [key_proof]}}
        issued = await self._ok(
            self.client.post("/credential", json=request, headers={"Authorization": f"Bearer {access}"})
        )
        self.credential = issued.json()["credentials"][0]["credential"]

    async def presentation(self) -> None:
        """An RP asks for age_over_20; the holder answers with a key-bound presentation; the RP reads the result."""
        if self.credential is None:
            await self.enrollment()
        assert self.credential is not None
        created = await self._ok(
            self.client.post(
                "/verifier/v1/requests", json={"preset": "age_over_20", "response_mode": "direct_post"}, auth=self.rp
            )
        )
        request_url = created.json()["request_url"]
        await self._answer(parse_qs(urlsplit(request_url).query)["request_uri"][0])
        transaction = created.json()["id"]
        status = await self._ok(self.client.get(f"/verifier/v1/requests/{transaction}", auth=self.rp))
        if status.json().get("status") != "verified":
            raise AssertionError(f"the presentation was not verified: {status.json().get('status')}")

    async def login(self) -> None:
        """A fresh browser logs in at the RP through the OIDC facade; the RP redeems the code and reads userinfo."""
        if self.credential is None:
            await self.enrollment()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = {
            "response_type": "code",
            "client_id": self.rp[0],
            "redirect_uri": REDIRECT_URI,
            "scope": "openid name birthdate",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        login_url = await self._redirect(self.client.get("/authorize?" + urlencode(query)))
        page = (await self._ok(self.client.get(login_url))).text  # binds the login to this browser's cookie
        found = _QR_REQUEST.search(page)
        if found is None:
            raise AssertionError(f"the login page has no QR code request: {page[:160]}")
        request_url = html.unescape(found.group(1))
        await self._answer(parse_qs(urlsplit(request_url).query)["request_uri"][0])
        status = (await self._ok(self.client.get(login_url + "/status"))).json()
        if status.get("status") != "verified":
            raise AssertionError(f"the login was not verified: {status}")
        answer = await self.client.get(login_url)
        if answer.status_code == 200:  # the consent form (the person's first login at this RP)
            csrf = _CSRF.search(answer.text)
            if csrf is None:
                raise AssertionError(f"the page after the presentation has no consent form: {answer.text[:160]}")
            form = {"csrf_token": csrf.group(1), "decision": "approve"}
            callback = await self._redirect(self.client.post(login_url + "/consent", data=form))
            self.consents += 1
        else:
            callback = _location(answer)
        returned = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
        if not callback.startswith(REDIRECT_URI) or returned.get("state") != state or "code" not in returned:
            raise AssertionError(f"the login did not return a code to the RP: {callback[:160]}")
        form = {"grant_type": "authorization_code", "code": returned["code"], "redirect_uri": REDIRECT_URI}
        token = await self._ok(self.client.post("/token", data={**form, "code_verifier": verifier}, auth=self.rp))
        tokens = token.json()
        claims = json.loads(b64url_decode(tokens["id_token"].split(".")[1]))
        if claims.get("nonce") != nonce:
            raise AssertionError("the ID token carries another login's nonce")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        info = (await self._ok(self.client.get("/userinfo", headers=bearer))).json()
        if info.get("sub") != claims.get("sub") or "name" not in info:
            raise AssertionError(f"userinfo does not match the ID token: {sorted(info)}")


def _encrypted(body: dict[str, object], metadata: dict[str, Any]) -> str:
    """A ``direct_post.jwt`` response: compact JWE (ECDH-ES) to the verifier's key, as the wallet sends it."""
    from joserfc import jwe
    from joserfc.jwk import ECKey

    jwk = next(k for k in metadata["jwks"]["keys"] if k.get("use", "enc") == "enc" and k.get("kty") == "EC")
    enc = metadata.get("encrypted_response_enc_values_supported", ["A128GCM"])[0]
    key = ECKey.import_key({name: jwk[name] for name in ("kty", "crv", "x", "y")})
    protected = {"alg": "ECDH-ES", "enc": enc, "kid": jwk["kid"]}
    return jwe.encrypt_compact(protected, json.dumps(body).encode(), key, algorithms=["ECDH-ES", enc])


def _location(answer: httpx.Response) -> str:
    """The Location of a 303 answer (the browser's next URL), absolute."""
    if answer.status_code != 303:
        raise AssertionError(
            f"{answer.request.method} {urlsplit(str(answer.request.url)).path} "
            f"answered {answer.status_code}, not a redirect: {answer.text[:160]}"
        )
    return urljoin(str(answer.request.url), answer.headers["location"])


def _pick(rng: random.Random) -> str:
    """A journey kind drawn from the mix."""
    draw = rng.random()
    for kind, share in JOURNEYS:
        if draw < share:
            return kind
        draw -= share
    return JOURNEYS[-1][0]


def _addresses() -> Iterator[str]:
    """Client source addresses on the loopback /8, one per journey in turn: each journey is another person.

    The services rate-limit per client address; a load from one address would measure the rate limiter."""
    while True:
        for third in range(1, 64):
            for fourth in range(1, 255):
                yield f"127.0.{third}.{fourth}"


async def _drive(url: str, cards: list[_Card], rp: tuple[str, str], report: LoadReport) -> None:
    addresses = _addresses()

    def client() -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=next(addresses))
        return httpx.AsyncClient(base_url=url, timeout=60, transport=transport)

    users = [_User(url, cards[i % len(cards)], rp) for i in range(report.concurrency)]
    for user in users:  # every user starts with a credential (warm-up, not measured)
        async with client() as user.client:
            await user.enrollment()
    stop = time.monotonic() + report.seconds
    rng = random.Random(7)
    first = [kind for kind, _ in JOURNEYS]

    async def loop(user: _User) -> None:
        while time.monotonic() < stop:
            journey = first.pop(0) if first else _pick(rng)
            start = time.perf_counter()
            try:
                async with client() as user.client:
                    await getattr(user, journey)()
            except (AssertionError, httpx.HTTPError, KeyError, ValueError) as error:
                report.errors.append(f"{journey}: {error}"[:300])
                continue
            report.latencies.setdefault(journey, []).append(time.perf_counter() - start)

    await asyncio.gather(*(loop(user) for user in users))
    report.consents = sum(user.consents for user in users)


def run_load(workers: int, seconds: float, concurrency: int = 8) -> LoadReport:
    """Serve xid with ``workers`` processes and run the mixed workload against it for ``seconds``."""
    report = LoadReport(workers, concurrency, seconds)
    with _served(workers) as (url, home):
        cards = _cards(home, min(concurrency, 4))
        rp = _register_rp(home)
        asyncio.run(_drive(url, cards, rp, report))
    return report


if __name__ == "__main__":  # python -m bench.load [workers] [seconds]
    result = run_load(int(sys.argv[1]) if len(sys.argv) > 1 else 1, float(sys.argv[2]) if len(sys.argv) > 2 else 10)
    print(result.summary())
    for line in result.errors[:10]:
        print("  error:", line)
