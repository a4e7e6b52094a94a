"""Faults under a running ``xid serve``: the database stopped mid-request, a worker killed mid-issuance, a full ledger.

Each test breaks something real underneath a real server process (``tests.system.servers``):

1. PostgreSQL stopped (``pg_ctl stop -m fast``) while a request waits inside its transaction: that request and every
   later one that needs the database answer 503 with a JSON ``temporarily_unavailable`` error (the OIDC facade's
   browser pages with an HTML 503 page), never a 500; once the database is back the same requests succeed from the
   same process (no restart). A login interrupted this way: test_login_faults.py.
2. ``SIGKILL`` of the worker of ``xid serve --workers 2`` whose credential transaction is open (held at a table lock
   the test owns; the worker is found by its PostgreSQL connection): nothing of that request is committed (no
   credential, no status entry, the c_nonce still unused), the supervisor replaces the worker, the wallet's retry
   with the same access token gets exactly one credential, and repeating the successful request is refused.
3. The ledger's disk full, twice. In the library: SQLite's ``max_page_count`` caps the database file, which SQLite
   reports exactly as it reports a write that failed with ENOSPC (``SQLITE_FULL``, "database or disk is full") and
   handles the same way (the statement fails and its transaction rolls back). Appends are then refused with the
   ledger's ``storeUnavailable`` error; every append acknowledged before is still there and the whole log still
   audits clean; after room is made, appends resume on the same log. Under ``xid serve``: the process runs with
   RLIMIT_FSIZE, so its SQLite ledger's writes fail in the kernel (EFBIG, as ENOSPC on a full disk) while the
   services' PostgreSQL is unaffected; signature events (the appends a person gets a receipt for) are refused with a
   prompt 503, and every receipt given out before still verifies once the server runs with room again. (A real full
   filesystem would need a mount, which needs privileges the tests do not assume.)
"""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, event, text

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import sqlite_engine
from tests.helpers import PERSONS
from tests.system.servers import (
    ADMIN_TOKEN,
    Deployment,
    PostgresCluster,
    XidServer,
    assert_unavailable,
    backend_gone,
    hold_lock,
    lock_waiter,
    process_of_backend,
    wait_until,
)
from xid.cli import main

PASSPHRASE = "correct horse battery staple"


# -- 1. the database stopped during a request -----------------------------------------------------------------------


def _probes(rp: tuple[str, str]) -> list[tuple[str, str, dict[str, Any], int]]:
    """Requests of every service that need the database: (method, path, httpx arguments, status when it is up)."""
    holder = SoftwareSigner.generate(KeyType.P256).public_jwk
    pre_auth = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return [
        ("POST", "/nonce", {}, 200),
        ("POST", "/enroll/challenge", {"json": {"holder_jwk": holder}}, 201),
        ("POST", "/token", {"data": {"grant_type": pre_auth, "pre-authorized_code": "x" * 43, "tx_code": "1"}}, 400),
        ("GET", "/credential-offer/" + "A" * 43, {}, 404),
        ("POST", "/credential", {"headers": {"Authorization": "Bearer " + "A" * 43}, "json": {}}, 401),
        ("POST", "/notification", {"headers": {"Authorization": "Bearer " + "A" * 43}, "json": {}}, 401),
        ("GET", "/status/token/" + "A" * 22, {}, 404),
        ("GET", "/ca/crl", {}, 200),
        ("GET", "/admin/credentials", {"headers": admin, "params": {"person": "p"}}, 200),
        ("GET", "/verifier/v1/requests/" + "A" * 32, {"auth": rp}, 404),
        ("POST", "/verifier/v1/requests", {"auth": rp, "json": {"preset": "age_over_20"}}, 201),
        ("GET", "/verifier/v1/results", {"auth": rp, "params": {"response_code": "A" * 43}}, 404),
        ("GET", "/verifier/v1/request/" + "A" * 32, {}, 404),
        ("POST", "/verifier/v1/response/" + "A" * 32, {"data": {"vp_token": "{}", "state": "x"}}, 400),
        ("GET", "/ledger/checkpoint", {}, 200),
        # the OIDC facade's JSON endpoints
        ("POST", "/token", {"auth": rp, "data": {"grant_type": "authorization_code", "code": "x" * 43}}, 400),
        ("GET", "/userinfo", {"headers": {"Authorization": "Bearer " + "A" * 43}}, 401),
        ("GET", "/oidc/login/" + "A" * 32 + "/status", {}, 404),
        ("POST", "/oidc/session", {}, 201),
        ("GET", "/oidc/receipt", {"headers": {"Authorization": "Bearer " + "A" * 43}}, 401),
    ]


def _page_probes(rp: tuple[str, str]) -> list[tuple[str, str, dict[str, Any], int]]:
    """The OIDC facade's pages a browser opens that need the database (an HTML 503 while it is down)."""
    authorize = {
        "response_type": "code",
        "client_id": rp[0],
        "redirect_uri": "https://shop.example.jp/cb",
        "scope": "openid",
        "nonce": "n" * 22,
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
    }
    return [
        ("GET", "/authorize", {"params": authorize}, 303),
        ("GET", "/oidc/login/" + "A" * 32, {}, 404),
    ]


def test_database_stopped_during_a_request_answers_503_and_recovers_without_a_restart(deployment: Deployment) -> None:
    added = deployment.xid("rp", "add", "--name", "Shop", "--redirect-uri", "https://shop.example.jp/cb", "--json")
    assert added.exit_code == 0, added.output
    rp = (json.loads(added.stdout)["client_id"], json.loads(added.stdout)["client_secret"])
    appended = deployment.xid("ledger", "append", "--type", "enrollment", "--subject", "a" * 64, "--checkpoint")
    assert appended.exit_code == 0, appended.output  # so /ledger/checkpoint has a checkpoint to serve
    server = deployment.server
    probes = _probes(rp)
    pages = _page_probes(rp)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for method, path, arguments, up in probes + pages:
            answer = http.request(method, path, **arguments)
            assert answer.status_code == up, (method, path, answer.text)

        with hold_lock(deployment.cluster.url, "issuer_oid4vci_nonces"), ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.post, f"{server.url}/nonce", timeout=60)
            # the request is inside its transaction (its first statement sweeps expired nonces, and waits)
            lock_waiter(deployment.cluster.url, "DELETE FROM issuer_oid4vci_nonces")
            deployment.cluster.stop()
            answer = in_flight.result(timeout=60)
        assert_unavailable(answer, "POST /nonce (in flight)")

        for method, path, arguments, _ in probes:
            assert_unavailable(http.request(method, path, **arguments), f"{method} {path}")
        for method, path, arguments, _ in pages:
            assert_unavailable(http.request(method, path, **arguments), f"{method} {path}", page=True)
        assert server.running, server.tail()

        deployment.cluster.start()
        for method, path, arguments, up in probes + pages:
            answer = http.request(method, path, **arguments)
            assert answer.status_code == up, (method, path, answer.text, server.tail())
    assert server.running  # the same process recovered: it was never restarted
    assert "Traceback" not in server.tail()


# -- 2. a worker killed in the middle of an issuance ----------------------------------------------------------------

CONFIGURATION = "xid_identity_sd_jwt"


def _issuance_state(deployment: Deployment) -> dict[str, int]:
    """What an issuance writes: credentials, status entries, credential responses, and the live c_nonces."""
    return {
        "credentials": deployment.count(
            "SELECT count(*) FROM issuer_credentials WHERE configuration_id = :c", c=CONFIGURATION
        ),
        "status_entries": deployment.count("SELECT count(*) FROM issuer_status_entries"),
        "responses": deployment.count("SELECT count(*) FROM issuer_oid4vci_notifications"),
        "nonces": deployment.count("SELECT count(*) FROM issuer_oid4vci_nonces"),
    }


@pytest.mark.parametrize("deployment", [2], indirect=True)  # xid serve --workers 2: the supervisor stays
def test_a_worker_killed_mid_issuance_issues_nothing_twice_and_loses_nothing(deployment: Deployment) -> None:
    from wallet.errors import IssuerUnreachableError
    from wallet.http import WalletHttp
    from wallet.oid4vci import Oid4vciClient, parse_offer

    server = deployment.server
    assert deployment.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    offered = deployment.xid(
        "wallet", "enroll", "--issuer", server.url, "--emulated", "--offer-only", "--pin-stdin",
        "--passphrase-stdin", "--json", stdin="\nTEST1234\n",
    )  # fmt: skip
    assert offered.exit_code == 0, offered.output
    offer_json = json.loads(offered.stdout)
    http = WalletHttp(timeout=60)
    wallet = Oid4vciClient(http, SoftwareSigner.generate(KeyType.P256))
    offer = parse_offer(offer_json["offer"], http)
    metadata = wallet.metadata(offer.credential_issuer)
    access_token = wallet.token(metadata, offer, offer_json["tx_code"])
    before = _issuance_state(deployment)
    workers = server.worker_pids()
    assert len(workers) == 2, workers

    # The credential transaction signs the credential, allocates its status entry and stores it, then records the
    # credential response; the test holds that last table, so the server is killed with everything else written
    # but nothing committed.
    with hold_lock(deployment.cluster.url, "issuer_oid4vci_notifications"), ThreadPoolExecutor(1) as pool:
        request = pool.submit(wallet.request_credential, metadata, access_token, CONFIGURATION)
        backend = lock_waiter(deployment.cluster.url, "INSERT INTO issuer_oid4vci_notifications")
        victim = process_of_backend(deployment.cluster.url, backend, workers)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(IssuerUnreachableError):
            request.result(timeout=60)
    backend_gone(deployment.cluster.url, backend)
    after_kill = _issuance_state(deployment)
    assert after_kill["credentials"] == before["credentials"]
    assert after_kill["status_entries"] == before["status_entries"]
    assert after_kill["responses"] == before["responses"]
    assert after_kill["nonces"] == before["nonces"] + 1  # the killed request's c_nonce was not used up

    # The supervisor replaces the killed worker (nobody restarts anything); the wallet retries its access token.
    wait_until(lambda: len(server.worker_pids() - {victim}) == 2, "the supervisor to replace the killed worker")
    assert server.running, server.tail()
    received = wallet.request_credential(metadata, access_token, CONFIGURATION)
    assert received.configuration_id == CONFIGURATION
    assert received.notification_id is not None
    retried = _issuance_state(deployment)
    assert retried["credentials"] == before["credentials"] + 1
    assert retried["responses"] == before["responses"] + 1
    statuses = json.loads(
        _scalar(deployment, "SELECT status_entries FROM issuer_credentials WHERE configuration_id = :c", CONFIGURATION)
    )
    assert retried["status_entries"] == before["status_entries"] + len(statuses) > before["status_entries"]

    # The same credential request again (same proof, so the same c_nonce) is refused: nothing is issued twice.
    nonce = wallet.nonce(metadata)
    proof = wallet.proof(metadata, metadata.configurations[CONFIGURATION], nonce)
    body = {"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}}
    headers = {"Authorization": f"Bearer {access_token}"}
    first = httpx.post(metadata.credential_endpoint, json=body, headers=headers, timeout=60)
    assert first.status_code == 200, first.text
    again = httpx.post(metadata.credential_endpoint, json=body, headers=headers, timeout=60)
    assert again.status_code == 400, "the same credential request was answered twice"
    assert again.json()["error"] == "invalid_nonce"
    final = _issuance_state(deployment)
    assert final["credentials"] == retried["credentials"] + 1  # the first of the two, not the second
    assert final["responses"] == retried["responses"] + 1


def _scalar(deployment: Deployment, sql: str, configuration: str) -> str:
    engine = create_engine(deployment.cluster.url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text(sql), {"c": configuration}).scalars().first())
    finally:
        engine.dispose()


# -- 3. the ledger's disk full --------------------------------------------------------------------------------------


def _capped_engine(path: Path, cap: list[int]) -> Engine:
    """A SQLite engine whose database file may grow to ``cap[0]`` pages (read at every checkout: the disk's size)."""
    engine = sqlite_engine(path)

    def limit(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA max_page_count = {int(cap[0])}")
        finally:
            cursor.close()

    event.listen(engine, "checkout", limit)
    return engine


def test_a_full_ledger_disk_refuses_appends_and_keeps_every_acknowledged_entry(tmp_path: Path) -> None:
    from ledger.audit import audit
    from ledger.log import Log
    from ledger.records import EventType, Record, commitment
    from ledger.store import Store, StoreUnavailableError

    cap = [1_000_000]
    engine = _capped_engine(tmp_path / "ledger.sqlite3", cap)
    signer = SoftwareSigner.generate(KeyType.ED25519)
    key = b"k" * 32
    now = datetime.now(UTC).replace(microsecond=0)

    def record(n: int) -> Record:
        return Record(type=EventType.ENROLLMENT, time=now, subject=commitment(key, f"person-{n}"))

    log = Log(Store(engine), signer, origin="xid.test/fault", checkpoint_interval=0.0)
    try:
        log.append_many(record(n) for n in range(10))
        log.checkpoint()
        with engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        cap[0] = pages + 4  # the disk has room for a few more pages only

        acknowledged: dict[int, bytes] = {}
        refused: StoreUnavailableError | None = None
        for n in range(10, 5_000):
            try:
                pending = log.append(record(n))
            except StoreUnavailableError as error:
                refused = error
                break
            acknowledged[pending.index] = pending.entry
        assert refused is not None, "the capped database never filled up"
        assert acknowledged, "the disk filled before a single append: the cap left no room at all"
        assert refused.code == "storeUnavailable"
        assert "full" in refused.message
        for n in range(3):  # still full: every further append is refused, none half-done
            with pytest.raises(StoreUnavailableError):
                log.append(record(10_000 + n))

        size = 10 + len(acknowledged)
        assert log.store.state().size == size  # exactly the acknowledged appends, no gap, no extra
        with log.store.transaction() as txn:
            for index, entry in acknowledged.items():
                assert txn.entry(index)[0] == entry

        cap[0] = 1_000_000  # room made on the disk: the same log goes on, and the whole of it audits clean
        more = log.append(record(20_000))
        assert more.index == size
        log.checkpoint()  # the writer thread may have signed it already
        latest = log.store.latest_checkpoint()
        assert latest is not None
        assert latest.size == size + 1
        report = audit(log.store, log.verifier)
        assert report.ok, report.findings
        assert report.size == size + 1
    finally:
        log.close()
        engine.dispose()


def test_a_checkpoint_that_fails_for_lack_of_room_is_reported_to_the_waiting_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append can commit and its checkpoint then fail (the last pages went to the entry): the caller waiting for
    its receipt gets the store's error, not a wait until its timeout."""
    from ledger.log import Log
    from ledger.records import EventType, Record, commitment
    from ledger.store import Store, StoreUnavailableError, Txn

    engine = sqlite_engine(tmp_path / "ledger.sqlite3")
    signer = SoftwareSigner.generate(KeyType.ED25519)
    log = Log(Store(engine), signer, origin="xid.test/fault", checkpoint_interval=0.05)

    def full(self: Txn, checkpoint: object) -> None:
        raise StoreUnavailableError("the ledger database is unavailable: database or disk is full")

    monkeypatch.setattr(Txn, "add_checkpoint", full)
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        pending = log.append(Record(type=EventType.SIGNATURE, time=now, subject=commitment(b"k" * 32, "x")))
        with pytest.raises(StoreUnavailableError, match="full"):
            pending.wait_included(timeout=20)
    finally:
        monkeypatch.undo()
        log.close()
        engine.dispose()


def test_a_full_ledger_disk_under_xid_serve_refuses_signature_events_and_keeps_every_receipt(
    tmp_path: Path, cluster: PostgresCluster
) -> None:
    """The same on a real filesystem write error: ``xid serve`` with its SQLite ledger under RLIMIT_FSIZE.

    A write that would grow a file past the limit fails with EFBIG, as one on a full disk fails with ENOSPC: the
    ledger's write transaction fails and rolls back. The services' database is PostgreSQL (another process, not
    limited), so only the ledger store runs out of room. Signature events are the appends a person gets a receipt
    for: each one acknowledged before the disk filled must still verify afterwards.
    """
    home = tmp_path / "home"
    env = {"XID_DATABASE_URL": cluster.url}
    first = XidServer("setup", home, env).start()  # keys, secrets and the ledger created without a limit
    deployment = Deployment(cluster, first)
    deployment_env = {"XID_HOME": str(home), "XID_DATABASE_URL": cluster.url}
    try:
        assert deployment.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
        assert deployment.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
        enrolled = deployment.xid(
            "wallet", "enroll", "--issuer", first.url, "--emulated", "--passphrase-stdin", "--pin-stdin",
            stdin=f"{PASSPHRASE}\nTEST1234\n",
        )  # fmt: skip
        assert enrolled.exit_code == 0, enrolled.output
    finally:
        first.stop()
    ledger_file = home / "ledger.sqlite3"
    room = 96 * 1024  # what is left on the "disk" for the ledger's write-ahead log
    full = XidServer("full", home, env, port=first.port, file_size_limit=ledger_file.stat().st_size + room).start()

    def sign(n: int) -> Result:
        document = tmp_path / f"note-{n}.txt"
        document.write_text(f"note {n}\n")
        return CliRunner().invoke(
            main, ["wallet", "sign", str(document), "--issuer", full.url, "--passphrase-stdin", "--json"],
            input=PASSPHRASE + "\n", env=deployment_env,
        )  # fmt: skip

    acknowledged: list[tuple[Path, int]] = []
    refused: Result | None = None
    try:
        for n in range(60):
            result = sign(n)
            if result.exit_code != 0:
                refused = result
                break
            report = json.loads(result.stdout)
            acknowledged.append((tmp_path / f"note-{n}.txt", report["ledger_index"]))
        assert refused is not None, "the ledger never ran out of room"
        assert acknowledged, "the ledger had no room for a single signature event"
        assert "the ledger did not record the event" in refused.output, refused.output  # a prompt 503, no timeout
        assert not (tmp_path / f"note-{len(acknowledged)}.txt.jws").exists()  # nothing written for a refused event
        assert full.running, full.tail()
        assert sign(100).exit_code != 0  # still full: refused again
    finally:
        full.stop()

    # Room made (no limit): the same home and ledger serve again; every receipt given out still verifies.
    again = XidServer("again", home, env, port=first.port).start()
    try:
        latest = sign(200)
        assert latest.exit_code == 0, (latest.output, again.tail())
        # A refused event may have been appended before its checkpoint failed (the person got no receipt for it);
        # every acknowledged one is there, and the log goes on after them.
        assert json.loads(latest.stdout)["ledger_index"] > acknowledged[-1][1]
        audited = CliRunner().invoke(main, ["ledger", "verify", "--json"], env=deployment_env)
        assert audited.exit_code == 0, audited.output
        assert json.loads(audited.stdout)["ok"] is True
        for document, _ in acknowledged:
            verified = CliRunner().invoke(
                main, ["verify-signature", str(document), "--issuer", again.url, "--json"], env=deployment_env
            )
            assert verified.exit_code == 0, (document.name, verified.output)
    finally:
        again.stop()
