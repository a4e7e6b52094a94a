"""The settings as an operator writes them: TOML under the environment, unknown names, the production profile's
refusals, ``xid config check`` / ``show`` and ``xid serve`` refusing to start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from issuer.context import OperatorSecrets
from tests.helpers import free_port, require_component
from xid.cli import main
from xid.config import (
    Problem,
    SettingsFileError,
    UnknownSettingError,
    check,
    describe,
    load,
    production_problems,
    read_toml,
    refuse_unsafe,
)
from xid.settings import Settings, SettingsError


def _secrets(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(OperatorSecrets.generate().to_json()), encoding="utf-8")
    return path


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment the production profile accepts (errors only where a test takes something away)."""
    roots = tmp_path / "roots"
    roots.mkdir(exist_ok=True)
    env = {
        "XID_HOME": str(tmp_path / "home"),
        "XID_PROFILE": "production",
        "XID_PUBLIC_URL": "https://id.example.jp",
        "XID_JPKI_ROOTS": str(roots),
        "XID_OPERATOR_SECRETS": str(_secrets(tmp_path / "operator.json")),
        "XID_SOFTWARE_KEYS": "1",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def _errors(problems: list[Problem]) -> set[str]:
    return {p.setting for p in problems if p.severity == "error"}


def test_toml_file_under_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "xid.toml"
    config.parent.mkdir()
    config.write_text(
        'home = "state"\npublic_url = "https://id.example.jp/"\ntx_code = false\n'
        'trusted_issuers = ["did:web:a.example.jp", "https://b.example.jp"]\nrevocation = "crl"\n'
        'admin_token = "from-the-file"\n',
        encoding="utf-8",
    )
    settings = load({"XID_CONFIG": str(config), "XID_REVOCATION": "ocsp"})
    assert settings.home == config.parent / "state"  # relative paths are taken from the file's folder
    assert settings.public_url == "https://id.example.jp"
    assert settings.tx_code is False
    assert settings.trusted_issuers == ("did:web:a.example.jp", "https://b.example.jp")
    assert settings.revocation == "ocsp"  # the environment wins over the file
    assert settings.admin_token == "from-the-file"
    assert load({"XID_HOME": str(tmp_path)}, config=config).home == tmp_path  # --config, environment still wins
    assert read_toml(config)["XID_TX_CODE"] == "0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('databse_url = "sqlite:///x"', r"databse_url is not a setting \(did you mean database_url\?\)"),
        ("tx_code = 1", "tx_code must be true or false"),
        ("trusted_issuers = 'did:web:a'", "trusted_issuers must be a list of strings"),
        ("public_url = 443", "public_url must be a string"),
        ("[pkcs11]\nmodule = 'x'", "pkcs11 is not a setting"),
        ('revocation = "pray"', "XID_REVOCATION must be one of"),
    ],
)
def test_bad_settings_files(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "xid.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message):
        load({}, config=config)


def test_unreadable_settings_files(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(SettingsFileError, match="is not TOML"):
        load({}, config=tmp_path / "bad.toml")
    with pytest.raises(SettingsFileError, match="cannot be read"):
        load({"XID_CONFIG": str(tmp_path / "missing.toml")})


def test_unknown_environment_variables_name_the_closest_setting() -> None:
    with pytest.raises(UnknownSettingError, match=r"XID_DATABSE_URL is not a setting \(did you mean XID_DATABASE_URL"):
        load({"XID_DATABSE_URL": "sqlite:///x"})
    with pytest.raises(UnknownSettingError, match="XID_SOMETHING is not a setting"):
        load({"XID_SOMETHING": "1"})
    # the variables of the tests, benchmarks, wallet and card are not server settings, and not errors either
    settings = load({"XID_TEST_DATABASE_URL": "x", "XID_BENCH_X": "1", "XID_WALLET": "", "XID_SERVE_BASE_URL": "u"})
    assert settings.home == Path(".xid")


def test_profiles(tmp_path: Path) -> None:
    assert Settings.from_env({}).profile == "development"
    assert Settings.from_env({"XID_PUBLIC_URL": "https://id.example.jp"}).profile == "production"
    assert Settings.from_env({"XID_JPKI_ROOTS": str(tmp_path)}).profile == "production"
    assert Settings.from_env({"XID_PUBLIC_URL": "http://localhost:8000"}).profile == "development"
    explicit = {"XID_PUBLIC_URL": "https://tunnel.example.jp", "XID_PROFILE": "development"}
    assert Settings.from_env(explicit).profile == "development"
    assert Settings.from_env({"XID_PROFILE": "production"}).profile == "production"
    with pytest.raises(SettingsError, match="XID_PROFILE must be one of development, production"):
        Settings.from_env({"XID_PROFILE": "staging"})


def test_a_complete_production_configuration_has_only_the_sqlite_warnings(tmp_path: Path) -> None:
    problems = production_problems(Settings.from_env(_production(tmp_path)))
    assert _errors(problems) == set()
    assert {p.setting for p in problems} == {"XID_DATABASE_URL", "XID_LEDGER_DATABASE_URL"}
    assert all("SQLite" in p.message for p in problems)
    postgres = "postgresql+psycopg://xid@db.example.jp/xid"
    env = _production(tmp_path, XID_DATABASE_URL=postgres, XID_LEDGER_DATABASE_URL=postgres)
    assert production_problems(Settings.from_env(env)) == []


@pytest.mark.parametrize(
    ("change", "setting", "words"),
    [
        ({"XID_JPKI_ROOTS": ""}, "XID_JPKI_ROOTS", "TEST CA"),
        ({"XID_PUBLIC_URL": ""}, "XID_PUBLIC_URL", "https"),
        ({"XID_PUBLIC_URL": "http://id.example.jp"}, "XID_PUBLIC_URL", "https"),
        ({"XID_REVOCATION": "none"}, "XID_REVOCATION", "revoked card certificates"),
        ({"XID_OPERATOR_SECRETS": "/nonexistent/operator.json"}, "XID_OPERATOR_SECRETS", "xid issuer secrets"),
        ({"XID_SOFTWARE_KEYS": ""}, "XID_PKCS11_MODULE", "XID_SOFTWARE_KEYS=1"),
    ],
)
def test_production_refuses_each_unsafe_setting_by_name(
    tmp_path: Path, change: dict[str, str], setting: str, words: str
) -> None:
    settings = Settings.from_env(_production(tmp_path, **change))
    problems = production_problems(settings)
    assert _errors(problems) == {setting}
    (problem,) = [p for p in problems if p.severity == "error"]
    assert words in f"{problem.message} {problem.fix}"
    with pytest.raises(SettingsError, match=f"refuses to start: {setting}: "):
        refuse_unsafe(settings)
    # the same settings under the development profile start (with the banner)
    assert refuse_unsafe(Settings.from_env({**_production(tmp_path, **change), "XID_PROFILE": "development"})) == []


def test_refuse_unsafe_returns_the_warnings(tmp_path: Path) -> None:
    warnings = refuse_unsafe(Settings.from_env(_production(tmp_path)))
    assert {w.setting for w in warnings} == {"XID_DATABASE_URL", "XID_LEDGER_DATABASE_URL"}


def test_check_reads_the_files(tmp_path: Path) -> None:
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "fake.pem").write_text("not a certificate", encoding="utf-8")
    (tmp_path / "chain.pem").write_text("not PEM", encoding="utf-8")
    (tmp_path / "operator.json").write_text('{"evidence_key": "AAAA"}', encoding="utf-8")
    env = {
        "XID_HOME": str(tmp_path / "home"),
        "XID_PROFILE": "development",
        "XID_JPKI_ROOTS": str(tmp_path / "roots"),
        "XID_VERIFIER_X5C": str(tmp_path / "chain.pem"),
        "XID_OPERATOR_SECRETS": str(tmp_path / "operator.json"),
        "XID_LEDGER_KEY": str(tmp_path / "no-key.jwk"),
        "XID_PKCS11_MODULE": str(tmp_path / "no-module.so"),
        "XID_PKCS11_TOKEN": "xid",
        "XID_PKCS11_PIN": "1234",
        "XID_TRUSTED_ISSUERS": "did:web:ok.example.jp,http://plain.example.jp",
    }
    problems = check(Settings.from_env(env))
    assert _errors(problems) == {
        "XID_JPKI_ROOTS",
        "XID_VERIFIER_X5C",
        "XID_OPERATOR_SECRETS",
        "XID_LEDGER_KEY",
        "XID_PKCS11_MODULE",
        "XID_TRUSTED_ISSUERS",
    }
    by_setting = {p.setting: p for p in problems}
    assert "http://plain.example.jp" in by_setting["XID_TRUSTED_ISSUERS"].message
    assert "no-module.so does not exist" in by_setting["XID_PKCS11_MODULE"].message
    assert check(Settings.from_env({"XID_HOME": str(tmp_path / "fresh")})) == []  # a fresh development home is fine


def test_check_public_urls(tmp_path: Path) -> None:
    def found(url: str) -> list[str]:
        settings = Settings.from_env({"XID_HOME": str(tmp_path), "XID_PUBLIC_URL": url, "XID_PROFILE": "development"})
        return [p.message for p in check(settings, deep=False)]

    assert found("https://id.example.jp/xid") == []
    assert found("http://localhost:8000") == []
    assert found("http://id.example.jp") == ["uses http on a non-loopback host"]
    assert found("ftp://id.example.jp") == ["is not an http(s) URL without query or fragment"]
    assert found("https://id.example.jp/?a=1") == ["is not an http(s) URL without query or fragment"]


def test_pkcs11_needs_token_and_pin(tmp_path: Path) -> None:
    env = {"XID_HOME": str(tmp_path), "XID_PKCS11_MODULE": str(tmp_path / "m.so")}
    problems = check(Settings.from_env(env))
    assert [p.message for p in problems if p.setting == "XID_PKCS11_MODULE"] == [
        "is set without XID_PKCS11_TOKEN or XID_PKCS11_PIN"
    ]


def test_check_asks_the_databases(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there
    url = f"postgresql+psycopg://xid:hunter2@127.0.0.1:{port}/xid"
    problems = check(Settings.from_env({"XID_HOME": str(tmp_path), "XID_DATABASE_URL": url}))
    (problem,) = problems
    assert problem.setting == "XID_DATABASE_URL"
    assert problem.message.startswith("the database does not answer")
    assert "hunter2" not in str(problem)
    weird = check(Settings.from_env({"XID_HOME": str(tmp_path), "XID_LEDGER_DATABASE_URL": "mysql://x/y"}))
    assert [(p.setting, p.message) for p in weird] == [
        ("XID_LEDGER_DATABASE_URL", "is neither a SQLite nor a PostgreSQL URL")
    ]
    reachable = os.environ.get("XID_TEST_DATABASE_URL")
    if reachable:  # a real PostgreSQL answers: no problem
        assert check(Settings.from_env({"XID_HOME": str(tmp_path), "XID_DATABASE_URL": reachable})) == []


def test_check_refuses_a_home_that_cannot_hold_the_databases(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    problems = check(Settings.from_env({"XID_HOME": str(tmp_path / "a-file" / "home")}))
    assert {p.setting for p in problems} == {"XID_DATABASE_URL", "XID_LEDGER_DATABASE_URL"}
    assert all("is not a writable folder" in p.message for p in problems)


def test_describe_redacts_secrets(tmp_path: Path) -> None:
    env = {
        "XID_HOME": str(tmp_path),
        "XID_ADMIN_TOKEN": "admin-secret",
        "XID_VC_API_TOKEN": "vc-secret",
        "XID_PKCS11_PIN": "pin-secret",
        "XID_METRICS_TOKEN": "metrics-secret",
        "XID_DATABASE_URL": "postgresql+psycopg://xid:db-secret@db.example.jp:5433/xid?password=q-secret",
    }
    shown = describe(Settings.from_env(env))
    text = json.dumps(shown)
    for secret in ("admin-secret", "vc-secret", "pin-secret", "metrics-secret", "db-secret", "q-secret"):
        assert secret not in text
    assert shown["XID_ADMIN_TOKEN"] == "<set>"
    assert shown["XID_VC_API_TOKEN"] == "<set>"
    assert shown["effective"]["services_database"] == "postgresql+psycopg://xid:***@db.example.jp:5433/xid"
    assert shown["XID_HOME"] == str(tmp_path)
    assert shown["profile"] == "development"


def _xid(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_config_check_command(tmp_path: Path) -> None:
    status, out, err = _xid("config", "check", env={"XID_HOME": str(tmp_path)})
    assert (status, err) == (0, "")
    assert out.strip() == "development profile: 0 error(s), 0 warning(s)"
    production = _production(tmp_path, XID_JPKI_ROOTS="", XID_REVOCATION="none")
    status, out, err = _xid("config", "check", env=production)
    assert status == 1
    assert err.startswith("error [invalidSetting]: 2 setting(s) must be fixed")
    lines = out.splitlines()
    assert any(line.startswith("error XID_JPKI_ROOTS: ") and "Fix: set XID_JPKI_ROOTS" in line for line in lines)
    assert any(line.startswith("error XID_REVOCATION: ") for line in lines)
    assert any(line.startswith("warning XID_DATABASE_URL: ") for line in lines)
    status, out, _ = _xid("config", "check", "--json", env=production)
    report = json.loads(out)
    assert status == 1
    assert report["ok"] is False
    assert report["profile"] == "production"
    assert {p["setting"] for p in report["problems"] if p["severity"] == "error"} == {
        "XID_JPKI_ROOTS",
        "XID_REVOCATION",
    }
    status, out, err = _xid("config", "check", env={"XID_HOME": str(tmp_path), "XID_ADMN_TOKEN": "x"})
    assert status == 1
    assert (
        err.strip()
        == "error [unknownSetting]: the environment: XID_ADMN_TOKEN is not a setting (did you mean XID_ADMIN_TOKEN?)"
    )


def test_config_show_command(tmp_path: Path) -> None:
    config = tmp_path / "xid.toml"
    config.write_text('vc_api_token = "file-secret"\nrevocation = "crl"\n', encoding="utf-8")
    status, out, _ = _xid("config", "show", "--config", str(config), env={"XID_HOME": str(tmp_path)})
    assert status == 0
    assert "file-secret" not in out
    assert "XID_VC_API_TOKEN = <set>" in out.splitlines()
    assert "XID_REVOCATION = crl" in out.splitlines()
    status, out, _ = _xid("config", "show", "--json", "--config", str(config), env={"XID_HOME": str(tmp_path)})
    assert json.loads(out)["XID_REVOCATION"] == "crl"


def test_serve_refuses_to_start_under_an_unsafe_production_profile(tmp_path: Path) -> None:
    env = _production(tmp_path, XID_JPKI_ROOTS="")
    status, _, err = _xid("serve", "--port", "0", env=env)
    assert status == 1
    assert err.startswith("error [invalidSetting]: the production profile refuses to start: XID_JPKI_ROOTS: ")
    assert "DEVELOPMENT" not in err
    assert not (tmp_path / "home").exists()  # refused before anything was created


def test_serve_reads_its_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "xid.toml"
    config.write_text('home = "state"\nrevocaton = "ocsp"\n', encoding="utf-8")
    status, _, err = _xid("serve", "--port", "0", "--config", str(config), env={})
    assert status == 1
    assert err.strip() == f"error [unknownSetting]: {config}: revocaton is not a setting (did you mean revocation?)"
    config.write_text('home = "state"\nprofile = "production"\n', encoding="utf-8")
    status, _, err = _xid("serve", "--port", "0", "--config", str(config), env={})
    assert status == 1
    assert "the production profile refuses to start: XID_JPKI_ROOTS: " in err
    assert not (tmp_path / "state").exists()


def test_serve_applies_the_profile_to_the_public_url_option(tmp_path: Path) -> None:
    env = _production(tmp_path, XID_PUBLIC_URL="", XID_JPKI_ROOTS="", XID_PROFILE="")
    status, _, err = _xid("serve", "--port", "0", "--public-url", "https://id.example.jp/", env=env)
    assert status == 1  # an https --public-url implies the production profile, whose rules then apply
    assert err.startswith("error [invalidSetting]: the production profile refuses to start: XID_JPKI_ROOTS: ")
    assert "XID_PUBLIC_URL" not in err


SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")


@pytest.mark.softhsm
def test_check_finds_the_pkcs11_token(tmp_path: Path) -> None:
    """In a subprocess each: SoftHSM2 reads its configuration once per process."""
    require_component(shutil.which("softhsm2-util") is not None and SOFTHSM.exists(), "SoftHSM2 (apt softhsm2)")
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("XID_")},
        "SOFTHSM2_CONF": str(conf),
        "XID_HOME": str(tmp_path / "home"),
        "XID_PKCS11_MODULE": str(SOFTHSM),
        "XID_PKCS11_PIN": "1234",
    }
    init = ["softhsm2-util", "--init-token", "--free", "--label", "xid", "--so-pin", "0000", "--pin", "1234"]
    subprocess.run(init, check=True, capture_output=True, env=env)

    def problems(token: str) -> list[dict[str, str]]:
        done = subprocess.run(
            [sys.executable, "-m", "xid.cli", "config", "check", "--json"],
            env={**env, "XID_PKCS11_TOKEN": token},
            capture_output=True,
            text=True,
            check=False,
        )
        found: list[dict[str, str]] = json.loads(done.stdout)["problems"]
        return found

    assert problems("xid") == []
    (missing,) = problems("no-such-token")
    assert missing["setting"] == "XID_PKCS11_TOKEN"
    assert "'no-such-token' is not found" in missing["message"]
