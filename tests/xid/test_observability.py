"""Operations of ``xid serve``'s app: /healthz, /readyz, request ids, JSON access logs without personal data or
secrets, Prometheus metrics (in one process, and added up across ``--workers 2``)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import open_engine
from ledger.errors import LedgerError
from ledger.log import Log
from ledger.records import EventType, Record, digest
from ledger.store import Store
from tests.database import KINDS, database_url
from tests.helpers import PERSONS, AsgiClient, free_port, load_person, serve_system
from xid.cli import main
from xid.cli_serve import metrics_directory
from xid.db_migrate import SCHEMAS, upgrade
from xid.observability import (
    JsonFormatter,
    LedgerGauges,
    Metrics,
    anchor_lag,
    configure_logging,
    current_request_id,
    route_templates,
)
from xid.serve import Services, running
from xid.settings import Settings, SettingsError

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Services, Starlette]]:
    with running(Settings.from_env({"XID_HOME": str(tmp_path)}), "http://127.0.0.1:8000") as pair:
        yield pair


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log record as a JSON line in a buffer, as ``xid serve`` writes them (restored afterwards)."""
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "sqlalchemy.engine")}
    buffer = io.StringIO()
    handler = configure_logging(stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _access(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "xid.access"]


def _samples(text: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition, by ``name{labels}``."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_healthz_and_readyz(served: tuple[Services, Starlette]) -> None:
    _, app = served
    client = AsgiClient(app)
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "ledger": "ok", "keys": "ok"}}


def test_readyz_names_an_unreachable_database_without_its_path(
    served: tuple[Services, Starlette], tmp_path: Path
) -> None:
    services, app = served
    missing = tmp_path / "no-such-folder" / "x.sqlite3"
    engine, store_engine = services.issuer.engine, services.ledger.store.engine
    services.issuer.engine = open_engine(f"sqlite:///{missing}")
    try:
        answer = AsgiClient(app).get("/readyz")
        assert answer.status_code == 503
        assert answer.json() == {
            "status": "unavailable",
            "checks": {"database": "databaseUnavailable", "ledger": "ok", "keys": "ok"},
        }
        assert "no-such-folder" not in answer.text
        services.issuer.engine.dispose()
        services.issuer.engine = engine
        services.ledger.store.engine = open_engine(f"sqlite:///{missing}")
        answer = AsgiClient(app).get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["checks"] == {"database": "ok", "ledger": "storeUnavailable", "keys": "ok"}
    finally:
        services.issuer.engine.dispose()
        services.ledger.store.engine.dispose()
        services.issuer.engine, services.ledger.store.engine = engine, store_engine
    assert AsgiClient(app).get("/readyz").status_code == 200  # ready again once the database is back


class _WrongKey:
    """A signer whose signatures are not made by the key it names (a swapped or broken HSM key)."""

    def __init__(self, real: Any) -> None:
        self.real, self.other = real, SoftwareSigner.generate(KeyType.P256)
        self.algorithm, self.public_jwk, self.key_id = real.algorithm, real.public_jwk, real.key_id

    def sign(self, data: bytes) -> bytes:
        return self.other.sign(data)


def test_readyz_checks_that_each_key_signs(served: tuple[Services, Starlette]) -> None:
    services, app = served
    real = services.verifier.signer
    services.verifier.signer = _WrongKey(real)
    try:
        answer = AsgiClient(app).get("/readyz")
    finally:
        services.verifier.signer = real
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"] == checks["ledger"] == "ok"
    assert checks["keys"] != "ok"


def test_request_ids_are_echoed_or_made(served: tuple[Services, Starlette], log_lines: io.StringIO) -> None:
    _, app = served
    client = AsgiClient(app)
    given = client.get("/healthz", headers={"X-Request-Id": "trace-42.a:b"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    made = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    for hostile in ("a\nforged log line", "x" * 129, "spaces are not ids", "ü"):
        answer = client.get("/healthz", headers={"X-Request-Id": hostile.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), hostile
    ids = [line["request_id"] for line in _access(log_lines)]
    assert ids[:2] == ["trace-42.a:b", made.headers["x-request-id"]]
    assert len(ids) == 6
    assert current_request_id() is None  # reset after each request


def test_access_lines_name_the_route_template_never_the_path_or_query(
    served: tuple[Services, Starlette], log_lines: io.StringIO
) -> None:
    _, app = served
    client = AsgiClient(app)
    client.get("/verifier/v1/requests/SECRET-TRANSACTION?x=SECRET-QUERY")
    client.get("/credential-offer/SECRET-OFFER")
    client.get("/ledger/tile/0/000")
    client.post("/enroll", json={"nonce": "SECRET-NONCE"})
    client.get("/no/such/SECRET-PATH")
    text = log_lines.getvalue()
    assert "SECRET" not in text
    lines = _access(log_lines)
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/verifier/v1/requests/{id}", 401),
        ("GET", "/credential-offer/{ref}", 404),
        ("GET", "/ledger/tile/{path:path}", 404),
        ("POST", "/enroll", 400),
        ("GET", "<unmatched>", 404),
    ]
    for line in lines:
        assert set(line) == {
            "time",
            "level",
            "logger",
            "message",
            "request_id",
            "method",
            "route",
            "status",
            "duration_ms",
        }
        assert line["duration_ms"] >= 0
        datetime.fromisoformat(line["time"])


def test_route_templates_flatten_mounts() -> None:
    async def endpoint(request: object) -> None:
        raise AssertionError

    async def asgi(scope: object, receive: object, send: object) -> None:
        raise AssertionError

    inner = Starlette(routes=[Route("/tile/{path:path}", endpoint), Route("/checkpoint", endpoint)])
    routes = [Route("/a/{id}", endpoint), Mount("/ledger", app=inner), Mount("/static", app=asgi)]
    assert [template for _, template in route_templates(routes)] == [
        "/a/{id}",
        "/ledger/tile/{path:path}",
        "/ledger/checkpoint",
        "/static/{path:path}",
    ]


def test_json_formatter_carries_fields_and_exceptions() -> None:
    record = logging.LogRecord("xid.serve", logging.ERROR, __file__, 1, "failed: %s", ("code",), None)
    record.xid = {"route": "/x"}
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed: code"
    assert line["route"] == "/x"
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in line["exception"]
    assert "request_id" not in line


def test_metrics_count_requests_events_and_the_ledger(served: tuple[Services, Starlette]) -> None:
    services, app = served
    client = AsgiClient(app)
    for _ in range(3):
        client.get("/healthz")
    client.post("/enroll", json={})
    client.post("/verifier/v1/response/unknown-id", data={"vp_token": "x"})
    assert services.metrics is not None
    services.metrics.count("logins", "success")
    with pytest.raises(ValueError, match="unknown event or outcome"):
        services.metrics.count("logins", "maybe")
    with pytest.raises(ValueError, match="unknown event or outcome"):
        services.metrics.count("coffees", "success")
    services.ledger.append(Record(EventType.CONSENT, datetime.now(UTC), subject=digest(b"1")))
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    assert samples['xid_http_requests_total{method="GET",route="/healthz",status="200"}'] == 3
    assert samples['xid_http_request_duration_seconds_count{method="GET",route="/healthz"}'] == 3
    assert samples['xid_enrollments_total{outcome="refused"}'] == 1
    assert samples['xid_presentations_total{outcome="rejected"}'] == 1
    assert samples['xid_logins_total{outcome="success"}'] == 1
    assert samples["xid_ledger_entries"] == services.ledger.store.state().size >= 1
    assert "xid_ledger_anchor_lag_seconds" not in answer.text  # xid serve anchors nothing by default
    assert not any(name.endswith("_created") for name in samples)


def test_metrics_token(tmp_path: Path) -> None:
    settings = Settings.from_env({"XID_HOME": str(tmp_path), "XID_METRICS_TOKEN": "scraper-secret"})
    with running(settings, "http://127.0.0.1:8000") as (_, app):
        client = AsgiClient(app)
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer scraper-secret"}).status_code == 200
        assert client.get("/healthz").status_code == 200  # probes need no token


class _Anchor:
    """An anchor back end that works or fails on demand."""

    name = "test"

    def __init__(self) -> None:
        self.fail = False

    def submit(self, checkpoint: bytes) -> Any:
        if self.fail:
            raise LedgerError("the chain is down")
        from ledger.anchors.null import NullAnchor

        return NullAnchor().submit(checkpoint)


def test_anchor_lag(tmp_path: Path) -> None:
    store = Store(open_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    signer = SoftwareSigner.generate(KeyType.ED25519)
    plain = Log(store, signer, origin="example.jp/log")
    assert anchor_lag(plain) is None  # anchoring is off: no gauge
    anchor = _Anchor()
    log = Log(store, signer, origin="example.jp/log", anchors=[anchor])
    try:
        assert anchor_lag(log) == 0.0  # nothing to anchor yet
        log.append_many([Record(EventType.CONSENT, datetime.now(UTC), subject=digest(b"1"))])
        first = log.checkpoint()
        assert first is not None
        assert anchor_lag(log) == 0.0  # the newest checkpoint is anchored
        anchor.fail = True
        log.append_many([Record(EventType.CONSENT, datetime.now(UTC), subject=digest(b"2"))])
        second = log.checkpoint()
        assert second is not None
        assert anchor_lag(log, now=first.created_ms / 1000 + 90) == 90.0  # waiting since the last anchored one
        gauges = LedgerGauges(size=lambda: store.state().size, anchor_lag=lambda: anchor_lag(log))
        assert {m.name: m.samples[0].value for m in gauges.collect()}["xid_ledger_entries"] == 2
    finally:
        log.close()
        plain.close()
        store.engine.dispose()


def test_metrics_without_a_ledger_gauge_that_fails() -> None:
    def broken() -> int:
        raise LedgerError("the ledger database is down")

    metrics = Metrics(LedgerGauges(size=broken, anchor_lag=lambda: 2.5))
    text = metrics.exposition()[0].decode()
    assert "xid_ledger_entries" not in text  # left out, never reported wrong
    assert _samples(text)["xid_ledger_anchor_lag_seconds"] == 2.5


@pytest.mark.parametrize("kind", KINDS)
def test_ready_on_each_database(kind: str, tmp_path: Path) -> None:
    with database_url(kind, tmp_path) as url:
        env = {"XID_HOME": str(tmp_path / "home"), "XID_DATABASE_URL": url, "XID_LEDGER_DATABASE_URL": url}
        engine = open_engine(url)
        for schema in SCHEMAS.values():  # a configured database: the operator's 'xid db upgrade' first
            upgrade(engine, schema)
        engine.dispose()
        with running(Settings.from_env(env), "http://127.0.0.1:8000") as (services, app):
            client = AsgiClient(app)
            assert client.get("/readyz").json()["checks"] == {"database": "ok", "ledger": "ok", "keys": "ok"}
            services.ledger.append(Record(EventType.CONSENT, datetime.now(UTC), subject=digest(b"1")))
            assert _samples(client.get("/metrics").text)["xid_ledger_entries"] == 1


def test_log_levels(tmp_path: Path) -> None:
    assert Settings.from_env({}).log_level == "info"
    assert Settings.from_env({"XID_LOG_LEVEL": "WARNING"}).log_level == "warning"
    with pytest.raises(SettingsError, match="XID_LOG_LEVEL must be one of info, warning, error"):
        Settings.from_env({"XID_LOG_LEVEL": "debug"})
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "sqlalchemy.engine")}
    buffer = io.StringIO()
    handler = configure_logging("WARNING", stream=buffer)
    try:
        with running(Settings.from_env({"XID_HOME": str(tmp_path)}), "http://127.0.0.1:8000") as (_, app):
            AsgiClient(app).get("/healthz")
        assert _access(buffer) == []  # access lines are INFO
        logging.getLogger("xid.serve").warning("shown")
        assert json.loads(buffer.getvalue().splitlines()[-1])["message"] == "shown"
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_metrics_directory_is_fresh_and_stale_ones_go(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "metrics-999999999").mkdir(parents=True)  # a pid no process has
    alive = run / f"metrics-{os.getppid()}"  # another live xid serve on the same home keeps its own
    alive.mkdir()
    own = metrics_directory(tmp_path, os.getpid())
    (own / "counter_1.db").write_bytes(b"old")
    again = metrics_directory(tmp_path, os.getpid())
    assert again == own == run / f"metrics-{os.getpid()}"
    assert list(again.iterdir()) == []
    assert not (run / "metrics-999999999").exists()
    assert alive.exists()
    assert own.stat().st_mode & 0o777 == 0o700


# -- a whole enrollment and presentation: no personal data and no secrets in any log line -------------------------


def _xid(home: Path, *args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return result


def test_no_personal_data_or_secrets_in_the_logs(tmp_path: Path, log_lines: io.StringIO) -> None:
    home = tmp_path / "home"
    person = load_person("yamada")
    with serve_system(home) as (url, services, _):
        _xid(home, "card", "emulate", "--person", str(PERSONS / "yamada.toml"))
        _xid(home, "wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n")
        _xid(
            home, "wallet", "enroll", "--issuer", url, "--emulated", "--passphrase-stdin", "--pin-stdin",
            stdin=f"{PASSPHRASE}\nTEST1234\n",
        )  # fmt: skip
        rp = json.loads(
            _xid(home, "rp", "add", "--name", "Shop", "--redirect-uri", "https://shop.example.jp/cb", "--json").stdout
        )
        with httpx.Client(base_url=url, auth=(rp["client_id"], rp["client_secret"]), timeout=30) as api:
            created = api.post(
                "/verifier/v1/requests", json={"preset": "identity", "redirect_uri": "https://shop.example.jp/cb"}
            ).json()
            presented = _xid(
                home, "wallet", "present", created["request_url"], "--yes", "--passphrase-stdin", "--json",
                stdin=PASSPHRASE + "\n",
            )  # fmt: skip
            code = json.loads(presented.stdout)["redirect_uri"].split("#response_code=", 1)[1]
            result = api.get("/verifier/v1/results", params={"response_code": code})
            assert result.json()["result"]["credentials"][0]["claims"]["name"] == person.name
        metrics = _samples(httpx.get(url + "/metrics").text)
        ledger_size = services.ledger.store.state().size
    text = log_lines.getvalue()
    request_uri = urllib.parse.parse_qs(urllib.parse.urlsplit(created["request_url"]).query)["request_uri"][0]
    birth = person.date_of_birth[1:]
    secrets = {
        "name": person.name,
        "family name": person.name.split("\u3000")[0],
        "address": person.address,
        "birthdate": f"{birth[:4]}-{birth[4:6]}-{birth[6:]}",
        "birthdate digits": birth,
        "client secret": rp["client_secret"],
        "transaction id": created["id"],
        "request_uri": request_uri,
        "response code": code,
        "passphrase": PASSPHRASE,
        "PIN": "TEST1234",
    }
    for what, secret in secrets.items():
        assert secret not in text, f"the {what} is in the logs"
    routes = {line["route"] for line in _access(log_lines)}
    # the scan covered the whole story, not an empty log
    assert {"/enroll/challenge", "/enroll", "/token", "/credential", "/verifier/v1/response/{id}"} <= routes
    assert {"/verifier/v1/request/{id}", "/verifier/v1/results"} <= routes
    assert all("?" not in line["route"] for line in _access(log_lines))
    assert metrics['xid_enrollments_total{outcome="enrolled"}'] == 1
    assert metrics['xid_presentations_total{outcome="answered"}'] == 1
    assert metrics["xid_ledger_entries"] == ledger_size >= 2


# -- two workers: one scrape adds up every worker's counters ----------------------------------------------------


def test_two_workers_metrics_add_up(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    config = tmp_path / "xid.toml"
    config.write_text('home = "home"\n', encoding="utf-8")  # the workers read their settings from the file too
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XID_", "PROMETHEUS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "xid.cli", "serve", "--port", str(port), "--workers", "2", "--config", str(config)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "xid serve --workers 2 did not become ready"
            time.sleep(0.2)
        (directory,) = (home / "run").glob("metrics-*")
        sent = 0

        def hit(_: int) -> int:
            with httpx.Client(timeout=10) as client:  # a new connection each: the kernel spreads them
                return client.get(base + "/healthz").status_code

        with ThreadPoolExecutor(8) as pool:
            # until both workers have served (each writes its own counter file), bounded
            while len(list(directory.glob("counter_*.db"))) < 2 and sent < 2000:
                assert set(pool.map(hit, range(40))) == {200}
                sent += 40
        assert len(list(directory.glob("counter_*.db"))) == 2, "one worker served every request"
        totals = set()
        for _ in range(6):  # whichever worker answers the scrape, it reports every worker's requests
            samples = _samples(httpx.get(base + "/metrics", timeout=10).text)
            totals.add(samples['xid_http_requests_total{method="GET",route="/healthz",status="200"}'])
        assert totals == {sent}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert not (home / "run" / directory.name).exists()  # removed when xid serve stops
