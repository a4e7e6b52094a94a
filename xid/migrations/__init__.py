"""The Alembic revisions of xid's two databases, shipped in the wheel (``xid db upgrade`` runs them).

``services/`` holds the services database's revisions (the issuer's, the verifier's and the OIDC facade's tables,
version table ``xid_services_version``); ``ledger/`` the ledger database's (version table ``xid_ledger_version``).
``xid.db_migrate`` runs them without an ``alembic.ini`` or ``env.py``; ``make migration MSG="..."`` writes the next
revision from the table definitions (docs/operations.md, "Database migrations").
"""
