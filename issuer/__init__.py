"""The issuer service: card-check enrollment, person identifiers, OpenID4VCI endpoints, the xid CA (to come)."""
