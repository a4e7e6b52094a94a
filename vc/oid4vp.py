"""What an OpenID4VP 1.0 verifier and a wallet must agree on beyond the specification: the verification code.

The verification code lets a person match the relying party's page with the wallet in a cross-device flow
(anti-phishing, as Smart-ID does): both derive the same four digits from the request, the RP's page shows them and
the wallet shows them before the person consents. Derivation: the first four bytes of
SHA-256(``"xid-verification-code-v1"`` ‖ 0x00 ‖ client_id ‖ 0x00 ‖ nonce), as a big-endian integer modulo 10,000,
written with four digits.
"""

from __future__ import annotations

import hashlib

__all__ = ["VERIFICATION_CODE_CONTEXT", "verification_code"]

VERIFICATION_CODE_CONTEXT = b"xid-verification-code-v1"


def verification_code(client_id: str, nonce: str) -> str:
    """The four-digit code for a request (its full client_id, prefix included, and its nonce)."""
    data = VERIFICATION_CODE_CONTEXT + b"\x00" + client_id.encode("utf-8") + b"\x00" + nonce.encode("utf-8")
    return f"{int.from_bytes(hashlib.sha256(data).digest()[:4], 'big') % 10_000:04d}"
