"""The OIDC login under a database outage: PostgreSQL stopped in the middle of a login, then started again.

A person has started a login at a website (``/authorize`` made the login page); the server is in the transaction
that binds the login to the browser (its ``UPDATE oidc_logins`` waits on a lock the test holds) when the database
is stopped (``pg_ctl stop -m fast``). That page view and every facade endpoint that needs the database then answer
503: the browser pages (``/authorize``, the login page, the consent form) with an HTML page that says the service is
unavailable, the JSON endpoints (the login's status, ``/token``, ``/userinfo``, the session API) with the OAuth
error shape ``temporarily_unavailable`` (RFC 6749 §5.2 / RFC 6750 shape), never a 500 or a traceback. Once the
database is back the same login goes on in the same browser with the same server process (no restart): the wallet
answers, the consent form, the code, ``/token`` and ``/userinfo``.

The same outage a step later: the wallet has answered and the login page's status check is taking the verified
result and recording the login as verified when the database stops. The result's taking and the login's new state
commit together, so the rollback keeps both as they were: once the database is back the next status check finds the
result again and the login finishes (it is not left pending until it expires).

And under the login page's open live-status stream (server-sent events): the stream ends cleanly (no broken chunked
body, nothing in the server's log), and a new one works once the database is back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.helpers import PERSONS
from tests.system.servers import Deployment, assert_unavailable, hold_lock, lock_waiter
from xid.demo_login import Browser, approving_form, log_in, login_page, wallet_of

PASSPHRASE = "correct horse battery staple"
REDIRECT_URI = "https://shop.example.jp/cb"


def _authorize_url(base: str, client_id: str) -> tuple[str, str, str]:
    """An authorization URL with PKCE S256; returns (url, code_verifier, nonce)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid name birthdate",
        "state": secrets.token_urlsafe(16),
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{base}/authorize?{urllib.parse.urlencode(params)}", verifier, nonce


def _enrolled_with_rp(deployment: Deployment) -> tuple[str, str]:
    """A wallet enrolled with the emulated TEST card and a relying party registered: its (client_id, secret)."""
    server = deployment.server
    assert deployment.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    assert deployment.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
    enrolled = deployment.xid(
        "wallet", "enroll", "--issuer", server.url, "--emulated", "--passphrase-stdin", "--pin-stdin",
        stdin=f"{PASSPHRASE}\nTEST1234\n",
    )  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    added = deployment.xid("rp", "add", "--name", "Shop", "--redirect-uri", REDIRECT_URI, "--json")
    assert added.exit_code == 0, added.output
    return json.loads(added.stdout)["client_id"], json.loads(added.stdout)["client_secret"]


def test_database_stopped_during_a_login_answers_503_and_the_login_completes_when_it_returns(
    deployment: Deployment,
) -> None:
    server = deployment.server
    client = _enrolled_with_rp(deployment)
    authorize, verifier, nonce = _authorize_url(server.url, client[0])
    with Browser() as browser, httpx.Client(base_url=server.url, timeout=60) as http:
        started = browser.client.get(authorize)
        assert started.status_code == 303, started.text
        login_url = started.headers["location"]
        assert login_url.startswith(f"{server.url}/oidc/login/")

        # the first view of the login page binds it to the browser: the database stops while that write waits
        with hold_lock(deployment.cluster.url, "oidc_logins"), ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(browser.client.get, login_url)
            lock_waiter(deployment.cluster.url, "UPDATE oidc_logins")
            deployment.cluster.stop()
            answer = in_flight.result(timeout=60)
        assert_unavailable(answer, "GET the login page (in flight)", page=True)

        another, _, _ = _authorize_url(server.url, client[0])
        pages = [
            ("GET /authorize", browser.client.get(another)),
            ("GET the login page", browser.client.get(login_url)),
            ("POST its consent", browser.client.post(f"{login_url}/consent", data={"csrf_token": "x"})),
        ]
        for what, response in pages:
            assert_unavailable(response, what, page=True)
        # a same-device wallet hands the browser back to the continue page (served without the database); its
        # script posts the response code and goes where the answer says: a page that says the service is down
        shown = browser.client.get(f"{server.url}/oidc/login/continue")
        assert shown.status_code == 200, shown.text
        chosen = approving_form(shown.text)
        assert chosen is not None
        continued = {**chosen[0].fields, "response_code": "A" * 43}
        scripted = browser.client.post(chosen[0].action, data=continued, headers={"Accept": "application/json"})
        assert scripted.status_code == 503, scripted.text
        assert_unavailable(browser.client.get(scripted.json()["next"]), "the continue script's next page", page=True)
        assert_unavailable(browser.client.post(chosen[0].action, data=continued), "POST continue", page=True)
        endpoints = [
            ("GET its status", browser.client.get(f"{login_url}/status")),
            ("POST /token", http.post("/token", data={"grant_type": "authorization_code", "code": "x"}, auth=client)),
            ("GET /userinfo", http.get("/userinfo", headers={"Authorization": "Bearer " + "A" * 43})),
            ("POST /oidc/session", http.post("/oidc/session")),
        ]
        for what, response in endpoints:
            assert_unavailable(response, what)
        assert server.running, server.tail()

        # the database is back: the same login goes on in the same browser, served by the same process
        deployment.cluster.start()
        wallet = wallet_of(server.home / "wallet", PASSPHRASE)
        landing = log_in(browser, login_url, wallet, stop_at=REDIRECT_URI, cross_device=True)
        assert landing.response is None, (landing.url, server.tail())
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landing.url).query))["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        token = http.post("/token", data=form, auth=client)
        assert token.status_code == 200, (token.text, server.tail())
        keys = KeySet.import_key_set(http.get("/jwks").json())
        assert jwt.decode(token.json()["id_token"], keys).claims["nonce"] == nonce  # this login's, not another's
        info = http.get("/userinfo", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert info.status_code == 200, info.text
        assert info.json()["name"] == "山田\u3000太郎"
    assert server.running  # the same process recovered: it was never restarted
    assert "Traceback" not in server.tail()


def test_database_stopped_while_a_verified_login_is_recorded_loses_neither_the_result_nor_the_login(
    deployment: Deployment,
) -> None:
    server = deployment.server
    client = _enrolled_with_rp(deployment)
    authorize, verifier, _ = _authorize_url(server.url, client[0])
    wallet = wallet_of(server.home / "wallet", PASSPHRASE)
    with Browser() as browser:
        landing = browser.go(authorize)
        assert landing.response is not None
        page = login_page(landing.url, landing.response.text)
        assert page is not None
        assert page.qr_request_url is not None
        answered = wallet(page.qr_request_url)  # a wallet on another device answers the QR code
        assert answered.verification_code in "".join(page.text.split())  # the code the page shows

        # the page's status check takes the verified result and records the login: the database stops in between
        with hold_lock(deployment.cluster.url, "oidc_logins"), ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(browser.client.get, f"{page.url}/status")
            lock_waiter(deployment.cluster.url, "UPDATE oidc_logins")
            deployment.cluster.stop()
            answer = in_flight.result(timeout=60)
        assert_unavailable(answer, "GET the login's status (in flight)")

        deployment.cluster.start()
        status = browser.client.get(f"{page.url}/status")
        assert status.status_code == 200, status.text
        assert status.json()["status"] == "verified", status.json()  # the result was not lost with the rollback
        shown = browser.go(page.url, stop_at=REDIRECT_URI)
        assert shown.response is not None
        assert shown.response.status_code == 200, shown.response.text
        chosen = approving_form(shown.response.text)  # the consent step of this first login
        assert chosen is not None
        form, button = chosen
        assert button is not None
        data = {**form.fields, button[0]: button[1]}
        landing = browser.go(form.action, stop_at=REDIRECT_URI, method="POST", data=data)
        assert landing.response is None, landing.url
        code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(landing.url).query))["code"]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        token = httpx.post(f"{server.url}/token", data={**grant, "code_verifier": verifier}, auth=client, timeout=60)
        assert token.status_code == 200, (token.text, server.tail())
    assert server.running
    assert "Traceback" not in server.tail()


def test_database_stopped_under_an_open_login_event_stream_ends_the_stream_cleanly(deployment: Deployment) -> None:
    """The login page's live status (server-sent events) polls the login; when the database stops the stream ends
    (the page's script falls back to polling the status, which answers 503 until the database is back), with no
    error in the server's log; afterwards a new stream reports the login again."""
    server = deployment.server
    client = _enrolled_with_rp(deployment)
    authorize, _, _ = _authorize_url(server.url, client[0])
    with Browser() as browser:
        landing = browser.go(authorize)
        assert landing.response is not None
        assert landing.response.status_code == 200, landing.response.text  # the login page: bound to this browser
        events = f"{landing.url}/events"
        received: list[str] = []
        with browser.client.stream("GET", events) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            for line in lines:
                received.append(line)
                if line.startswith("data: "):
                    break  # the first status report: the stream is open and polling
            assert '"pending"' in received[-1], received
            deployment.cluster.stop()
            received += list(lines)  # the stream ends by itself once a poll finds no database
        assert_unavailable(browser.client.get(f"{landing.url}/status"), "GET the login's status")

        deployment.cluster.start()
        with browser.client.stream("GET", events) as stream:
            assert stream.status_code == 200
            first = next(line for line in stream.iter_lines() if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["status"] == "pending"
    assert server.running
    assert "Traceback" not in server.tail(), server.tail()
