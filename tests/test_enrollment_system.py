"""Enrollment end to end, the way a person does it: ``xid wallet enroll`` against ``xid serve``'s app on 127.0.0.1.

The card is the emulated TEST card, in-process (``--emulated``) and through the real PC/SC stack (pcscd +
vsmartcard-vpcd + pyscard; required in CI). The wallet obtains the three credentials and the two xid CA
certificates; the wallet's files hold no personal data in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jpki_bridge.testca import CardIdentity, TestCA
from jpki_bridge.vpcd import VpcdLink
from tests.helpers import PERSONS, SIGN_PASSWORD, load_person, make_card, serve_system
from tests.jpki.pcscd import pcscd  # noqa: F401 - fixture
from xid.cli import main
from xid.serve import Services

PASSPHRASE = "correct horse battery staple"
CONFIGURATIONS = {"xid_identity_sd_jwt", "xid_identity_jwt_vc", "xid_identity_ldp_vc"}


@dataclass
class Served:
    """xid serve's app on a real uvicorn, and its home directory."""

    url: str
    home: Path
    services: Services

    def xid(self, *args: str, stdin: str | None = None) -> Result:
        """Run ``xid`` with this XID_HOME."""
        return CliRunner().invoke(main, list(args), input=stdin, env={"XID_HOME": str(self.home)})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / "home"
    with serve_system(home) as (url, services, _):
        yield Served(url, home, services)


def enrolled(served: Served, result: Result) -> dict[str, Any]:
    """Check an enrollment run and what the wallet then holds; returns ``xid wallet list --json``."""
    assert result.exit_code == 0, result.output
    assert "certificate" in result.stderr.lower()
    listing = served.xid("wallet", "list", "--json")
    assert listing.exit_code == 0, listing.output
    held: dict[str, Any] = json.loads(listing.stdout)
    text = json.dumps(held)
    for configuration in CONFIGURATIONS:
        assert configuration in text, configuration
    assert "authentication" in text
    assert "signing" in text
    person = load_person("yamada")
    for path in (served.home / "wallet").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (person.name, person.address, person.date_of_birth[1:], PASSPHRASE):
                assert secret.encode() not in data, f"{secret!r} in {path}"
    return held


def test_wallet_enrolls_the_emulated_card_and_gets_everything(served: Served) -> None:
    emulated = served.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml"))
    assert emulated.exit_code == 0, emulated.output
    assert served.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
    result = served.xid(
        "wallet", "enroll", "--issuer", served.url, "--emulated", "--passphrase-stdin", "--pin-stdin", "--json",
        stdin=f"{PASSPHRASE}\nTEST1234\n",
    )  # fmt: skip
    held = enrolled(served, result)
    assert held


def test_offer_only_prints_an_offer_a_phone_wallet_can_take(served: Served) -> None:
    assert served.xid("card", "emulate", "--person", str(PERSONS / "yamada.toml")).exit_code == 0
    result = served.xid(
        "wallet", "enroll", "--issuer", served.url, "--emulated", "--offer-only", "--pin-stdin",
        "--passphrase-stdin", "--json", stdin="\nTEST1234\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    offer = json.loads(result.stdout)
    assert offer["offer"].startswith("openid-credential-offer://?credential_offer_uri=")
    assert offer["tx_code"] is not None
    assert offer["tx_code"].isdigit()
    # another wallet (here: a second one on this machine) takes it by reference with the code
    assert served.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
    accepted = served.xid(
        "wallet", "accept", offer["offer"], "--tx-code", offer["tx_code"], "--passphrase-stdin", "--json",
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert accepted.exit_code == 0, accepted.output
    listing = json.loads(served.xid("wallet", "list", "--json").stdout)
    assert all(configuration in json.dumps(listing) for configuration in CONFIGURATIONS)


@pytest.mark.pcsc
def test_wallet_enrolls_through_pcsc(served: Served, pcscd: str) -> None:  # noqa: F811
    settings = served.services.settings
    ca = TestCA.load(settings.test_ca_dir)
    person = load_person("yamada")
    identity: CardIdentity = ca.issue(person)
    ca.save(settings.test_ca_dir)  # the development OCSP responder answers from the saved CA
    link = VpcdLink(make_card(identity, person))
    link.start()
    try:
        assert served.xid("wallet", "init", "--passphrase-stdin", stdin=PASSPHRASE + "\n").exit_code == 0
        result = served.xid(
            "wallet", "enroll", "--issuer", served.url, "--reader", pcscd, "--wait", "15", "--passphrase-stdin",
            "--pin-stdin", "--json", stdin=f"{PASSPHRASE}\n{SIGN_PASSWORD}\n",
        )  # fmt: skip
        enrolled(served, result)
    finally:
        link.close()
