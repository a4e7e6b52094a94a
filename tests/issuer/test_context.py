"""The issuer's context: URLs, key ids, tokens, and operator secrets that never show."""

from __future__ import annotations

import pytest

from issuer.context import IssuerContext, OperatorSecrets


def test_context_helpers(issuer_context: IssuerContext) -> None:
    assert issuer_context.url("/x") == "http://127.0.0.1:8000/x"
    assert issuer_context.es256_kid.endswith("#es256")
    assert len(issuer_context.token()) == 43
    assert "redacted" in repr(issuer_context.secrets)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        OperatorSecrets(b"x" * 31, b"x" * 32, b"x" * 32, b"x" * 32)
    secrets = OperatorSecrets.generate()
    assert OperatorSecrets.from_json(secrets.to_json()) == secrets
    bad: object
    for bad in ({}, {**secrets.to_json(), "match_key": "!!"}, {**secrets.to_json(), "ledger_key": "AAAA"}, []):
        with pytest.raises(ValueError, match="operator secret"):
            OperatorSecrets.from_json(bad)
