"""Anchor checkpoints on an EVM chain (Ethereum, a consortium Besu network, ...) through web3.py.

A checkpoint is anchored by a transaction whose calldata is ``MAGIC || SHA-256(checkpoint body)``, sent with an
explicit gas limit (node gas estimates are not trusted; EIP-7623's calldata floor applies). The receipt keeps the
chain id, transaction hash, block number and block hash. Verification re-reads the transaction and its block from a
node: the calldata, sender and recipient must match, the transaction must have succeeded, and the block hash must
still be the one recorded (a reorganised-away anchor fails), with an optional number of confirmations.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from web3 import Web3
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3Exception

from ledger.anchors.base import (
    AnchorError,
    AnchorReceipt,
    AnchorVerification,
    AnchorVerificationError,
    InvalidAnchorReceiptError,
    anchored,
    check_receipt_matches,
)

# py_ecc, which web3 imports, raises the interpreter's recursion limit to 100,000 (py_ecc/__init__.py). At that limit
# a hostile, deeply nested JSON document overflows the C stack inside json's decoder and kills the process instead of
# raising RecursionError, so the limit goes back to Python's default. (A limit set on purpose to exactly 100,000, or
# any limit set before web3 was imported, is lost; set it again after importing this module if you need it.)
_PY_ECC_RECURSION_LIMIT: Final = 100_000
if sys.getrecursionlimit() == _PY_ECC_RECURSION_LIMIT:
    sys.setrecursionlimit(1000)

__all__ = [
    "MAGIC",
    "EvmAnchor",
    "default_gas_limit",
]

MAGIC: Final = b"xid-anchor/v1:"
_CALLDATA_GAS_PER_BYTE: Final = 40  # EIP-7623 floor for a non-zero byte (10 x 4 tokens)


def default_gas_limit(calldata_size: int) -> int:
    """A gas limit that covers a plain transfer with this much calldata under the EIP-7623 floor."""
    return 21_000 + _CALLDATA_GAS_PER_BYTE * calldata_size


class EvmAnchor:
    """Anchors checkpoint digests in transaction calldata on an EVM chain."""

    name = "evm"

    def __init__(
        self,
        web3: Web3,
        sender: str,
        *,
        private_key: bytes | None = None,
        sink: str | None = None,
        gas_limit: int | None = None,
        timeout: float = 120.0,
        confirmations: int = 1,
    ) -> None:
        if not Web3.is_address(sender):
            raise ValueError(f"sender {sender!r} is not an address")
        self._w3 = web3
        self._eth: Any = web3.eth
        self._sender = Web3.to_checksum_address(sender)
        self._sink = Web3.to_checksum_address(sink) if sink is not None else self._sender
        self._key = private_key
        self._gas_limit = gas_limit or default_gas_limit(len(MAGIC) + 32)
        self._timeout = timeout
        self._confirmations = confirmations
        if private_key is not None:
            account = web3.eth.account.from_key(private_key)
            if account.address != self._sender:
                raise ValueError("private key does not belong to the sender address")

    def submit(self, checkpoint: bytes) -> AnchorReceipt:
        """Send the anchoring transaction and wait for it to be mined."""
        target = anchored(checkpoint)
        data = MAGIC + target.digest
        try:
            tx: dict[str, Any] = {
                "from": self._sender,
                "to": self._sink,
                "value": 0,
                "data": data,
                "gas": self._gas_limit,
                "gasPrice": self._eth.gas_price,
                "chainId": self._eth.chain_id,
            }
            if self._key is None:
                tx_hash = self._eth.send_transaction(tx)
            else:
                tx["nonce"] = self._eth.get_transaction_count(self._sender, "pending")
                signed = self._eth.account.sign_transaction(tx, self._key)
                tx_hash = self._eth.send_raw_transaction(signed.raw_transaction)
            mined = self._eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout)
        except TimeExhausted as exc:
            raise AnchorError(f"anchor transaction was not mined within {self._timeout:g} s") from exc
        except Exception as exc:  # providers raise their own types (RPC errors, eth-tester validation errors)
            raise AnchorError(f"cannot send the anchor transaction: {exc}") from exc
        if mined["status"] != 1:
            raise AnchorError(f"anchor transaction {Web3.to_hex(tx_hash)} failed on chain")
        evidence = {
            "chainId": int(tx["chainId"]),
            "txHash": Web3.to_hex(tx_hash),
            "blockNumber": int(mined["blockNumber"]),
            "blockHash": Web3.to_hex(mined["blockHash"]),
            "from": self._sender,
            "to": self._sink,
        }
        return AnchorReceipt(self.name, target.origin, target.size, target.digest, evidence)

    def verify(self, receipt: AnchorReceipt, checkpoint: bytes) -> AnchorVerification:
        """Re-read the anchoring transaction from the chain and check it commits to this checkpoint."""
        target = check_receipt_matches(receipt, checkpoint, self.name)
        ev = receipt.evidence
        try:
            chain_id, tx_hash, number = int(ev["chainId"]), str(ev["txHash"]), int(ev["blockNumber"])
            block_hash, sender, sink = str(ev["blockHash"]).lower(), str(ev["from"]), str(ev["to"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidAnchorReceiptError("EVM anchor receipt lacks chainId/txHash/blockNumber/blockHash") from exc
        try:
            node_chain = int(self._eth.chain_id)
            if node_chain != chain_id:
                raise AnchorVerificationError(f"receipt is from chain {chain_id}, the node serves chain {node_chain}")
            tx = self._eth.get_transaction(tx_hash)
            mined = self._eth.get_transaction_receipt(tx_hash)
            block = self._eth.get_block(number)
            head = int(self._eth.block_number)
        except TransactionNotFound as exc:
            raise AnchorVerificationError(f"anchor transaction {tx_hash} is not on the chain") from exc
        except (Web3Exception, ValueError, OSError) as exc:
            raise AnchorVerificationError(f"cannot read the anchor from the chain: {exc}") from exc
        if bytes(tx["input"]) != MAGIC + target.digest:
            raise AnchorVerificationError(f"transaction {tx_hash} does not carry this checkpoint's digest")
        if tx["from"] != sender or tx["to"] != sink:
            raise AnchorVerificationError(f"transaction {tx_hash} was not sent by {sender} to {sink}")
        if mined["status"] != 1:
            raise AnchorVerificationError(f"transaction {tx_hash} failed on chain")
        if Web3.to_hex(mined["blockHash"]).lower() != block_hash or Web3.to_hex(block["hash"]).lower() != block_hash:
            raise AnchorVerificationError(f"block {number} is no longer {block_hash} (chain reorganised)")
        depth = head - number + 1
        if depth < self._confirmations:
            raise AnchorVerificationError(f"anchor has {depth} confirmations; {self._confirmations} required")
        when = int(block["timestamp"])
        detail = f"in block {number} ({block_hash}) of chain {chain_id}, tx {tx_hash}, {depth} confirmations"
        return AnchorVerification(self.name, True, when, detail)
