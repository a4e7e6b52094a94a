"""The ``xid`` command line: did create / resolve / web-document, help texts, errors and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from did import KeyType, PublicKey, SoftwareSigner
from xid.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XID_HOME", str(tmp_path / "home"))
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [[], ["did"], ["did", "create"], ["did", "resolve"], ["did", "web-document"], ["demo"]],
)
def test_help(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize(("method", "key_type"), [("key", "ed25519"), ("key", "p256"), ("jwk", "secp256k1")])
def test_create_then_resolve(runner: CliRunner, tmp_path: Path, method: str, key_type: str) -> None:
    created = runner.invoke(main, ["did", "create", "--method", method, "--type", key_type, "--json"])
    assert created.exit_code == 0, created.output
    info = json.loads(created.output)
    assert info["did"].startswith(f"did:{method}:")
    key_file = Path(info["keyFile"])
    assert key_file.is_relative_to(tmp_path / "home" / "keys")
    signer = SoftwareSigner.load(key_file)
    assert signer.public_jwk == info["publicJwk"]
    assert signer.key_id == info["verificationMethod"]
    assert json.loads(key_file.read_text())["d"] not in created.output  # the secret is never printed

    resolved = runner.invoke(main, ["did", "resolve", info["did"]])
    assert resolved.exit_code == 0, resolved.output
    document = json.loads(resolved.output)
    assert document["id"] == info["did"]
    assert info["verificationMethod"] in document["assertionMethod"]

    with_meta = runner.invoke(main, ["did", "resolve", "--metadata", info["did"]])
    assert json.loads(with_meta.output)["didResolutionMetadata"] == {"contentType": "application/did+json"}


def test_create_refuses_to_overwrite(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "k.jwk"
    assert runner.invoke(main, ["did", "create", "--out", str(out)]).exit_code == 0
    before = out.read_bytes()
    again = runner.invoke(main, ["did", "create", "--out", str(out)])
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("did", "code"),
    [
        ("did:example:123", "methodNotSupported"),
        ("not-a-did", "invalidDid"),
        ("did:web:10.0.0.1", "forbiddenHost"),
        ("did:key:z6LSbad0", "invalidDid"),
    ],
)
def test_resolve_errors(runner: CliRunner, did: str, code: str) -> None:
    result = runner.invoke(main, ["did", "resolve", did])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error [{code}]: ")
    assert "Traceback" not in result.output


def test_bad_option_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["did", "create", "--type", "rsa"])
    assert result.exit_code == 2
    assert "Invalid value for '--type'" in result.stderr


def test_web_document(runner: CliRunner, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jwk", tmp_path / "b.jwk"
    SoftwareSigner.generate(KeyType.ED25519).save(first)
    SoftwareSigner.generate(KeyType.P256).save(second)
    out = tmp_path / "did.json"
    did = "did:web:issuer.example.jp"
    result = runner.invoke(
        main, ["did", "web-document", did, "--key", f"signing={first}", "--key", str(second), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["id"] == did
    ids = [vm["id"] for vm in document["verificationMethod"]]
    assert ids == [f"{did}#signing", f"{did}#key-2"]
    assert (
        PublicKey.from_multikey(document["verificationMethod"][0]["publicKeyMultibase"])
        == SoftwareSigner.load(first).public_key
    )
    assert '"d"' not in out.read_text()

    missing = runner.invoke(main, ["did", "web-document", did, "--key", str(tmp_path / "none.jwk")])
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error [usageError]: Invalid value for --key: cannot read ")
    not_web = runner.invoke(main, ["did", "web-document", "did:key:z6Mk", "--key", str(first)])
    assert not_web.exit_code == 1
    assert not_web.stderr.startswith("error [invalidDid]")


def test_demo_tells_the_story(runner: CliRunner) -> None:
    result = runner.invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    # the story, in the order a person lives it, each step numbered
    story = [
        "[1/9] A software My Number card is made",
        "[2/9] The wallet has the card checked once, through PC/SC",
        "[3/9] Credentials and certificates arrive",
        "[4/9] The person logs in to a website through xid's OpenID Connect provider",
        "[5/9] A shop asks for proof of age",
        "[6/9] The person signs a contract (PAdES)",
        "[7/9] An employer needs the My Number",
        "[8/9] The ledger",
        "[9/9] The card is renewed",
    ]
    positions = [out.index(step) for step in story]
    assert positions == sorted(positions)
    markers = ["SD-JWT VC", "jwt_vc_json", "ldp_vc", "over 20: yes", "verified under jp_aml"]
    markers += ["authentication certificate", "signing certificate", "for document signing"]
    markers += ['acr: "urn:xid:acr:jpki-enrolled-holder-key"', 'gender: "female"', "sub: "]
    markers += ['claims {"age_over_20": true}', "c2sp.org/tlog-proof@v1", "has deleted the result: True"]
    markers += ["certificate good (OCSP)", "verified offline", "rejected [signatureInvalid]"]
    markers += ["it keeps only a keyed hash of it", "xid's own databases hold the number: False"]
    markers += ["authentication", "consent", "problems: 0", "the same person for the website"]
    # then the building blocks
    markers += ["[1/6] A holder creates keys", "[6/6] Credentials: VC-JOSE", "basic 4 info", "forbiddenHost"]
    markers += ["unsupportedPublicKeyType", "methodNotSupported", "invalidInclusionProof", "anchored=True"]
    markers += ["vc+jwt", "eddsa-rdfc-2022", "eddsa-jcs-2022", "ecdsa-rdfc-2019", "dc+sd-jwt"]
    markers += ["rejected [invalidJwsSignature]", "rejected [invalidProofSignature]"]
    markers += ["rejected [invalidKeyBinding]", "[credentialRevoked]", "Where to look next", "docs/relying-party.md"]
    for marker in markers:
        assert marker in out, marker
    assert "from cache" in out
    assert out.count("signature verified, bound to the wallet's key, status valid") == 3
    subs = [line.split("sub: ", 1)[1] for line in out.splitlines() if line.strip().startswith("sub: ")]
    assert len(subs) == 2
    assert subs[0] == subs[1]  # the website's pairwise sub, before and after the card renewal


def test_create_prints_a_report_for_people_by_default(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "k.jwk"
    result = runner.invoke(main, ["did", "create", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    did = SoftwareSigner.load(out).key_id.partition("#")[0]
    assert lines[0] == f"did:                 {did}"
    assert lines[2] == f"key file:            {out} (private key, mode 0600)"
    assert (out.stat().st_mode & 0o777) == 0o600
    assert json.loads(out.read_text())["d"] not in result.output
