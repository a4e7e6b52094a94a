"""The login: an OpenID4VP presentation through the verifier's core, bound to the browser that started it.

A login belongs to an authorization request (``Login.start``), to the account page (``Login.start_session``: a
browser session cookie afterwards) or to the JSON session API (``Login.start_api``: a bearer session token for a
wallet without a browser). Each login carries TWO verifier transactions with the same DCQL query and fresh verifier
nonces: the cross-device one (the QR code; its result is read by the login page itself) and the same-device one (the
``openid4vp://`` link; the wallet is handed back ``{continue URL}#response_code=...`` and only the browser holding
the login's cookie may redeem that code, so a relayed link cannot complete a login in another browser). A wallet
answering either finishes the login; the other transaction is left to expire.

The facade is ONE relying party of the verifier, registered on first use (name ``xid OpenID Connect login``, redirect
URI ``{base}/oidc/login/continue``, sector the OP's host) and remembered in ``oidc_login_client``; the OpenID4VP
client_id the wallet sees is the verifier's own (never the OIDC client's), so the verification code and the
request's signature name this OP.

Login states: ``pending`` → ``verified`` (the presentation passed; the person is known; consent may be asked) →
``done``; or ``failed`` with a reason (``expired``, ``refused`` by the wallet, ``rejected`` presentation,
``unknown_holder``: no person enrolled for that key, ``denied`` consent, ``closed``: the authorization ended).
Transitions are conditional UPDATEs, so each happens once across processes; the verifier's single-use result is
taken in the same transaction that records the login as verified, so an outage between the two loses neither. The
disclosed claims wait in the row only between ``verified`` and ``done``. Errors::

    OidcError
    ├── UnknownLoginError        oidcUnknownLogin       (404: no such login, or purged)
    ├── ForeignBrowserError      oidcForeignBrowser     (403: the login belongs to another browser)
    ├── InvalidReturnError       oidcInvalidReturn      (400: return_to is not a path on the OP)
    └── SessionSecretError       oidcSessionSecret      (401 invalid_token: wrong or missing poll secret)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Column, Integer, String, Table, Text, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from foundation.db import is_unique_violation, transaction
from oidc.claims import dcql_query, requested_claims
from oidc.context import OidcContext
from oidc.contracts import CONSENT_SECTOR, AuthorizationRequest, Completion, ConsentGate, LoginOutcome
from oidc.db import Millis, metadata
from oidc.errors import OidcError
from verifier import rps, transactions
from verifier.errors import VerifierError
from verifier.rps import RelyingParty
from verifier.transactions import RequestSpec

__all__ = [
    "CLIENT_NAME",
    "CONTINUE_PATH",
    "ForeignBrowserError",
    "InvalidReturnError",
    "Login",
    "LoginState",
    "SessionSecretError",
    "UnknownLoginError",
    "facade_client",
    "login_client",
    "logins",
    "purge",
    "sessions",
]

log = logging.getLogger(__name__)

CLIENT_NAME: Final = "xid OpenID Connect login"
"""The name of the verifier relying party the facade's presentations run under (``xid rp list`` shows it)."""
CONTINUE_PATH: Final = "/oidc/login/continue"
"""Where a same-device wallet sends the browser back (``#response_code=...``)."""
Kind = Literal["authorize", "account", "api"]

logins = Table(
    "oidc_logins",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("authorization_id", String(64), nullable=True),
    Column("return_to", Text, nullable=True),
    Column("browser_sha256", String(64), nullable=True, index=True),
    Column("secret_sha256", String(64), nullable=True),
    Column("cross_tx", String(64), nullable=False, index=True),
    Column("same_tx", String(64), nullable=True, index=True),
    Column("verification_code", String(8), nullable=False),
    Column("same_verification_code", String(8), nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=True),
    Column("outcome", Text, nullable=True),
    Column("finish_url", Text, nullable=True),
    Column("created", Millis, nullable=False),
    Column("presentation_expires", Millis, nullable=False),
    Column("expires", Millis, nullable=False, index=True),
)

sessions = Table(
    "oidc_sessions",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("person", String(255), nullable=False),
    Column("created", Millis, nullable=False),
    Column("expires", Millis, nullable=False, index=True),
)

login_client = Table(
    "oidc_login_client",
    metadata,
    Column("slot", Integer, primary_key=True),
    Column("client_id", String(64), nullable=False),
)


class UnknownLoginError(OidcError):
    """No such login (never started, purged, or the id was mistyped): 404."""

    code = "oidcUnknownLogin"
    error = "invalid_request"
    status = 404


class ForeignBrowserError(OidcError):
    """The login was started in another browser (its cookie is missing or different): 403."""

    code = "oidcForeignBrowser"
    error = "access_denied"
    status = 403


class InvalidReturnError(OidcError):
    """An account login's ``return_to`` is not a path on the OP: 400."""

    code = "oidcInvalidReturn"
    error = "invalid_request"
    status = 400


class SessionSecretError(OidcError):
    """The session API's poll was not authenticated by the secret its POST returned: 401 ``invalid_token``."""

    code = "oidcSessionSecret"
    error = "invalid_token"
    status = 401


@dataclass(frozen=True)
class LoginState:
    """A login as its page and API see it (never the disclosed claims)."""

    id: str
    kind: Kind
    status: Literal["pending", "verified", "done", "failed"]
    reason: str | None
    """Why it failed: expired, refused, rejected, unknown_holder, denied, closed."""
    authorization_id: str | None
    return_to: str | None
    cross_url: str | None
    """The cross-device ``openid4vp://`` request URL (the QR code) while the presentation is open."""
    same_url: str | None
    """The same-device ``openid4vp://`` request URL (the button) while the presentation is open."""
    verification_code: str
    """The cross-device request's code (what the wallet that scanned the QR code shows)."""
    same_verification_code: str | None
    """The same-device request's code (what a wallet opened by the button shows)."""
    presentation_expires_at: datetime
    finish_url: str | None
    """Where the browser goes at the end: the RP's redirect (code or error) or ``return_to``."""
    person: str | None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def facade_client(ctx: OidcContext) -> RelyingParty:
    """The verifier relying party the facade's presentations run under, registered on first use."""
    continue_url = ctx.url(CONTINUE_PATH)
    with transaction(ctx.engine) as conn:
        client_id = conn.execute(select(login_client.c.client_id).where(login_client.c.slot == 1)).scalar()
    if client_id is not None:
        try:
            found = rps.get(ctx.engine, client_id)
        except rps.UnknownRelyingPartyError:  # the operator removed it: register again
            found = None
        if found is not None and continue_url in found.redirect_uris:
            return found
        with transaction(ctx.engine, write=True) as conn:
            conn.execute(delete(login_client).where(login_client.c.slot == 1, login_client.c.client_id == client_id))
    host = urlsplit(ctx.base_url).hostname or "localhost"
    created, _ = rps.register(ctx.engine, CLIENT_NAME, [continue_url], sector=host, clock=ctx.clock, random=ctx.random)
    try:
        with transaction(ctx.engine, write=True) as conn:
            conn.execute(insert(login_client).values(slot=1, client_id=created.client_id))
    except IntegrityError as error:  # another process registered it first: use theirs
        if not is_unique_violation(error):
            raise
        rps.remove(ctx.engine, created.client_id)
        return facade_client(ctx)
    return created


class Login:
    """The login flow (``LoginFlow``) and account sessions over the verifier's presentations."""

    def __init__(self, ctx: OidcContext, completion: Completion, consent: ConsentGate) -> None:
        self.ctx = ctx
        self.completion = completion
        self.consent = consent
        self.csrf_key = hmac.new(ctx.ledger_key, b"xid oidc csrf", hashlib.sha256).digest()
        """The CSRF tokens' HMAC key (derived, so every process sharing the configuration agrees)."""
        self._client: RelyingParty | None = None

    # -- starting ----------------------------------------------------------------------------------------------

    def client(self) -> RelyingParty:
        """The facade's verifier relying party (``facade_client``, cached)."""
        if self._client is None:
            self._client = facade_client(self.ctx)
        return self._client

    def _create(self, query: Mapping[str, Any], *, same_device: bool) -> transactions.Created:
        spec = RequestSpec(dcql_query=dict(query), redirect_uri=self.ctx.url(CONTINUE_PATH) if same_device else None)
        try:
            return transactions.create(self.ctx.verifier, self.client(), spec)
        except VerifierError as error:
            if error.code != "invalidPresentationRequest":
                raise
            self._client = None  # the registration changed under us (removed, base URL moved): once more
            return transactions.create(self.ctx.verifier, self.client(), spec)

    def _insert(
        self,
        kind: Kind,
        query: Mapping[str, Any],
        expires: datetime,
        *,
        authorization_id: str | None = None,
        return_to: str | None = None,
        secret: str | None = None,
        same_device: bool = True,
    ) -> str:
        cross = self._create(query, same_device=False)
        same = self._create(query, same_device=True) if same_device else None
        login_id = self.ctx.token(24)
        now = self.ctx.clock()
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(
                insert(logins).values(
                    id=login_id,
                    kind=kind,
                    authorization_id=authorization_id,
                    return_to=return_to,
                    secret_sha256=_sha256(secret) if secret is not None else None,
                    cross_tx=cross.id,
                    same_tx=same.id if same is not None else None,
                    verification_code=cross.verification_code,
                    same_verification_code=same.verification_code if same is not None else None,
                    status="pending",
                    created=_ms(now),
                    presentation_expires=_ms(cross.expires_at),
                    expires=_ms(max(expires, cross.expires_at)),
                )
            )
        return login_id

    def start(self, request: AuthorizationRequest) -> str:
        """The login page URL for an authorization request (``LoginFlow``): its presentation asks only for what the
        request asks for."""
        query = dcql_query(request, self.ctx.identity_vct)
        login_id = self._insert("authorize", query, request.expires_at, authorization_id=request.id)
        return self.ctx.url(f"/oidc/login/{login_id}")

    def start_session(self, return_to: str) -> str:
        """The login page URL for the account page: after the presentation the browser gets an account session
        cookie and is sent to ``return_to`` (a path on the OP)."""
        if (
            not return_to.startswith("/")
            or return_to.startswith("//")
            or "\\" in return_to
            or len(return_to) > 1000
            or not return_to.isascii()
            or any(c <= " " for c in return_to)
        ):
            raise InvalidReturnError("return_to must be a path on this server (starting with a single /)")
        query = self._holder_query()
        expires = self.ctx.clock() + self.ctx.settings.authorization_ttl
        login_id = self._insert("account", query, expires, return_to=return_to)
        return self.ctx.url(f"/oidc/login/{login_id}")

    def start_api(self) -> dict[str, Any]:
        """A login for a wallet without a browser (``POST /oidc/session``): its id, the poll secret, the request URL,
        the verification code and the seconds until the presentation expires."""
        secret = self.ctx.token(32)
        expires = self.ctx.clock() + self.ctx.settings.authorization_ttl
        login_id = self._insert("api", self._holder_query(), expires, secret=secret, same_device=False)
        state = self.state(login_id)
        return {
            "session_id": login_id,
            "secret": secret,
            "request_url": state.cross_url,
            "verification_code": state.verification_code,
            "expires_in": max(0, int((state.presentation_expires_at - self.ctx.clock()).total_seconds())),
        }

    def _holder_query(self) -> dict[str, Any]:
        """The DCQL query of an account login: the identity credential, holder-bound, no claim disclosed."""
        return {
            "credentials": [
                {
                    "id": "identity",
                    "format": "dc+sd-jwt",
                    "meta": {"vct_values": [self.ctx.identity_vct]},
                    "require_cryptographic_holder_binding": True,
                }
            ]
        }

    # -- the browser binding -----------------------------------------------------------------------------------

    def bind(self, login_id: str, browser: str) -> None:
        """Bind a login to the browser cookie value ``browser`` on its first view; ForeignBrowserError when it is
        bound to another browser, UnknownLoginError when there is no such login."""
        digest = _sha256(browser)
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(
                update(logins)
                .where(logins.c.id == login_id[:64], logins.c.browser_sha256.is_(None), logins.c.kind != "api")
                .values(browser_sha256=digest)
            )
            row = conn.execute(
                select(logins.c.browser_sha256, logins.c.kind).where(logins.c.id == login_id[:64])
            ).first()
        if row is None:
            raise UnknownLoginError("no such login; start again from the website you came from")
        if row.kind == "api" or not hmac.compare_digest(row.browser_sha256 or "", digest):
            raise ForeignBrowserError("this login was started in another browser; start again from the website")

    def check_browser(self, login_id: str, browser: str | None) -> None:
        """Raise unless the login is bound to this browser cookie (status and events: no binding on the way)."""
        with transaction(self.ctx.engine) as conn:
            bound = conn.execute(select(logins.c.browser_sha256).where(logins.c.id == login_id[:64])).first()
        if bound is None:
            raise UnknownLoginError("no such login")
        if (
            browser is None
            or not bound.browser_sha256
            or not hmac.compare_digest(bound.browser_sha256, _sha256(browser))
        ):
            raise ForeignBrowserError("this login was started in another browser")

    # -- progress ----------------------------------------------------------------------------------------------

    def _row(self, login_id: str) -> dict[str, Any]:
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(select(logins).where(logins.c.id == login_id[:64])).first()
        if row is None:
            raise UnknownLoginError("no such login; start again from the website you came from")
        return dict(row._mapping)

    def state(self, login_id: str) -> LoginState:
        """The login as it stands (no progress made)."""
        row = self._row(login_id)
        open_ = row["status"] == "pending" and row["presentation_expires"] > _ms(self.ctx.clock())
        cross_url = same_url = None
        if open_:
            try:
                cross_url = transactions.request_url(self.ctx.verifier, row["cross_tx"])
                if row["same_tx"] is not None:
                    same_url = transactions.request_url(self.ctx.verifier, row["same_tx"])
            except VerifierError:  # answered or expired meanwhile: the next advance() settles it
                cross_url = same_url = None
        outcome = json.loads(row["outcome"]) if row["outcome"] else None
        return LoginState(
            id=row["id"],
            kind=row["kind"],
            status=row["status"],
            reason=row["reason"],
            authorization_id=row["authorization_id"],
            return_to=row["return_to"],
            cross_url=cross_url,
            same_url=same_url,
            verification_code=row["verification_code"],
            same_verification_code=row["same_verification_code"],
            presentation_expires_at=_time(row["presentation_expires"]),
            finish_url=row["finish_url"],
            person=outcome["person"] if outcome else None,
        )

    def advance(self, login_id: str) -> LoginState:
        """Look at the login's presentations and move it on: verified (cross-device result read), failed (wallet
        refusal, rejected presentation, expiry, unknown holder), or still pending."""
        row = self._row(login_id)
        if row["status"] != "pending":
            return self.state(login_id)
        now = _ms(self.ctx.clock())
        client = self.client()
        failure: str | None = None
        try:
            # the verifier's result is taken and the login recorded as verified in ONE commit: a database outage
            # in between rolls both back, and the next look finds the result again
            with transaction(self.ctx.engine, write=True) as conn:
                cross = transactions.status(self.ctx.verifier, client, row["cross_tx"], internal=True, conn=conn)
                if cross["status"] == "verified" and "result" in cross:
                    failure = self._verified(row, cross["result"], same_device=False, conn=conn)
            same = transactions.peek(self.ctx.verifier, client, row["same_tx"]) if row["same_tx"] else None
        except VerifierError:  # the transactions were purged: the login is long over
            self._fail(row, "expired")
            return self.state(login_id)
        if cross["status"] == "verified" and "result" in cross:
            if failure is not None:
                self._fail(row, failure)
        elif cross["status"] == "rejected":
            self._fail(row, _reason(cross))
        elif same is not None and same["status"] == "rejected":
            self._fail(row, _reason(same))
        elif row["expires"] <= now or (cross["status"] == "expired" and (same is None or same["status"] == "expired")):
            self._fail(row, "expired")
        return self.state(login_id)

    def redeem(self, browser: str | None, response_code: str) -> str:
        """A same-device wallet's ``response_code`` back in a browser: the login it finishes (which must be bound to
        this browser), or ForeignBrowserError; the code is spent only when this browser has a pending login."""
        if browser is None or not response_code or len(response_code) > 200:
            raise ForeignBrowserError("this login was started in another browser (or cookies are off)")
        digest = _sha256(browser)
        with transaction(self.ctx.engine) as conn:
            mine = conn.execute(
                select(logins.c.id).where(logins.c.browser_sha256 == digest, logins.c.status == "pending").limit(1)
            ).first()
        if mine is None:
            raise ForeignBrowserError("no login of this browser waits for a wallet; start again from the website")
        data: dict[str, Any] | None = None
        foreign, failure = False, None
        try:
            # the code is spent, the result taken and the login recorded as verified in ONE commit (see advance)
            with transaction(self.ctx.engine, write=True) as conn:
                report = transactions.result_by_response_code(
                    self.ctx.verifier, self.client(), response_code, internal=True, conn=conn
                )
                row = conn.execute(select(logins).where(logins.c.same_tx == report["id"])).first()
                if row is not None:
                    data = dict(row._mapping)
                    foreign = not data["browser_sha256"] or not hmac.compare_digest(data["browser_sha256"], digest)
                    if not foreign and data["status"] == "pending" and "result" in report:
                        failure = self._verified(data, report["result"], same_device=True, conn=conn)
        except VerifierError:
            raise UnknownLoginError("this wallet answer is unknown, used or expired; start again") from None
        if data is None:
            raise UnknownLoginError("this wallet answer belongs to no login")
        if foreign:
            log.warning("a same-device answer came back in another browser; the login is refused")
            self._fail(data, "closed")
            raise ForeignBrowserError("this login was started in another browser; start again from the website")
        if failure is not None:
            self._fail(data, failure)
        return str(data["id"])

    def _verified(
        self, row: Mapping[str, Any], result: Mapping[str, Any], *, same_device: bool, conn: Connection
    ) -> str | None:
        """Record a verified presentation's outcome on a pending login, in the caller's transaction ``conn``; the
        failure reason instead when no person is enrolled for its holder key (the caller then fails the login)."""
        credentials = result.get("credentials") or []
        credential = credentials[0] if credentials else {}
        holder = credential.get("holder")
        person = self.ctx.subjects.pairwise(holder, CONSENT_SECTOR) if isinstance(holder, str) and holder else None
        if person is None:
            return "unknown_holder"
        checked = credential.get("status_checked_at")
        outcome = {
            "person": person,
            "holder": holder,
            "issuer": credential.get("issuer", ""),
            "claims": credential.get("claims", {}),
            "auth_time": self.ctx.clock().isoformat(),
            "status_checked_at": checked,
            "presentation_digest": result.get("digest", ""),
            "transaction_id": row["same_tx"] if same_device else row["cross_tx"],
            "same_device": same_device,
        }
        conn.execute(
            update(logins)
            .where(logins.c.id == row["id"], logins.c.status == "pending")
            .values(status="verified", outcome=json.dumps(outcome))
        )
        return None

    def close(self, login_id: str, reason: str = "closed") -> None:
        """End a login that can no longer finish (its authorization ended elsewhere)."""
        self._fail(self._row(login_id), reason)

    def _fail(self, row: Mapping[str, Any], reason: str) -> None:
        """End a pending or verified login with ``reason`` (an authorization also ends, at the RP with an error)."""
        with transaction(self.ctx.engine, write=True) as conn:
            changed = conn.execute(
                update(logins)
                .where(logins.c.id == row["id"], or_(logins.c.status == "pending", logins.c.status == "verified"))
                .values(status="failed", reason=reason, outcome=None)
            ).rowcount
        if changed != 1 or row["authorization_id"] is None:
            return
        error, description = _FAILURES.get(reason, _FAILURES["closed"])
        try:
            url: str | None = self.completion.fail(row["authorization_id"], error, description)
        except OidcError:  # the authorization already ended (expired, or finished elsewhere)
            url = None
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(update(logins).where(logins.c.id == row["id"]).values(finish_url=url))

    # -- finishing -----------------------------------------------------------------------------------------------

    def outcome(self, login_id: str) -> LoginOutcome:
        """The verified login's outcome (UnknownLoginError when it is not verified)."""
        row = self._row(login_id)
        if row["status"] != "verified" or not row["outcome"]:
            raise UnknownLoginError("this login has no verified presentation")
        data = json.loads(row["outcome"])
        return LoginOutcome(
            person=data["person"],
            holder=data["holder"],
            issuer=data["issuer"],
            claims=data["claims"],
            auth_time=datetime.fromisoformat(data["auth_time"]),
            status_checked_at=(
                datetime.fromisoformat(data["status_checked_at"].replace("Z", "+00:00"))
                if data["status_checked_at"]
                else None
            ),
            presentation_digest=data["presentation_digest"],
            transaction_id=data["transaction_id"],
            same_device=data["same_device"],
        )

    def pending_consent(self, login_id: str) -> tuple[AuthorizationRequest, tuple[str, ...], tuple[str, ...]]:
        """A verified authorization login's request and the (claims, linkage) the person has not consented to."""
        row = self._row(login_id)
        outcome = self.outcome(login_id)
        request = self.completion.pending(row["authorization_id"])
        claims, linkage = self.consent.missing(outcome.person, request, requested_claims(request))
        return request, tuple(claims), tuple(linkage)

    def finish(self, login_id: str, *, approved: bool | None = None) -> str:
        """Finish a verified authorization login: grant consent when ``approved``, deny it when False; the RP
        redirect URL (code or error). With ``approved`` None, only a login needing no consent finishes."""
        row = self._row(login_id)
        if row["status"] != "verified" or row["authorization_id"] is None:
            raise UnknownLoginError("this login is not waiting to finish")
        if approved is False:
            self._fail(row, "denied")
            return self._row(login_id)["finish_url"] or ""
        request, claims, linkage = self.pending_consent(login_id)
        if claims or linkage:
            if approved is None:
                raise UnknownLoginError("this login waits for the person's consent")
            self.consent.grant(self.outcome(login_id).person, request, claims, linkage)
        outcome = self.outcome(login_id)
        with transaction(self.ctx.engine, write=True) as conn:
            taken = conn.execute(
                update(logins)
                .where(logins.c.id == row["id"], logins.c.status == "verified")
                .values(status="done", outcome=None)
            ).rowcount
        if taken != 1:
            raise UnknownLoginError("this login already finished")
        try:
            url = self.completion.complete(row["authorization_id"], outcome)
        except OidcError:
            with transaction(self.ctx.engine, write=True) as conn:
                conn.execute(update(logins).where(logins.c.id == row["id"]).values(status="failed", reason="closed"))
            raise
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(update(logins).where(logins.c.id == row["id"]).values(finish_url=url))
        if "code" in parse_qs(urlsplit(url).query):  # released: the provider issued a code, not an error
            self.consent.used(outcome.person, request, requested_claims(request))
        return url

    # -- account sessions ----------------------------------------------------------------------------------------

    def open_session(self, login_id: str) -> tuple[str, str]:
        """A verified account or API login → (session token, where to go next); single use."""
        row = self._row(login_id)
        outcome = self.outcome(login_id)
        with transaction(self.ctx.engine, write=True) as conn:
            taken = conn.execute(
                update(logins)
                .where(logins.c.id == row["id"], logins.c.status == "verified", logins.c.kind != "authorize")
                .values(status="done", outcome=None, finish_url=row["return_to"])
            ).rowcount
        if taken != 1:
            raise UnknownLoginError("this login already finished")
        return self._new_session(outcome.person), row["return_to"] or "/"

    def _new_session(self, person: str) -> str:
        token = self.ctx.token(32)
        now = self.ctx.clock()
        with transaction(self.ctx.engine, write=True) as conn:
            conn.execute(
                insert(sessions).values(
                    token_sha256=_sha256(token),
                    person=person,
                    created=_ms(now),
                    expires=_ms(now + self.ctx.settings.session_ttl),
                )
            )
        return token

    def poll_session(self, login_id: str, secret: str | None) -> dict[str, Any]:
        """``GET /oidc/session/{id}``: pending, verified (with the bearer session token, once), or failed."""
        row = self._row(login_id)
        if (
            row["kind"] != "api"
            or secret is None
            or not hmac.compare_digest(row["secret_sha256"] or "", _sha256(secret))
        ):
            raise SessionSecretError("authenticate the poll with the secret POST /oidc/session returned (Bearer)")
        state = self.advance(login_id)
        if state.status == "verified":
            token, _ = self.open_session(login_id)
            return {
                "status": "verified",
                "session_token": token,
                "token_type": "Bearer",
                "expires_in": int(self.ctx.settings.session_ttl.total_seconds()),
            }
        if state.status == "failed":
            return {"status": "failed", "error": state.reason}
        if state.status == "done":
            return {"status": "done"}
        return {"status": "pending"}

    def session_person(self, token: str | None) -> str | None:
        """The person handle of an account session (cookie value or bearer token), None when unknown or expired."""
        if not token or len(token) > 200:
            return None
        with transaction(self.ctx.engine) as conn:
            row = conn.execute(
                select(sessions.c.person).where(
                    sessions.c.token_sha256 == _sha256(token), sessions.c.expires > _ms(self.ctx.clock())
                )
            ).first()
        return None if row is None else str(row.person)

    def end_session(self, token: str | None) -> bool:
        """Log an account session out; whether there was one."""
        if not token or len(token) > 200:
            return False
        with transaction(self.ctx.engine, write=True) as conn:
            return bool(conn.execute(delete(sessions).where(sessions.c.token_sha256 == _sha256(token))).rowcount)


def _reason(report: Mapping[str, Any]) -> str:
    """A rejected verifier transaction → the login's failure reason (the wallet's refusal, or a bad presentation)."""
    return "refused" if report.get("error") == "access_denied" else "rejected"


_FAILURES: Final[Mapping[str, tuple[str, str]]] = {
    "expired": ("access_denied", "the login expired before the wallet answered"),
    "refused": ("access_denied", "the person declined the presentation in the wallet"),
    "rejected": ("access_denied", "the wallet's presentation was not accepted"),
    "unknown_holder": ("access_denied", "no person is enrolled for the presented credential"),
    "denied": ("access_denied", "the person did not consent"),
    "closed": ("access_denied", "the login was ended"),
}


def purge(ctx: OidcContext) -> int:
    """Delete expired logins and account sessions; the number of rows deleted."""
    now = _ms(ctx.clock())
    with transaction(ctx.engine, write=True) as conn:
        deleted = conn.execute(delete(logins).where(logins.c.expires <= now)).rowcount
        deleted += conn.execute(delete(sessions).where(sessions.c.expires <= now)).rowcount
    return int(deleted)
