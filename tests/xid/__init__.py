"""Tests of the xid application package (composition root, command line, migrations)."""
