"""The xid Ledger: RFC 9162 Merkle log, signed checkpoints, receipts and external anchors (to come)."""
