"""Revisions of the ledger database: entries, tiles, checkpoints, anchors and the log state."""
