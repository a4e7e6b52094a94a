"""The HTTP read API: tlog-tiles paths, cache headers, proofs and receipts, and clear 4xx for bad requests."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from did import KeyType, SoftwareSigner
from ledger import rfc9162
from ledger.http import create_app, parse_tile_request
from ledger.log import Log
from ledger.note import Ed25519NoteVerifier
from ledger.receipt import Receipt, verify_receipt
from ledger.records import EventType, Record, digest
from ledger.store import Store
from ledger.tiles import encode_entry_bundle
from tests.database import engine_for
from tests.helpers import AsgiClient

ORIGIN = "xid.test/ledger/v1"
SIZE = 300


def record(i: int) -> Record:
    return Record(EventType.CONSENT, datetime(2025, 6, 1, tzinfo=UTC), subject=digest(b"%d" % i))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AsgiClient, Log]]:
    path = tmp_path_factory.mktemp("http") / "ledger.sqlite3"
    engine = engine_for(f"sqlite:///{path}")
    try:
        store = Store(engine)
        with Log(store, SoftwareSigner.generate(KeyType.ED25519), origin=ORIGIN) as log:
            log.append_many(record(i) for i in range(SIZE))
            log.checkpoint()
            log.append_many([record(SIZE)])  # written but not yet in a checkpoint: must not be served
            yield AsgiClient(create_app(store)), log
    finally:
        engine.dispose()


def leaves() -> list[bytes]:
    return [rfc9162.leaf_hash(record(i).to_bytes()) for i in range(SIZE)]


def test_checkpoint_is_the_signed_note(served: tuple[AsgiClient, Log]) -> None:
    client, _ = served
    response = client.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "public, max-age=5"
    assert response.text.splitlines()[:2] == [ORIGIN, str(SIZE)]


def test_full_tiles_are_immutable_and_partial_tiles_short_lived(served: tuple[AsgiClient, Log]) -> None:
    client, _ = served
    hashes = leaves()
    full = client.get("/tile/0/000")
    assert full.status_code == 200
    assert full.content == b"".join(hashes[:256])
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.headers["content-type"] == "application/octet-stream"
    partial = client.get("/tile/0/001.p/44")
    assert partial.content == b"".join(hashes[256:300])
    assert partial.headers["cache-control"] == "public, max-age=60"
    assert client.get("/tile/0/001.p/10").content == b"".join(hashes[256:266])  # a prefix is still valid
    level1 = client.get("/tile/1/000.p/1")
    assert level1.content == rfc9162.root(hashes[:256])


def test_entry_bundles(served: tuple[AsgiClient, Log]) -> None:
    client, _ = served
    bundle = client.get("/tile/entries/000")
    assert bundle.content == encode_entry_bundle([record(i).to_bytes() for i in range(256)])
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    partial = client.get("/tile/entries/001.p/44")
    assert partial.content == encode_entry_bundle([record(i).to_bytes() for i in range(256, 300)])


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/tile/0/001", 404, "tile 0/1 of width 256 does not exist at tree size 300 (it has 44 hashes there)"),
        ("/tile/0/001.p/45", 404, "width 45 does not exist"),
        ("/tile/0/002.p/1", 404, "it has nothing there"),
        ("/tile/1/000", 404, "tile 1/0 of width 256"),
        ("/tile/2/000.p/1", 404, "tile 2/0"),
        ("/tile/entries/001", 404, "entry bundle 1 of width 256 does not exist at tree size 300"),
        ("/tile/entries/001.p/45", 404, "entry bundle 1 of width 45"),
        ("/tile/0/1", 400, "x###/…/###"),
        ("/tile/0/x000/001", 400, "leading zero group"),
        ("/tile/0/000.p/0", 400, "partial width must be 1..255"),
        ("/tile/0/000.p/256", 400, "partial width must be 1..255"),
        ("/tile/0/000.p/abc", 400, "partial width"),
        ("/tile/64/000", 400, "tile level must be a number 0..63"),
        ("/tile/-1/000", 400, "tile level"),
        ("/tile/00/000", 400, "tile level"),
        ("/tile/entries/", 400, "tile index"),
        ("/tile/0/000/", 400, "tile index"),
    ],
)
def test_bad_tile_paths_get_clear_errors(served: tuple[AsgiClient, Log], path: str, status: int, fragment: str) -> None:
    client, _ = served
    response = client.get(path)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == ("indexOutOfRange" if status == 404 else "badRequest")
    assert fragment in body["message"]
    assert response.headers["cache-control"] == "no-store"


def test_tile_path_parser() -> None:
    assert parse_tile_request("0/x001/x234/067") == (0, 1234067, 256)
    assert parse_tile_request("3/x001/234.p/7") == (3, 1234, 7)
    assert parse_tile_request("entries/000.p/255") == (None, 0, 255)


def test_inclusion_proof_endpoint(served: tuple[AsgiClient, Log]) -> None:
    client, _ = served
    hashes = leaves()
    body = client.get("/proof/inclusion", params={"index": 123}).json()
    assert (body["index"], body["size"]) == (123, SIZE)
    proof = [base64.b64decode(p) for p in body["proof"]]
    root = base64.b64decode(body["rootHash"])
    assert root == rfc9162.root(hashes)
    rfc9162.verify_inclusion(hashes[123], 123, SIZE, proof, root)
    older = client.get("/proof/inclusion", params={"index": 5, "size": 77}).json()
    rfc9162.verify_inclusion(hashes[5], 5, 77, [base64.b64decode(p) for p in older["proof"]], rfc9162.root(hashes[:77]))


def test_consistency_proof_endpoint(served: tuple[AsgiClient, Log]) -> None:
    client, _ = served
    hashes = leaves()
    body = client.get("/proof/consistency", params={"old": 77, "new": SIZE}).json()
    proof = [base64.b64decode(p) for p in body["proof"]]
    rfc9162.verify_consistency(77, SIZE, rfc9162.root(hashes[:77]), rfc9162.root(hashes), proof)
    assert base64.b64decode(body["oldRoot"]) == rfc9162.root(hashes[:77])


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/proof/inclusion", 400, "'index' is required"),
        ("/proof/inclusion?index=-1", 400, "decimal number"),
        ("/proof/inclusion?index=01", 400, "leading zeros"),
        ("/proof/inclusion?index=1e3", 400, "decimal number"),
        ("/proof/inclusion?index=99999999999999999999999", 400, "decimal number"),
        ("/proof/inclusion?index=300", 404, "index 300 is not in a tree of size 300"),
        ("/proof/inclusion?index=1&size=0", 400, "size must be at least 1"),
        ("/proof/inclusion?index=1&size=301", 404, "beyond the latest checkpoint (300)"),
        ("/proof/consistency?old=0&new=3", 400, "old must be at least 1"),
        ("/proof/consistency?old=5&new=3", 400, "old (5) must not exceed new (3)"),
        ("/proof/consistency?old=5&new=301", 404, "beyond the latest checkpoint"),
        ("/proof/consistency?new=5", 400, "'old' is required"),
        ("/receipt/300", 404, "entry 300 is not covered by a checkpoint yet"),
        ("/receipt/301", 404, "no entry at index 301"),
        ("/receipt/abc", 400, "decimal number"),
    ],
)
def test_bad_proof_requests_get_clear_errors(
    served: tuple[AsgiClient, Log], path: str, status: int, fragment: str
) -> None:
    client, _ = served
    response = client.get(path)
    assert response.status_code == status, response.text
    assert fragment in response.json()["message"]


def test_receipt_endpoint_verifies_offline(served: tuple[AsgiClient, Log]) -> None:
    client, log = served
    response = client.get("/receipt/42")
    assert response.status_code == 200
    receipt = Receipt.parse(response.text)
    checkpoint = verify_receipt(receipt, record(42).to_bytes(), Ed25519NoteVerifier.from_vkey(log.vkey))
    assert checkpoint.size == SIZE


def test_unknown_path_and_method() -> None:
    engine = create_engine("sqlite://")
    try:
        client = AsgiClient(create_app(Store(engine)))
        assert client.get("/nothing").status_code == 404
        assert client.post("/checkpoint").status_code == 405
    finally:
        engine.dispose()


def test_empty_database_gives_404_and_unreachable_database_503(tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        response = AsgiClient(create_app(Store(engine))).get("/checkpoint")
        assert response.status_code == 404
        assert response.json()["error"] == "notInitialized"
    finally:
        engine.dispose()
    broken = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}")
    try:
        response = AsgiClient(create_app(Store(broken))).get("/checkpoint")
        assert response.status_code == 503
        assert response.json() == {
            "error": "storeUnavailable",
            "message": "the ledger database is unavailable; try again later",
        }
    finally:
        broken.dispose()
