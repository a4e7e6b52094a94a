"""The settings as an operator writes them: environment variables ``XID_*`` over an optional TOML file, checked.

``load`` reads the TOML file (``--config FILE`` or ``XID_CONFIG``; its keys are the variables' names without
``XID_`` in lower case, relative paths taken from the file's directory), lays the environment over it (the
environment wins) and builds one ``Settings``. An unknown key in the file, or an ``XID_*`` variable that is no
setting, is an error naming the closest valid one. ``problems`` is what ``xid config check`` reports and what
``xid serve`` refuses to start with: the production profile's rules (no TEST CA, https, revocation on, operator
secrets present, keys on a PKCS#11 token unless opted out) and, when asked, whether the files parse and the databases
answer. Errors::

    XidError
    └── SettingsError              invalidSetting       (xid.settings)
        ├── UnknownSettingError    unknownSetting       (a key or variable that is no setting)
        └── SettingsFileError      unreadableSettings   (the TOML file cannot be read or is not TOML)
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from foundation.errors import XidError
from xid.settings import SECRET_SETTINGS, VARIABLES, Settings, SettingsError

__all__ = [
    "CONFIG_ENV",
    "OTHER_VARIABLES",
    "Problem",
    "SettingsFileError",
    "UnknownSettingError",
    "check",
    "describe",
    "load",
    "production_problems",
    "read_toml",
    "refuse_unsafe",
    "unknown_variables",
]

CONFIG_ENV = "XID_CONFIG"
"""The environment variable naming the TOML settings file (``xid serve --config`` and ``xid config`` override it)."""

OTHER_VARIABLES = frozenset(
    {
        CONFIG_ENV,
        "XID_SERVE_BASE_URL",
        "XID_METRICS_DIR",
        "XID_WALLET",
        "XID_CARD_SIGN_PASSWORD",
        "XID_CARD_AUTH_PIN",
        "XID_CARD_INPUT_PIN",
    }
)
"""``XID_*`` variables that are not server settings (the wallet's, the card's, between ``xid serve`` and its
workers). Variables of the tests and benchmarks (``XID_TEST_*``, ``XID_BENCH_*``, ``XID_PG_*``, ``XID_W3C_*``) are
ignored too."""

_OTHER_PREFIXES = ("XID_TEST_", "XID_BENCH_", "XID_PG_", "XID_W3C_")
_TOML_KEYS = {variable.removeprefix("XID_").lower(): variable for variable in VARIABLES.values()}
_PATH_KEYS = {"home", "jpki_roots", "ledger_key", "verifier_x5c", "operator_secrets", "pkcs11_module"}
_BOOL_KEYS = {"tx_code", "software_keys"}
_LIST_KEYS = {"trusted_issuers"}
_CHECK_TIMEOUT_S = 3


class UnknownSettingError(SettingsError):
    """A settings-file key or an ``XID_*`` environment variable that names no setting."""

    code = "unknownSetting"


class SettingsFileError(SettingsError):
    """The settings file cannot be read, or is not UTF-8 TOML (the command line names a bad input: exit 2)."""

    code = "unreadableSettings"


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings: which setting, how bad, what is wrong and how to fix it."""

    setting: str
    severity: Severity
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.severity} {self.setting}: {self.message}. Fix: {self.fix}"

    def to_json(self) -> dict[str, str]:
        """The problem as a JSON object."""
        return asdict(self)


def _closest(name: str, valid: list[str]) -> str:
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def _unknown(name: str, valid: list[str], where: str) -> UnknownSettingError:
    return UnknownSettingError(f"{where}: {name} is not a setting{_closest(name, valid)}")


def read_toml(path: Path) -> dict[str, str]:
    """The settings in a TOML file, as the environment variables they stand for (relative paths from its folder)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsFileError(f"the settings file {path} cannot be read: {error.strerror or error}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsFileError(f"the settings file {path} is not TOML: {error}") from None
    values: dict[str, str] = {}
    for key, value in document.items():
        if key not in _TOML_KEYS:
            raise _unknown(key, sorted(_TOML_KEYS), str(path))
        if isinstance(value, dict):
            raise SettingsError(f"{path}: {key} must be a value, not a table")
        if key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise SettingsError(f"{path}: {key} must be true or false")
            text = "1" if value else "0"
        elif key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(item, str) and "," not in item for item in value):
                raise SettingsError(f"{path}: {key} must be a list of strings")
            text = ",".join(value)
        elif isinstance(value, str):
            text = str(path.parent / value) if key in _PATH_KEYS and value and not Path(value).is_absolute() else value
        else:
            raise SettingsError(f"{path}: {key} must be a string")
        values[_TOML_KEYS[key]] = text
    return values


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """The ``XID_*`` variables in ``env`` that are neither settings nor known variables of other xid parts."""
    known = set(VARIABLES.values()) | OTHER_VARIABLES
    return sorted(
        name for name in env if name.startswith("XID_") and name not in known and not name.startswith(_OTHER_PREFIXES)
    )


def load(env: Mapping[str, str] | None = None, config: Path | None = None) -> Settings:
    """The settings: the TOML file (``config``, else ``XID_CONFIG``) under the environment; unknown names refused."""
    env = os.environ if env is None else env
    unknown = unknown_variables(env)
    if unknown:
        raise _unknown(unknown[0], sorted(VARIABLES.values()), "the environment")
    path = config or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    merged = {
        **(read_toml(path) if path is not None else {}),
        **{k: v for k, v in env.items() if k in VARIABLES.values()},
    }
    return Settings.from_env(merged)


def _https(url: str | None) -> bool:
    return url is not None and urlsplit(url).scheme == "https"


def production_problems(settings: Settings) -> list[Problem]:
    """What the production profile refuses (errors) or warns about, each naming its setting."""
    found: list[Problem] = []
    if settings.jpki_roots is None:
        found.append(
            Problem(
                "XID_JPKI_ROOTS",
                "error",
                "unset, so the TEST CA of the emulated card is trusted: anyone could enroll a made-up person",
                "set XID_JPKI_ROOTS to a directory of the J-LIS root certificates (docs/jpki.md)",
            )
        )
    if not _https(settings.public_url):
        shown = settings.public_url or "unset (http://HOST:PORT)"
        found.append(
            Problem(
                "XID_PUBLIC_URL",
                "error",
                f"is {shown}; the production issuer identifier must be an https URL",
                "set XID_PUBLIC_URL to the https URL clients reach xid at (e.g. https://id.example.jp)",
            )
        )
    if settings.revocation == "none":
        found.append(
            Problem(
                "XID_REVOCATION",
                "error",
                "is none: revoked card certificates would be accepted",
                "set XID_REVOCATION to ocsp (or crl)",
            )
        )
    if not settings.operator_secrets.is_file():
        found.append(
            Problem(
                "XID_OPERATOR_SECRETS",
                "error",
                f"no operator secrets file at {settings.operator_secrets} (the evidence-encryption key among them); "
                "production never generates them silently",
                f"create it with 'xid issuer secrets {settings.operator_secrets}' (docs/operations.md)",
            )
        )
    if settings.pkcs11_module is None and not settings.software_keys:
        found.append(
            Problem(
                "XID_PKCS11_MODULE",
                "error",
                "unset, so the issuer, CA and verifier keys would be software key files under XID_HOME",
                "keep the keys on an HSM (XID_PKCS11_MODULE, XID_PKCS11_TOKEN, XID_PKCS11_PIN), or opt in to key "
                "files with XID_SOFTWARE_KEYS=1",
            )
        )
    for name, url in (
        ("XID_DATABASE_URL", settings.database_url),
        ("XID_LEDGER_DATABASE_URL", settings.ledger_database_url),
    ):
        if url is None or url.startswith("sqlite"):
            found.append(
                Problem(
                    name,
                    "warning",
                    "SQLite: one machine only, and its backups are yours to make",
                    f"set {name} to a PostgreSQL URL (postgresql+psycopg://...) to run several machines",
                )
            )
    return found


def _files(settings: Settings) -> list[Problem]:
    """Whether the files the settings name exist and parse."""
    found: list[Problem] = []
    if settings.jpki_roots is not None:
        try:
            from jpki_bridge.trust import TrustAnchors

            files = sorted(
                p for p in settings.jpki_roots.iterdir() if p.suffix.lower() in (".cer", ".crt", ".pem", ".der")
            )
            if not files:
                raise ValueError("it holds no .cer, .crt, .pem or .der files")
            TrustAnchors.from_jlis_files(files)
        except (OSError, ValueError, XidError) as error:  # a JpkiError: e.g. an unpinned root
            found.append(_file_problem("XID_JPKI_ROOTS", settings.jpki_roots, error, "the J-LIS root certificates"))
    if settings.operator_secrets.exists():
        try:
            from issuer.context import OperatorSecrets

            OperatorSecrets.from_json(json.loads(settings.operator_secrets.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            fix = f"the file made by 'xid issuer secrets {settings.operator_secrets}'"
            found.append(_file_problem("XID_OPERATOR_SECRETS", settings.operator_secrets, error, fix))
    if settings.verifier_x5c is not None:
        try:
            from cryptography import x509

            if not x509.load_pem_x509_certificates(settings.verifier_x5c.read_bytes()):
                raise ValueError("no certificate in it")
        except (OSError, ValueError) as error:
            found.append(_file_problem("XID_VERIFIER_X5C", settings.verifier_x5c, error, "a PEM chain, leaf first"))
    if settings.ledger_key_file is not None and not settings.ledger_key_file.is_file():
        found.append(_file_problem("XID_LEDGER_KEY", settings.ledger_key_file, None, "an Ed25519 JWK file"))
    found.extend(_pkcs11(settings))
    return found


def _pkcs11(settings: Settings) -> list[Problem]:
    if settings.pkcs11_module is None:
        return []
    if not settings.pkcs11_token or settings.pkcs11_pin is None:
        fix = "set XID_PKCS11_TOKEN (the token label) and XID_PKCS11_PIN"
        return [Problem("XID_PKCS11_MODULE", "error", "is set without XID_PKCS11_TOKEN or XID_PKCS11_PIN", fix)]
    module = Path(settings.pkcs11_module)
    if not module.is_file():
        return [_file_problem("XID_PKCS11_MODULE", module, None, "the HSM vendor's PKCS#11 library (.so)")]
    try:
        import pkcs11

        pkcs11.lib(str(module)).get_token(token_label=settings.pkcs11_token)
    except Exception as error:  # python-pkcs11 raises many kinds; each is a problem to report
        return [
            Problem(
                "XID_PKCS11_TOKEN",
                "error",
                f"the token {settings.pkcs11_token!r} is not found through {module}: {type(error).__name__}",
                "check the token label and that the HSM is reachable",
            )
        ]
    return []


def _file_problem(setting: str, path: Path, error: BaseException | None, what: str) -> Problem:
    reason = "does not exist" if error is None else f"cannot be used: {error}"
    return Problem(setting, "error", f"{path} {reason}", f"point {setting} at {what}")


def _databases(settings: Settings) -> list[Problem]:
    """Whether each database answers within a few seconds (SQLite: whether its folder can hold it)."""
    found: list[Problem] = []
    for name, url in (
        ("XID_DATABASE_URL", settings.services_database),
        ("XID_LEDGER_DATABASE_URL", settings.ledger_database),
    ):
        if url.startswith("sqlite:///"):
            folder = Path(url.removeprefix("sqlite:///")).parent
            existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
            if not existing.is_dir() or not os.access(existing, os.W_OK):
                problem = f"{existing} is not a writable folder, so {folder} cannot hold the database"
                found.append(Problem(name, "error", problem, "choose a writable XID_HOME"))
            continue
        if not url.startswith(("postgresql://", "postgresql+psycopg://")):
            fix = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
            found.append(Problem(name, "error", "is neither a SQLite nor a PostgreSQL URL", fix))
            continue
        found.extend(_reach(name, url))
    return found


def _reach(name: str, url: str) -> list[Problem]:
    from sqlalchemy import create_engine, exc, text

    try:
        engine = create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": _CHECK_TIMEOUT_S}
        )
    except (exc.ArgumentError, ValueError):
        return [Problem(name, "error", "is not a valid database URL", "use postgresql+psycopg://USER@HOST/DB")]
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except exc.DBAPIError as error:
        first = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
        fix = "start the database, or correct host, port, user and password"
        return [Problem(name, "error", f"the database does not answer: {first}", fix)]
    finally:
        engine.dispose()
    return []


def check(settings: Settings, *, deep: bool = True) -> list[Problem]:
    """Every problem with the settings: the profile's rules, and with ``deep`` the files and the databases."""
    found = production_problems(settings) if settings.profile == "production" else []
    if settings.public_url is not None:
        parts = urlsplit(settings.public_url)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            fix = "give the URL clients reach xid at, e.g. https://id.example.jp or https://example.jp/xid"
            found.append(Problem("XID_PUBLIC_URL", "error", "is not an http(s) URL without query or fragment", fix))
        elif parts.scheme == "http" and not loopback and settings.profile != "production":
            fix = "use https (plain http only on a loopback address)"
            found.append(Problem("XID_PUBLIC_URL", "error", "uses http on a non-loopback host", fix))
    for issuer in settings.trusted_issuers:
        if not (issuer.startswith("did:") or _https(issuer)):
            fix = "list DIDs or https URLs, comma-separated"
            found.append(Problem("XID_TRUSTED_ISSUERS", "error", f"{issuer!r} is neither a DID nor an https URL", fix))
    if deep:
        found.extend(_files(settings))
        found.extend(_databases(settings))
    return found


def refuse_unsafe(settings: Settings) -> list[Problem]:
    """Raise a SettingsError naming every error the profile's rules find; return the warnings."""
    found = production_problems(settings) if settings.profile == "production" else []
    errors = [p for p in found if p.severity == "error"]
    if errors:
        listed = "; ".join(f"{p.setting}: {p.message} (fix: {p.fix})" for p in errors)
        raise SettingsError(f"the production profile refuses to start: {listed}")
    return [p for p in found if p.severity == "warning"]


def describe(settings: Settings) -> dict[str, Any]:
    """The settings by variable name with secrets shown only as set or unset (for ``xid config show``)."""
    shown: dict[str, Any] = {"profile": settings.profile}
    for field, variable in VARIABLES.items():
        value = getattr(settings, field)
        if field in SECRET_SETTINGS:
            shown[variable] = "<set>" if value else None
        elif isinstance(value, Path):
            shown[variable] = str(value)
        elif isinstance(value, tuple):
            shown[variable] = list(value)
        else:
            shown[variable] = value
    shown["effective"] = {
        "services_database": _redact_url(settings.services_database),
        "ledger_database": _redact_url(settings.ledger_database),
        "ledger_key": str(settings.ledger_key),
        "operator_secrets": str(settings.operator_secrets),
        "keys": "pkcs11" if settings.pkcs11_module else str(settings.keys_dir),
    }
    return shown


def _redact_url(url: str) -> str:
    """A database URL without its password (and without the query, which may carry one)."""
    if url.startswith("sqlite:"):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.password else (f"{parts.username}@" if parts.username else "")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"
