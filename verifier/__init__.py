"""The OpenID4VP verifier: requests, response validation and policy (to come)."""
