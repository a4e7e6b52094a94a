"""The verifier's routes on one context: the RP API and the wallet-facing OpenID4VP 1.0 endpoints under
``/verifier/v1/``, and the W3C VC API's verification endpoints (``routes``).

The response endpoint calls the validator of ``verifier.presentation`` (one per process: it caches status-list tokens,
issuer keys and parsed queries); everything else is in ``verifier.routes``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from verifier import routes as openid4vp_routes
from verifier import vc_api_routes
from verifier.context import VerifierContext
from verifier.presentation import make_validator

__all__ = ["routes"]


def routes(ctx: VerifierContext) -> list[BaseRoute]:
    """Every route of the verifier, wired on the context."""
    return [*openid4vp_routes.routes(ctx, make_validator(ctx)), *vc_api_routes.routes(ctx)]
