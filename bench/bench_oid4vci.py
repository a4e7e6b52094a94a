"""OpenID4VCI endpoints: through the ASGI app in this process, and through uvicorn with 1 and 2 worker processes.

The credential issuer is a stand-in that secures a small SD-JWT VC (ES256, two disclosable claims) bound to the proof
key, so the credential figure is the endpoint's own cost (token lookup, proof parse + verify, nonce consumption, one
transaction) plus one ES256 signature; compare it with the raw P-256 sign floor. Requests per second with one
in-process worker are 1e6 / median µs. The uvicorn rows time one nonce + credential cycle under 8 concurrent clients
run from this process (the load generator shares the machine's cores with the server: a lower bound). SQLite is a
WAL file with synchronous=FULL (the default engine); PostgreSQL runs when ``XID_BENCH_DATABASE_URL`` or
``XID_TEST_DATABASE_URL`` is set (a fresh schema, dropped at exit).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Connection, Engine, create_engine, text
from starlette.applications import Starlette

from bench.harness import BenchUnavailableError, bench, bench_external, free_port
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import open_engine, transaction
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from foundation.web import EXCEPTION_HANDLERS
from issuer.context import IssuerContext, IssuerSettings, OperatorSecrets
from issuer.contracts import GrantRequest, IdentityFacts
from issuer.db import create_schema
from issuer.oid4vci import PRE_AUTHORIZED_CODE_GRANT, create_offer_factory
from issuer.oid4vci_routes import routes
from jpki_bridge.profile import basic4_from_values
from jpki_bridge.revocation import OcspProvider
from jpki_bridge.trust import TrustAnchors
from vc.sd_jwt import SD, issue

BASE = "http://127.0.0.1:8000"
CONFIGURATION = "bench_sd_jwt"
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    CONFIGURATION: {
        "format": "dc+sd-jwt",
        "vct": BASE + "/vct/bench",
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": ["ES256"],
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
        "credential_metadata": {"display": [{"name": "Bench", "locale": "en-US"}], "claims": []},
    }
}
URL_ENVS = ("XID_BENCH_DATABASE_URL", "XID_TEST_DATABASE_URL")
_NAME = "山田 太郎"
FACTS = IdentityFacts(
    basic4_from_values(_NAME, "0" * len(_NAME), "1", "319850401", "東京都", "000"),
    datetime(2026, 1, 1, tzinfo=UTC),
    "ab" * 32,
    "person-bench",
)


def _postgres_engine() -> Engine:
    base = next((os.environ[name] for name in URL_ENVS if os.environ.get(name)), "")
    if not base:
        raise BenchUnavailableError(f"PostgreSQL benchmarks need {' or '.join(URL_ENVS)} (scripts/postgres-test.sh)")
    schema = f"xid_bench_vci_{secrets.token_hex(4)}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # any driver error: the server is not usable for the bench
        admin.dispose()
        raise BenchUnavailableError(f"PostgreSQL unreachable: {str(error).splitlines()[0]}") from None

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    atexit.register(drop)
    separator = "&" if "?" in base else "?"
    return open_engine(f"{base}{separator}options={quote(f'-csearch_path={schema}')}")


def _sqlite_engine() -> Engine:
    directory = Path(tempfile.mkdtemp(prefix="xid-bench-vci-"))
    atexit.register(shutil.rmtree, directory, True)
    return open_engine(f"sqlite:///{directory / 'issuer.sqlite3'}")


class _Issuer:
    """Stands in for the credentials part: a small SD-JWT VC bound to the proof key."""

    def __init__(self, ctx: IssuerContext) -> None:
        self.ctx = ctx

    def __call__(
        self, conn: Connection, configuration_id: str, facts: IdentityFacts, holder_jwk: dict[str, Any]
    ) -> str | dict[str, Any]:
        claims = {"iss": BASE, "vct": BASE + "/vct/bench", "given_name": SD("太郎"), "age_over_18": SD(True)}
        return issue(claims, self.ctx.es256, holder_jwk=holder_jwk, decoys=0)


def _facts(conn: Connection, evidence_id: str) -> IdentityFacts:
    return FACTS


class _Client:
    """Requests through the ASGI app on one long-lived event loop."""

    def __init__(self, app: Starlette) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url=BASE)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(url, **kwargs))


def _context(engine: Engine) -> IssuerContext:
    settings = IssuerSettings(tx_code=False, token_rate_per_minute=10**9)
    return IssuerContext(
        base_url=BASE,
        did="did:web:127.0.0.1%3A8000",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=TrustAnchors([]),
        revocation=OcspProvider(),
        settings=settings,
    )


def _app(ctx: IssuerContext) -> Starlette:
    return Starlette(
        routes=routes(ctx, configurations=CONFIGURATIONS, issue=_Issuer(ctx), facts=_facts),
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )


def served_app() -> Starlette:
    """The app a uvicorn worker serves (``--factory``): the database named by ``XID_BENCH_VCI_DATABASE``."""
    return _app(_context(open_engine(os.environ["XID_BENCH_VCI_DATABASE"])))


def _issuer(kind: str) -> tuple[IssuerContext, _Client]:
    engine = _sqlite_engine() if kind == "SQLite" else _postgres_engine()
    create_schema(engine)
    ctx = _context(engine)
    return ctx, _Client(_app(ctx))


def _token(ctx: IssuerContext, client: _Client) -> str:
    factory = create_offer_factory(ctx, [CONFIGURATION])
    holder = SoftwareSigner.generate(KeyType.P256).public_key.to_jwk()
    with transaction(ctx.engine, write=True) as conn:
        offer = factory(conn, GrantRequest("person-bench", "evidence-bench", holder, "ab" * 32, ctx.clock()))
    code = offer.offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
    response = client.post("/token", data={"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code})
    if response.status_code != 200:
        raise AssertionError(f"token endpoint answered {response.status_code}: {response.text}")
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def _nonce_op(kind: str) -> Callable[[], object]:
    _, client = _issuer(kind)

    def op() -> object:
        response = client.post("/nonce")
        assert response.status_code == 200
        return response

    return op


def _token_op(kind: str) -> Callable[[], object]:
    ctx, client = _issuer(kind)
    return lambda: _token(ctx, client)


_HOLDER = SoftwareSigner.generate(KeyType.P256)
_PROOF_HEADER = {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": _HOLDER.public_key.to_jwk()}


def _credential_body(nonce: str) -> dict[str, Any]:
    payload = compact_json({"aud": BASE, "iat": int(time.time()), "nonce": nonce})
    proof = encode_compact(_PROOF_HEADER, payload, _HOLDER.sign)
    return {"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}}


def _credential_op(kind: str) -> Callable[[], object]:
    ctx, client = _issuer(kind)
    headers = {"Authorization": f"Bearer {_token(ctx, client)}"}

    def op() -> object:
        nonce = client.post("/nonce").json()["c_nonce"]
        response = client.post("/credential", json=_credential_body(nonce), headers=headers)
        assert response.status_code == 200, response.text
        return response

    return op


_CYCLES, _CONCURRENCY = 240, 8


async def _load(url: str, access_token: str) -> float:
    """Run _CYCLES nonce + credential cycles with _CONCURRENCY clients; return the elapsed seconds."""
    headers = {"Authorization": f"Bearer {access_token}"}
    remaining = [_CYCLES]

    async def worker(client: httpx.AsyncClient) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            nonce = (await client.post("/nonce")).json()["c_nonce"]
            response = await client.post("/credential", json=_credential_body(nonce), headers=headers)
            if response.status_code != 200:
                raise AssertionError(f"credential endpoint answered {response.status_code}: {response.text}")

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(_CONCURRENCY)))
        return time.perf_counter() - start


def _uvicorn(kind: str, workers: int) -> tuple[float, float, int]:
    engine = _sqlite_engine() if kind == "SQLite" else _postgres_engine()
    create_schema(engine)
    ctx = _context(engine)
    access_token = _token(ctx, _Client(_app(ctx)))
    port = free_port()
    env = {**os.environ, "XID_BENCH_VCI_DATABASE": engine.url.render_as_string(hide_password=False)}
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.bench_oid4vci:served_app", "--port", str(port)]
    argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(argv, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/.well-known/openid-credential-issuer").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise BenchUnavailableError("uvicorn did not start")
            time.sleep(0.1)
        asyncio.run(_load(url, access_token))  # warm-up: connections, caches, every worker
        runs = sorted(asyncio.run(_load(url, access_token)) / _CYCLES for _ in range(3))
        return runs[1], runs[0], _CYCLES
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()


for _kind in ("SQLite", "PostgreSQL"):

    @bench("oid4vci", f"POST /nonce, ASGI in process, {_kind}")
    def _nonce(kind: str = _kind) -> Callable[[], object]:
        return _nonce_op(kind)

    @bench("oid4vci", f"offer (direct) + POST /token, ASGI in process, {_kind}")
    def _token_bench(kind: str = _kind) -> Callable[[], object]:
        return _token_op(kind)

    @bench(
        "oid4vci",
        f"POST /nonce + POST /credential (1 proof, SD-JWT ES256), ASGI, {_kind}",
        floor="raw P-256 sign (cryptography)",
    )
    def _credential(kind: str = _kind) -> Callable[[], object]:
        return _credential_op(kind)

    for _workers in (1, 2):

        @bench_external("oid4vci", f"POST /nonce + POST /credential, uvicorn {_workers} worker(s), 8 clients, {_kind}")
        def _served(kind: str = _kind, workers: int = _workers) -> tuple[float, float, int]:
            return _uvicorn(kind, workers)
