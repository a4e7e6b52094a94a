"""Settings from the environment and the composition root's set-up (keys, secrets, trust, base URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.helpers import free_port
from xid.serve import _operator_secrets, _software_key, _trust, base_url_for, build_services, issuer_did
from xid.settings import Settings, SettingsError

_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_settings_defaults_and_values(tmp_path: Path) -> None:
    settings = Settings.from_env({"XID_HOME": str(tmp_path)})
    assert settings.development
    assert settings.services_database == f"sqlite:///{tmp_path / 'xid.sqlite3'}"
    assert settings.ledger_key == tmp_path / "keys" / "ledger.jwk"
    assert settings.tx_code
    env = {
        "XID_HOME": str(tmp_path),
        "XID_TX_CODE": "0",
        "XID_PUBLIC_URL": "https://id.example.jp/",
        "XID_VC_API_TOKEN": "secret-token",
        "XID_JPKI_ROOTS": str(tmp_path / "roots"),
        "XID_REVOCATION": "crl",
    }
    settings = Settings.from_env(env)
    assert not settings.tx_code
    assert settings.public_url == "https://id.example.jp"
    assert not settings.development
    assert settings.revocation == "crl"
    assert "secret-token" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"XID_TX_CODE": "maybe"}, "XID_TX_CODE must be 1 or 0"),
        ({"XID_REVOCATION": "pray"}, "XID_REVOCATION must be one of"),
    ],
)
def test_bad_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_base_url() -> None:
    assert base_url_for("127.0.0.1", 8000, None) == "http://127.0.0.1:8000"
    assert base_url_for("::1", 8000, None) == "http://[::1]:8000"
    assert base_url_for("0.0.0.0", 8000, "https://id.example.jp/xid/") == "https://id.example.jp/xid"
    for bad in ("http://id.example.jp", "ftp://id.example.jp", "https://id.example.jp/?q=1", "https://"):
        with pytest.raises(SettingsError):
            base_url_for("127.0.0.1", 8000, bad)
    with pytest.raises(SettingsError, match="--public-url"):
        base_url_for("0.0.0.0", 8000, None)
    assert issuer_did("http://127.0.0.1:8000") == "did:web:127.0.0.1%3A8000"
    assert issuer_did("https://id.example.jp/xid") == "did:web:id.example.jp:xid"


def test_keys_are_created_once(tmp_path: Path) -> None:
    first = _software_key(tmp_path / "k.jwk", "P-256")
    again = _software_key(tmp_path / "k.jwk", "P-256")
    assert first.public_jwk == again.public_jwk
    assert (tmp_path / "k.jwk").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SettingsError, match="holds a P-256 key"):
        _software_key(tmp_path / "k.jwk", "Ed25519")


def test_operator_secrets(tmp_path: Path) -> None:
    dev = Settings.from_env({"XID_HOME": str(tmp_path)})
    secrets = _operator_secrets(dev)
    assert _operator_secrets(dev) == secrets
    assert dev.operator_secrets.stat().st_mode & 0o777 == 0o600
    production = Settings.from_env({"XID_HOME": str(tmp_path / "prod"), "XID_JPKI_ROOTS": str(tmp_path)})
    with pytest.raises(SettingsError, match="no operator secrets"):
        _operator_secrets(production)
    dev.operator_secrets.write_text(json.dumps({"evidence_key": "AAAA"}), encoding="utf-8")
    with pytest.raises(SettingsError, match="unreadable or incomplete"):
        _operator_secrets(dev)


def test_trust_production_refuses_no_revocation_and_empty_roots(tmp_path: Path) -> None:
    (tmp_path / "roots").mkdir()
    settings = Settings.from_env({"XID_HOME": str(tmp_path), "XID_JPKI_ROOTS": str(tmp_path / "roots")})
    with pytest.raises(SettingsError, match="no certificate files"):
        _trust(settings)


def test_development_trust_is_the_test_ca(tmp_path: Path) -> None:
    settings = Settings.from_env({"XID_HOME": str(tmp_path)})
    anchors, provider = _trust(settings)
    assert (settings.test_ca_dir / "testca.json").exists()
    assert anchors.anchors("sign")
    assert type(provider).__name__ == "OcspProvider"


def test_build_services(tmp_path: Path) -> None:
    settings = Settings.from_env({"XID_HOME": str(tmp_path)})
    services = build_services(settings, "http://127.0.0.1:8123")
    try:
        assert services.issuer.did == "did:web:127.0.0.1%3A8123"
        assert services.issuer.ledger is services.ledger
        assert {p.name for p in settings.keys_dir.iterdir()} >= {"es256.jwk", "ed25519.jwk", "ca.jwk", "ledger.jwk"}
    finally:
        services.close()
    again = build_services(settings, "http://127.0.0.1:8123")
    try:
        assert again.issuer.es256.public_jwk == services.issuer.es256.public_jwk
    finally:
        again.close()


def test_xid_serve_runs_and_serves_its_did(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "XID_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "xid.cli", "serve", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/.well-known/did.json"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "xid serve did not start"
                time.sleep(0.2)
        assert answer.status_code == 200
        document = answer.json()
        assert document["id"] == f"did:web:127.0.0.1%3A{port}"
        assert {m["id"].split("#")[1] for m in document["verificationMethod"]} == {"es256", "ed25519", "verifier"}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert "DEVELOPMENT configuration" in stderr
    assert f"issuer http://127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr


def test_the_verifier_shares_the_origin(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509 import DNSName
    from cryptography.x509.verification import PolicyBuilder, Store

    from did.keys import PublicKey
    from issuer.ca import XidCA

    settings = Settings.from_env({"XID_HOME": str(tmp_path), "XID_TRUSTED_ISSUERS": "did:web:other.example.jp, "})
    services = build_services(settings, "http://localhost:8123")
    try:
        verifier = services.verifier
        assert verifier.did == services.issuer.did
        assert verifier.trusted_issuers == (services.issuer.did, "http://localhost:8123", "did:web:other.example.jp")
        leaf = x509.load_der_x509_certificate(verifier.x5c[0])
        root = x509.load_der_x509_certificate(XidCA(services.issuer, pairwise=lambda p, s: p).root().der)
        PolicyBuilder().store(Store([root])).build_server_verifier(DNSName("localhost")).verify(leaf, [])
        assert leaf.public_key().public_bytes(*_SPKI) == PublicKey.from_jwk(
            verifier.signer.public_jwk
        ).public_key.public_bytes(*_SPKI)
        document = verifier.resolver.resolve_document(verifier.did)
        assert document.verification_method(verifier.kid) is not None
        assert services.housekeeping() == {"evidence": 0, "oid4vci": 0, "openid4vp": 0, "oidc": 0}
        thread = services.start_housekeeping(interval=0.01)
        assert thread.is_alive()
    finally:
        services.close()
    thread.join(timeout=10)
    assert not thread.is_alive()  # close() stops it
