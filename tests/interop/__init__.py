"""Interoperability tests against independent implementations (pinned npm peers, run with node)."""
