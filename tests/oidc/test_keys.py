"""The OP's signing keys: files only the owner reads, public JWKS, rotation from the command line; OIDC clients."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc.jwk import RSAKey

from foundation.db import open_engine
from oidc import keys
from verifier import rps
from xid.cli import main


def test_keys_are_private_files_and_the_jwks_is_public(tmp_path: Path) -> None:
    home = keys.KeyDirectory(tmp_path / "k")
    document = keys.jwks(home)
    assert {key["alg"] for key in document["keys"]} == {"RS256", "ES256"}
    for key in document["keys"]:
        assert key["use"] == "sig"
        assert "d" not in key
        assert "p" not in key
        path = tmp_path / "k" / f"{key['kid']}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert json.loads(path.read_text())["jwk"]["d"]
    assert keys.signing_key(home, "RS256").kid in {key["kid"] for key in document["keys"]}
    with pytest.raises(ValueError, match="unsupported"):
        keys.signing_key(home, "HS256")


def test_a_damaged_key_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    home = keys.KeyDirectory(tmp_path)
    kid = keys.signing_key(home, "ES256").kid
    (tmp_path / "junk.json").write_text("{not json")
    assert keys.signing_key(home, "ES256").kid == kid


def test_a_rotated_key_signs_only_after_the_publish_lead(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    home = keys.KeyDirectory(tmp_path, clock=lambda: now)
    old = keys.signing_key(home, "ES256").kid
    created = keys.rotate(home)["created"]
    new = next(key["kid"] for key in created if key["alg"] == "ES256")
    assert keys.signing_key(home, "ES256").kid == old
    assert new in {key["kid"] for key in keys.jwks(home)["keys"]}
    after = keys.KeyDirectory(tmp_path, clock=lambda: now + timedelta(minutes=15, seconds=1))
    assert keys.signing_key(after, "ES256").kid == new


def test_xid_oidc_rotate_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XID_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["oidc", "rotate-keys", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {key["alg"] for key in report["created"]} == {"RS256", "ES256"}
    stored = {path.stem for path in (tmp_path / "keys" / "oidc").glob("*.json")}
    assert {key["kid"] for key in report["created"]} <= stored
    assert len(stored) == 4  # the first keys (signing now) and the rotated-in ones


def test_xid_rp_add_registers_a_private_key_jwt_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XID_HOME", str(tmp_path))
    key = RSAKey.generate_key(2048)
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    args = ["rp", "add", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json"]
    result = CliRunner().invoke(
        main, [*args, "--auth-method", "private_key_jwt", "--jwks", str(jwks_file), "--id-token-alg", "ES256"]
    )
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output)["client_id"]
    engine = open_engine(f"sqlite:///{tmp_path / 'xid.sqlite3'}")
    try:
        party = rps.get(engine, client_id)
    finally:
        engine.dispose()
    assert party.auth_method == "private_key_jwt"
    assert party.jwks == {"keys": [key.as_dict(private=False)]}
    assert party.id_token_alg == "ES256"
    assert party.to_json()["token_endpoint_auth_method"] == "private_key_jwt"
    jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    refused = CliRunner().invoke(main, [*args, "--auth-method", "private_key_jwt", "--jwks", str(jwks_file)])
    assert refused.exit_code != 0
    assert "public keys only" in refused.output
    without = CliRunner().invoke(main, [*args, "--auth-method", "private_key_jwt"])
    assert without.exit_code != 0
