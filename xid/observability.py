"""What an operator watches: one JSON log line per request with a request id, and Prometheus metrics.

``Observed`` is the ASGI middleware ``xid serve`` puts around the whole app. Per request it takes the client's
``X-Request-Id`` (when it is a short token) or makes one, echoes it in the response, and logs one JSON line on the
``xid.access`` logger: method, route template, status, duration and request id. It logs the route template
(``/verifier/v1/response/{id}``), never the raw path, query string or body: paths and queries carry codes and
transaction ids, bodies carry personal data. Every other log line written while the request runs carries the same
``request_id`` (``JsonFormatter`` reads it from a context variable).

``Metrics`` holds the counters and histograms: requests by route template, method and status; latency by route;
enrollments, presentations and logins by outcome (``count``; the route table ``EVENT_ROUTES`` derives the first two
from responses, the OIDC facade calls ``count("logins", ...)``); and, read from the ledger's database at each scrape,
the ledger's size and the anchor lag. With several worker processes (``xid serve --workers N``) each worker writes
its values to files in one directory (prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``, set by
``xid serve`` before the workers start) and a scrape of any worker adds them all up.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ACCESS_LOGGER",
    "EVENTS",
    "EVENT_ROUTES",
    "MULTIPROCESS_ENV",
    "REQUEST_ID_HEADER",
    "JsonFormatter",
    "LedgerGauges",
    "Metrics",
    "Observed",
    "anchor_lag",
    "configure_logging",
    "current_request_id",
    "route_templates",
]

ACCESS_LOGGER = "xid.access"
REQUEST_ID_HEADER = "x-request-id"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's variable: a directory where every worker process writes its metric values."""

EVENTS: dict[str, tuple[str, ...]] = {
    "enrollments": ("enrolled", "refused", "error"),
    "presentations": ("answered", "rejected", "error"),
    "logins": ("success", "failure", "error"),
}
"""The counted events (``xid_<event>_total``) and their outcomes."""

EVENT_ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/enroll"): "enrollments",
    ("POST", "/verifier/v1/response/{id}"): "presentations",
}
"""Events read off a response: the route's 2xx, 4xx and 5xx are the event's first, second and third outcome (a
presentation is ``answered`` when the verifier took the wallet's response, a valid presentation or a wallet's
declared error, and ``rejected`` when it refused it)."""

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_request_id: ContextVar[str | None] = ContextVar("xid_request_id", default=None)
_access = logging.getLogger(ACCESS_LOGGER)


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and the record's ``xid`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (exception text included as ``exception``)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "xid", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode("utf-8")


_installed: list[logging.Handler] = []
_URL_LOGGERS = ("httpx", "httpcore", "sqlalchemy.engine")


def configure_logging(level: int | str = logging.INFO, stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as JSON lines; replaces the handler an earlier call installed."""
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in _URL_LOGGERS:  # whole URLs (codes and ids in paths and queries) or SQL parameters at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    _installed.append(handler)
    return handler


def route_templates(routes: Iterable[BaseRoute], prefix: str = "") -> list[tuple[re.Pattern[str], str]]:
    """Each route's path pattern and template, mounts flattened (``/ledger`` + ``/tile/{path:path}``)."""
    from starlette.routing import Mount, Route, compile_path

    found: list[tuple[re.Pattern[str], str]] = []
    for route in routes:
        if isinstance(route, Route):
            template = prefix + route.path
            found.append((compile_path(template)[0], template))
        elif isinstance(route, Mount):
            inner = route.routes
            if inner:
                found.extend(route_templates(inner, prefix + route.path))
            else:
                template = prefix + route.path + "/{path:path}"
                found.append((compile_path(template)[0], template))
    return found


class LedgerGauges:
    """Gauges read from the ledger's database at each scrape: its size, and the anchor lag when anchoring is on."""

    def __init__(self, size: Callable[[], int], anchor_lag: Callable[[], float | None]) -> None:
        self.size, self.anchor_lag = size, anchor_lag

    def collect(self) -> Iterator[Metric]:
        """The gauges (a value that cannot be read now is left out of this scrape rather than reported wrong)."""
        from prometheus_client.core import GaugeMetricFamily

        from foundation.errors import XidError

        try:
            size = self.size()
        except XidError:
            size = None
        if size is not None:
            yield GaugeMetricFamily("xid_ledger_entries", "Entries in the ledger (its tree size).", value=size)
        try:
            lag = self.anchor_lag()
        except XidError:
            lag = None
        if lag is not None:
            text = "Seconds the newest checkpoint has waited for an anchor (0 when it is anchored)."
            yield GaugeMetricFamily("xid_ledger_anchor_lag_seconds", text, value=lag)


class Metrics:
    """The metrics of one ``xid serve`` app (all its workers' when ``PROMETHEUS_MULTIPROC_DIR`` is set)."""

    def __init__(self, ledger: LedgerGauges | None = None) -> None:
        import os

        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        # the *_created series double the output and no dashboard of ours reads them
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_ENV) or None
        self._ledger = ledger
        self._registry = CollectorRegistry()
        own = None if self.multiprocess_dir else self._registry
        self.requests = Counter(
            "xid_http_requests", "HTTP requests by route template, method and status.", ["route", "method", "status"],
            registry=own,
        )  # fmt: skip
        self.latency = Histogram(
            "xid_http_request_duration_seconds", "Time to the end of the response, by route template and method.",
            ["route", "method"], buckets=_LATENCY_BUCKETS, registry=own,
        )  # fmt: skip
        self.events = {
            name: Counter(f"xid_{name}", f"{name.capitalize()} by outcome.", ["outcome"], registry=own)
            for name in EVENTS
        }
        if ledger is not None and own is not None:
            own.register(ledger)

    def count(self, event: str, outcome: str) -> None:
        """Count one event (``EVENTS``: e.g. ``count("logins", "success")``); an unknown name is a ValueError."""
        if outcome not in EVENTS.get(event, ()):
            raise ValueError(f"unknown event or outcome: {event!r} {outcome!r}")
        self.events[event].labels(outcome).inc()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request (and the event its route and status stand for)."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        event = EVENT_ROUTES.get((method, route))
        if event is not None:
            self.events[event].labels(EVENTS[event][0 if status < 400 else 1 if status < 500 else 2]).inc()

    def registry(self) -> CollectorRegistry:
        """The registry to expose: this process's, or every worker's values read from the shared directory."""
        if self.multiprocess_dir is None:
            return self._registry
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        if self._ledger is not None:
            registry.register(self._ledger)
        return registry

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry()), CONTENT_TYPE_LATEST


class Observed:
    """ASGI middleware: request ids, one JSON access-log line per request, and request metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app, self.metrics, self._routes = app, metrics, routes
        self._static: dict[str, str] | None = None
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def template(self, path: str) -> str:
        """The route template a path matches (``<unmatched>`` when none does); the table is built on first use."""
        if self._static is None:
            templates = route_templates(self._routes())
            self._patterns = [(pattern, template) for pattern, template in templates if "{" in template]
            self._static = {template: template for _, template in templates if "{" not in template}
        found = self._static.get(path)
        if found is not None:
            return found
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return "<unmatched>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, timing it, echoing its id and logging it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = self.template(scope["path"])
            self.metrics.observe(route, method, status, seconds)
            fields = {"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 3)}
            _access.info("request", extra={"xid": fields})
            _request_id.reset(token)


def anchor_lag(log: Any, now: float | None = None) -> float | None:
    """Seconds since the newest anchored checkpoint while a newer one waits (0 when the newest is anchored; None
    when the log has no anchors configured). ``log`` is a ``ledger.log.Log``."""
    from sqlalchemy import func, select

    from ledger.store import anchors_table, checkpoints_table

    if not log.anchors:
        return None
    with log.store.transaction() as txn:
        newest = txn.conn.execute(select(func.max(checkpoints_table.c.size))).scalar()
        anchored = txn.conn.execute(select(func.max(anchors_table.c.size))).scalar()
        if newest is None or (anchored is not None and anchored >= newest):
            return 0.0
        since = select(checkpoints_table.c.created_ms).order_by(checkpoints_table.c.size)
        if anchored is not None:
            since = since.where(checkpoints_table.c.size == anchored)
        created = txn.conn.execute(since.limit(1)).scalar()
    if created is None:  # the anchored checkpoint's row is gone: count from the oldest waiting one
        return 0.0
    return max(0.0, (time.time() if now is None else now) - int(created) / 1000)
