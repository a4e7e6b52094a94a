"""``xid vc issue|verify|present``: the round trips, and one-line errors with exit status 1 for bad tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from did import KeyType, SoftwareSigner, did_key
from foundation.b64 import b64url_decode, b64url_encode
from xid.cli_vc import vc


def run(*args: str) -> Result:
    return CliRunner().invoke(vc, list(args))


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, str]:
    issuer = did_key.generate(KeyType.ED25519)
    did = did_key.create(issuer.public_key)
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
        verified = run("verify", "--json", str(token))
        assert verified.exit_code == 0, verified.output
        result = json.loads(verified.stdout)
        assert (result["valid"], result["format"], result["issuer"]) == (True, expected, did)
        head, body, sig = issued.stdout.strip().split(".")
        raw = bytearray(b64url_decode(sig))
        raw[len(raw) // 2] ^= 0x01  # a flipped bit, never a no-op (replacing the tail could be one)
        token.write_text(f"{head}.{body}.{b64url_encode(bytes(raw))}")
        bad = run("verify", "--json", str(token))
        assert bad.exit_code == 1
        assert bad.stderr.startswith("error [")
        assert bad.stdout == ""


def test_issue_with_the_fully_specified_jose_alg(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    issuer, _, did = keys
    credential = tmp_path / "vc.json"
    credential.write_text(json.dumps({"@context": ["https://www.w3.org/ns/credentials/v2"],
                                      "type": ["VerifiableCredential"], "issuer": did,
                                      "credentialSubject": {"id": "did:example:holder"}}))  # fmt: skip
    for fmt in ("jwt", "jwt-vc-json"):
        default = run("issue", "--format", fmt, "--key", str(issuer), str(credential))
        assert json.loads(b64url_decode(default.stdout.split(".")[0]))["alg"] == "EdDSA"
        issued = run("issue", "--format", fmt, "--key", str(issuer), "--jose-alg", "Ed25519", str(credential))
        assert issued.exit_code == 0, issued.output
        assert json.loads(b64url_decode(issued.stdout.split(".")[0]))["alg"] == "Ed25519"
        (tmp_path / "token.txt").write_text(issued.stdout)
        verified = run("verify", "--json", str(tmp_path / "token.txt"))
        assert verified.exit_code == 0, verified.output
        assert json.loads(verified.stdout)["algorithm"] == "Ed25519"
    wrong = run("issue", "--format", "jwt", "--key", str(issuer), "--jose-alg", "ES256", str(credential))
    assert (wrong.exit_code, wrong.stdout) == (1, "")
    assert wrong.stderr.startswith("error [unsupportedAlgorithm]")
    di = run("issue", "--format", "di-eddsa-rdfc", "--key", str(issuer), "--jose-alg", "Ed25519", str(credential))
    assert di.exit_code == 2
    assert "--jose-alg" in di.output


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
    verified = run("verify", "--json", str(presentation), "--aud", "https://rp.example.jp", "--nonce", "n1")
    assert verified.exit_code == 0, verified.output
    result = json.loads(verified.stdout)
    assert result["issuer"] == did
    assert result["claims"]["address"] == {"region": "東京都", "locality": "千代田区"}
    assert "name" not in result["claims"]
    replayed = run("verify", "--json", str(presentation), "--aud", "https://rp.example.jp", "--nonce", "n2")
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
    result = run("verify", "--json", str(garbage))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def alumni(did: str, **extra: object) -> dict[str, object]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": did,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "alumniOf": "Example University"},
        **extra,
    }


@pytest.mark.parametrize(
    ("fmt", "key_type", "suite"),
    [
        ("di-eddsa-rdfc", KeyType.ED25519, "eddsa-rdfc-2022"),
        ("di-eddsa-jcs", KeyType.ED25519, "eddsa-jcs-2022"),
        ("di-ecdsa-rdfc", KeyType.P256, "ecdsa-rdfc-2019"),
        ("di-ecdsa-jcs", KeyType.P384, "ecdsa-jcs-2019"),
    ],
)
def test_data_integrity_issue_and_verify(tmp_path: Path, fmt: str, key_type: KeyType, suite: str) -> None:
    signer = did_key.generate(key_type)
    did = did_key.create(signer.public_key)
    signer.save(tmp_path / "issuer.jwk")
    (tmp_path / "vc.json").write_text(json.dumps(alumni(did)))
    issued = run("issue", "--format", fmt, "--key", str(tmp_path / "issuer.jwk"), str(tmp_path / "vc.json"))
    assert issued.exit_code == 0, issued.output
    secured = json.loads(issued.stdout)
    assert secured["proof"]["cryptosuite"] == suite
    (tmp_path / "signed.json").write_text(issued.stdout)
    verified = run("verify", "--json", str(tmp_path / "signed.json"))
    assert verified.exit_code == 0, verified.output
    result = json.loads(verified.stdout)
    assert (result["format"], result["issuer"], result["algorithm"]) == ("ldp_vc", did, suite)
    secured["credentialSubject"]["alumniOf"] = "Forged University"
    (tmp_path / "tampered.json").write_text(json.dumps(secured))
    rejected = run("verify", "--json", str(tmp_path / "tampered.json"))
    assert rejected.exit_code == 1
    assert rejected.stderr.startswith("error [invalidProofSignature]")
    again = run("issue", "--format", fmt, "--key", str(tmp_path / "issuer.jwk"), str(tmp_path / "signed.json"))
    assert again.exit_code == 2
    assert "already carries a proof" in again.output


def test_status_list_round_trip_revokes(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    from xid.cli_status import status_list

    issuer, _, did = keys
    url = "https://issuer.example.jp/status/1"
    listing = tmp_path / "list.json"
    assert CliRunner().invoke(status_list, ["create", str(listing), "--id", url, "--issuer", did]).exit_code == 0
    entry = {"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "statusListIndex": "5",
             "statusListCredential": url}  # fmt: skip
    (tmp_path / "vc.json").write_text(json.dumps(alumni(did, credentialStatus=entry)))
    credential = tmp_path / "signed.json"
    credential.write_text(
        run("issue", "--format", "di-eddsa-rdfc", "--key", str(issuer), str(tmp_path / "vc.json")).stdout
    )

    def publish() -> Path:
        published = tmp_path / "published.json"
        result = run("issue", "--format", "di-eddsa-rdfc", "--key", str(issuer), str(listing))
        assert result.exit_code == 0, result.output
        published.write_text(result.stdout)
        return published

    no_list = run("verify", "--json", str(credential))
    assert no_list.exit_code == 1
    assert no_list.stderr.startswith("error [statusError]")
    unchecked = run("verify", "--json", str(credential), "--no-status")
    assert json.loads(unchecked.stdout)["status"] == "unchecked"
    good = run("verify", "--json", str(credential), "--status-list", str(publish()))
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["status"] == [{"purpose": "revocation", "list_url": url, "index": 5, "value": 0}]
    assert CliRunner().invoke(status_list, ["set", str(listing), "5"]).exit_code == 0
    revoked = run("verify", "--json", str(credential), "--status-list", str(publish()))
    assert revoked.exit_code == 1
    assert revoked.stderr.startswith("error [credentialRevoked]")
    (tmp_path / "junk.txt").write_text("junk")
    junk = run("verify", "--json", str(credential), "--status-list", str(tmp_path / "junk.txt"))
    assert junk.exit_code == 2
    assert "neither a status list credential nor a status list token" in junk.output


def test_sd_jwt_status_from_a_status_list_token_file(keys: tuple[Path, Path, str], tmp_path: Path) -> None:
    from vc.status_list import TokenStatusList, issue_status_list_token

    issuer, holder, _ = keys
    url = "https://issuer.example.jp/status/token/1"
    claims = {
        "vct": "https://xid.example/credentials/basic4",
        "name": "x",
        "status": {"status_list": {"idx": 3, "uri": url}},
    }
    (tmp_path / "claims.json").write_text(json.dumps(claims))
    issued = run(
        "issue", "--format", "sd-jwt", "--key", str(issuer), "--holder-key", str(holder), str(tmp_path / "claims.json")
    )
    assert issued.exit_code == 0, issued.output
    (tmp_path / "cred.txt").write_text(issued.stdout)
    presented = run("present", str(tmp_path / "cred.txt"), "--disclose", "name", "--holder-key", str(holder),
                    "--aud", "https://rp.example.jp", "--nonce", "n1")  # fmt: skip
    (tmp_path / "pres.txt").write_text(presented.stdout)
    signer = SoftwareSigner.load(issuer)
    for value, expected in [(0, 0), (1, 1)]:
        tokens = TokenStatusList(bits=2)
        tokens.set(3, value)
        (tmp_path / "list.jwt").write_text(issue_status_list_token(tokens, url, signer))
        result = run("verify", "--json", str(tmp_path / "pres.txt"), "--aud", "https://rp.example.jp", "--nonce", "n1",
                     "--status-list", str(tmp_path / "list.jwt"))  # fmt: skip
        assert result.exit_code == expected, result.output
        if expected:
            assert result.stderr.startswith("error [credentialRevoked]")
        else:
            assert json.loads(result.stdout)["status"][0]["list_url"] == url
