"""Real ``xid serve`` processes for system tests: the servers, a load balancer in front, and a PostgreSQL to break.

- ``XidServer``: ``xid serve --port P`` as a subprocess with its own environment; ``start``, ``kill`` (SIGKILL),
  ``stop``; its output goes to a log file the failure messages quote.
- ``LoadBalancer``: an ASGI reverse proxy on 127.0.0.1 (run it with ``tests.helpers.serve``) that sends each request
  to the backend its ``route`` picks (default: alternately), records every exchange, and can ``replay`` one to
  another backend. With ``XID_PUBLIC_URL`` set to its URL, the backends are one issuer, as behind a real balancer.
- ``PostgresCluster``: a throwaway PostgreSQL cluster of the test's own (``scripts/postgres-test.sh``) that the test
  may ``stop`` and ``start`` again without disturbing the suite's shared database.
- ``Deployment``: one ``XidServer`` on a ``PostgresCluster`` (fixtures ``cluster`` and ``deployment`` in this
  folder's conftest.py), with the CLI and SQL counts on the same databases; ``assert_unavailable`` checks a 503.
- ``hold_lock`` / ``lock_waiter``: hold a table lock from the test and find the server's statement waiting on it,
  the deterministic "in the middle of a request" point for killing a server or stopping the database.

The OIDC facade's fault case (database stopped during a login) reuses all of these.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result
from sqlalchemy import Connection, create_engine, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.helpers import free_port
from xid.cli import main

__all__ = [
    "ADMIN_TOKEN",
    "Deployment",
    "Exchange",
    "LoadBalancer",
    "PostgresCluster",
    "XidServer",
    "assert_unavailable",
    "backend_gone",
    "hold_lock",
    "lock_waiter",
    "postgres_bindir",
    "process_of_backend",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "admin-" + "t" * 40
"""The admin API token a ``deployment`` server is given."""
XID = Path(sys.executable).parent / "xid"
_HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding", "content-encoding"}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class XidServer:
    """One ``xid serve`` process (one worker) on 127.0.0.1."""

    name: str
    home: Path
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    workers: int = 1
    file_size_limit: int | None = None
    """RLIMIT_FSIZE for the process: a write that would grow any file past it fails (EFBIG), as on a full disk."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's own loopback URL (not the public URL a balancer in front of it may have)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The file the process writes its output to."""
        return self.home.parent / f"serve-{self.name}.log"

    def tail(self) -> str:
        """The end of the server's output, for failure messages."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no output)"

    def start(self, timeout: float = 120.0) -> XidServer:
        """Start the process and wait until it answers its issuer metadata."""
        env = {**os.environ, "XID_HOME": str(self.home), **self.env}
        if env.get("XID_DATABASE_URL") or env.get("XID_LEDGER_DATABASE_URL"):
            # a configured database is never migrated by xid serve: the operator's step first (idempotent)
            upgraded = subprocess.run([str(XID), "db", "upgrade"], env=env, capture_output=True, text=True, check=False)
            if upgraded.returncode != 0:
                raise AssertionError(f"xid db upgrade for {self.name} failed: {upgraded.stderr[-2000:]}")
        command = [str(XID), "serve", "--port", str(self.port), "--workers", str(self.workers)]
        if self.file_size_limit is not None:  # set the limit in the process itself, then become xid serve
            limit = int(self.file_size_limit)
            setup = f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}));"
            command = [sys.executable, "-c", setup + " os.execv(sys.argv[1], sys.argv[1:])", *command]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"xid serve {self.name} exited {self.process.returncode}:\n{self.tail()}")
            try:
                return httpx.get(f"{self.url}/.well-known/openid-credential-issuer", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, f"xid serve {self.name} to answer", timeout)
        return self

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def worker_pids(self) -> set[int]:
        """The worker processes of a ``--workers N`` server (the children of the supervisor that serve)."""
        assert self.process is not None
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # the field after the parenthesised command name is the state, then the parent's pid
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    children.add(int(stat.parent.name))
        return {pid for pid in children if _listens(pid, self.port)}

    def kill(self) -> None:
        """SIGKILL the process (no shutdown, no cleanup: a crashed worker) and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the process gracefully (SIGTERM), killing it if it does not exit in time."""
        if not self.running:
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def _socket_inodes(predicate: Callable[[int, int, str], bool]) -> set[str]:
    """Inodes of the TCP sockets whose (local port, remote port, state) the predicate accepts (/proc/net/tcp*)."""
    inodes = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            if predicate(local, remote, fields[3]):
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def _holds(pid: int, inodes: set[str]) -> bool:
    """Whether a process has one of the sockets open."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd) in inodes:
                return True
    return False


def _listens(pid: int, port: int) -> bool:
    """Whether a process holds the listening socket of a port (state 0A is LISTEN)."""
    with contextlib.suppress(OSError):
        return _holds(pid, _socket_inodes(lambda local, _, state: local == port and state == "0A"))
    return False


def process_of_backend(url: str, backend: int, candidates: set[int]) -> int:
    """Which of the candidate processes is the client of a PostgreSQL backend (by the connection's port)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            port = conn.execute(text("SELECT client_port FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend})
            client_port = int(port.scalar_one())
    finally:
        engine.dispose()
    inodes = _socket_inodes(lambda local, _, state: local == client_port and state == "01")  # 01 is ESTABLISHED
    found = [pid for pid in candidates if _holds(pid, inodes)]
    assert len(found) == 1, f"no single process holds the connection of backend {backend}: {found}"
    return found[0]


@dataclass
class Exchange:
    """One request the balancer forwarded, and the answer."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    backend: int
    status: int
    answer: bytes


class LoadBalancer:
    """An ASGI reverse proxy over ``backends``; ``route(method, path)`` picks one (default: alternately)."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.route: Callable[[str, str], int] | None = None
        self.exchanges: list[Exchange] = []
        self._turn = 0

    def pick(self, method: str, path: str) -> int:
        """The index of the backend for a request."""
        if self.route is not None:
            return self.route(method, path)
        self._turn = (self._turn + 1) % len(self.backends)
        return self._turn

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan is off, no websockets
            return
        request = Request(scope, receive)
        body = await request.body()
        method, path, query = request.method, request.url.path, request.url.query
        backend = self.pick(method, path)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = f"{self.backends[backend]}{path}" + (f"?{query}" if query else "")
        try:
            async with httpx.AsyncClient(timeout=120) as client:
                upstream = await client.request(method, target, content=body, headers=headers)
        except httpx.TransportError as error:
            self.exchanges.append(Exchange(method, path, query, headers, body, backend, 502, b""))
            answer: Response = JSONResponse({"error": "bad_gateway", "error_description": str(error)}, 502)
            await answer(scope, receive, send)
            return
        self.exchanges.append(
            Exchange(method, path, query, headers, body, backend, upstream.status_code, upstream.content)
        )
        kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        await Response(upstream.content, upstream.status_code, kept)(scope, receive, send)

    def find(self, method: str, path_prefix: str) -> list[Exchange]:
        """The recorded exchanges of one method whose path starts with ``path_prefix``."""
        return [e for e in self.exchanges if e.method == method and e.path.startswith(path_prefix)]

    def replay(self, exchange: Exchange, backend: int) -> httpx.Response:
        """Send a recorded request again, byte for byte, straight to one backend."""
        target = f"{self.backends[backend]}{exchange.path}" + (f"?{exchange.query}" if exchange.query else "")
        return httpx.request(exchange.method, target, content=exchange.body, headers=exchange.headers, timeout=60)


def postgres_bindir() -> Path | None:
    """The PostgreSQL server binaries' directory (Debian's ``postgresql``), or None when it is not installed."""
    candidates = []
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(done.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    return next((c for c in candidates if (c / "initdb").exists() and (c / "pg_ctl").exists()), None)


def _as_postgres(command: list[str]) -> list[str]:
    """The server refuses to run as root: as root, run its tools as the postgres system user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresCluster:
    """A PostgreSQL cluster of one test's own, in a fresh directory on a free port, that the test can stop."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="xid-pg-fault-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.url = ""

    def start(self) -> str:
        """Create (first time) and start the cluster; returns its database URL."""
        env = {**os.environ, "XID_PG_DIR": str(self.dir), "XID_PG_PORT": str(self.port), "XID_PG_DB": "xid_fault"}
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres-test.sh")], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"PostgreSQL did not start: {done.stderr.strip()}")
        self.url = done.stdout.strip()
        return self.url

    def _pg_ctl(self, *args: str) -> None:
        bindir = postgres_bindir()
        assert bindir is not None
        command = _as_postgres([str(bindir / "pg_ctl"), "-D", str(self.dir / "data"), *args])
        subprocess.run(command, capture_output=True, check=False, timeout=120)

    def stop(self) -> None:
        """Stop the server now: open transactions are rolled back and every client is disconnected."""
        self._pg_ctl("stop", "-m", "fast", "-w")

    def destroy(self) -> None:
        """Stop the server and delete the cluster."""
        self._pg_ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def hold_lock(url: str, table: str) -> Iterator[Connection]:
    """Hold an EXCLUSIVE lock on a table (reads pass, writes wait) until the block ends; then roll back."""
    engine = create_engine(url)
    try:
        conn = engine.connect()
        try:
            conn.begin()
            conn.execute(text(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE'))
            yield conn
        finally:
            with contextlib.suppress(Exception):  # the database may have been stopped under the lock on purpose
                conn.rollback()
                conn.close()
    finally:
        engine.dispose()


def lock_waiter(url: str, statement: str, timeout: float = 60.0) -> int:
    """Wait until a server statement starting with ``statement`` waits for a lock; return that backend's pid."""
    engine = create_engine(url)
    found: list[int] = []

    def waiting() -> bool:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE :pattern"),
                {"pattern": statement.replace("%", "") + "%"},
            ).all()
        found[:] = [row[0] for row in rows]
        return bool(found)

    try:
        wait_until(waiting, f"a statement {statement!r} to wait for the test's lock", timeout)
    finally:
        engine.dispose()
    assert len(found) == 1, f"several statements {statement!r} wait for the lock: {found}"
    return found[0]


def backend_gone(url: str, pid: int, timeout: float = 60.0) -> None:
    """Wait until a PostgreSQL backend has ended (its client is gone and its transaction rolled back)."""
    engine = create_engine(url)

    def gone() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar() == 0
            )

    try:
        wait_until(gone, f"PostgreSQL backend {pid} to end", timeout)
    finally:
        engine.dispose()


@dataclass
class Deployment:
    """One ``xid serve`` on the test's own PostgreSQL (services and ledger), and its home."""

    cluster: PostgresCluster
    server: XidServer

    @property
    def env(self) -> dict[str, str]:
        """The settings the server and the CLI share."""
        return {"XID_DATABASE_URL": self.cluster.url, "XID_LEDGER_DATABASE_URL": self.cluster.url}

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` (in-process) with the server's home and databases."""
        env = {"XID_HOME": str(self.server.home), **self.env}
        return CliRunner().invoke(main, list(args), input=stdin, env=env)

    def count(self, sql: str, **params: Any) -> int:
        """One number from the database."""
        engine = create_engine(self.cluster.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(sql), params).scalar_one())
        finally:
            engine.dispose()


def assert_unavailable(answer: httpx.Response, what: str, *, page: bool = False) -> None:
    """Check a 503 answer: JSON (the unavailable error code, a description that says so) or, with ``page`` (a page
    a person sees), an HTML page that says so and when to retry; never SQL or a traceback."""
    assert answer.status_code == 503, (what, answer.status_code, answer.text)
    assert "SELECT" not in answer.text
    assert "INSERT" not in answer.text
    assert "UPDATE" not in answer.text
    assert "Traceback" not in answer.text
    if page:
        assert answer.headers["content-type"].startswith("text/html"), (what, answer.headers["content-type"])
        assert "temporarily unavailable" in answer.text, (what, answer.text)
        assert answer.headers.get("retry-after"), what
        return
    assert answer.headers["content-type"].startswith("application/json"), what
    body = answer.json()
    assert body["error"] in ("temporarily_unavailable", "storeUnavailable"), (what, body)
    description = body.get("error_description") or body.get("message", "")
    assert "unavailable" in description, (what, body)
