"""Fixtures of the OIDC facade's tests (each part adds what it needs below its own marker comment)."""

# -- login (oidc.login, oidc.login_routes)
from tests.oidc.login_support import login_world  # noqa: F401
