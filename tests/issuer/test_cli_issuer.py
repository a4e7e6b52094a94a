"""``xid issuer``: the operator's commands over the database xid serve uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from did.keys import KeyType
from did.signer import SoftwareSigner
from foundation.db import transaction
from issuer.app import wire
from issuer.context import OperatorSecrets
from issuer.credentials import CONFIGURATION_IDS, make_credential_issuer
from issuer.status import list_credentials
from tests.issuer.credentials_support import facts
from xid.cli import main
from xid.serve import build_services
from xid.settings import Settings


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An XID_HOME whose issuer issued the three credentials to person-1 and one to person-2."""
    home = tmp_path / "home"
    services = build_services(Settings.from_env({"XID_HOME": str(home)}), "http://127.0.0.1:8000")
    try:
        parts = wire(services.issuer)
        issue = make_credential_issuer(services.issuer, parts.status)
        holder = SoftwareSigner.generate(KeyType.P256).public_jwk
        with transaction(services.issuer.engine, write=True) as conn:
            for configuration in CONFIGURATION_IDS:
                issue(conn, configuration, facts(person="person-1"), holder)
            issue(conn, CONFIGURATION_IDS[0], facts(person="person-2"), holder)
    finally:
        services.close()
    return home


def xid(home: Path, *args: str) -> Any:
    """Run ``xid issuer ...`` with --json; return the parsed output (the command must succeed)."""
    result = CliRunner().invoke(main, ["issuer", *args, "--json"], env={"XID_HOME": str(home)})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def states(home: Path, person: str) -> list[str]:
    return sorted(record["status"] for record in xid(home, "credentials", person))


def test_list_revoke_suspend_reinstate(home: Path) -> None:
    records = xid(home, "credentials", "person-1")
    assert sorted(r["configuration_id"] for r in records) == sorted(CONFIGURATION_IDS)
    first = records[0]["id"]
    assert xid(home, "suspend", first) == {"changed": 1}
    assert "suspended" in states(home, "person-1")
    assert xid(home, "reinstate", first) == {"changed": 1}
    assert "suspended" not in states(home, "person-1")
    assert xid(home, "revoke", "--person", "person-1") == {"changed": 3}
    assert states(home, "person-1") == ["revoked"] * 3
    final = CliRunner().invoke(main, ["issuer", "reinstate", first], env={"XID_HOME": str(home)})
    assert final.exit_code == 1
    assert final.stderr.startswith("error [revokedIsFinal]")
    assert states(home, "person-2") == ["valid"]
    assert xid(home, "credentials", "nobody") == []


def test_merge_refuses_unknown_persons(home: Path) -> None:
    # persons come from enrollment; these credentials were issued without one, so the merge is refused
    result = CliRunner().invoke(main, ["issuer", "merge-persons", "person-1", "person-2"], env={"XID_HOME": str(home)})
    assert result.exit_code == 1
    assert "no person has this ID" in result.stderr
    assert states(home, "person-2") == ["valid"]


def test_usage_errors(home: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["issuer", "revoke", "c-1", "--person", "p"], env={"XID_HOME": str(home)})
    assert both.exit_code == 2
    neither = runner.invoke(main, ["issuer", "revoke"], env={"XID_HOME": str(home)})
    assert neither.exit_code == 2
    serial = runner.invoke(main, ["issuer", "revoke-certificate", "zz"], env={"XID_HOME": str(home)})
    assert serial.exit_code == 2
    assert "hexadecimal" in serial.stderr


def test_instances_recheck_purge(home: Path) -> None:
    instances = xid(home, "instances")
    assert {i["cryptosuite"] for i in instances} >= {"eddsa-rdfc-2022", "ecdsa-rdfc-2019", "eddsa-jcs-2022", "vc+jwt"}
    assert all(i["issue"].startswith("http://127.0.0.1:8000/") for i in instances)
    assert xid(home, "recheck")["checked"] == 0
    assert xid(home, "purge") == {"evidence": 0, "oid4vci": 0}


def test_secrets(tmp_path: Path) -> None:
    out = tmp_path / "operator.json"
    result = CliRunner().invoke(main, ["issuer", "secrets", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    OperatorSecrets.from_json(json.loads(out.read_text()))
    again = CliRunner().invoke(main, ["issuer", "secrets", str(out)])
    assert again.exit_code == 1
    assert "already exists" in again.stderr


def test_no_record_holds_claims(home: Path) -> None:
    services = build_services(Settings.from_env({"XID_HOME": str(home)}), "http://127.0.0.1:8000")
    try:
        with transaction(services.issuer.engine) as conn:
            text = json.dumps([r.to_json() for r in list_credentials(conn, "person-1")], ensure_ascii=False)
    finally:
        services.close()
    assert "山田" not in text
