"""The OIDC facade end to end as ``make demo`` shows it: the sample website logs the person in through xid.

xid serve runs with the facade on a real uvicorn; the wallet is enrolled with the emulated TEST card; the sample
website (xid.sample_rp: Authlib's Starlette client, the Digital Agency profile's scopes, PKCE S256) is registered
and served on its own loopback port; a browser stand-in goes from its /login through the OP's login page, the
wallet answers the ``openid4vp://`` request, the browser continues on the same device through consent and back to
the website, which shows the ID token's claims. The demo's step (``xid.demo_login.sample_site_login``) is run as
the demo runs it. Relying-party libraries on their own: tests/interop/test_oidc_rp_interop.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import PERSONS
from tests.interop.oidc_peers import PASSPHRASE, OidcWorld, start_world
from xid.demo_login import Browser, login_page, sample_site, sample_site_login

YAMADA_NAME = "山田\u3000太郎"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcWorld]:
    """xid serve with the facade and an enrolled wallet (no npm peer needed here)."""
    with start_world(tmp_path_factory.mktemp("oidc-system"), npm=False) as made:
        yield made


def test_the_sample_website_logs_the_person_in_through_the_facade(world: OidcWorld) -> None:
    with sample_site(world.url, world.home) as site:
        first = site.log_in(world.wallet)
        again = site.log_in(world.wallet, accept_language="ja")
    assert first["iss"] == world.url
    assert first["aud"] == site.client_id or site.client_id in first["aud"]
    assert first["name"] == YAMADA_NAME
    assert first["birthdate"] == "1990-01-02"
    assert "address" in first
    assert "gender" in first
    assert again["sub"] == first["sub"]  # pairwise, stable across logins
    assert again["nonce"] != first["nonce"]  # each login its own


def test_the_login_page_shows_the_wallet_link_and_the_code_in_japanese(world: OidcWorld) -> None:
    with sample_site(world.url, world.home) as site, Browser(accept_language="ja") as browser:
        landing = browser.go(f"{site.url}/login")
        assert landing.response is not None
        assert landing.url.startswith(world.url)  # on the OP, not the website
        page = login_page(landing.url, landing.response.text)
        assert page is not None
        assert page.request_url.startswith("openid4vp://")  # the same-device button
        assert page.qr_request_url is not None
        assert page.qr_request_url.startswith("openid4vp://")  # the QR code
        assert '<html lang="ja"' in landing.response.text
        answer = world.wallet(page.qr_request_url)  # a wallet on another device shows the page's code
        assert answer.verification_code in "".join(page.text.split())


def test_the_demo_step_shows_the_same_sub_after_a_card_renewal(world: OidcWorld) -> None:
    said: list[str] = []
    first = sample_site_login(world.url, world.home, PASSPHRASE, say=said.append)
    assert first["name"] == YAMADA_NAME
    assert any(line.startswith("    name: ") for line in said)

    renewed = world.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml"))  # a new card: new certificate
    assert renewed.exit_code == 0, renewed.output
    enrolled = world.xid(
        "wallet", "enroll", "--issuer", world.url, "--emulated", "--passphrase-stdin", "--pin-stdin",
        stdin=f"{PASSPHRASE}\nTEST1234\n",
    )  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    second = sample_site_login(world.url, world.home, PASSPHRASE, say=said.append)
    assert second["sub"] == first["sub"]  # the same person, a new registration on the same host (sector)
