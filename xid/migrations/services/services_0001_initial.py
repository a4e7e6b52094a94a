"""The services tables as the first migrated xid has them (issuer and verifier; create_all made the same).

Revision services_0001 of the services database: the first one. Databases made by ``create_all`` before migrations
existed are adopted at this revision when their tables match it (``xid.db_migrate``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "services_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "issuer_ca_certificate",
        sa.Column("serial", sa.String(length=40), nullable=False, comment="lowercase hex"),
        sa.Column("root_key_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("usage", sa.String(length=16), nullable=False),
        sa.Column(
            "card_fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the card's signature certificate",
        ),
        sa.Column("holder_jkt", sa.String(length=64), nullable=False),
        sa.Column("not_before", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("not_after", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("issued_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revoked_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("certificate", sa.LargeBinary(), nullable=False, comment="DER"),
        sa.PrimaryKeyConstraint("serial"),
        sa.UniqueConstraint("grant_id", "usage", name="uq_issuer_ca_certificate_grant_usage"),
    )
    op.create_index("ix_issuer_ca_certificate_card", "issuer_ca_certificate", ["card_fingerprint"], unique=False)
    op.create_index("ix_issuer_ca_certificate_person", "issuer_ca_certificate", ["person_id"], unique=False)
    op.create_table(
        "issuer_ca_root",
        sa.Column("key_id", sa.String(length=64), nullable=False, comment="RFC 7638 thumbprint of the CA key"),
        sa.Column("certificate", sa.LargeBinary(), nullable=False, comment="the self-signed root, DER"),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "crl_number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="number of the last CRL signed (0: none yet)",
        ),
        sa.Column("crl", sa.LargeBinary(), nullable=True, comment="the current CRL, DER; NULL after a revocation"),
        sa.Column("crl_this_update", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("crl_next_update", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_table(
        "issuer_credentials",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=64), nullable=False),
        sa.Column("card_key", sa.String(length=64), nullable=False),
        sa.Column("status_entries", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_issuer_credentials_card_key"), "issuer_credentials", ["card_key"], unique=False)
    op.create_index(op.f("ix_issuer_credentials_person_id"), "issuer_credentials", ["person_id"], unique=False)
    op.create_table(
        "issuer_enroll_challenges",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("holder_jkt", sa.String(length=64), nullable=False),
        sa.Column("holder_jwk", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )
    op.create_index(
        op.f("ix_issuer_enroll_challenges_expires_at"), "issuer_enroll_challenges", ["expires_at"], unique=False
    )
    op.create_table(
        "issuer_oid4vci_grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("offer_ref_hash", sa.String(length=64), nullable=False),
        sa.Column("offer_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("tx_code_hash", sa.String(length=64), nullable=True),
        sa.Column("tx_attempts", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("configuration_ids", sa.Text(), nullable=False),
        sa.Column("person_id", sa.String(length=128), nullable=False),
        sa.Column("evidence_id", sa.String(length=128), nullable=False),
        sa.Column("holder_jwk", sa.Text(), nullable=False),
        sa.Column("certificate_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
        sa.UniqueConstraint("offer_ref_hash"),
    )
    op.create_table(
        "issuer_oid4vci_nonces",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )
    op.create_index("ix_issuer_oid4vci_nonces_expires_at", "issuer_oid4vci_nonces", ["expires_at"], unique=False)
    op.create_table(
        "issuer_oid4vci_notifications",
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("configuration_id", sa.String(length=200), nullable=False),
        sa.Column("credentials", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=True),
        sa.Column("event_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("notification_id"),
    )
    op.create_index(
        op.f("ix_issuer_oid4vci_notifications_grant_id"), "issuer_oid4vci_notifications", ["grant_id"], unique=False
    )
    op.create_table(
        "issuer_oid4vci_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("credential_identifiers", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_issuer_oid4vci_tokens_expires_at"), "issuer_oid4vci_tokens", ["expires_at"], unique=False)
    op.create_index(op.f("ix_issuer_oid4vci_tokens_grant_id"), "issuer_oid4vci_tokens", ["grant_id"], unique=False)
    op.create_table(
        "issuer_persons",
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("merged_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["issuer_persons.person_id"],
        ),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "issuer_status_lists",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("status_size", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("allocated", sa.Integer(), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signed", sa.Text(), nullable=True),
        sa.Column("signed_version", sa.Integer(), nullable=True),
        sa.Column("refresh_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_issuer_status_lists_open", "issuer_status_lists", ["kind", "issuer", "purpose", "full"], unique=False
    )
    op.create_table(
        "issuer_vc_api_status",
        sa.Column("credential_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("list_id", sa.String(length=255), nullable=False),
        sa.Column("list_index", sa.BigInteger(), nullable=False),
        sa.Column("list_url", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("credential_hash", "purpose"),
    )
    op.create_table(
        "verifier_replay",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(op.f("ix_verifier_replay_expires"), "verifier_replay", ["expires"], unique=False)
    op.create_table(
        "verifier_rps",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("sector", sa.String(length=255), nullable=False),
        sa.Column("created", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "issuer_evidence",
        sa.Column("evidence_id", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("certificate_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revoked_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["issuer_persons.person_id"],
        ),
        sa.PrimaryKeyConstraint("evidence_id"),
    )
    op.create_index(op.f("ix_issuer_evidence_certificate_hash"), "issuer_evidence", ["certificate_hash"], unique=False)
    op.create_index(op.f("ix_issuer_evidence_expires_at"), "issuer_evidence", ["expires_at"], unique=False)
    op.create_index(op.f("ix_issuer_evidence_person_id"), "issuer_evidence", ["person_id"], unique=False)
    op.create_table(
        "issuer_person_certificates",
        sa.Column("certificate_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["issuer_persons.person_id"],
        ),
        sa.PrimaryKeyConstraint("certificate_hash"),
    )
    op.create_index(
        op.f("ix_issuer_person_certificates_person_id"), "issuer_person_certificates", ["person_id"], unique=False
    )
    op.create_table(
        "issuer_person_holder_keys",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["issuer_persons.person_id"],
        ),
        sa.PrimaryKeyConstraint("key_hash", "person_id"),
    )
    op.create_index(
        op.f("ix_issuer_person_holder_keys_person_id"), "issuer_person_holder_keys", ["person_id"], unique=False
    )
    op.create_table(
        "issuer_person_matches",
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("match_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["issuer_persons.person_id"],
        ),
        sa.PrimaryKeyConstraint("person_id", "match_hash"),
    )
    op.create_index("ix_issuer_person_matches_hash", "issuer_person_matches", ["match_hash"], unique=False)
    op.create_table(
        "issuer_status_entries",
        sa.Column("list_id", sa.String(length=64), nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["issuer_status_lists.id"],
        ),
        sa.PrimaryKeyConstraint("list_id", "idx"),
    )
    op.create_table(
        "verifier_transactions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("rp", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=2100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("response_mode", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("dcql_query", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=True),
        sa.Column("encryption_jwk", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("error_description", sa.String(length=300), nullable=True),
        sa.Column("response_code_sha256", sa.String(length=64), nullable=True),
        sa.Column("ledger_index", sa.BigInteger(), nullable=True),
        sa.Column("created", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("answered", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["rp"], ["verifier_rps.client_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("response_code_sha256"),
    )
    op.create_index(op.f("ix_verifier_transactions_expires"), "verifier_transactions", ["expires"], unique=False)
    op.create_index(op.f("ix_verifier_transactions_rp"), "verifier_transactions", ["rp"], unique=False)
    op.create_table(
        "verifier_results",
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["transaction_id"], ["verifier_transactions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("transaction_id"),
    )
    op.create_index(op.f("ix_verifier_results_expires"), "verifier_results", ["expires"], unique=False)


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index(op.f("ix_verifier_results_expires"), table_name="verifier_results")
    op.drop_table("verifier_results")
    op.drop_index(op.f("ix_verifier_transactions_rp"), table_name="verifier_transactions")
    op.drop_index(op.f("ix_verifier_transactions_expires"), table_name="verifier_transactions")
    op.drop_table("verifier_transactions")
    op.drop_table("issuer_status_entries")
    op.drop_index("ix_issuer_person_matches_hash", table_name="issuer_person_matches")
    op.drop_table("issuer_person_matches")
    op.drop_index(op.f("ix_issuer_person_holder_keys_person_id"), table_name="issuer_person_holder_keys")
    op.drop_table("issuer_person_holder_keys")
    op.drop_index(op.f("ix_issuer_person_certificates_person_id"), table_name="issuer_person_certificates")
    op.drop_table("issuer_person_certificates")
    op.drop_index(op.f("ix_issuer_evidence_person_id"), table_name="issuer_evidence")
    op.drop_index(op.f("ix_issuer_evidence_expires_at"), table_name="issuer_evidence")
    op.drop_index(op.f("ix_issuer_evidence_certificate_hash"), table_name="issuer_evidence")
    op.drop_table("issuer_evidence")
    op.drop_table("verifier_rps")
    op.drop_index(op.f("ix_verifier_replay_expires"), table_name="verifier_replay")
    op.drop_table("verifier_replay")
    op.drop_table("issuer_vc_api_status")
    op.drop_index("ix_issuer_status_lists_open", table_name="issuer_status_lists")
    op.drop_table("issuer_status_lists")
    op.drop_table("issuer_persons")
    op.drop_index(op.f("ix_issuer_oid4vci_tokens_grant_id"), table_name="issuer_oid4vci_tokens")
    op.drop_index(op.f("ix_issuer_oid4vci_tokens_expires_at"), table_name="issuer_oid4vci_tokens")
    op.drop_table("issuer_oid4vci_tokens")
    op.drop_index(op.f("ix_issuer_oid4vci_notifications_grant_id"), table_name="issuer_oid4vci_notifications")
    op.drop_table("issuer_oid4vci_notifications")
    op.drop_index("ix_issuer_oid4vci_nonces_expires_at", table_name="issuer_oid4vci_nonces")
    op.drop_table("issuer_oid4vci_nonces")
    op.drop_table("issuer_oid4vci_grants")
    op.drop_index(op.f("ix_issuer_enroll_challenges_expires_at"), table_name="issuer_enroll_challenges")
    op.drop_table("issuer_enroll_challenges")
    op.drop_index(op.f("ix_issuer_credentials_person_id"), table_name="issuer_credentials")
    op.drop_index(op.f("ix_issuer_credentials_card_key"), table_name="issuer_credentials")
    op.drop_table("issuer_credentials")
    op.drop_table("issuer_ca_root")
    op.drop_index("ix_issuer_ca_certificate_person", table_name="issuer_ca_certificate")
    op.drop_index("ix_issuer_ca_certificate_card", table_name="issuer_ca_certificate")
    op.drop_table("issuer_ca_certificate")
