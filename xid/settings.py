"""Runtime settings read from the environment (one typed object, no globals).

Every setting has a development default, so ``xid serve`` runs with nothing configured (SQLite and software keys
under ``$XID_HOME``, the emulated card's TEST CA trusted). A production deployment sets ``XID_JPKI_ROOTS`` (the J-LIS
root certificates), ``XID_PUBLIC_URL``, ``XID_DATABASE_URL`` and its secrets; docs/operations.md lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from foundation.errors import XidError

__all__ = [
    "LOG_LEVELS",
    "PROFILES",
    "REVOCATION_MODES",
    "SECRET_SETTINGS",
    "VARIABLES",
    "LogLevel",
    "Profile",
    "RevocationMode",
    "Settings",
    "SettingsError",
]

RevocationMode = Literal["ocsp", "crl", "none"]
REVOCATION_MODES: tuple[RevocationMode, ...] = ("ocsp", "crl", "none")
Profile = Literal["development", "production"]
PROFILES: tuple[str, ...] = ("development", "production")
LogLevel = Literal["info", "warning", "error"]
LOG_LEVELS: tuple[str, ...] = ("info", "warning", "error")

VARIABLES: dict[str, str] = {
    "home": "XID_HOME",
    "profile_setting": "XID_PROFILE",
    "database_url": "XID_DATABASE_URL",
    "ledger_database_url": "XID_LEDGER_DATABASE_URL",
    "public_url": "XID_PUBLIC_URL",
    "jpki_roots": "XID_JPKI_ROOTS",
    "revocation": "XID_REVOCATION",
    "tx_code": "XID_TX_CODE",
    "vc_api_token": "XID_VC_API_TOKEN",
    "admin_token": "XID_ADMIN_TOKEN",
    "pkcs11_module": "XID_PKCS11_MODULE",
    "pkcs11_token": "XID_PKCS11_TOKEN",
    "pkcs11_pin": "XID_PKCS11_PIN",
    "software_keys": "XID_SOFTWARE_KEYS",
    "metrics_token": "XID_METRICS_TOKEN",
    "log_level": "XID_LOG_LEVEL",
    "ledger_key_file": "XID_LEDGER_KEY",
    "verifier_x5c": "XID_VERIFIER_X5C",
    "trusted_issuers": "XID_TRUSTED_ISSUERS",
    "operator_secrets_file": "XID_OPERATOR_SECRETS",
}
"""Each ``Settings`` field and the environment variable that sets it (the TOML key is the variable's name without
``XID_``, in lower case: ``XID_LEDGER_KEY`` is ``ledger_key``)."""

SECRET_SETTINGS = frozenset(
    {"vc_api_token", "admin_token", "pkcs11_pin", "metrics_token", "database_url", "ledger_database_url"}
)
"""Fields never shown: tokens, the PIN, and database URLs (which may carry a password)."""


class SettingsError(XidError):
    """An environment setting has a value xid cannot use."""

    code = "invalidSetting"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0 (true/false), not {value!r}")


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value else None


@dataclass(frozen=True)
class Settings:
    """Where xid keeps its state and how its services are configured."""

    home: Path
    database_url: str | None = None
    """``XID_DATABASE_URL``: the services' database (default: SQLite ``$XID_HOME/xid.sqlite3``)."""
    ledger_database_url: str | None = None
    """``XID_LEDGER_DATABASE_URL``: the ledger's database (default: SQLite ``$XID_HOME/ledger.sqlite3``)."""
    public_url: str | None = None
    """``XID_PUBLIC_URL``: the base URL clients use (behind a proxy); the issuer identifier and did:web follow it."""
    jpki_roots: Path | None = None
    """``XID_JPKI_ROOTS``: a directory of J-LIS root certificates (pinned); unset = the TEST CA (development)."""
    revocation: RevocationMode = "ocsp"
    """``XID_REVOCATION``: how card certificates are checked for revocation (``none`` only in development)."""
    tx_code: bool = True
    """``XID_TX_CODE``: whether credential offers require a transaction code."""
    vc_api_token: str | None = None
    """``XID_VC_API_TOKEN``: the static bearer token of the W3C VC API (unset: the VC API refuses every call)."""
    admin_token: str | None = None
    """``XID_ADMIN_TOKEN``: the bearer token of the admin API (unset: no admin API)."""
    pkcs11_module: str | None = None
    """``XID_PKCS11_MODULE``: a PKCS#11 module; when set, the issuer and CA keys live on ``XID_PKCS11_TOKEN``."""
    pkcs11_token: str | None = None
    pkcs11_pin: str | None = None
    ledger_key_file: Path | None = None
    """``XID_LEDGER_KEY``: the ledger's Ed25519 checkpoint key (default $XID_HOME/keys/ledger.jwk)."""
    verifier_x5c: Path | None = None
    """``XID_VERIFIER_X5C``: the verifier's certificate chain (PEM, leaf first; the leaf's key must be the verifier's
    request key and its dNSName the base URL's host). Default: a short-lived certificate from the xid CA."""
    trusted_issuers: tuple[str, ...] = ()
    """``XID_TRUSTED_ISSUERS``: issuers (DIDs or https URLs, comma-separated) the verifier accepts besides its own."""
    operator_secrets_file: Path | None = None
    """``XID_OPERATOR_SECRETS``: the operator secrets file (default $XID_HOME/secrets/operator.json)."""
    profile_setting: Profile | None = None
    """``XID_PROFILE``: ``development`` or ``production``; unset, production when ``XID_JPKI_ROOTS`` is set or
    ``XID_PUBLIC_URL`` is https (see ``profile``)."""
    software_keys: bool = False
    """``XID_SOFTWARE_KEYS``: the production profile's explicit opt-in to issuer, CA and verifier keys in files
    (without it, production needs ``XID_PKCS11_MODULE``)."""
    metrics_token: str | None = None
    """``XID_METRICS_TOKEN``: when set, ``/metrics`` asks for it as a bearer token (unset: open, for a scraper on a
    private network; keep ``/metrics`` off the public proxy)."""
    log_level: LogLevel = "info"
    """``XID_LOG_LEVEL``: ``info`` (one line per request), ``warning`` or ``error``. There is no debug level: some
    libraries log request data at debug."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (XID_HOME default ./.xid); a bad value is a SettingsError."""
        env = os.environ if env is None else env
        revocation = env.get("XID_REVOCATION", "ocsp") or "ocsp"
        if revocation not in REVOCATION_MODES:
            raise SettingsError(f"XID_REVOCATION must be one of {', '.join(REVOCATION_MODES)}, not {revocation!r}")
        log_level = (env.get("XID_LOG_LEVEL") or "info").lower()
        if log_level not in LOG_LEVELS:
            raise SettingsError(f"XID_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        profile = env.get("XID_PROFILE") or None
        if profile is not None and profile not in PROFILES:
            raise SettingsError(f"XID_PROFILE must be one of {', '.join(PROFILES)}, not {profile!r}")
        return cls(
            home=Path(env.get("XID_HOME", ".xid") or ".xid"),
            profile_setting=profile,  # type: ignore[arg-type]  # checked just above
            software_keys=_flag(env, "XID_SOFTWARE_KEYS", False),
            metrics_token=env.get("XID_METRICS_TOKEN") or None,
            log_level=log_level,  # type: ignore[arg-type]  # checked above
            database_url=env.get("XID_DATABASE_URL") or None,
            ledger_database_url=env.get("XID_LEDGER_DATABASE_URL") or None,
            public_url=(env.get("XID_PUBLIC_URL") or "").rstrip("/") or None,
            jpki_roots=_path(env, "XID_JPKI_ROOTS"),
            revocation=revocation,
            tx_code=_flag(env, "XID_TX_CODE", True),
            vc_api_token=env.get("XID_VC_API_TOKEN") or None,
            admin_token=env.get("XID_ADMIN_TOKEN") or None,
            pkcs11_module=env.get("XID_PKCS11_MODULE") or None,
            pkcs11_token=env.get("XID_PKCS11_TOKEN") or None,
            pkcs11_pin=env.get("XID_PKCS11_PIN") or None,
            ledger_key_file=_path(env, "XID_LEDGER_KEY"),
            operator_secrets_file=_path(env, "XID_OPERATOR_SECRETS"),
            verifier_x5c=_path(env, "XID_VERIFIER_X5C"),
            trusted_issuers=tuple(i.strip() for i in env.get("XID_TRUSTED_ISSUERS", "").split(",") if i.strip()),
        )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={'<set>' if getattr(self, name) else None}"
            if name in SECRET_SETTINGS
            else f"{name}={getattr(self, name)!r}"
            for name in self.__dataclass_fields__
        )
        return f"Settings({shown})"

    @property
    def development(self) -> bool:
        """Whether this is the embedded development configuration (the TEST CA is trusted)."""
        return self.jpki_roots is None

    @property
    def profile(self) -> Profile:
        """The profile: ``XID_PROFILE`` when set, else production when real roots or an https public URL say so."""
        if self.profile_setting is not None:
            return self.profile_setting
        if self.jpki_roots is not None or (self.public_url or "").startswith("https://"):
            return "production"
        return "development"

    @property
    def keys_dir(self) -> Path:
        """Directory of private key files."""
        return self.home / "keys"

    @property
    def services_database(self) -> str:
        """The services' database URL (the setting, or SQLite under $XID_HOME)."""
        return self.database_url or f"sqlite:///{self.home / 'xid.sqlite3'}"

    @property
    def ledger_database(self) -> str:
        """The ledger's database URL (the setting, or SQLite under $XID_HOME)."""
        return self.ledger_database_url or f"sqlite:///{self.home / 'ledger.sqlite3'}"

    @property
    def ledger_key(self) -> Path:
        """The ledger's Ed25519 checkpoint key (``XID_LEDGER_KEY``, default $XID_HOME/keys/ledger.jwk)."""
        return self.ledger_key_file or self.keys_dir / "ledger.jwk"

    @property
    def operator_secrets(self) -> Path:
        """The operator secrets file (``XID_OPERATOR_SECRETS``, default $XID_HOME/secrets/operator.json)."""
        return self.operator_secrets_file or self.home / "secrets" / "operator.json"

    @property
    def test_ca_dir(self) -> Path:
        """Where ``xid card emulate`` keeps the TEST CA the development configuration trusts."""
        return self.home / "card" / "testca"
