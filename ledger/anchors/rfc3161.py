"""Anchor checkpoints with an RFC 3161 time-stamping authority (TSA).

The TSA signs a token over SHA-256(checkpoint body) — the same digest every anchor commits to — with a nonce.
The token is verified at once and stored DER-encoded in the receipt, so a later verifier needs only the receipt,
the checkpoint and the TSA's root certificate(s): no call to the TSA. Token parsing and CMS/chain verification
use rfc3161-client; the request goes through ``foundation.http.fetch`` (no redirects, size limit while streaming,
one deadline).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from foundation.http import FetchError, FetchTooLargeError, fetch
from ledger.anchors.base import (
    AnchorError,
    AnchorReceipt,
    AnchorVerification,
    AnchorVerificationError,
    InvalidAnchorReceiptError,
    anchored,
    check_receipt_matches,
)

__all__ = [
    "MAX_REPLY_BYTES",
    "REPLY_TYPE",
    "REQUEST_TYPE",
    "Rfc3161Anchor",
]

REQUEST_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 64 * 1024


class Rfc3161Anchor:
    """Anchors checkpoint digests with an RFC 3161 TSA and verifies its tokens offline."""

    name = "rfc3161"

    def __init__(
        self,
        url: str,
        *,
        roots: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        client: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not roots:
            raise ValueError("an RFC 3161 anchor needs at least one trusted TSA root certificate")
        self._url = url
        self._roots = list(roots)
        self._intermediates = list(intermediates)
        self._client = client  # None: each submit uses a client of its own; verification never needs the network
        self._timeout = timeout

    def _verifier(self, nonce: int | None) -> VerifierBuilder:
        builder = VerifierBuilder()
        for root in self._roots:
            builder = builder.add_root_certificate(root)
        for cert in self._intermediates:
            builder = builder.add_intermediate_certificate(cert)
        if nonce is not None:
            builder = builder.nonce(nonce)
        return builder

    def submit(self, checkpoint: bytes) -> AnchorReceipt:
        """Ask the TSA for a token over the checkpoint digest, verify it, and return the receipt."""
        target = anchored(checkpoint)
        request = TimestampRequestBuilder().data(target.body).hash_algorithm(HashAlgorithm.SHA256).build()
        try:
            reply = fetch(
                "POST",
                self._url,
                max_bytes=MAX_REPLY_BYTES,
                timeout=self._timeout,
                client=self._client,
                content=request.as_bytes(),
                headers={"Content-Type": REQUEST_TYPE},
            )
        except FetchTooLargeError as exc:
            raise AnchorError(f"the TSA reply is larger than {MAX_REPLY_BYTES} bytes") from exc
        except FetchError as exc:
            raise AnchorError(f"cannot reach the TSA at {self._url}: {exc.message}") from exc
        if reply.status_code != 200:
            raise AnchorError(f"the TSA at {self._url} answered HTTP {reply.status_code}")
        if reply.media_type != REPLY_TYPE:
            raise AnchorError(f"the TSA at {self._url} did not answer with {REPLY_TYPE}")
        response = _decode(reply.content, AnchorError)
        try:
            self._verifier(request.nonce).build().verify_message(response, target.body)
        except VerificationError as exc:
            raise AnchorError(f"the TSA's token does not verify: {exc}") from exc
        evidence = {
            "tsa": self._url,
            "token": base64.b64encode(reply.content).decode("ascii"),
            "genTime": int(response.tst_info.gen_time.timestamp()),
        }
        return AnchorReceipt(self.name, target.origin, target.size, target.digest, evidence)

    def verify(self, receipt: AnchorReceipt, checkpoint: bytes) -> AnchorVerification:
        """Verify the stored token against the checkpoint and the trusted TSA roots (no network)."""
        target = check_receipt_matches(receipt, checkpoint, self.name)
        token = receipt.evidence.get("token")
        if not isinstance(token, str):
            raise InvalidAnchorReceiptError("RFC 3161 receipt lacks its token")
        try:
            der = base64.b64decode(token, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise InvalidAnchorReceiptError("RFC 3161 receipt token is not base64") from exc
        response = _decode(der, AnchorVerificationError)
        try:
            self._verifier(None).build().verify_message(response, target.body)
        except VerificationError as exc:
            raise AnchorVerificationError(f"the timestamp token does not verify: {exc}") from exc
        when = response.tst_info.gen_time
        return AnchorVerification(
            self.name,
            True,
            int(when.timestamp()),
            f"timestamped by {receipt.evidence.get('tsa')} at {when.isoformat()}",
        )

    def close(self) -> None:
        """Close the HTTP client, if one was given."""
        if self._client is not None:
            self._client.close()


def _decode(data: bytes, error: type[AnchorError] | type[AnchorVerificationError]) -> TimeStampResponse:
    try:
        return decode_timestamp_response(data)
    except (ValueError, TypeError) as exc:
        raise error("the TSA reply is not a valid RFC 3161 TimeStampResp") from exc
