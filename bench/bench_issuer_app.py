"""The whole issuer app (what ``xid serve`` mounts), one credential request per format, in this process.

Each row is one ``POST /credential`` with one proof against the real credential issuer (claims from encrypted
evidence, status allocation, the credential record, signing), plus the ``POST /nonce`` it needs, on SQLite
(WAL, synchronous=FULL) under a temporary XID_HOME; the ratio is to the raw signature of the format's key (P-256 for
the JWT formats, Ed25519 for ldp_vc). The difference is the endpoint's own work: HTTP, token lookup, proof
verification, nonce consumption, decrypting the evidence, allocating status, two writes, one commit.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding

from bench.harness import bench
from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.b64 import b64url_encode
from foundation.jws import encode_compact
from foundation.strict_json import compact_json
from issuer.enrollment import signed_bytes
from jpki_bridge.testca import Person, TestCA
from xid.serve import build_services, create_app
from xid.settings import Settings

BASE = "http://127.0.0.1:8000"
FORMATS = {
    "xid_identity_sd_jwt": "raw P-256 sign (cryptography)",
    "xid_identity_jwt_vc": "raw P-256 sign (cryptography)",
    "xid_identity_ldp_vc": "raw Ed25519 sign (cryptography)",
}
PERSON = Person("山田\u3000太郎", "1", "419900102", "東京都千代田区千代田1-1", "123456789018")  # TEST data


class _Client:
    """Requests through the ASGI app on one long-lived event loop."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url=BASE)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        response = self.loop.run_until_complete(self.client.post(url, **kwargs))
        if response.status_code >= 300:
            raise AssertionError(f"{url} answered {response.status_code}: {response.text}")
        return response


def _enrolled() -> tuple[_Client, str]:
    """A served issuer in a temporary home, a TEST card enrolled, and the access token of its offer."""
    home = Path(tempfile.mkdtemp(prefix="xid-bench-issuer-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    settings = Settings.from_env({"XID_HOME": str(home), "XID_TX_CODE": "0"})
    services = build_services(settings, BASE)
    atexit.register(services.close)
    ca = TestCA.load(settings.test_ca_dir)
    card = ca.issue(PERSON)
    ca.save(settings.test_ca_dir)
    client = _Client(create_app(services))
    holder = SoftwareSigner.generate(KeyType.P256)
    nonce = client.post("/enroll/challenge", json={"holder_jwk": holder.public_jwk}).json()["nonce"]
    proof = encode_compact(
        {"typ": "xid-enroll+jwt", "alg": "ES256", "jwk": holder.public_jwk},
        compact_json({"aud": BASE, "nonce": nonce, "iat": int(time.time())}),
        holder.sign,
    )
    signature = card.sign_key.sign(
        signed_bytes(nonce, holder.public_key.thumbprint()), padding.PKCS1v15(), hashes.SHA256()
    )
    body = {
        "nonce": nonce,
        "certificate": b64url_encode(card.sign_cert.public_bytes(Encoding.DER)),
        "signature": b64url_encode(signature),
        "holder_proof": proof,
    }
    offer = client.post("/enroll", json=body).json()["credential_offer"]
    code = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code", "pre-authorized_code": code}
    return client, client.post("/token", data=form).json()["access_token"]


_STATE: dict[str, tuple[_Client, str]] = {}


def _request(configuration_id: str) -> Callable[[], object]:
    if "issuer" not in _STATE:
        _STATE["issuer"] = _enrolled()
    client, token = _STATE["issuer"]
    holder = SoftwareSigner.generate(KeyType.P256)
    header = {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": holder.public_jwk}
    authorization = {"Authorization": f"Bearer {token}"}

    def op() -> object:
        nonce = client.post("/nonce").json()["c_nonce"]
        proof = encode_compact(
            header, compact_json({"aud": BASE, "iat": int(time.time()), "nonce": nonce}), holder.sign
        )
        body = {"credential_configuration_id": configuration_id, "proofs": {"jwt": [proof]}}
        return client.post("/credential", json=body, headers=authorization)

    return op


for _configuration, _floor in FORMATS.items():

    @bench("issuer", f"POST /nonce + POST /credential {_configuration}, whole app, SQLite FULL", floor=_floor)
    def _one(configuration: str = _configuration) -> Callable[[], object]:
        return _request(configuration)
