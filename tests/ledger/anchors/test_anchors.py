"""Anchor back ends: an in-process EVM chain (eth-tester/py-evm), a real RFC 3161 TSA, and ``none``."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from eth_account import Account
from web3 import EthereumTesterProvider, Web3

from did import KeyType, SoftwareSigner
from foundation.db import sqlite_engine
from ledger.anchors import (
    AnchorError,
    AnchorReceipt,
    AnchorVerificationError,
    InvalidAnchorReceiptError,
    NullAnchor,
    audit_verifier,
)
from ledger.anchors.evm import MAGIC, EvmAnchor
from ledger.anchors.rfc3161 import MAX_REPLY_BYTES, REPLY_TYPE, Rfc3161Anchor
from ledger.audit import audit
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.errors import LedgerError
from ledger.log import Log
from ledger.note import Ed25519NoteSigner
from ledger.records import EventType, Record, digest
from ledger.rfc9162 import leaf_hash, root
from ledger.store import Store
from tests.ledger.anchors.tsa import LocalTsa

ORIGIN = "xid.example/log"


def _checkpoint(size: int = 3, origin: str = ORIGIN) -> bytes:
    signer = Ed25519NoteSigner(origin, SoftwareSigner.generate(KeyType.ED25519))
    leaves = [leaf_hash(bytes([i])) for i in range(size)]
    return sign_checkpoint(Checkpoint(origin, size, root(leaves)), signer).encode()


# -- none -------------------------------------------------------------------------------------------------------


def test_null_anchor_never_claims_to_anchor() -> None:
    anchor = NullAnchor(clock=lambda: 1_800_000_000)
    cp = _checkpoint()
    receipt = anchor.submit(cp)
    assert AnchorReceipt.from_json(receipt.to_json()) == receipt
    result = anchor.verify(receipt, cp)
    assert result.anchored is False
    assert "not anchored" in result.detail
    with pytest.raises(AnchorVerificationError, match="not this checkpoint"):
        anchor.verify(receipt, _checkpoint(4))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda j: j.pop("digest"), "digest"),
        (lambda j: j.update(size=-1), "size"),
        (lambda j: j.update(digest="AB" * 32), "digest"),
        (lambda j: j.update(evidence=[]), "evidence"),
        (lambda j: j.update(extra=1), "unknown"),
        (lambda j: j.update(backend=""), "backend"),
        (lambda j: j.update(origin=None), "origin"),
    ],
)
def test_malformed_receipts(mutate: object, reason: str) -> None:
    value = NullAnchor().submit(_checkpoint()).to_json()
    mutate(value)  # type: ignore[operator]
    with pytest.raises(InvalidAnchorReceiptError, match=reason):
        AnchorReceipt.from_json(value)
    with pytest.raises(InvalidAnchorReceiptError, match="must be a JSON object"):
        AnchorReceipt.from_json("not an object")


# -- EVM --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain() -> Web3:
    return Web3(EthereumTesterProvider())


def test_evm_anchor_submit_and_verify(chain: Web3) -> None:
    anchor = EvmAnchor(chain, chain.eth.accounts[0], confirmations=1)
    cp = _checkpoint()
    receipt = AnchorReceipt.from_json(anchor.submit(cp).to_json())
    tx = chain.eth.get_transaction(receipt.evidence["txHash"])
    assert bytes(tx["input"]) == MAGIC + receipt.digest
    assert tx["gas"] == 21_000 + 40 * (len(MAGIC) + 32)  # explicit limit, not the node's estimate
    result = anchor.verify(receipt, cp)
    assert result.anchored
    assert result.time is not None
    assert f"block {receipt.evidence['blockNumber']}" in result.detail


def test_evm_anchor_with_a_locally_signed_transaction(chain: Web3) -> None:
    account = Account.create()
    chain.eth.send_transaction({"from": chain.eth.accounts[0], "to": account.address, "value": Web3.to_wei(1, "ether")})
    anchor = EvmAnchor(chain, account.address, private_key=account.key)
    cp = _checkpoint(5)
    receipt = anchor.submit(cp)
    assert anchor.verify(receipt, cp).anchored
    with pytest.raises(ValueError, match="does not belong"):
        EvmAnchor(chain, list(chain.eth.accounts)[1], private_key=account.key)


def test_evm_anchor_rejects_tampering(chain: Web3) -> None:
    anchor = EvmAnchor(chain, chain.eth.accounts[0])
    cp, other = _checkpoint(7), _checkpoint(8)
    receipt = anchor.submit(cp)
    other_receipt = anchor.submit(other)
    with pytest.raises(AnchorVerificationError, match="not this checkpoint"):
        anchor.verify(receipt, other)
    swapped = AnchorReceipt(
        receipt.backend, receipt.origin, receipt.size, receipt.digest, {**receipt.evidence, **other_receipt.evidence}
    )
    with pytest.raises(AnchorVerificationError, match="does not carry this checkpoint's digest"):
        anchor.verify(swapped, cp)
    with pytest.raises(AnchorVerificationError, match="reorganised"):
        anchor.verify(
            AnchorReceipt(**{**receipt.__dict__, "evidence": {**receipt.evidence, "blockHash": "0x" + "11" * 32}}), cp
        )
    with pytest.raises(AnchorVerificationError, match="not on the chain"):
        anchor.verify(
            AnchorReceipt(**{**receipt.__dict__, "evidence": {**receipt.evidence, "txHash": "0x" + "22" * 32}}), cp
        )
    with pytest.raises(AnchorVerificationError, match="chain 1,"):
        anchor.verify(AnchorReceipt(**{**receipt.__dict__, "evidence": {**receipt.evidence, "chainId": 1}}), cp)
    with pytest.raises(AnchorVerificationError, match="not sent by"):
        anchor.verify(
            AnchorReceipt(
                **{**receipt.__dict__, "evidence": {**receipt.evidence, "from": list(chain.eth.accounts)[2]}}
            ),
            cp,
        )
    with pytest.raises(InvalidAnchorReceiptError, match="txHash"):
        anchor.verify(AnchorReceipt(**{**receipt.__dict__, "evidence": {}}), cp)
    strict = EvmAnchor(chain, chain.eth.accounts[0], confirmations=1000)
    with pytest.raises(AnchorVerificationError, match="1000 required"):
        strict.verify(receipt, cp)
    with pytest.raises(AnchorVerificationError, match="back end 'evm', not 'none'"):
        NullAnchor().verify(receipt, cp)


def test_evm_submit_failure_is_an_anchor_error(chain: Web3) -> None:
    poor = Account.create()
    anchor = EvmAnchor(chain, poor.address, private_key=poor.key)
    with pytest.raises(AnchorError, match="cannot send"):
        anchor.submit(_checkpoint())


def test_log_anchors_checkpoints_and_audit_checks_them(chain: Web3, tmp_path: Path) -> None:
    anchor = EvmAnchor(chain, chain.eth.accounts[0])
    engine = sqlite_engine(tmp_path / "ledger.sqlite3")
    try:
        store = Store(engine)
        with Log(store, SoftwareSigner.generate(KeyType.ED25519), origin=ORIGIN, anchors=[anchor]) as log:
            for i in range(5):
                log.append(Record(EventType.SIGNATURE, datetime.now(UTC), object=digest(f"document {i}".encode())))
            log.checkpoint()
            assert not log.anchor_errors
            verifier = log.verifier
        report = audit(store, verifier, anchors={"evm": audit_verifier(anchor)})
        assert report.anchors_checked == 1
        assert report.ok, report.findings
    finally:
        engine.dispose()


# -- RFC 3161 ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tsa() -> LocalTsa:
    return LocalTsa.create()


def _tsa_transport(tsa: LocalTsa, **kw: object) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/timestamp-query"
        return httpx.Response(200, content=tsa.handle(request.content, **kw), headers={"content-type": REPLY_TYPE})  # type: ignore[arg-type]

    return httpx.MockTransport(handle)


def test_rfc3161_anchor_submit_and_verify_offline(tsa: LocalTsa) -> None:
    cp = _checkpoint()
    with httpx.Client(transport=_tsa_transport(tsa)) as client:
        receipt = Rfc3161Anchor("https://tsa.test/", roots=[tsa.root], client=client).submit(cp)
    # Later, offline: a fresh anchor object with no working transport verifies the stored token.
    offline = Rfc3161Anchor(
        "https://tsa.test/",
        roots=[tsa.root],
        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))),
    )
    try:
        result = offline.verify(AnchorReceipt.from_json(receipt.to_json()), cp)
    finally:
        offline.close()
    assert result.anchored
    assert result.time == receipt.evidence["genTime"]


def test_rfc3161_rejections(tsa: LocalTsa) -> None:
    cp = _checkpoint()
    stranger = LocalTsa.create("OTHER TSA")
    with httpx.Client(transport=_tsa_transport(tsa)) as client:
        receipt = Rfc3161Anchor("https://tsa.test/", roots=[tsa.root], client=client).submit(cp)
        untrusting = Rfc3161Anchor("https://tsa.test/", roots=[stranger.root], client=client)
        with pytest.raises(AnchorError, match="does not verify"):
            untrusting.submit(cp)
        with pytest.raises(AnchorVerificationError, match="does not verify"):
            untrusting.verify(receipt, cp)
    with pytest.raises(AnchorVerificationError, match="not this checkpoint"):
        Rfc3161Anchor("https://tsa.test/", roots=[tsa.root]).verify(receipt, _checkpoint(9))
    token = bytearray(base64.b64decode(receipt.evidence["token"]))
    token[-10] ^= 1
    bad = AnchorReceipt(
        **{**receipt.__dict__, "evidence": {**receipt.evidence, "token": base64.b64encode(bytes(token)).decode()}}
    )
    with pytest.raises(AnchorVerificationError, match="timestamp token does not verify"):
        Rfc3161Anchor("https://tsa.test/", roots=[tsa.root]).verify(bad, cp)
    with (
        httpx.Client(transport=_tsa_transport(tsa, imprint_override=b"\x00" * 32)) as client,
        pytest.raises(AnchorError, match="does not verify"),
    ):
        Rfc3161Anchor("https://tsa.test/", roots=[tsa.root], client=client).submit(cp)
    for response in [
        httpx.Response(503),
        httpx.Response(200, content=b"garbage", headers={"content-type": REPLY_TYPE}),
        httpx.Response(200, content=b"{}", headers={"content-type": "application/json"}),
    ]:
        with (
            httpx.Client(transport=httpx.MockTransport(lambda r, resp=response: resp)) as client,
            pytest.raises(AnchorError),
        ):
            Rfc3161Anchor("https://tsa.test/", roots=[tsa.root], client=client).submit(cp)
    with pytest.raises(ValueError, match="root"):
        Rfc3161Anchor("https://tsa.test/", roots=[])


def test_rfc3161_reply_size_is_limited_while_streaming(tsa: LocalTsa) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(MAX_REPLY_BYTES // 1024 * 4):
            sent.append(1024)
            yield b"\x00" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": REPLY_TYPE})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(AnchorError, match="larger than"),
    ):
        Rfc3161Anchor("https://tsa.test/", roots=[tsa.root], client=client).submit(_checkpoint())
    assert sum(sent) <= MAX_REPLY_BYTES + 1024  # stopped at the limit, not after reading it all


@pytest.fixture
def tsa_server(tsa: LocalTsa) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = tsa.handle(body)
            self.send_response(200)
            self.send_header("Content-Type", REPLY_TYPE)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsr"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_rfc3161_over_a_real_local_server(tsa: LocalTsa, tsa_server: str) -> None:
    cp = _checkpoint(11)
    anchor = Rfc3161Anchor(tsa_server, roots=[tsa.root])
    try:
        receipt = anchor.submit(cp)
        assert anchor.verify(receipt, cp).anchored
    finally:
        anchor.close()


def test_errors_are_ledger_errors() -> None:
    assert issubclass(AnchorError, LedgerError)
    assert AnchorVerificationError("x").code == "invalidAnchor"


def test_cli_anchors_with_a_tsa_and_verify_checks_the_receipt(tsa: LocalTsa, tsa_server: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from xid.cli_ledger import ledger

    root_pem = tmp_path / "tsa-root.pem"
    root_pem.write_bytes(tsa.root.public_bytes(serialization.Encoding.PEM))
    env = {"XID_HOME": str(tmp_path / "home")}

    def run(*args: str) -> Result:
        return CliRunner().invoke(ledger, list(args), env=env)

    assert run("init").exit_code == 0
    assert run("append", "--type", "signature", "--object", digest(b"contract.pdf")).exit_code == 0
    made = run("checkpoint", "--tsa-url", tsa_server, "--tsa-root", str(root_pem))
    assert made.exit_code == 0, made.output
    checked = run("verify", "--tsa-root", str(root_pem))
    assert checked.exit_code == 0, checked.output
    assert "1 anchors" in checked.stdout
    unchecked = run("verify")
    assert unchecked.exit_code == 0
    assert "not checked" in unchecked.stdout
    stranger = tmp_path / "other-root.pem"
    stranger.write_bytes(LocalTsa.create("OTHER").root.public_bytes(serialization.Encoding.PEM))
    forged = run("verify", "--tsa-root", str(stranger))
    assert forged.exit_code == 1
    assert "badAnchor" in forged.stdout
    refused = run("checkpoint", "--tsa-root", str(root_pem))
    assert refused.exit_code == 2
    assert "--tsa-url" in refused.output
    not_pem = tmp_path / "not-a-root.pem"
    not_pem.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    bad_root = run("verify", "--tsa-root", str(not_pem))
    assert bad_root.exit_code == 2
    assert "--tsa-root" in bad_root.output
    assert "is not a readable PEM certificate" in bad_root.output
    assert "Traceback" not in bad_root.output
