"""Fixtures of the OIDC facade's tests (each part adds what it needs below its own marker comment)."""
