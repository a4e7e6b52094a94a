"""The OpenID Connect provider facade whose login is an OpenID4VP presentation (to come)."""
