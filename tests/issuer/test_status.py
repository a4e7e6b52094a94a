"""The issuer's status lists: allocation (unique, random, a full list opens a new one), values (revoke flips exactly
one bit of the published list; suspend, reinstate; revoked is final), what verifiers then report, per person and
per card operations, cached publication (ETag, 304, re-signing only on change), other issuers' signers, and the
admin API's authentication. Everything on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from did import KeyType, Resolver, SoftwareSigner, did_key
from foundation.db import transaction
from foundation.jws import parse_compact
from issuer import status as status_module
from issuer.contracts import StatusEntry
from issuer.credentials import JWT_VC, LDP_VC, SD_JWT
from issuer.status import (
    IssuerSigner,
    RevokedIsFinalError,
    StatusEntryError,
    StatusIssuerError,
    StatusLists,
    UnknownCredentialError,
    UnknownStatusListError,
    credentials_table,
    lists_table,
    reinstate,
    reinstate_person,
    revoke,
    revoke_from_card,
    revoke_person,
    set_status,
    suspend,
    suspend_person,
)
from tests.issuer.conftest import ServedCA
from tests.issuer.credentials_support import ADMIN_TOKEN, BASE, DID, FINGERPRINT, Issuer, facts, make_issuer
from vc.status_list import BitstringStatusList, TokenStatusList
from vc.verify import CredentialRevokedError, CredentialSuspendedError, CredentialVerifier

AUD, NONCE = "https://verifier.example.jp", "nonce-7Yx"


class Clock:
    """A settable clock for the issuer context."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The issuer's clock."""
    return Clock()


@pytest.fixture
def issuer(engine: Engine, served_ca: ServedCA, clock: Clock) -> Issuer:
    """An https issuer with a settable clock, on SQLite and PostgreSQL."""
    made = make_issuer(engine, served_ca.ca.trust_anchors())
    made.ctx.clock = clock
    return made


@pytest.fixture
def holder() -> SoftwareSigner:
    """The wallet's holder key."""
    return SoftwareSigner.generate(KeyType.P256)


def issue(issuer: Issuer, configuration: str, holder: SoftwareSigner, **kwargs: Any) -> tuple[str, Any]:
    """Issue a credential; return its record id and the credential."""
    before = set(credential_states(issuer))
    with transaction(issuer.ctx.engine, write=True) as conn:
        credential = issuer.issue(conn, configuration, facts(**kwargs), holder.public_jwk)
    [new] = set(credential_states(issuer)) - before
    return new, credential


def verify(issuer: Issuer, credential: Any, holder: SoftwareSigner) -> Any:
    """Verify a credential (an SD-JWT VC is presented with key binding first)."""
    verifier = issuer.verifier()
    if isinstance(credential, str) and "~" in credential:
        from vc.sd_jwt import present

        presentation = present(credential, [("age_over_18",)], holder, audience=AUD, nonce=NONCE)
        return verifier.verify(presentation, audience=AUD, nonce=NONCE)
    return verifier.verify(credential)


def bitstring(issuer: Issuer, url: str, purpose: str) -> BitstringStatusList:
    """The published bitstring list at url, verified, decoded independently of the issuer's code."""
    published = issuer.fetch(url)
    result = CredentialVerifier(issuer.verifier()._resolver).verify(published, check_status=False)
    assert result.issuer == DID
    subject = result.claims["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == purpose
    assert result.claims["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert isinstance(result.claims["issuer"], str)
    assert "validFrom" in result.claims
    return BitstringStatusList.decode(subject["encodedList"])


def token_list(issuer: Issuer, url: str) -> TokenStatusList:
    """The published status list token at url, checked and decoded."""
    from vc.status_list import verify_status_list_token

    token = issuer.fetch(url)
    assert isinstance(token, str)
    resolver = issuer.verifier()._resolver
    key = lambda kid: resolver.dereference(kid, "assertionMethod").public_key  # noqa: E731
    parsed = verify_status_list_token(token, key, url, DID, issuer.ctx.clock())
    claims = json.loads(parse_compact(token).payload)
    assert claims["sub"] == url
    assert claims["iss"] == BASE
    assert claims["ttl"] == issuer.ctx.settings.status_list_max_age
    assert claims["exp"] > claims["iat"]
    assert parse_compact(token).header["kid"] == issuer.ctx.es256_kid
    return parsed


def entries_of(credential: Any) -> list[dict[str, Any]]:
    """The credentialStatus entries of a W3C credential (an ldp_vc object or a jwt_vc_json token)."""
    if isinstance(credential, str):
        credential = json.loads(parse_compact(credential).payload)["vc"]
    entries: list[dict[str, Any]] = credential["credentialStatus"]
    return entries


# -- allocation --------------------------------------------------------------------------------------------------


def test_allocations_are_unique_random_and_in_range(issuer: Issuer) -> None:
    with transaction(issuer.ctx.engine, write=True) as conn:
        entries = [issuer.lists.allocate(conn, "bitstring", "revocation", DID) for _ in range(400)]
    indices = [e.index for e in entries]
    assert len(set(indices)) == len(indices)
    assert all(0 <= i < status_module.LIST_ENTRIES for i in indices)
    assert {e.list_id for e in entries} == {entries[0].list_id}  # one open list per (issuer, purpose)
    assert indices != sorted(indices)  # not issuance order
    assert max(indices) - min(indices) > status_module.LIST_ENTRIES // 2  # spread over the list
    with transaction(issuer.ctx.engine, write=True) as conn:
        other = issuer.lists.allocate(conn, "bitstring", "suspension", DID)
        token = issuer.lists.allocate(conn, "token", "revocation", BASE)
    assert other.list_id != entries[0].list_id
    assert token.list_id not in {other.list_id, entries[0].list_id}
    assert token.list_url == f"{BASE}/status/token/{token.list_id}"


def test_a_full_list_opens_a_new_one(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_module, "_FULL_AT", 3)
    with transaction(issuer.ctx.engine, write=True) as conn:
        entries = [issuer.lists.allocate(conn, "bitstring", "revocation", DID) for _ in range(7)]
    lists = [e.list_id for e in entries]
    assert lists[0] == lists[1] == lists[2] != lists[3] == lists[4] == lists[5] != lists[6]


def test_random_indices_skip_taken_ones(issuer: Issuer) -> None:
    draws = iter([b"\x00\x00\x00\x05", b"\x00\x00\x00\x05", b"\x00\x00\x00\x07"])
    real = issuer.ctx.random
    issuer.ctx.random = lambda n: next(draws) if n == 4 else real(n)
    with transaction(issuer.ctx.engine, write=True) as conn:
        first = issuer.lists.allocate(conn, "bitstring", "revocation", DID)
        second = issuer.lists.allocate(conn, "bitstring", "revocation", DID)
    assert (first.index, second.index) == (5, 7)


def test_lists_only_for_configured_issuers(issuer: Issuer) -> None:
    with pytest.raises(StatusIssuerError), transaction(issuer.ctx.engine, write=True) as conn:
        issuer.lists.allocate(
            conn, "bitstring", "revocation", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
        )
    with pytest.raises(StatusIssuerError), transaction(issuer.ctx.engine, write=True) as conn:
        issuer.lists.allocate(conn, "token", "revocation", DID)  # token lists belong to the issuer URL


# -- values ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("configuration", [JWT_VC, LDP_VC])
def test_revoking_flips_exactly_that_bit_and_verifiers_see_it(
    issuer: Issuer, holder: SoftwareSigner, configuration: str
) -> None:
    credential_id, credential = issue(issuer, configuration, holder)
    _, bystander = issue(issuer, configuration, holder)
    revocation = entries_of(credential)[0]
    url, index = revocation["statusListCredential"], int(revocation["statusListIndex"])
    before = bitstring(issuer, url, "revocation")
    assert verify(issuer, credential, holder).status[0].value == 0

    with transaction(issuer.ctx.engine, write=True) as conn:
        assert revoke(issuer.ctx, conn, credential_id) is True
        assert revoke(issuer.ctx, conn, credential_id) is False  # already revoked: no change
    after = bitstring(issuer, url, "revocation")
    changed = [i for i in range(len(after)) if after.get(i) != before.get(i)]
    assert changed == [index]
    assert after.get(index) == 1
    with pytest.raises(CredentialRevokedError):
        verify(issuer, credential, holder)
    assert [c.value for c in verify(issuer, bystander, holder).status] == [0, 0]


def test_sd_jwt_vc_revocation_in_the_token_status_list(issuer: Issuer, holder: SoftwareSigner) -> None:
    credential_id, credential = issue(issuer, SD_JWT, holder)
    reference = json.loads(parse_compact(credential.split("~")[0]).payload)["status"]["status_list"]
    before = token_list(issuer, reference["uri"])
    assert before.bits == 2
    with transaction(issuer.ctx.engine, write=True) as conn:
        suspend(issuer.ctx, conn, credential_id)
    suspended = token_list(issuer, reference["uri"])
    assert [i for i in range(len(suspended)) if suspended.get(i) != before.get(i)] == [reference["idx"]]
    assert suspended.get(reference["idx"]) == 2
    with pytest.raises(CredentialSuspendedError):
        verify(issuer, credential, holder)
    with transaction(issuer.ctx.engine, write=True) as conn:
        reinstate(issuer.ctx, conn, credential_id)
    assert verify(issuer, credential, holder).status[0].value == 0
    with transaction(issuer.ctx.engine, write=True) as conn:
        revoke(issuer.ctx, conn, credential_id)
    assert token_list(issuer, reference["uri"]).get(reference["idx"]) == 1
    with pytest.raises(CredentialRevokedError):
        verify(issuer, credential, holder)


@pytest.mark.parametrize("configuration", [JWT_VC, LDP_VC])
def test_suspend_then_reinstate(issuer: Issuer, holder: SoftwareSigner, configuration: str) -> None:
    credential_id, credential = issue(issuer, configuration, holder)
    suspension = entries_of(credential)[1]
    with transaction(issuer.ctx.engine, write=True) as conn:
        assert suspend(issuer.ctx, conn, credential_id) is True
    listing = bitstring(issuer, suspension["statusListCredential"], "suspension")
    assert listing.get(int(suspension["statusListIndex"])) == 1
    with pytest.raises(CredentialSuspendedError):
        verify(issuer, credential, holder)
    with transaction(issuer.ctx.engine, write=True) as conn:
        assert reinstate(issuer.ctx, conn, credential_id) is True
        assert reinstate(issuer.ctx, conn, credential_id) is False
    assert [c.value for c in verify(issuer, credential, holder).status] == [0, 0]


@pytest.mark.parametrize("configuration", [SD_JWT, JWT_VC])
def test_revoked_is_final(issuer: Issuer, holder: SoftwareSigner, configuration: str) -> None:
    credential_id, credential = issue(issuer, configuration, holder)
    with transaction(issuer.ctx.engine, write=True) as conn:
        revoke(issuer.ctx, conn, credential_id)
    for change in (reinstate, suspend):
        with pytest.raises(RevokedIsFinalError), transaction(issuer.ctx.engine, write=True) as conn:
            change(issuer.ctx, conn, credential_id)
    # nor can the entry itself be cleared below the credential record
    with transaction(issuer.ctx.engine) as conn:
        entries = json.loads(
            conn.execute(
                select(credentials_table.c.status_entries).where(credentials_table.c.id == credential_id)
            ).scalar_one()
        )
    revocation = entries[0]
    for value in (0, 2) if configuration == SD_JWT else (0,):
        with pytest.raises(RevokedIsFinalError), transaction(issuer.ctx.engine, write=True) as conn:
            set_status(conn, revocation["list_id"], revocation["index"], value)
    with pytest.raises(CredentialRevokedError):
        verify(issuer, credential, holder)
    with transaction(issuer.ctx.engine) as conn:
        state = conn.execute(select(credentials_table.c.state).where(credentials_table.c.id == credential_id))
        assert state.scalar_one() == "revoked"


def test_set_status_refuses_what_was_never_allocated(issuer: Issuer) -> None:
    with transaction(issuer.ctx.engine, write=True) as conn:
        entry = issuer.lists.allocate(conn, "bitstring", "revocation", DID)
    version = list_version(issuer, entry.list_id)
    other = (entry.index + 1) % status_module.LIST_ENTRIES
    for list_id, index, value, error in [
        (entry.list_id, other, 1, StatusEntryError),
        (entry.list_id, status_module.LIST_ENTRIES, 1, StatusEntryError),
        (entry.list_id, -1, 1, StatusEntryError),
        (entry.list_id, entry.index, 2, StatusEntryError),  # a one-bit list
        ("no-such-list", 0, 1, UnknownStatusListError),
    ]:
        with pytest.raises(error), transaction(issuer.ctx.engine, write=True) as conn:
            issuer.lists.set_status(conn, list_id, index, value)
    assert list_version(issuer, entry.list_id) == version
    with pytest.raises(UnknownCredentialError), transaction(issuer.ctx.engine, write=True) as conn:
        revoke(issuer.ctx, conn, "no-such-credential")


def list_version(issuer: Issuer, list_id: str) -> tuple[int, bytes]:
    """A list's version and bits."""
    with transaction(issuer.ctx.engine) as conn:
        row = conn.execute(select(lists_table).where(lists_table.c.id == list_id)).one()
    return row.version, bytes(row.bits)


def test_per_person_and_per_card(issuer: Issuer, holder: SoftwareSigner) -> None:
    other_card = "cd" * 32
    mine = [issue(issuer, c, holder)[0] for c in (SD_JWT, JWT_VC, LDP_VC)]
    renewed = issue(issuer, JWT_VC, holder, fingerprint=other_card)[0]  # same person, a renewed card
    someone = issue(issuer, JWT_VC, holder, person="person-2", fingerprint="ef" * 32)[0]
    with transaction(issuer.ctx.engine, write=True) as conn:
        assert suspend_person(issuer.ctx, conn, "person-1") == 4
        assert reinstate_person(issuer.ctx, conn, "person-1") == 4
        assert revoke_from_card(issuer.ctx, conn, FINGERPRINT.upper()) == 3  # fingerprints in either case
        assert revoke_from_card(issuer.ctx, conn, FINGERPRINT) == 0
    states = credential_states(issuer)
    assert {states[i] for i in mine} == {"revoked"}
    assert states[renewed] == "valid"
    assert states[someone] == "valid"
    with transaction(issuer.ctx.engine, write=True) as conn:
        assert revoke_person(issuer.ctx, conn, "person-1") == 1
    assert credential_states(issuer)[someone] == "valid"


def credential_states(issuer: Issuer) -> dict[str, str]:
    """Every credential record's state."""
    with transaction(issuer.ctx.engine) as conn:
        return {row.id: row.state for row in conn.execute(select(credentials_table))}


# -- publication -------------------------------------------------------------------------------------------------


def test_publication_is_cached_with_etag_and_304(issuer: Issuer, holder: SoftwareSigner, clock: Clock) -> None:
    credential_id, credential = issue(issuer, JWT_VC, holder)
    url = entries_of(credential)[0]["statusListCredential"]
    path = url.removeprefix(BASE)
    first = issuer.client.get(path)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/vc+ld+json")
    assert first.headers["cache-control"] == f"public, max-age={issuer.ctx.settings.status_list_max_age}"
    etag = first.headers["etag"]
    clock.now += timedelta(minutes=5)
    again = issuer.client.get(path)
    assert again.content == first.content
    assert again.headers["etag"] == etag
    not_modified = issuer.client.get(path, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    with transaction(issuer.ctx.engine, write=True) as conn:
        revoke(issuer.ctx, conn, credential_id)
    changed = issuer.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    # a list close to the end of its validity is re-signed even when unchanged
    clock.now += issuer.ctx.settings.status_list_validity
    fresh = issuer.client.get(path)
    assert fresh.headers["etag"] != changed.headers["etag"]
    assert json.loads(fresh.content)["validFrom"] == clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_token_publication_media_type_and_caching(issuer: Issuer, holder: SoftwareSigner) -> None:
    _, credential = issue(issuer, SD_JWT, holder)
    uri = json.loads(parse_compact(credential.split("~")[0]).payload)["status"]["status_list"]["uri"]
    response = issuer.client.get(uri.removeprefix(BASE))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/statuslist+jwt"
    assert parse_compact(response.text).header["typ"] == "statuslist+jwt"
    again = issuer.client.get(uri.removeprefix(BASE), headers={"If-None-Match": f'W/{response.headers["etag"]}, "x"'})
    assert again.status_code == 304


def test_unknown_lists_are_404(issuer: Issuer, holder: SoftwareSigner) -> None:
    _, credential = issue(issuer, JWT_VC, holder)
    list_id = entries_of(credential)[0]["statusListCredential"].rsplit("/", 1)[1]
    for path in [
        "/status/bitstring/nope",
        "/status/token/" + list_id,
        "/status/bitstring/a.b",
        "/status/bitstring/" + "a" * 65,
    ]:
        response = issuer.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(("key_type", "mechanism"), [(KeyType.P256, "ecdsa-rdfc-2019"), (KeyType.ED25519, "vc+jwt")])
def test_other_issuers_lists_are_signed_with_their_own_mechanism(
    engine: Engine, served_ca: ServedCA, key_type: KeyType, mechanism: str
) -> None:
    made = make_issuer(engine, served_ca.ca.trust_anchors())
    signer = did_key.generate(key_type)
    instance = did_key.create(signer.public_key)
    vm = f"{instance}#{instance.rsplit(':', 1)[1]}"
    lists = StatusLists(made.ctx, {instance: IssuerSigner(signer, vm, mechanism)})
    with transaction(made.ctx.engine, write=True) as conn:
        entry = lists.allocate(conn, "bitstring", "revocation", instance)
        lists.set_status(conn, entry.list_id, entry.index, 1)
    publication = lists.publication("bitstring", entry.list_id)
    body = publication.body.decode()
    published = body if mechanism == "vc+jwt" else json.loads(body)
    result = CredentialVerifier(Resolver()).verify(published, check_status=False)
    assert result.issuer == instance
    assert result.verification_method == vm
    assert BitstringStatusList.decode(result.claims["credentialSubject"]["encodedList"]).get(entry.index) == 1
    assert publication.media_type == ("application/vc+jwt" if mechanism == "vc+jwt" else "application/vc+ld+json")


def test_issuer_signer_refuses_unknown_mechanisms() -> None:
    with pytest.raises(ValueError, match="mechanism"):
        IssuerSigner(SoftwareSigner.generate(KeyType.ED25519), "did:example:1#k", "rsa-2048")


# -- admin API ---------------------------------------------------------------------------------------------------


@pytest.fixture
def issued(issuer: Issuer, holder: SoftwareSigner) -> tuple[str, Any]:
    """One jwt_vc_json credential of person-1."""
    return issue(issuer, JWT_VC, holder)


def admin(token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    """Authorization headers for the admin API."""
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def test_admin_api_authentication(issuer: Issuer, issued: tuple[str, Any]) -> None:
    credential_id, _ = issued
    change = {"status": "revoked"}
    for headers in (admin(None), admin("wrong-token"), {"Authorization": f"Basic {ADMIN_TOKEN}"}):
        listing = issuer.client.get("/admin/credentials?person=person-1", headers=headers)
        assert listing.status_code == 401
        assert listing.headers["www-authenticate"] == "Bearer"
        posted = issuer.client.post(f"/admin/credentials/{credential_id}/status", json=change, headers=headers)
        assert posted.status_code == 401
    assert credential_states(issuer)[credential_id] == "valid"

    issuer.ctx.settings = type(issuer.ctx.settings)(admin_token=None)
    disabled = issuer.client.get("/admin/credentials?person=person-1", headers=admin())
    assert disabled.status_code == 404
    assert (
        issuer.client.post(f"/admin/credentials/{credential_id}/status", json=change, headers=admin()).status_code
        == 404
    )
    assert credential_states(issuer)[credential_id] == "valid"


def test_admin_api_lists_and_changes_status(issuer: Issuer, issued: tuple[str, Any], holder: SoftwareSigner) -> None:
    credential_id, credential = issued
    listing = issuer.client.get("/admin/credentials?person=person-1", headers=admin())
    assert listing.status_code == 200
    assert listing.headers["cache-control"] == "no-store"
    [record] = listing.json()["credentials"]
    assert record["id"] == credential_id
    assert record["status"] == "valid"
    assert record["configuration_id"] == JWT_VC
    assert [e["purpose"] for e in record["status_entries"]] == ["revocation", "suspension"]
    assert "山田" not in listing.text
    assert issuer.client.get("/admin/credentials?person=nobody", headers=admin()).json()["credentials"] == []
    assert issuer.client.get("/admin/credentials", headers=admin()).status_code == 400

    path = f"/admin/credentials/{credential_id}/status"
    suspended = issuer.client.post(path, json={"status": "suspended"}, headers=admin())
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert suspended.json()["changed"]
    with pytest.raises(CredentialSuspendedError):
        verify(issuer, credential, holder)
    assert issuer.client.post(path, json={"status": "revoked"}, headers=admin()).json()["status"] == "revoked"
    final = issuer.client.post(path, json={"status": "valid"}, headers=admin())
    assert final.status_code == 409
    assert "final" in final.json()["error_description"]
    with pytest.raises(CredentialRevokedError):
        verify(issuer, credential, holder)


def test_admin_api_bad_requests_change_nothing(issuer: Issuer, issued: tuple[str, Any]) -> None:
    credential_id, _ = issued
    path = f"/admin/credentials/{credential_id}/status"
    requests: list[dict[str, Any]] = [
        {"json": {"status": "deleted"}},
        {"json": {"status": "revoked", "extra": 1}},
        {"json": {}},
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b"status=revoked", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {
            "content": b'{"status": "revoked", "pad": "' + b"x" * 2000 + b'"}',
            "headers": {"Content-Type": "application/json"},
        },
    ]
    for kwargs in requests:
        headers = {**admin(), **kwargs.pop("headers", {})}
        response = issuer.client.post(path, headers=headers, **kwargs)
        assert response.status_code in (400, 413), (kwargs, response.text)
        assert response.json()["error"] == "invalid_request"
    unknown = issuer.client.post("/admin/credentials/no-such/status", json={"status": "revoked"}, headers=admin())
    assert unknown.status_code == 404
    assert credential_states(issuer)[credential_id] == "valid"


def test_status_entry_contract(issuer: Issuer) -> None:
    with transaction(issuer.ctx.engine, write=True) as conn:
        entry = issuer.lists.allocate(conn, "bitstring", "suspension", DID)
    assert isinstance(entry, StatusEntry)
    assert (entry.kind, entry.purpose) == ("bitstring", "suspension")
    assert entry.list_url == f"{BASE}/status/bitstring/{entry.list_id}"
