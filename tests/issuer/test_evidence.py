"""The enrollment evidence: encrypted at rest, bound to its row, readable only with the key, purged after retention,
and re-checked for revocation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, select, update

from foundation.db import transaction
from issuer.context import IssuerContext, OperatorSecrets
from issuer.enrollment import Enrollment, EnrollmentResult, signed_bytes
from issuer.evidence import (
    EvidenceDecryptionError,
    EvidenceNotFoundError,
    _aead,
    evidence_table,
    identity_facts,
    load,
    purge_expired,
    recheck,
    stored_certificates,
)
from jpki_bridge.revocation import RevocationUnavailableError
from jpki_bridge.revocation.common import RevocationMode, RevocationOutcome
from jpki_bridge.testca import CardIdentity, TestCA
from tests.helpers import load_person, rsa_verify
from tests.issuer.enroll_kit import FakeOffers, Wallet, later


@pytest.fixture
def enrollment(issuer_context: IssuerContext) -> Enrollment:
    return Enrollment(issuer_context, FakeOffers(issuer_context.base_url))


@pytest.fixture
def enrolled(issuer_context: IssuerContext, enrollment: Enrollment, yamada_card: CardIdentity) -> EnrollmentResult:
    return Wallet(issuer_context.base_url).enroll(enrollment, yamada_card)


def _row(ctx: IssuerContext, evidence_id: str) -> Any:
    with transaction(ctx.engine) as conn:
        return conn.execute(select(evidence_table).where(evidence_table.c.evidence_id == evidence_id)).one()


def test_evidence_is_encrypted_and_complete(
    issuer_context: IssuerContext, enrolled: EnrollmentResult, yamada_card: CardIdentity
) -> None:
    der = yamada_card.sign_cert.public_bytes(Encoding.DER)
    row = _row(issuer_context, enrolled.evidence_id)
    ciphertext = bytes(row.ciphertext)
    assert len(bytes(row.nonce)) == 12
    for start in range(0, len(der) - 32, 32):  # no 32-byte piece of the certificate is in clear
        assert der[start : start + 32] not in ciphertext
    assert len(ciphertext) > len(der)  # yet it is all there, encrypted
    with transaction(issuer_context.engine) as conn:
        record = load(issuer_context, conn, enrolled.evidence_id)
    assert record.certificate == der
    assert record.person_id == enrolled.person_id
    assert record.signed.startswith(b"xid-enroll-v1")
    nonce = record.signed[len(b"xid-enroll-v1") : len(b"xid-enroll-v1") + 43].decode()
    assert record.signed == signed_bytes(nonce, record.holder_jkt)
    rsa_verify(yamada_card.sign_cert, record.signature, record.signed)
    assert record.validation["revocation_mode"] == "ocsp"
    assert record.validation["revocation_checked"] is True
    assert record.validation["anchor"].startswith("TEST-signca")
    assert "not revoked" in record.validation["summary"]
    assert record.certificate_fingerprint == hashlib.sha256(der).hexdigest()


def test_identity_facts(issuer_context: IssuerContext, enrolled: EnrollmentResult, yamada_card: CardIdentity) -> None:
    with transaction(issuer_context.engine) as conn:
        facts = identity_facts(issuer_context)(conn, enrolled.evidence_id)
    assert facts.basic4 == load_person("yamada").basic4()
    assert facts.person_id == enrolled.person_id
    assert facts.certificate_fingerprint == yamada_card.sign_cert.fingerprint(hashes.SHA256()).hex()
    assert abs(facts.verified_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_wrong_key_fails_closed(issuer_context: IssuerContext, enrolled: EnrollmentResult) -> None:
    other = dataclasses.replace(issuer_context, secrets=OperatorSecrets.generate())
    with transaction(issuer_context.engine) as conn, pytest.raises(EvidenceDecryptionError):
        identity_facts(other)(conn, enrolled.evidence_id)


def test_tampered_or_moved_ciphertext_fails_closed(
    issuer_context: IssuerContext, enrollment: Enrollment, enrolled: EnrollmentResult, yamada_card: CardIdentity
) -> None:
    second = Wallet(issuer_context.base_url).enroll(enrollment, yamada_card)
    with transaction(issuer_context.engine) as conn:
        assert (
            load(issuer_context, conn, enrolled.evidence_id).certificate
            == load(issuer_context, conn, second.evidence_id).certificate
        )
    row = _row(issuer_context, enrolled.evidence_id)
    flipped = bytearray(row.ciphertext)
    flipped[10] ^= 1
    table = evidence_table
    with transaction(issuer_context.engine, write=True) as conn:
        conn.execute(update(table).where(table.c.evidence_id == enrolled.evidence_id).values(ciphertext=bytes(flipped)))
        # The first row's (intact) ciphertext and nonce copied into the second row: the row ID is authenticated.
        conn.execute(
            update(table)
            .where(table.c.evidence_id == second.evidence_id)
            .values(ciphertext=row.ciphertext, nonce=row.nonce)
        )
    with transaction(issuer_context.engine) as conn:
        for evidence_id in (enrolled.evidence_id, second.evidence_id):
            with pytest.raises(EvidenceDecryptionError):
                load(issuer_context, conn, evidence_id)


def test_purge_after_retention(issuer_context: IssuerContext, enrolled: EnrollmentResult) -> None:
    now = dt.datetime.now(dt.UTC)
    retention = issuer_context.settings.evidence_retention
    assert retention == dt.timedelta(days=7 * 365)
    assert purge_expired(issuer_context, now + retention - dt.timedelta(minutes=10)) == 0
    with transaction(issuer_context.engine) as conn:
        load(issuer_context, conn, enrolled.evidence_id)
    assert purge_expired(issuer_context, now + retention + dt.timedelta(minutes=10)) == 1
    with transaction(issuer_context.engine) as conn, pytest.raises(EvidenceNotFoundError):
        identity_facts(issuer_context)(conn, enrolled.evidence_id)


class _Unavailable:
    mode: RevocationMode = "ocsp"

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: dt.datetime) -> RevocationOutcome:
        raise RevocationUnavailableError("cannot reach the responder")


def test_recheck_revokes_what_was_issued_from_a_revoked_card(
    issuer_context: IssuerContext, enrollment: Enrollment, enrolled: EnrollmentResult, served_ca: Any
) -> None:
    ca: TestCA = served_ca.ca
    card = ca.issue(load_person("long_address"))
    doomed = Wallet(issuer_context.base_url).enroll(enrollment, card)
    calls: list[str] = []

    def on_revoked(conn: Connection, fingerprint: str) -> int:
        assert conn.in_transaction()
        calls.append(fingerprint)
        return 3

    first = recheck(issuer_context, on_revoked)
    assert (first.checked, first.revoked, first.issued_revoked) == (2, 0, 0)
    assert calls == []

    ca.revoke(card.sign_cert, x509.ReasonFlags.key_compromise)
    good = issuer_context.revocation
    issuer_context.revocation = _Unavailable()
    unavailable = recheck(issuer_context, on_revoked)
    assert (unavailable.unavailable, unavailable.revoked, calls) == (2, 0, [])
    issuer_context.revocation = good

    report = recheck(issuer_context, on_revoked)
    assert (report.checked, report.revoked, report.issued_revoked) == (2, 1, 3)
    assert calls == [card.sign_cert.fingerprint(hashes.SHA256()).hex()]
    assert _row(issuer_context, doomed.evidence_id).revoked_at is not None
    assert _row(issuer_context, enrolled.evidence_id).revoked_at is None
    # Marked rows are not checked again.
    assert [evidence_id for evidence_id, _ in stored_certificates(issuer_context)] == [enrolled.evidence_id]
    again = recheck(issuer_context, on_revoked)
    assert (again.checked, again.revoked, len(calls)) == (1, 0, 1)


def test_recheck_callback_failure_leaves_the_certificate_unmarked(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any
) -> None:
    ca: TestCA = served_ca.ca
    card = ca.issue(load_person("year_month"))
    enrolled = Wallet(issuer_context.base_url).enroll(enrollment, card)
    ca.revoke(card.sign_cert)

    def failing(conn: Connection, fingerprint: str) -> int:
        raise RuntimeError("the credential store failed")

    with pytest.raises(RuntimeError):
        recheck(issuer_context, failing)
    assert _row(issuer_context, enrolled.evidence_id).revoked_at is None
    assert recheck(issuer_context, lambda conn, fingerprint: 1).revoked == 1


def test_recheck_skips_expired_and_reports_chains_that_no_longer_validate(
    issuer_context: IssuerContext, enrolled: EnrollmentResult
) -> None:
    calls: list[str] = []

    def on_revoked(conn: Connection, fingerprint: str) -> int:
        calls.append(fingerprint)
        return 1

    trusted = issuer_context.trust
    issuer_context.trust = TestCA.create().trust_anchors()  # the operator dropped the anchor
    report = recheck(issuer_context, on_revoked)
    assert (report.checked, report.failed, report.revoked, calls) == (1, 1, 0, [])
    issuer_context.trust = trusted
    later(issuer_context, dt.timedelta(days=6 * 365))  # past the card's 5th-birthday expiry
    report = recheck(issuer_context, on_revoked)
    assert (report.checked, report.expired, report.revoked, calls) == (0, 1, 0, [])
    assert _row(issuer_context, enrolled.evidence_id).revoked_at is None


def test_corrupt_plaintext_fails_closed(issuer_context: IssuerContext, enrolled: EnrollmentResult) -> None:
    """A row encrypted with the right key but not holding an evidence record is refused, not half-read."""
    nonce = b"\x00" * 12
    ciphertext = _aead(issuer_context).encrypt(nonce, b'{"v":1}', enrolled.evidence_id.encode("ascii"))
    with transaction(issuer_context.engine, write=True) as conn:
        conn.execute(
            update(evidence_table)
            .where(evidence_table.c.evidence_id == enrolled.evidence_id)
            .values(nonce=nonce, ciphertext=ciphertext)
        )
    with transaction(issuer_context.engine) as conn, pytest.raises(EvidenceDecryptionError, match="not a valid"):
        load(issuer_context, conn, enrolled.evidence_id)
