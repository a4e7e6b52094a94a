"""OIDC facade tables and client columns (private_key_jwt keys, ID token algorithm, credential holder keys).

Revision services_0002 of the services database, after services_0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "services_0002"
down_revision = "services_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "oidc_authorizations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=2048), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_authorizations_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "oidc_client_assertions",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("jti_hash"),
    )
    with op.batch_alter_table("oidc_client_assertions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_client_assertions_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("authorization_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("grant", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_codes_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "oidc_consents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("linkage", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revoked_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oidc_consents", schema=None) as batch_op:
        batch_op.create_index("oidc_consents_person", ["person", "client_id"], unique=False)
    op.create_table(
        "oidc_login_client",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("slot"),
    )
    op.create_table(
        "oidc_logins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("authorization_id", sa.String(length=64), nullable=True),
        sa.Column("return_to", sa.Text(), nullable=True),
        sa.Column("browser_sha256", sa.String(length=64), nullable=True),
        sa.Column("secret_sha256", sa.String(length=64), nullable=True),
        sa.Column("cross_tx", sa.String(length=64), nullable=False),
        sa.Column("same_tx", sa.String(length=64), nullable=True),
        sa.Column("verification_code", sa.String(length=8), nullable=False),
        sa.Column("same_verification_code", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("finish_url", sa.Text(), nullable=True),
        sa.Column("created", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("presentation_expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("oidc_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_logins_browser_sha256"), ["browser_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_logins_cross_tx"), ["cross_tx"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_logins_expires"), ["expires"], unique=False)
        batch_op.create_index(batch_op.f("ix_oidc_logins_same_tx"), ["same_tx"], unique=False)
    op.create_table(
        "oidc_pushed_requests",
        sa.Column("uri_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("uri_hash"),
    )
    with op.batch_alter_table("oidc_pushed_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_pushed_requests_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "oidc_sessions",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("person", sa.String(length=255), nullable=False),
        sa.Column("created", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("expires", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    with op.batch_alter_table("oidc_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oidc_sessions_expires"), ["expires"], unique=False)
    op.create_table(
        "oidc_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("userinfo", sa.Text(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ledger_index", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_oidc_tokens_code", ["code_hash"], unique=False)
    with op.batch_alter_table("issuer_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder_key", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_issuer_credentials_holder_key"), ["holder_key"], unique=False)
    with op.batch_alter_table("verifier_rps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auth_method", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("jwks", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("id_token_alg", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("verifier_rps", schema=None) as batch_op:
        batch_op.drop_column("id_token_alg")
        batch_op.drop_column("jwks")
        batch_op.drop_column("auth_method")
    with op.batch_alter_table("issuer_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuer_credentials_holder_key"))
        batch_op.drop_column("holder_key")
    with op.batch_alter_table("oidc_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_oidc_tokens_code")
    op.drop_table("oidc_tokens")
    with op.batch_alter_table("oidc_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_sessions_expires"))
    op.drop_table("oidc_sessions")
    with op.batch_alter_table("oidc_pushed_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_pushed_requests_expires_at"))
    op.drop_table("oidc_pushed_requests")
    with op.batch_alter_table("oidc_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_logins_same_tx"))
        batch_op.drop_index(batch_op.f("ix_oidc_logins_expires"))
        batch_op.drop_index(batch_op.f("ix_oidc_logins_cross_tx"))
        batch_op.drop_index(batch_op.f("ix_oidc_logins_browser_sha256"))
    op.drop_table("oidc_logins")
    op.drop_table("oidc_login_client")
    with op.batch_alter_table("oidc_consents", schema=None) as batch_op:
        batch_op.drop_index("oidc_consents_person")
    op.drop_table("oidc_consents")
    with op.batch_alter_table("oidc_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_codes_expires_at"))
    op.drop_table("oidc_codes")
    with op.batch_alter_table("oidc_client_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_client_assertions_expires_at"))
    op.drop_table("oidc_client_assertions")
    with op.batch_alter_table("oidc_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oidc_authorizations_expires_at"))
    op.drop_table("oidc_authorizations")
