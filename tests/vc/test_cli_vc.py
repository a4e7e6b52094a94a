"""``xid vc issue|verify|present``: the round trips, and one-line errors with exit status 1 for bad tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from did import KeyType, SoftwareSigner, did_key
from xid.cli_vc import vc


def run(*args: str) -> Result:
    return CliRunner().invoke(vc, list(args))


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    issuer = SoftwareSigner.generate(KeyType.ED25519)
    did = did_key.create(issuer.public_key)
    issuer = issuer.with_key_id(f"{did}#{did[8:]}")
    holder = SoftwareSigner.generate(KeyType.P256)
    issuer.save(tmp_path / "issuer.jwk")
    holder.save(tmp_path / "holder.jwk")
    return tmp_path / "issuer.jwk", tmp_path / "holder.jwk", did


def test_vc_jwt_issue_and_verify(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    issuer, _, did = keys
    credential = tmp_path / "vc.json"
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential"],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "name": "山田花子"},
    }
    credential.write_text(json.dumps(document))
    for fmt, expected in [("jwt", "vc+jwt"), ("jwt-vc-json", "jwt_vc_json")]:
        issued = run("issue", "--format", fmt, "--key", str(issuer), str(credential))
        assert issued.exit_code == 0, issued.output
        token = tmp_path / f"{fmt}.txt"
        token.write_text(issued.stdout)
        verified = run("verify", str(token))
        assert verified.exit_code == 0, verified.output
        result = json.loads(verified.stdout)
        assert (result["valid"], result["format"], result["issuer"]) == (True, expected, did)
        head, body, sig = issued.stdout.strip().split(".")
        token.write_text(f"{head}.{body}.{sig[:-2]}AA")
        bad = run("verify", str(token))
        assert bad.exit_code == 1
        assert bad.stderr.startswith("error [")
        assert bad.stdout == ""


def test_sd_jwt_issue_present_verify(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    issuer, holder, did = keys
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"vct": "https://xid.example/credentials/basic4", "name": "山田花子",
                                  "address": {"region": "東京都", "locality": "千代田区"}}))  # fmt: skip
    issued = run("issue", "--format", "sd-jwt", "--key", str(issuer), "--holder-key", str(holder),
                 "--sd", "name", "--sd", "address.region", str(claims))  # fmt: skip
    assert issued.exit_code == 0, issued.output
    sd_jwt = tmp_path / "cred.txt"
    sd_jwt.write_text(issued.stdout)
    presented = run("present", str(sd_jwt), "--disclose", "address.region", "--holder-key", str(holder),
                    "--aud", "https://rp.example.jp", "--nonce", "n1")  # fmt: skip
    assert presented.exit_code == 0, presented.output
    presentation = tmp_path / "pres.txt"
    presentation.write_text(presented.stdout)
    verified = run("verify", str(presentation), "--aud", "https://rp.example.jp", "--nonce", "n1")
    assert verified.exit_code == 0, verified.output
    result = json.loads(verified.stdout)
    assert result["issuer"] == did
    assert result["claims"]["address"] == {"region": "東京都", "locality": "千代田区"}
    assert "name" not in result["claims"]
    replayed = run("verify", str(presentation), "--aud", "https://rp.example.jp", "--nonce", "n2")
    assert replayed.exit_code == 1
    assert replayed.stderr.startswith("error [invalidKeyBinding]")


def test_input_errors(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    issuer, _, _ = keys
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    result = run("issue", "--format", "jwt", "--key", str(issuer), str(not_json))
    assert result.exit_code == 2
    assert "is not JSON" in result.output
    claims = tmp_path / "c.json"
    claims.write_text('{"vct": "x", "a": 1}')
    result = run("issue", "--format", "sd-jwt", "--key", str(issuer), "--sd", "b.c", str(claims))
    assert result.exit_code == 2
    assert "no claim at b.c" in result.output
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"type": ["VerifiableCredential"]}')
    result = run("issue", "--format", "jwt", "--key", str(issuer), str(invalid))
    assert result.exit_code == 1
    assert result.stderr.startswith("error [invalidCredential]: @context")
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("not-a-token")
    result = run("verify", str(garbage))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
