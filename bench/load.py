"""A bounded, loopback-only load test of ``xid serve``: a mixed workload at a fixed concurrency for a fixed time.

``run_load(workers, seconds, concurrency)`` starts ``xid serve --workers N`` on a free 127.0.0.1 port in a temporary
XID_HOME (the embedded default: SQLite, software keys, the TEST CA), prepares TEST cards and a relying party, and then
runs ``concurrency`` virtual users for ``seconds``. Each user repeats a mix of the journeys people make:

- **enrollment**: challenge → card signature → ``POST /enroll`` → token → nonce → one SD-JWT VC credential;
- **presentation**: the RP creates a request → the holder fetches the signed request object → answers it with a
  key-bound SD-JWT presentation → the RP reads the verified result;
- **login** (when the OIDC facade is served): ``/authorize`` → login page → the presentation → code → ``/token``.

Every journey's latency (first request to last response) and every non-2xx answer or transport error is recorded;
the target is zero errors. The load generator shares the machine's cores with the server: on a 2-core machine the
2-worker figures are a lower bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_decode, b64url_encode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from issuer.enrollment import signed_bytes
from jpki_bridge.testca import Person, TestCA

__all__ = ["LoadReport", "run_load"]

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


@contextlib.contextmanager
def _served(workers: int) -> Iterator[tuple[str, Path]]:
    """``xid serve --workers N`` on a free loopback port in a temporary home; yields (base URL, home)."""
    home = Path(tempfile.mkdtemp(prefix="xid-load-"))
    port = _free_port()
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
    argv = [str(xid), "rp", "add", "--name", "Load RP", "--redirect-uri", "https://rp.example.jp/cb", "--json"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    registered = json.loads(done.stdout)
    return registered["client_id"], registered["client_secret"]


class _User:
    """One virtual user: enrolls a card, keeps the credential, presents it."""

    def __init__(self, url: str, card: _Card, rp: tuple[str, str]) -> None:
        self.client = httpx.AsyncClient(base_url=url)
        self.url = url
        self.card = card
        self.rp = rp
        self.holder = SoftwareSigner.generate(KeyType.P256)
        self.credential: str | None = None

    async def _ok(self, response: Awaitable[httpx.Response]) -> httpx.Response:
        answer = await response
        if answer.status_code >= 300:
            raise AssertionError(
                f"{answer.request.method} {urlsplit(str(answer.request.url)).path} "
                f"answered {answer.status_code}: {answer.text[:160]}"
            )
        return answer

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
        from vc.sd_jwt import present

        if self.credential is None:
            await self.enrollment()
        assert self.credential is not None
        created = await self._ok(
            self.client.post(
                "/verifier/v1/requests", json={"preset": "age_over_20", "response_mode": "direct_post"}, auth=self.rp
            )
        )
        request_url = created.json()["request_url"]
        request_uri = parse_qs(urlsplit(request_url).query)["request_uri"][0]
        jar = (await self._ok(self.client.get(request_uri))).text
        params = json.loads(b64url_decode(jar.split(".")[1]))
        vp = present(
            self.credential, [("age_over_20",)], self.holder, audience=params["client_id"], nonce=params["nonce"]
        )
        form = {
            "vp_token": json.dumps({q["id"]: [vp] for q in params["dcql_query"]["credentials"]}),
            "state": params["state"],
        }
        await self._ok(self.client.post(params["response_uri"], data=form))
        transaction = created.json()["id"]
        status = await self._ok(self.client.get(f"/verifier/v1/requests/{transaction}", auth=self.rp))
        if status.json().get("status") != "verified":
            raise AssertionError(f"the presentation was not verified: {status.json().get('status')}")


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

    async def loop(user: _User) -> None:
        while time.monotonic() < stop:
            journey = "enrollment" if rng.random() < 0.25 else "presentation"
            start = time.perf_counter()
            try:
                async with client() as user.client:
                    await getattr(user, journey)()
            except (AssertionError, httpx.HTTPError, KeyError, ValueError) as error:
                report.errors.append(f"{journey}: {error}"[:300])
                continue
            report.latencies.setdefault(journey, []).append(time.perf_counter() - start)

    await asyncio.gather(*(loop(user) for user in users))


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
