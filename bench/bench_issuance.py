"""Issuing the identity credential, per format, as ratios to the raw signature floor (target for the JWT formats:
2.5x): securing alone (claims, disclosures or JSON-LD, signature), and the whole issuance the credential endpoint
runs (status entries allocated at random indices, the record written) in one SQLite transaction."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import bench
from did import KeyType, PublicKey, SoftwareSigner
from foundation.db import open_engine, transaction
from issuer.context import IssuerContext, OperatorSecrets
from issuer.contracts import IdentityFacts, StatusEntry
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT, identity_claims, make_credential_issuer, secure_credential
from issuer.db import create_schema
from issuer.status import StatusLists
from jpki_bridge.profile import basic4_from_values
from jpki_bridge.trust import TrustAnchors

P256_FLOOR = "raw P-256 sign (cryptography)"
ED25519_FLOOR = "raw Ed25519 sign (cryptography)"
_FORMATS = ((SD_JWT, "dc+sd-jwt", P256_FLOOR), (JWT_VC, "jwt_vc_json", P256_FLOOR), (LDP_VC, "ldp_vc", ED25519_FLOOR))


def _context(directory: Path) -> IssuerContext:
    engine = open_engine(f"sqlite:///{directory / 'issuer.db'}", synchronous="NORMAL")
    create_schema(engine)
    return IssuerContext(
        base_url="https://issuer.example.jp",
        did="did:web:issuer.example.jp",
        engine=engine,
        es256=SoftwareSigner.generate(KeyType.P256),
        ed25519=SoftwareSigner.generate(KeyType.ED25519),
        ca_signer=SoftwareSigner.generate(KeyType.P256),
        secrets=OperatorSecrets.generate(),
        trust=TrustAnchors([]),
        revocation=None,  # type: ignore[arg-type]  # not consulted when issuing
    )


def _facts() -> IdentityFacts:
    basic4 = basic4_from_values("山田\u3000太郎", "00000", "1", "419900102", "東京都千代田区千代田1-1", "0" * 13)
    return IdentityFacts(basic4, datetime(2026, 1, 2, tzinfo=UTC), "ab" * 32, "person-1")


def _entries(configuration: str) -> list[StatusEntry]:
    if configuration == SD_JWT:
        return [StatusEntry("token", "revocation", "l1", 4711, "https://issuer.example.jp/status/token/l1")]
    url = "https://issuer.example.jp/status/bitstring/"
    return [
        StatusEntry("bitstring", "revocation", "r1", 4711, url + "r1"),
        StatusEntry("bitstring", "suspension", "s1", 815, url + "s1"),
    ]


def _secure(configuration: str) -> Callable[[], Callable[[], object]]:
    def setup() -> Callable[[], object]:
        ctx = _context(Path(tempfile.mkdtemp(prefix="xid-bench-")))
        holder = PublicKey.from_jwk(SoftwareSigner.generate(KeyType.P256).public_jwk)
        now = datetime.now(UTC).replace(microsecond=0)
        claims = identity_claims(_facts(), now)
        entries = _entries(configuration)
        return lambda: secure_credential(ctx, configuration, claims, holder, entries, now, "0f8fad5b-d9cb-469f")

    return setup


def _issue(configuration: str) -> Callable[[], Callable[[], object]]:
    def setup() -> Callable[[], object]:
        ctx = _context(Path(tempfile.mkdtemp(prefix="xid-bench-")))
        issue = make_credential_issuer(ctx, StatusLists(ctx))
        holder = SoftwareSigner.generate(KeyType.P256).public_jwk
        facts = _facts()

        def once() -> object:
            with transaction(ctx.engine, write=True) as conn:
                return issue(conn, configuration, facts, holder)

        return once

    return setup


for _configuration, _format, _floor in _FORMATS:
    bench("issuer", f"identity credential {_format}: secure (claims + signature)", floor=_floor)(
        _secure(_configuration)
    )
    bench("issuer", f"identity credential {_format}: issue (+ status entries, record; SQLite)", floor=_floor)(
        _issue(_configuration)
    )
