"""The OpenID4VP verification code both sides derive."""

from __future__ import annotations

import hashlib

from vc.oid4vp import verification_code


def test_verification_code() -> None:
    code = verification_code("x509_san_dns:rp.example.jp", "n-1")
    assert len(code) == 4
    assert code.isdigit()
    digest = hashlib.sha256(b"xid-verification-code-v1\x00x509_san_dns:rp.example.jp\x00n-1").digest()
    assert int(code) == int.from_bytes(digest[:4], "big") % 10_000
    codes = {verification_code("x509_san_dns:rp.example.jp", f"n-{i}") for i in range(50)}
    assert len(codes) > 40  # spread over the 10,000 values
    assert verification_code("x509_san_dns:rp.example.jp", "n-1") == code
