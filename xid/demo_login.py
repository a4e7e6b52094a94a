"""``make demo``'s login story: a website logs the demo person in through the OIDC facade, the wallet answering.

The sample website (``xid.sample_rp``) is registered with xid as a relying party and served on a free loopback port.
A browser stand-in (one httpx client with a cookie jar, following redirects one by one) opens the site's /login, is
sent to the OP and its login page, reads the same-device ``openid4vp://`` link from it, the wallet answers that
request, and the browser continues at the URL the wallet hands back (same device: the same cookies) through the
consent step back to the website, whose page shows the ID token's claims. The same browser and login-page reading
drive the relying-party interop tests (tests/interop/test_oidc_rp_interop.py), so they live here, in one place.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

__all__ = [
    "Browser",
    "Form",
    "Landing",
    "LoginError",
    "LoginPage",
    "SampleSite",
    "WalletAnswer",
    "approving_form",
    "log_in",
    "login_page",
    "sample_site",
    "sample_site_login",
    "serve_app",
    "wallet_of",
]

MAX_HOPS = 20
"""Redirects one navigation may take before the browser gives up."""
MAX_BODY = 1024 * 1024
MAX_FORMS = 3
"""Forms (consent, continue) the browser submits on the OP after the wallet answered."""
_APPROVE = re.compile(r"approve|allow|grant|accept|consent|agree|continue|submit|yes|同意|許可|続ける|次へ", re.I)
_DENY = re.compile(r"deny|refuse|reject|decline|cancel|\bno\b|拒否|キャンセル|しない", re.I)

Wallet = Callable[[str], "WalletAnswer"]
"""Answers an ``openid4vp://`` request URL the way ``xid wallet present --yes --json`` does."""


class LoginError(Exception):
    """The browser could not get through a login (no login page, too many redirects, a code mismatch)."""


@dataclass(frozen=True)
class WalletAnswer:
    """What the wallet reports after presenting: the verification code it showed, and where to continue."""

    verification_code: str
    redirect_uri: str | None

    @classmethod
    def from_json(cls, report: dict[str, Any]) -> WalletAnswer:
        """From ``xid wallet present --json``'s report."""
        return cls(str(report["verification_code"]), report.get("redirect_uri"))


@dataclass(frozen=True)
class Landing:
    """Where a navigation ended: a page (``response``), or a URL under ``stop_at`` the browser did not open."""

    url: str
    response: httpx.Response | None


@dataclass
class Form:
    """An HTML form: where it posts, its hidden and text fields, and its submit buttons (name, value, label)."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class LoginPage:
    """The OP's login page as a person sees it: the wallet link, the QR code's request, the page's visible text."""

    url: str
    request_url: str
    """The first ``openid4vp://`` link of the page (the same-device button)."""
    text: str
    qr_request_url: str | None = None
    """The request the QR code carries (its ``data-request-url``), for a wallet on another device."""


class _Reader(HTMLParser):
    """Links, forms and visible text of a page (scripts and styles skipped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.qr: list[str] = []
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._skip = 0
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in ("script", "style", "template"):
            self._skip += 1
        elif tag == "a" and "href" in values:
            self.links.append(values["href"])
        if "data-request-url" in values:
            self.qr.append(values["data-request-url"])
        elif tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms:
            kind = values.get("type", "text").lower()
            if kind in ("submit", "image"):
                self.forms[-1].buttons.append(
                    (values.get("name", ""), values.get("value", ""), values.get("value", ""))
                )
            elif (kind not in ("checkbox", "radio") or "checked" in values) and "name" in values:
                self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif tag == "button" and self.forms and values.get("type", "submit").lower() == "submit":
            self._button = {"name": values.get("name", ""), "value": values.get("value", ""), "label": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "template") and self._skip:
            self._skip -= 1
        elif tag == "button" and self._button is not None and self.forms:
            button = self._button
            self.forms[-1].buttons.append((button["name"], button["value"], button["label"].strip()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._button is not None:
            self._button["label"] += data
        self.text.append(data)


def _read(body: str) -> _Reader:
    reader = _Reader()
    reader.feed(body[:MAX_BODY])
    reader.close()
    return reader


def login_page(url: str, body: str) -> LoginPage | None:
    """The login page's wallet link and text, or None when the page has no ``openid4vp://`` link."""
    reader = _read(body)
    links = [link for link in reader.links if link.startswith("openid4vp://")]
    if not links:
        return None
    qr = next((link for link in reader.qr if link.startswith("openid4vp://")), None)
    return LoginPage(url, links[0], " ".join(" ".join(reader.text).split()), qr)


def approving_form(body: str) -> tuple[Form, tuple[str, str, str] | None] | None:
    """The POST form a person approving the page would submit, with the button they would press (None: none)."""
    forms = [form for form in _read(body).forms if form.method == "post"]
    for form in forms:
        for button in form.buttons:
            words = " ".join(button)
            if _APPROVE.search(words) and not _DENY.search(words):
                return form, button
    if len(forms) == 1 and not any(_DENY.search(" ".join(button)) for button in forms[0].buttons):
        return forms[0], (forms[0].buttons[0] if forms[0].buttons else None)
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _under(url: str, prefix: str) -> bool:
    return url == prefix or url.startswith((prefix + "?", prefix + "#"))


class Browser:
    """A browser stand-in: one httpx client (cookie jar, Accept-Language), following redirects one at a time."""

    def __init__(self, *, accept_language: str = "en", timeout: float = 30.0) -> None:
        self.client = httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"Accept-Language": accept_language}
        )

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def go(
        self, url: str, *, stop_at: str | None = None, method: str = "GET", data: dict[str, str] | None = None
    ) -> Landing:
        """Open ``url`` and follow its redirects; stop (without opening it) at a URL under ``stop_at``."""
        for _ in range(MAX_HOPS):
            if stop_at is not None and _under(url, stop_at):
                return Landing(url, None)
            response = self.client.request(method, url, data=data)
            if not response.is_redirect:
                return Landing(str(response.url), response)
            url = urljoin(str(response.url), response.headers["location"])
            if response.status_code in (301, 302, 303):
                method, data = "GET", None
        raise LoginError(f"more than {MAX_HOPS} redirects from {url}")


def _is_login_page(landing: Landing, page: LoginPage) -> bool:
    if landing.response is None or landing.url != page.url:
        return False
    again = login_page(landing.url, landing.response.text)
    return again is not None and again.request_url == page.request_url


def log_in(
    browser: Browser,
    start_url: str,
    wallet: Wallet,
    *,
    stop_at: str | None = None,
    cross_device: bool = False,
    wait_seconds: float = 60.0,
) -> Landing:
    """Log in from ``start_url`` (an authorization URL, or a website's /login): the wallet answers the login page.

    Same device (default): the wallet opens the page's ``openid4vp://`` link and hands the browser a URL to continue
    at (its fragment, e.g. ``#response_code=...``, is what the continue page's script would put into its form).
    Cross device: the wallet answers the QR code's request, its verification code must be the one the page shows,
    and the page continues by itself (polled, as with scripts off). Returns where the browser lands: with
    ``stop_at`` (an RP redirect URI nobody serves) the unopened callback URL, otherwise the page the website shows.
    """
    landing = browser.go(start_url, stop_at=stop_at)
    if landing.response is None:
        return landing  # the OP answered the RP at once (an error redirect)
    page = login_page(landing.url, landing.response.text)
    if page is None:
        raise LoginError(f"no wallet link on {landing.url} (HTTP {landing.response.status_code})")
    op = _origin(page.url)
    handed: dict[str, str] = {}
    if not cross_device:
        answer = wallet(page.request_url)
        if answer.redirect_uri is None:
            raise LoginError("the wallet was handed no URL to continue at after a same-device presentation")
        handed = dict(parse_qsl(urlsplit(answer.redirect_uri).fragment))
        landing = browser.go(answer.redirect_uri.split("#", 1)[0], stop_at=stop_at)
    else:
        if page.qr_request_url is None:
            raise LoginError(f"no QR code request on {page.url}")
        answer = wallet(page.qr_request_url)
        if answer.verification_code not in "".join(page.text.split()):  # digits may sit in separate elements
            raise LoginError(f"the wallet showed {answer.verification_code}, which the login page does not show")
        deadline = time.monotonic() + wait_seconds
        landing = browser.go(page.url, stop_at=stop_at)
        while _is_login_page(landing, page) and time.monotonic() < deadline:
            time.sleep(0.5)
            landing = browser.go(page.url, stop_at=stop_at)
    for _ in range(MAX_FORMS):  # the consent step (or a continue button): the person approves
        response = landing.response
        if response is None or _origin(landing.url) != op or response.status_code != 200:
            return landing
        chosen = approving_form(response.text)
        if chosen is None:
            return landing
        form, button = chosen
        data = dict(form.fields)
        data |= {name: value for name, value in handed.items() if data.get(name) == ""}  # what the script fills in
        if button is not None and button[0]:
            data[button[0]] = button[1]
        landing = browser.go(
            urljoin(landing.url, form.action or landing.url), stop_at=stop_at, method="POST", data=data
        )
    return landing


def wallet_of(wallet_dir: Path, passphrase: str) -> Wallet:
    """The wallet in ``wallet_dir`` answering requests as ``xid wallet present --yes`` does (software holder key)."""
    from wallet.keystore import Keystore
    from wallet.oid4vp import Oid4vpHolder
    from wallet.store import CredentialStore
    from wallet.trust import trusted_roots

    def no_pin() -> str:
        raise LoginError("this wallet keeps its holder key on a token; present with 'xid wallet present' instead")

    def answer(request_url: str) -> WalletAnswer:
        keystore = Keystore.open(wallet_dir, passphrase)
        signer = keystore.signer(no_pin)
        try:
            holder = Oid4vpHolder(signer, CredentialStore(keystore.vault), trusted_roots(keystore.vault))
            request = holder.resolve(request_url)
            result = holder.present(request, holder.plan(request))
        finally:
            close = getattr(signer, "close", None)
            if close is not None:
                close()
        return WalletAnswer(request.verification_code, result.redirect_uri)

    return answer


@dataclass(frozen=True)
class SampleSite:
    """The sample website as served: its URL and its registration with xid."""

    url: str
    client_id: str

    def log_in(self, wallet: Wallet, *, accept_language: str = "en") -> dict[str, Any]:
        """A fresh browser logs in at the site; the ID token claims the site's page shows."""
        with Browser(accept_language=accept_language) as browser:
            landing = log_in(browser, f"{self.url}/login", wallet)
        response = landing.response
        if response is None or response.status_code != 200 or not landing.url.startswith(self.url):
            status = "no page" if response is None else f"HTTP {response.status_code}"
            raise LoginError(f"the login did not end on the sample site: {landing.url} ({status})")
        found = re.search(r'<pre id="claims">(.*?)</pre>', response.text, re.S)
        if found is None:
            raise LoginError(f"the sample site does not show claims: {_read(response.text).text!r:.300}")
        claims: dict[str, Any] = json.loads(html.unescape(found.group(1)))
        return claims


@contextmanager
def serve_app(name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """uvicorn on 127.0.0.1 (a free port) in a thread named ``name``; yields its URL and a slot for the app."""
    import uvicorn
    from starlette.types import Receive, Scope, Send

    slot: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await slot["app"](scope, receive, send)

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the local server {name} did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", slot
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _register(home: Path, name: str, redirect_uri: str) -> tuple[str, str]:
    """Register a relying party in the database ``xid serve`` uses for ``home`` (what ``xid rp add`` does)."""
    from foundation.db import open_engine
    from verifier import rps
    from verifier.db import create_schema
    from xid.settings import Settings

    engine = open_engine(Settings.from_env({"XID_HOME": str(home)}).services_database)
    try:
        create_schema(engine)
        party, secret = rps.register(engine, name, [redirect_uri])
    finally:
        engine.dispose()
    return party.client_id, secret


@contextmanager
def sample_site(
    base_url: str, home: Path, *, name: str = "xid sample shop", acr_values: str | None = None
) -> Iterator[SampleSite]:
    """Serve the sample website on a free loopback port, registered with the xid at ``base_url`` (home ``home``)."""
    from xid.sample_rp import sample_site_app

    with serve_app("xid-sample-rp") as (url, slot):
        client_id, secret = _register(home, name, f"{url}/callback")
        slot["app"] = sample_site_app(base_url, client_id, secret, acr_values=acr_values)
        yield SampleSite(url, client_id)


def sample_site_login(
    base_url: str,
    home: Path,
    passphrase: str,
    *,
    wallet_dir: Path | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The demo step: the sample website logs the person in through the facade; returns (and says) its claims.

    ``home`` is the XID_HOME of the running ``xid serve`` (the relying party is registered in its database); the
    wallet is ``wallet_dir`` (default ``home/wallet``). Each call registers the site anew on the same loopback host,
    so its pairwise ``sub`` stays the same across calls (and across a card renewal in between)."""
    wallet = wallet_of(wallet_dir if wallet_dir is not None else home / "wallet", passphrase)
    with sample_site(base_url, home) as site:
        say(f"the sample website runs at {site.url}, registered as client {site.client_id}")
        say("a browser opens its /login; the OP's login page shows a QR code, a wallet link and a code")
        claims = site.log_in(wallet)
    say("the wallet answered; the website checked the ID token (signature, iss, aud, nonce) and shows:")
    for key in sorted(claims):
        say(f"    {key}: {json.dumps(claims[key], ensure_ascii=False)}")
    return claims
