"""The holder wallet: keystore, credential store, OpenID4VCI client, OpenID4VP holder (to come)."""
