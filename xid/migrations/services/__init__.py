"""Revisions of the services database: the issuer's, the verifier's and the OIDC facade's tables."""
