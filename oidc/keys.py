"""The OP's ID token signing keys: RS256 (OpenID Connect's mandatory default) and ES256, shared through files, rotated.

Keys live as one JSON file per key under ``ctx.keys_dir`` (mode 0600, written to a temporary file and renamed, so a
reader never sees half a key): ``{"kid", "alg", "jwk" (private), "signs_from", "created"}``. Every process of the OP
reads the directory, so several workers (and ``xid oidc rotate-keys`` run beside them) share one key set.

Rotation (``rotate``) adds a new key per algorithm whose ``signs_from`` lies ``settings.key_publish_lead`` in the
future: it is in the JWKS at once, and signs only once relying parties that cache the JWKS for up to
``JWKS_MAX_AGE`` have had the chance to fetch it. The key that signed before stays published until every ID token it
signed has expired (``settings.id_token_ttl`` after its successor took over), then ``rotate`` deletes it. With no key
for an algorithm, the first use creates one that signs at once (nobody can hold an older JWKS then).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from joserfc.jwk import ECKey, RSAKey, import_key

from oidc.context import OidcSettings

__all__ = [
    "ALGORITHMS",
    "JWKS_MAX_AGE",
    "KeyDirectory",
    "KeyHome",
    "SigningKey",
    "jwks",
    "load_keys",
    "rotate",
    "signing_key",
]

ALGORITHMS: Final = ("RS256", "ES256")
"""The ID token signing algorithms offered (``id_token_signing_alg_values_supported``)."""

JWKS_MAX_AGE: Final = 300
"""Seconds a relying party may cache the JWKS (``Cache-Control: max-age``); shorter than the publish lead."""

_MAX_KEY_FILE = 16 * 1024


class KeyHome(Protocol):
    """Where the keys live and the times that rule them (an ``OidcContext`` is one)."""

    @property
    def keys_dir(self) -> Path:
        """The directory of the key files."""
        ...

    @property
    def settings(self) -> OidcSettings:
        """``key_publish_lead`` and ``id_token_ttl``."""
        ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """The current time."""
        ...


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class KeyDirectory:
    """A ``KeyHome`` without the rest of the OP (what ``xid oidc rotate-keys`` works on)."""

    keys_dir: Path
    settings: OidcSettings = field(default_factory=OidcSettings)
    clock: Callable[[], datetime] = _now


@dataclass(frozen=True)
class SigningKey:
    """One signing key: its ``kid``, algorithm, private JWK and the time it starts (or started) to sign."""

    kid: str
    alg: str
    jwk: dict[str, Any]
    signs_from: datetime
    created: datetime

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK as the JWKS publishes it (``kid``, ``use: sig``, ``alg``)."""
        public = import_key(self.jwk).as_dict(private=False)
        return {**public, "kid": self.kid, "use": "sig", "alg": self.alg}

    def private_key(self) -> RSAKey | ECKey:
        """The private key object (joserfc) that signs."""
        key = import_key(self.jwk)
        assert isinstance(key, RSAKey | ECKey)
        return key


def _timestamp(when: datetime) -> int:
    return int(when.timestamp())


def _load(path: Path) -> SigningKey | None:
    try:
        raw = path.read_bytes()[:_MAX_KEY_FILE]
        data = json.loads(raw)
        return SigningKey(
            kid=str(data["kid"]),
            alg=str(data["alg"]),
            jwk=dict(data["jwk"]),
            signs_from=datetime.fromtimestamp(int(data["signs_from"]), UTC),
            created=datetime.fromtimestamp(int(data["created"]), UTC),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a file being replaced or not ours: never a reason to stop signing with the others


def load_keys(ctx: KeyHome) -> list[SigningKey]:
    """Every stored key, newest ``signs_from`` first."""
    directory = ctx.keys_dir
    if not directory.is_dir():
        return []
    keys = [key for path in sorted(directory.glob("*.json")) if (key := _load(path)) is not None]
    return sorted(keys, key=lambda key: (key.signs_from, key.created, key.kid), reverse=True)


def _create(ctx: KeyHome, alg: str, signs_from: datetime) -> SigningKey:
    key: RSAKey | ECKey = RSAKey.generate_key(2048) if alg == "RS256" else ECKey.generate_key("P-256")
    kid = key.thumbprint()
    now = ctx.clock().astimezone(UTC)
    record = {
        "kid": kid,
        "alg": alg,
        "jwk": key.as_dict(private=True),
        "signs_from": _timestamp(signs_from),
        "created": _timestamp(now),
    }
    ctx.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=ctx.keys_dir, prefix=".key-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.chmod(temporary, 0o600)
        os.replace(temporary, ctx.keys_dir / f"{kid}.json")
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    loaded = _load(ctx.keys_dir / f"{kid}.json")
    assert loaded is not None
    return loaded


def signing_key(ctx: KeyHome, alg: str) -> SigningKey:
    """The key that signs with ``alg`` now: the newest whose ``signs_from`` has come (created on first use)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    now = ctx.clock()
    for key in load_keys(ctx):
        if key.alg == alg and key.signs_from <= now:
            return key
    return _create(ctx, alg, now)


def _published(keys: list[SigningKey], ctx: KeyHome) -> list[SigningKey]:
    """The keys still published: future and current signers, and retired ones whose tokens may not have expired."""
    now = ctx.clock()
    kept: list[SigningKey] = []
    for alg in ALGORITHMS:
        successor: SigningKey | None = None  # the next newer key that has started signing
        for key in (key for key in keys if key.alg == alg):  # newest first
            if key.signs_from > now:
                kept.append(key)
                continue
            if successor is None or successor.signs_from + ctx.settings.id_token_ttl > now:
                kept.append(key)
            successor = key
    return kept


def jwks(ctx: KeyHome) -> dict[str, Any]:
    """The JWK Set served at ``/jwks``: every published key (one per algorithm at least; created on first use)."""
    for alg in ALGORITHMS:
        signing_key(ctx, alg)
    return {"keys": [key.public_jwk() for key in _published(load_keys(ctx), ctx)]}


def rotate(ctx: KeyHome) -> dict[str, Any]:
    """Add a new key per algorithm (signing after the publish lead) and delete keys no longer published."""
    for alg in ALGORITHMS:
        signing_key(ctx, alg)
    start = ctx.clock().astimezone(UTC) + ctx.settings.key_publish_lead
    created = [_create(ctx, alg, start) for alg in ALGORITHMS]
    keys = load_keys(ctx)
    published = {key.kid for key in _published(keys, ctx)}
    removed = [key.kid for key in keys if key.kid not in published]
    for kid in removed:
        (ctx.keys_dir / f"{kid}.json").unlink(missing_ok=True)
    return {
        "created": [{"kid": key.kid, "alg": key.alg, "signs_from": key.signs_from.isoformat()} for key in created],
        "removed": removed,
    }
