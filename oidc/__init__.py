"""The OpenID Connect provider facade: any website logs a person in with an OpenID4VP presentation from their wallet.

Parts (each module owns its tables on ``oidc.db.metadata``):

- ``provider``/``provider_routes``: the OP protocol (discovery, JWKS, authorize + PAR, token, userinfo, end-session)
  on Authlib's grant framework;
- ``claims``: requested scopes/claims → DCQL, and a verified presentation → ID token / userinfo claims
  (pairwise ``sub``, ``acr``/``amr``, ``verified_claims``);
- ``login``/``login_routes``: the login page (QR, same-device link, verification code, live status);
- ``consent``/``consent_routes``: consents and linkage, the account page and API.
"""
