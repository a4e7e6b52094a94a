"""The xid Ledger: an RFC 9162 Merkle log on SQL storage, C2SP signed checkpoints and receipts, the tlog-tiles HTTP
API, audits, and external anchors.

Import the modules (``ledger.log``, ``ledger.receipt``, ...); each pins its public names in ``__all__``.
"""
