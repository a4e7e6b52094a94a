"""Hostile input to did/ and `xid did`: each fails with a DidError (or a one-line CLI error), never another exception,
and never slowly. Found by a fuzzing pass; each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import base58
import httpx
import pytest
from click.testing import CliRunner

from did import (
    DidDocument,
    DidWebResolver,
    InvalidDidDocumentError,
    InvalidDidError,
    InvalidJwkError,
    InvalidMultibaseError,
    KeyType,
    PublicKey,
    Resolver,
    SoftwareSigner,
    did_jwk,
    jwk_thumbprint,
)
from did.multibase import MAX_BASE58_LENGTH, decode, encode_base58btc
from foundation.b64 import b64url_encode
from xid.cli import main

DID = "did:web:issuer.example.jp"
DEEP = b"[" * 20_000 + b"]" * 20_000
HUGE_NUMBER = b"1" * 5000


@pytest.mark.parametrize("value", [DEEP, HUGE_NUMBER], ids=["deep", "huge-number"])
def test_a_did_document_nested_too_deeply_or_with_a_huge_number_is_invalid(value: bytes) -> None:
    body = b'{"id": "%s", "x": %s}' % (DID.encode(), value)
    with pytest.raises(InvalidDidDocumentError, match="not valid JSON, or nested too deeply"):
        DidDocument.from_json(body, DID)
    web = DidWebResolver(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
        resolve_host=lambda host, port: ["93.184.215.14"],
    )
    with web:
        result = Resolver.standard(web).resolve(DID)  # documented never to raise
    assert result.error == "invalidDidDocument"
    assert result.did_document is None


def test_long_base58_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    # base58 decoding is quadratic (100,000 characters would take seconds): the limit must apply before decoding,
    # which a spy on the decoder shows without timing anything.
    decoded: list[int] = []
    real_b58decode = base58.b58decode

    def spy(value: bytes | str) -> bytes:
        decoded.append(len(value))
        return real_b58decode(value)

    monkeypatch.setattr(base58, "b58decode", spy)
    key = SoftwareSigner.generate(KeyType.ED25519).public_key
    assert decode(encode_base58btc(bytes(700))) == bytes(700)  # 700 bytes: within the limit
    assert len(decode("z" + "2" * MAX_BASE58_LENGTH)) > 700  # the longest value still decoded
    assert decoded[-1] == MAX_BASE58_LENGTH
    decoded.clear()
    long_value = "z" + "2" * 100_000
    with pytest.raises(InvalidMultibaseError, match=f"longer than {MAX_BASE58_LENGTH} characters"):
        decode(long_value)
    with pytest.raises(InvalidMultibaseError, match=f"longer than {MAX_BASE58_LENGTH} characters"):
        decode("z" + "2" * (MAX_BASE58_LENGTH + 1))
    with pytest.raises(InvalidMultibaseError, match="longer than"):
        PublicKey.from_multikey(long_value)
    assert decoded == []
    assert PublicKey.from_multikey(key.to_multikey()) == key
    assert decoded == [len(key.to_multikey()) - 1]


@pytest.mark.parametrize(
    ("jwk", "needle"),
    [
        (0, "must be a JSON object"),
        (["kty"], "must be a JSON object"),
        ({"kty": ["OKP"]}, "cannot compute a thumbprint"),
        ({"kty": "OKP", "crv": "\ud800", "x": "AA"}, "not valid Unicode"),
    ],
)
def test_thumbprint_of_a_malformed_jwk(jwk: object, needle: str) -> None:
    with pytest.raises(InvalidJwkError, match=needle):
        jwk_thumbprint(jwk)  # type: ignore[arg-type]


def test_did_jwk_with_a_lone_surrogate_or_deep_nesting() -> None:
    jwk = SoftwareSigner.generate(KeyType.ED25519).public_key.to_jwk()
    with pytest.raises(InvalidJwkError, match="not valid Unicode"):
        did_jwk.create({**jwk, "kid": "\ud800"})
    with pytest.raises(InvalidDidError, match="not base64url-encoded JSON"):
        did_jwk.jwk_from_did("did:jwk:" + b64url_encode(b"[" * 1500))


def test_cli_did_resolve_prints_a_lone_surrogate_as_an_escape() -> None:
    jwk = SoftwareSigner.generate(KeyType.ED25519).public_key.to_jwk()
    did = "did:jwk:" + b64url_encode((json.dumps(jwk)[:-1] + ', "kid": "\\ud800"}').encode())
    result = CliRunner().invoke(main, ["did", "resolve", did])
    assert result.exit_code == 0, result.output
    assert "\\ud800" in result.stdout
    assert json.loads(result.stdout)["id"] == did


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "301"])
def test_cli_did_resolve_timeout_must_be_a_positive_number_of_seconds(timeout: str) -> None:
    result = CliRunner().invoke(main, ["did", "resolve", "--timeout", timeout, "did:web:example.com"])
    assert result.exit_code == 2
    assert "is not a number of seconds in (0, 300]" in result.output
    with pytest.raises(ValueError, match="must be positive"):
        DidWebResolver(timeout=float(timeout) if timeout != "301" else -1.0)


def test_cli_web_document_and_create_errors_are_one_line(tmp_path: Path) -> None:
    key = tmp_path / "k.jwk"
    SoftwareSigner.generate(KeyType.ED25519).save(key)
    runner = CliRunner()
    for spec in ([f"={key}"], [f"a={key}", f"a={key}"]):
        args = ["did", "web-document", "did:web:example.com"] + [x for s in spec for x in ("--key", s)]
        result = runner.invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "Invalid value for --key: key fragment" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    created = runner.invoke(main, ["did", "create", "--out", str(blocker / "k.jwk")])
    assert created.exit_code == 1
    assert created.stderr.startswith("error [cannotWrite]: cannot write ")
    assert isinstance(created.exception, SystemExit)
