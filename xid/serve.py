"""The composition root of ``xid serve``: settings → keys, database, trust, ledger → one ASGI app for every service.

On the embedded default it needs nothing: the services' SQLite database and the ledger's under ``$XID_HOME``,
software keys created on first run under ``$XID_HOME/keys`` (concurrent workers agree: a key file is created once
and never replaced), operator secrets under ``$XID_HOME/secrets``, and the emulated card's TEST CA trusted, its
revocation answered in-process. With ``XID_JPKI_ROOTS`` set it is a production configuration: pinned J-LIS roots,
revocation by OCSP or CRL over the network, and nothing created silently except what the operator asked for.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from foundation.errors import XidError
from xid.settings import Settings, SettingsError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import Route

    from did import Did, DidDocument
    from did.resolver import MethodResolver
    from did.signer import Signer, SoftwareSigner
    from issuer.context import IssuerContext, OperatorSecrets
    from issuer.oid4vci import GrantHandler
    from jpki_bridge.revocation import RevocationProvider
    from jpki_bridge.trust import TrustAnchors
    from ledger.log import Log
    from oidc.app import OidcParts
    from verifier.context import VerifierContext
    from xid.observability import Metrics

__all__ = [
    "BASE_URL_ENV",
    "Services",
    "app_factory",
    "base_url_for",
    "build_services",
    "create_app",
    "issuer_did",
    "ops_routes",
    "readiness_checks",
    "running",
]

_log = logging.getLogger("xid.serve")

BASE_URL_ENV = "XID_SERVE_BASE_URL"
"""Environment variable through which ``xid serve`` hands the base URL to its worker processes."""

_ISSUER_KEYS = {"es256": "P-256", "ed25519": "Ed25519", "ca": "P-256"}
_VC_API_KEYS = {"ed25519": "Ed25519", "p256": "P-256", "p384": "P-384"}


def base_url_for(host: str, port: int, public_url: str | None) -> str:
    """The issuer identifier: the public URL when set, else ``http://host:port`` (loopback only, development)."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise SettingsError("XID_PUBLIC_URL must be an https URL without query or fragment")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SettingsError("XID_PUBLIC_URL must use https (plain http only for a loopback address)")
        return public_url.rstrip("/")
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard address, not binding to it
        raise SettingsError("listening on all interfaces needs --public-url (the URL clients reach this server at)")
    return f"http://{shown}:{port}"


def issuer_did(base_url: str) -> str:
    """The did:web that matches a base URL (host, port and path)."""
    from did import web_did

    parts = urlsplit(base_url)
    path = [segment for segment in parts.path.split("/") if segment]
    assert parts.hostname is not None
    return web_did(parts.hostname, parts.port, path)


def _software_key(path: Path, key_type: str) -> SoftwareSigner:
    """The key in a file, created (once, even with concurrent workers) when missing."""
    from did.keys import KeyType
    from did.signer import SoftwareSigner
    from xid.files import OutputExistsError, load_signer, save_signer

    if not path.exists():
        with suppress(OutputExistsError):  # another worker created it first: use theirs
            save_signer(SoftwareSigner.generate(KeyType(key_type)), path, parents=True)
    signer = load_signer(path, str(path))
    if signer.public_key.key_type.value != key_type:
        raise SettingsError(f"{path} holds a {signer.public_key.key_type.value} key; xid needs a {key_type} key there")
    return signer


def _signer(settings: Settings, name: str, key_type: str) -> Signer:
    """An issuer key: on the PKCS#11 token (label ``xid-<name>``) when configured, else a software key file."""
    if settings.pkcs11_module:
        from did.pkcs11 import Pkcs11Signer

        if not settings.pkcs11_token or settings.pkcs11_pin is None:
            raise SettingsError("XID_PKCS11_MODULE needs XID_PKCS11_TOKEN and XID_PKCS11_PIN")
        return Pkcs11Signer.open(settings.pkcs11_module, settings.pkcs11_token, settings.pkcs11_pin, f"xid-{name}")
    return _software_key(settings.keys_dir / f"{name}.jwk", key_type)


def _operator_secrets(settings: Settings) -> OperatorSecrets:
    """The operator secrets: read from their file; generated into it on first run only in development."""
    from issuer.context import OperatorSecrets
    from xid.files import OutputExistsError, write_file

    path = settings.operator_secrets
    if not path.exists():
        if not settings.development:
            raise SettingsError(f"no operator secrets at {path}: create them with 'xid issuer secrets {path}'")
        with suppress(OutputExistsError):  # another worker wrote them first: use theirs
            document = json.dumps(OperatorSecrets.generate().to_json(), indent=2) + "\n"
            write_file(path, document, secret=True, overwrite=False, parents=True)
    try:
        return OperatorSecrets.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        raise SettingsError(f"the operator secrets file {path} is unreadable or incomplete: {error}") from None


def _trust(settings: Settings) -> tuple[TrustAnchors, RevocationProvider]:
    """The JPKI trust anchors and revocation provider the settings ask for."""
    from jpki_bridge.revocation import CrlProvider, OcspProvider, UncheckedProvider
    from jpki_bridge.trust import TrustAnchors

    if settings.jpki_roots is not None:
        files = sorted(p for p in settings.jpki_roots.iterdir() if p.suffix.lower() in (".cer", ".crt", ".pem", ".der"))
        if not files:
            raise SettingsError(f"XID_JPKI_ROOTS={settings.jpki_roots} holds no certificate files")
        anchors = TrustAnchors.from_jlis_files(files)
        if settings.revocation == "none":
            raise SettingsError("XID_REVOCATION=none is refused outside development (it would skip revocation)")
        return anchors, OcspProvider() if settings.revocation == "ocsp" else CrlProvider()
    from jpki_bridge.testca import TestCA

    ca_dir = settings.test_ca_dir
    if not (ca_dir / "testca.json").exists():
        TestCA.create().save(ca_dir)  # the card emulator will issue TEST cards from this CA
    ca = TestCA.load(ca_dir)
    if settings.revocation == "none":
        return ca.trust_anchors(), UncheckedProvider()
    return ca.trust_anchors(), _test_ca_revocation(ca_dir)


def _test_ca_revocation(ca_dir: Path) -> RevocationProvider:
    """OCSP answered in-process by the saved TEST CA (reloaded per request, so 'xid card' revocations show)."""
    import httpx

    from jpki_bridge.revocation import OcspProvider
    from jpki_bridge.testca import TestCA

    def answer(request: httpx.Request) -> httpx.Response:
        ca = TestCA.load(ca_dir)
        return httpx.Response(
            200, content=ca.ocsp_response(request.content), headers={"content-type": "application/ocsp-response"}
        )

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return OcspProvider("http://testca.invalid/ocsp", client=client)


@dataclass
class Services:
    """Everything ``xid serve`` built: the issuer's context, the ledger log, and what to close on shutdown."""

    settings: Settings
    base_url: str
    issuer: IssuerContext
    ledger: Log
    verifier: VerifierContext
    metrics: Metrics | None = None
    """The app's metrics (``build_services`` makes them; ``metrics.count("logins", ...)`` for the OIDC facade)."""
    oidc: OidcParts | None = None
    """The OpenID Connect facade (``build_services`` wires it over the verifier, with the issuer's subjects)."""
    _stop: threading.Event = field(default_factory=threading.Event)

    def housekeeping(self) -> dict[str, int]:
        """Delete what has expired: enrollment evidence past retention, OpenID4VCI and OpenID4VP state, results."""
        from issuer import evidence, oid4vci
        from verifier import transactions

        return {
            "evidence": evidence.purge_expired(self.issuer, self.issuer.clock()),
            "oid4vci": oid4vci.purge_expired(self.issuer),
            "openid4vp": transactions.purge(self.verifier),
            "oidc": self.oidc.housekeeping() if self.oidc is not None else 0,
        }

    def start_housekeeping(self, interval: float = 3600.0) -> threading.Thread:
        """Run ``housekeeping`` now and then every ``interval`` seconds in a daemon thread until ``close``."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.housekeeping()
                except XidError as error:  # a database hiccup: try again next round, never crash the server
                    _log.warning("housekeeping failed: %s", error.code)
                self._stop.wait(interval)

        thread = threading.Thread(target=loop, name="xid-housekeeping", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop housekeeping, flush the ledger (sign a final checkpoint) and release the databases."""
        self._stop.set()
        self.ledger.close()
        self.ledger.store.engine.dispose()
        self.issuer.engine.dispose()


def _ledger(settings: Settings) -> Log:
    from foundation.db import open_engine
    from ledger.log import Log
    from ledger.store import Store
    from xid.cli_ledger import DEFAULT_ORIGIN
    from xid.db_migrate import LEDGER, prepare

    signer = _software_key(settings.ledger_key, "Ed25519")
    store = Store(open_engine(settings.ledger_database))
    prepare(store.engine, LEDGER, automatic=settings.ledger_database_url is None)
    return Log(store, signer, origin=DEFAULT_ORIGIN)


def build_services(settings: Settings, base_url: str) -> Services:
    """Open the databases (migrating the embedded ones), load or create the keys, and build the issuer's context.

    The embedded SQLite databases under ``$XID_HOME`` are upgraded to the newest schema revision; a configured
    database (``XID_DATABASE_URL``, ``XID_LEDGER_DATABASE_URL``) must already be there (``xid db upgrade``).
    """
    from foundation.db import open_engine
    from issuer.context import IssuerContext, IssuerSettings
    from xid.db_migrate import SERVICES, prepare
    from xid.files import writable_directory

    writable_directory(settings.home, "the xid home directory")
    trust, revocation = _trust(settings)
    engine = open_engine(settings.services_database)
    prepare(engine, SERVICES, automatic=settings.database_url is None)
    log = _ledger(settings)
    keys = {name: _signer(settings, name, key_type) for name, key_type in _ISSUER_KEYS.items()}
    vc_api = {name: _software_key(settings.keys_dir / f"vc-api-{name}.jwk", kt) for name, kt in _VC_API_KEYS.items()}
    context = IssuerContext(
        base_url=base_url,
        did=issuer_did(base_url),
        engine=engine,
        es256=keys["es256"],
        ed25519=keys["ed25519"],
        ca_signer=keys["ca"],
        secrets=_operator_secrets(settings),
        trust=trust,
        revocation=revocation,
        settings=IssuerSettings(
            tx_code=settings.tx_code,
            vc_api_token=settings.vc_api_token,
            admin_token=settings.admin_token,
            development=settings.development,
        ),
        ledger=log,
        vc_api_signers=vc_api,
    )
    services = Services(settings, base_url, context, log, _verifier_context(settings, context))
    services.metrics = _metrics(log)
    services.oidc = _oidc(settings, services)
    return services


class _IssuerSubjects:
    """The facade's ``SubjectSource``: the issuer's pairwise derivation for the person behind a holder key."""

    def __init__(self, issuer: IssuerContext) -> None:
        self.issuer = issuer

    def pairwise(self, holder: str, sector: str) -> str | None:
        """The issuer's pairwise subject of the holder key's person for ``sector`` (None: no such person)."""
        from issuer.persons import pairwise_for_holder

        return pairwise_for_holder(self.issuer, holder, sector)


def _oidc(settings: Settings, services: Services) -> OidcParts:
    """The OIDC facade on the origin: the verifier carries its logins, the issuer gives its subjects."""
    from oidc.app import wire
    from oidc.context import OidcContext, OidcSettings
    from xid.cli_oidc import oidc_keys_dir

    def count_login(outcome: str) -> None:
        if services.metrics is not None:
            services.metrics.count("logins", outcome)

    issuer = services.issuer
    ctx = OidcContext(
        base_url=issuer.base_url,
        engine=issuer.engine,
        verifier=services.verifier,
        subjects=_IssuerSubjects(issuer),
        identity_vct=issuer.url("/vct/identity"),
        keys_dir=oidc_keys_dir(settings),
        ledger_key=issuer.secrets.ledger_key,
        ledger=issuer.ledger,
        settings=OidcSettings(development=settings.development),
        on_login=count_login,
    )
    return wire(ctx)


def _metrics(log: Log) -> Metrics:
    """The metrics of one app, with the ledger's gauges read from its database at each scrape."""
    from xid.observability import LedgerGauges, Metrics, anchor_lag

    return Metrics(LedgerGauges(size=lambda: log.store.state().size, anchor_lag=lambda: anchor_lag(log)))


class _OwnDidFirst:
    """did:web resolution that answers the origin's own DID in-process and asks the network for every other."""

    method = "web"
    cacheable = True

    def __init__(self, own: str, document: Mapping[str, Any], web: MethodResolver) -> None:
        self.own, self.document, self.web = own, document, web

    def resolve(self, did: Did) -> DidDocument:
        """The DID's document."""
        from did import DidDocument

        return DidDocument(self.document, expected_id=self.own) if str(did) == self.own else self.web.resolve(did)


def _own_status(issuer: IssuerContext) -> Callable[[str], Mapping[str, Any] | str | None]:
    """Answer the origin's own status lists in-process (None for any other URL, which is then fetched)."""
    import orjson

    from issuer.app import status_signers
    from issuer.status import StatusLists, UnknownStatusListError

    lists = StatusLists(issuer, status_signers(issuer))
    prefix = issuer.url("/status/")

    def answer(url: str) -> Mapping[str, Any] | str | None:
        kind, _, list_id = url.removeprefix(prefix).partition("/")
        if not url.startswith(prefix) or kind not in ("bitstring", "token") or not list_id or "/" in list_id:
            return None
        try:
            published = lists.publication(kind, list_id)  # type: ignore[arg-type]  # checked just above
        except UnknownStatusListError:
            return None
        body: Mapping[str, Any] | str = (
            orjson.loads(published.body) if kind == "bitstring" else published.body.decode("ascii")
        )
        return body

    return answer


def _verifier_certificates(settings: Settings, issuer: IssuerContext, signer: Signer, host: str) -> tuple[bytes, ...]:
    """The x509_san_dns chain: the configured one (PEM file, leaf first), else a fresh one from the xid CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if settings.verifier_x5c is not None:
        try:
            chain = x509.load_pem_x509_certificates(settings.verifier_x5c.read_bytes())
        except (OSError, ValueError) as error:
            message = f"XID_VERIFIER_X5C={settings.verifier_x5c} is not a PEM certificate chain: {error}"
            raise SettingsError(message) from None
        return tuple(cert.public_bytes(Encoding.DER) for cert in chain)
    from issuer.ca import XidCA
    from issuer.persons import pairwise_subject

    ca = XidCA(issuer, pairwise=lambda person, sector: pairwise_subject(issuer, person, sector))
    return (ca.service_certificate(signer.public_jwk, host, timedelta(days=30)),)


def _verifier_context(settings: Settings, issuer: IssuerContext) -> VerifierContext:
    """The verifier's context on the same origin, database and ledger as the issuer."""
    from did import PublicKey, Resolver
    from did.did_web import DidWebResolver
    from issuer.app import did_document
    from verifier.context import VerifierContext
    from verifier.status_fetch import StatusFetcher

    signer = _signer(settings, "verifier", "P-256")
    host = urlsplit(issuer.base_url).hostname
    assert host is not None
    own = did_document(issuer, [("verifier", PublicKey.from_jwk(signer.public_jwk))])
    scheme = urlsplit(issuer.base_url).scheme
    web = DidWebResolver(allow_loopback=settings.development, scheme=scheme)
    return VerifierContext(
        base_url=issuer.base_url,
        engine=issuer.engine,
        signer=signer,
        x5c=_verifier_certificates(settings, issuer, signer, host),
        did=issuer.did,
        resolver=Resolver.standard(_OwnDidFirst(issuer.did, own, web)),
        status_source=StatusFetcher(allow_loopback=settings.development, local=_own_status(issuer)),
        trusted_issuers=(issuer.did, issuer.base_url, *settings.trusted_issuers),
        ledger_key=issuer.secrets.ledger_key,
        ledger=issuer.ledger,
    )


def create_app(services: Services) -> Starlette:
    """The one ASGI app: issuer, verifier, OIDC facade and the ledger's tiles under /ledger, on one origin."""
    from starlette.routing import Mount

    from did import PublicKey
    from issuer.app import create_app as issuer_app
    from ledger.http import create_app as ledger_app
    from oidc.app import routes as oidc_routes
    from verifier.app import routes as verifier_routes
    from xid.observability import Observed

    verifier_key = ("verifier", PublicKey.from_jwk(services.verifier.signer.public_jwk))
    grants: list[tuple[str, GrantHandler, Mapping[str, Any]]] = []
    if services.oidc is not None:
        provider = services.oidc.provider
        grants.append(("authorization_code", provider.token_grant, provider.oauth_metadata()))
    app = issuer_app(services.issuer, extra_keys=[verifier_key], extra_grants=grants)
    app.router.routes.extend(verifier_routes(services.verifier))
    if services.oidc is not None:
        app.router.routes.extend(oidc_routes(services.oidc))
    app.router.routes.append(Mount("/ledger", app=ledger_app(services.ledger.store)))
    app.router.routes.extend(ops_routes(services))
    if services.metrics is None:
        services.metrics = _metrics(services.ledger)
    app.state.metrics = services.metrics
    app.add_middleware(Observed, metrics=services.metrics, routes=lambda: app.routes)
    return app


_PROBE = b"xid readiness probe"
_READY_TIMEOUT_S = 2.0


def readiness_checks(services: Services) -> dict[str, Callable[[], None]]:
    """What ``/readyz`` checks, each raising when not ready: the database, the ledger's writer lock, the keys."""
    from sqlalchemy import text

    from foundation.db import transaction

    def database() -> None:
        with transaction(services.issuer.engine) as conn:
            conn.execute(text("SELECT 1"))

    def ledger() -> None:
        with services.ledger.store.transaction(write=True) as txn:  # takes the writer lock, appends nothing
            txn.state()

    def keys() -> None:
        from did import PublicKey

        issuer = services.issuer
        for signer in (issuer.es256, issuer.ed25519, issuer.ca_signer, services.verifier.signer):
            PublicKey.from_jwk(signer.public_jwk).verify(signer.sign(_PROBE), _PROBE, signer.algorithm)

    return {"database": database, "ledger": ledger, "keys": keys}


def ops_routes(services: Services) -> list[Route]:
    """``/healthz`` (the process answers), ``/readyz`` (503 naming what is not ready) and ``/metrics``."""
    import asyncio
    import hmac

    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from foundation.web import bearer_token, error_response, json_response

    checks = readiness_checks(services)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def run(check: Callable[[], None]) -> str:
        try:
            await asyncio.wait_for(run_in_threadpool(check), _READY_TIMEOUT_S)
        except TimeoutError:
            return "timeout"
        except XidError as error:  # the error's code only: its message may name hosts or paths
            return error.code
        except Exception as error:  # a probe that fails in any way means not ready
            return type(error).__name__
        return "ok"

    async def readyz(request: Request) -> Response:
        results = dict(zip(checks, await asyncio.gather(*(run(c) for c in checks.values())), strict=True))
        ready = all(result == "ok" for result in results.values())
        return json_response({"status": "ready" if ready else "unavailable", "checks": results}, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        expected = services.settings.metrics_token
        if expected is not None:
            given = bearer_token(request) or ""
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return error_response(
                    401,
                    "invalid_token",
                    "/metrics needs the bearer token XID_METRICS_TOKEN",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
        assert services.metrics is not None
        body, content_type = await run_in_threadpool(services.metrics.exposition)
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def app_factory() -> Starlette:
    """The app for a uvicorn worker process (``--workers N``): settings from the environment."""
    from xid.config import load
    from xid.observability import configure_logging

    base_url = os.environ.get(BASE_URL_ENV)
    if not base_url:
        raise SettingsError(f"{BASE_URL_ENV} is not set; start workers through 'xid serve'")
    settings = load()  # XID_CONFIG, when 'xid serve --config' was given, names the file
    configure_logging(settings.log_level.upper())
    services = build_services(settings, base_url)
    services.start_housekeeping()
    app = create_app(services)

    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        yield
        services.close()

    app.router.lifespan_context = lifespan
    return app


@contextmanager
def running(settings: Settings, base_url: str) -> Iterator[tuple[Services, Starlette]]:
    """Build the services and the app; close them afterwards (for tests and the demo)."""
    services = build_services(settings, base_url)
    try:
        yield services, create_app(services)
    finally:
        services.close()
