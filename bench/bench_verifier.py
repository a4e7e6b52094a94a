"""The verifier: one SD-JWT VC presentation verified and validated, and the response endpoint under uvicorn.

The presentation is an ES256 SD-JWT VC (issuer did:jwk, four disclosed claims, a Token Status List entry) with an
ES256 KB-JWT. Two rows measure it against two raw P-256 verifications run in the same process (the floor; target at
most 2.5 times):

- "verified": what the issue names, the credential verifier alone (``vc.verify.CredentialVerifier``: issuer key
  resolved from its did:jwk, issuer signature, disclosures, KB-JWT, status from the cached status list token);
- "validated": ``verifier.presentation.make_validator``'s whole response path on top of that (the form, the
  vp_token JSON and its replay digest, the claimed-issuer pre-check, DCQL, trust, holder key thumbprint).

The uvicorn rows compare, in the same run, a bare Starlette endpoint that reads the form and does the same two raw
verifications with an endpoint that runs the validator, with 1 and 2 worker processes (8 concurrent clients from this
process, which shares the machine's cores with the workers: on 2 cores the bare endpoint itself barely scales, so
the 2-worker rows are a lower bound).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import BenchUnavailableError, bench, bench_external, free_port
from did import KeyType, PublicKey, Resolver, SoftwareSigner
from did.did_jwk import create as did_jwk
from did.signer import KeyIdSigner
from foundation.web import json_response, read_form
from vc.sd_jwt import SD, issue, present
from vc.status_list import TokenStatusList, issue_status_list_token
from vc.verify import CredentialVerifier
from verifier.context import VerifierContext
from verifier.contracts import TransactionFacts
from verifier.presentation import make_validator

__all__ = ["bare_app", "validator_app"]

FLOOR = "2 raw P-256 verifications (cryptography)"
BASE = "http://127.0.0.1:8000"
STATUS_URL = "https://issuer.example/status/1"
_CYCLES = 400
_CONCURRENCY = 8


def _material() -> dict[str, Any]:
    """A presentation and everything to validate it (JSON-serializable, so uvicorn workers can load it)."""
    issuer = SoftwareSigner.generate(KeyType.P256)
    holder = SoftwareSigner.generate(KeyType.P256)
    issuer_did = did_jwk(PublicKey.from_jwk(issuer.public_jwk))
    signer = KeyIdSigner(issuer, f"{issuer_did}#0")
    now = datetime.now(UTC)
    claims = {
        "iss": issuer_did,
        "vct": "urn:xid:bench",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(days=1)).timestamp()),
        "status": {"status_list": {"idx": 7, "uri": STATUS_URL}},
        **{name: SD(value) for name, value in {"name": "A B", "birthdate": "1990-01-02", "age_over_20": True}.items()},
        "address": SD({"formatted": "Tokyo"}),
    }
    credential = issue(claims, signer, holder_jwk=holder.public_jwk)
    nonce, state, client_id = "n" * 43, "s" * 43, "x509_san_dns:127.0.0.1"
    disclose = [("name",), ("birthdate",), ("age_over_20",), ("address",)]
    presentation = present(credential, disclose, holder, audience=client_id, nonce=nonce)
    token = issue_status_list_token(TokenStatusList(), STATUS_URL, signer, issuer=issuer_did, ttl=timedelta(days=1))
    dcql = {
        "credentials": [
            {
                "id": "pid",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": ["urn:xid:bench"]},
                "claims": [{"path": ["age_over_20"]}, {"path": ["name"]}],
            }
        ]
    }
    return {
        "issuer": issuer_did,
        "nonce": nonce,
        "state": state,
        "client_id": client_id,
        "dcql": dcql,
        "status_token": token,
        "form": {"vp_token": json.dumps({"pid": [presentation]}), "state": state},
    }


def _validator(material: Mapping[str, Any]) -> Callable[[Mapping[str, str]], object]:
    engine = create_engine("sqlite://")
    signer = SoftwareSigner.generate(KeyType.P256)
    ctx = VerifierContext(
        base_url=BASE,
        engine=engine,
        signer=signer,
        x5c=(),
        did="did:web:127.0.0.1%3A8000",
        resolver=Resolver.standard(),
        status_source=lambda url: str(material["status_token"]),
        trusted_issuers=(str(material["issuer"]),),
        ledger_key=b"k" * 32,
    )
    now = datetime.now(UTC)
    tx = TransactionFacts(
        id="bench",
        client_id=material["client_id"],
        nonce=material["nonce"],
        state=material["state"],
        dcql_query=material["dcql"],
        response_mode="direct_post",
        response_uri=f"{BASE}/verifier/v1/response",
        encryption_jwk=None,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    validator = make_validator(ctx)
    return lambda form: validator(tx, form)


def _two_verifications() -> Callable[[], object]:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    message = b"x" * 200
    signed = [(key.public_key(), key.sign(message, ec.ECDSA(hashes.SHA256()))) for key in keys]

    def op() -> None:
        for public, signature in signed:
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    return op


@bench("floor", FLOOR)
def _floor() -> Callable[[], object]:
    return _two_verifications()


@bench(
    "verifier",
    "SD-JWT VC presentation verified: issuer sig + KB-JWT + 4 disclosures + cached status (vc.verify), P-256",
    floor=FLOOR,
)
def _verify_presentation() -> Callable[[], object]:
    """The issue's measure: the credential verifier alone (issuer key by did:jwk, status token cached)."""
    material = _material()
    presentation = json.loads(material["form"]["vp_token"])["pid"][0]
    verifier = CredentialVerifier(Resolver.standard(), lambda url: str(material["status_token"]))
    audience, nonce = material["client_id"], material["nonce"]
    verifier.verify(presentation, audience=audience, nonce=nonce)  # fails loudly here if it does not verify
    return lambda: verifier.verify(presentation, audience=audience, nonce=nonce)


@bench(
    "verifier",
    "SD-JWT VC presentation validated (issuer sig, 4 disclosures, KB-JWT, DCQL, trust, status token), P-256",
    floor=FLOOR,
)
def _validate() -> Callable[[], object]:
    material = _material()
    validate, form = _validator(material), dict(material["form"])
    validate(form)  # fails loudly here if the presentation does not validate
    return lambda: validate(form)


# -- uvicorn: bare endpoint vs the validator ----------------------------------------------------------------------


def _load_material() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(os.environ["XID_BENCH_VERIFIER_MATERIAL"]).read_text())
    return data


def bare_app() -> Starlette:
    """A Starlette endpoint that reads the form and does two raw P-256 verifications (``--factory``)."""
    verify = _two_verifications()

    async def endpoint(request: Request) -> Response:
        await read_form(request, 256 * 1024)
        verify()
        return json_response({})

    return Starlette(routes=[Route("/response", endpoint, methods=["POST"])])


def validator_app() -> Starlette:
    """A Starlette endpoint that reads the form and runs the response validator on it (``--factory``)."""
    validate = _validator(_load_material())

    async def endpoint(request: Request) -> Response:
        validate(await read_form(request, 256 * 1024))
        return json_response({})

    return Starlette(routes=[Route("/response", endpoint, methods=["POST"])])


async def _load(url: str, form: Mapping[str, str]) -> float:
    remaining = [_CYCLES]

    async def worker(client: httpx.AsyncClient) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            response = await client.post("/response", data=dict(form))
            if response.status_code != 200:
                raise AssertionError(f"the endpoint answered {response.status_code}: {response.text[:200]}")

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(_CONCURRENCY)))
        return time.perf_counter() - start


def _uvicorn(app: str, workers: int) -> tuple[float, float, int]:
    material = _material()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "material.json"
        path.write_text(json.dumps(material))
        port = free_port()
        env = {**os.environ, "XID_BENCH_VERIFIER_MATERIAL": str(path)}
        argv = [sys.executable, "-m", "uvicorn", "--factory", f"bench.bench_verifier:{app}", "--port", str(port)]
        argv += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
        server = subprocess.Popen(argv, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.post(url + "/response", data=material["form"]).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise BenchUnavailableError("uvicorn did not start")
                time.sleep(0.1)
            asyncio.run(_load(url, material["form"]))  # warm-up: connections, caches, every worker
            runs = sorted(asyncio.run(_load(url, material["form"])) / _CYCLES for _ in range(3))
            return runs[1], runs[0], _CYCLES
        finally:
            server.terminate()
            server.wait(timeout=30)


for _workers in (1, 2):
    for _app, _label in (
        ("bare_app", "bare Starlette, form + 2 raw P-256 verifications"),
        ("validator_app", "validator"),
    ):

        @bench_external("verifier", f"POST /response, {_label}, uvicorn {_workers} worker(s), 8 clients")
        def _served(app: str = _app, workers: int = _workers) -> tuple[float, float, int]:
            return _uvicorn(app, workers)
