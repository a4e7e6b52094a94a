"""Consents and linkage (oidc.consent) on SQLite and PostgreSQL: what is missing, grants, revocation, linkage
identifiers only under consent, and hash-only ledger records for every grant, use and revocation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ledger.log import Log
from ledger.records import commitment
from oidc.consent import (
    Consents,
    InvalidConsentError,
    InvalidLinkageError,
    LinkageRefusedError,
    UnknownConsentError,
    linkage_sector,
    linkage_targets,
)
from oidc.context import OidcContext
from oidc.contracts import CONSENT_SECTOR, AuthorizationRequest
from tests.oidc.conftest import FakeSubjects
from verifier import rps

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class World:
    """Three relying parties, two people with their holder keys, and the consent store."""

    def __init__(self, ctx: OidcContext) -> None:
        self.ctx = ctx
        self.consents = Consents(ctx)
        self.shop, _ = rps.register(ctx.verifier.engine, "Shop", ["https://shop.example/cb"])
        self.bank, _ = rps.register(ctx.verifier.engine, "Bank", ["https://bank.example/cb"])
        self.city, _ = rps.register(ctx.verifier.engine, "City", ["https://city.example/cb"])
        subjects = ctx.subjects
        assert isinstance(subjects, FakeSubjects)
        subjects.persons.update({"holder-a": "person-a", "holder-a2": "person-a", "holder-b": "person-b"})
        self.alice = self.person("holder-a")
        self.bob = self.person("holder-b")

    def person(self, holder: str) -> str:
        handle = self.ctx.subjects.pairwise(holder, CONSENT_SECTOR)
        assert handle is not None
        return handle

    def request(
        self, rp: rps.RelyingParty, linkage: tuple[str, ...] = (), request_id: str = "auth-1"
    ) -> AuthorizationRequest:
        return AuthorizationRequest(
            id=request_id,
            client_id=rp.client_id,
            client_name=rp.name,
            sector=rp.sector,
            redirect_uri=rp.redirect_uris[0],
            state="s",
            scopes=("openid", "profile", *(f"linkage:{t}" for t in linkage)),
            claims={},
            acr_values=(),
            prompt=(),
            max_age=None,
            ui_locales=(),
            linkage=linkage,
            created_at=NOW,
            expires_at=NOW + timedelta(minutes=10),
        )

    def entries(self) -> list[dict[str, str]]:
        ledger = self.ctx.ledger
        assert isinstance(ledger, Log)
        size = ledger.store.state().size
        with ledger.store.transaction() as txn:
            return [json.loads(entry) for _, entry, _ in txn.entries(0, size)]


@pytest.fixture
def world(consent_context: OidcContext) -> World:
    return World(consent_context)


def test_linkage_scopes_parse_to_sorted_client_ids() -> None:
    assert linkage_targets(["openid", "linkage:bbb", "profile", "linkage:aaa", "linkage:bbb"]) == ("aaa", "bbb")
    assert linkage_targets(["openid"]) == ()
    with pytest.raises(InvalidLinkageError):
        linkage_targets(["linkage:"])
    with pytest.raises(InvalidLinkageError):
        linkage_targets(["linkage:a b"])
    with pytest.raises(InvalidLinkageError):
        linkage_targets([f"linkage:c{i}" for i in range(6)])
    assert linkage_sector("b", "a") == linkage_sector("a", "b") == "xid:linkage:a b"


def test_missing_claims_and_linkage_until_granted(world: World) -> None:
    request = world.request(world.shop, linkage=(world.bank.client_id,))
    assert world.consents.missing(world.alice, request, ["name", "birthdate"]) == (
        ["birthdate", "name"],
        [world.bank.client_id],
    )
    world.consents.grant(world.alice, request, ["name"], [])
    assert world.consents.missing(world.alice, request, ["name", "birthdate"]) == (
        ["birthdate"],
        [world.bank.client_id],
    )
    world.consents.grant(world.alice, request, ["birthdate"], [world.bank.client_id])
    assert world.consents.missing(world.alice, request, ["name", "birthdate"]) == ([], [])
    # Another person, or another client, has consented to nothing.
    assert world.consents.missing(world.bob, request, ["name"]) == (["name"], [world.bank.client_id])
    assert world.consents.missing(world.alice, world.request(world.city), ["name"]) == (["name"], [])
    # The linkage consent covers both directions: the bank asking for the shop finds it granted.
    assert world.consents.missing(world.alice, world.request(world.bank, (world.shop.client_id,)), []) == ([], [])


def test_linkage_without_consent_is_refused(world: World) -> None:
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    # Consent to release claims to the shop is not consent to link it with anyone.
    world.consents.grant(world.alice, world.request(world.shop), ["name"], [])
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    # Bob's consent to link the shop and the bank does not link Alice.
    world.consents.grant(world.bob, world.request(world.shop), [], [world.bank.client_id])
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    assert (
        world.consents.linkage_claim(world.alice, "holder-a", world.request(world.shop, (world.bank.client_id,))) == {}
    )


def test_consented_linkage_is_shared_by_the_pair_only(world: World) -> None:
    world.consents.grant(world.alice, world.request(world.shop), ["name"], [world.bank.client_id])
    world.consents.grant(world.alice, world.request(world.city), [], [world.bank.client_id])
    shop_bank = world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    bank_shop = world.consents.linkage_id(world.alice, world.bank.client_id, world.shop.client_id, holder="holder-a")
    city_bank = world.consents.linkage_id(world.alice, world.city.client_id, world.bank.client_id, holder="holder-a")
    assert shop_bank == bank_shop
    assert city_bank != shop_bank
    # Stable across a card renewal (another holder key of the same person) and different for another person.
    assert world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a2") == (
        shop_bank
    )
    world.consents.grant(world.bob, world.request(world.shop), [], [world.bank.client_id])
    assert world.consents.linkage_id(world.bob, world.shop.client_id, world.bank.client_id, holder="holder-b") != (
        shop_bank
    )
    # The shop and the city were never linked, and nothing links a relying party with itself.
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.city.client_id, holder="holder-a")
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.shop.client_id, holder="holder-a")
    # The linkage identifier is not any relying party's pairwise subject of the person.
    assert shop_bank not in {world.ctx.subjects.pairwise("holder-a", rp.sector) for rp in (world.shop, world.bank)}
    claim = world.consents.linkage_claim(world.alice, "holder-a", world.request(world.shop, (world.bank.client_id,)))
    assert claim == {world.bank.client_id: shop_bank}


def test_linkage_needs_the_consenting_persons_holder_key(world: World) -> None:
    world.consents.grant(world.alice, world.request(world.shop), [], [world.bank.client_id])
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-b")
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="unknown")


def test_revoked_consent_is_missing_again_and_stops_linkage(world: World) -> None:
    request = world.request(world.shop, (world.bank.client_id,))
    world.consents.grant(world.alice, request, ["name"], [world.bank.client_id])
    world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    [consent] = world.consents.list(world.alice)
    assert (consent.client_id, consent.client_name, consent.claims, consent.linkage) == (
        world.shop.client_id,
        "Shop",
        ("name",),
        (world.bank.client_id,),
    )
    revoked = world.consents.revoke(world.alice, consent.id)
    assert revoked.revoked_at is not None
    assert world.consents.missing(world.alice, request, ["name"]) == (["name"], [world.bank.client_id])
    with pytest.raises(LinkageRefusedError):
        world.consents.linkage_id(world.alice, world.bank.client_id, world.shop.client_id, holder="holder-a")
    assert world.consents.list(world.alice) == []
    with pytest.raises(UnknownConsentError):  # single use: a second revocation finds nothing
        world.consents.revoke(world.alice, consent.id)


def test_revoking_someone_elses_consent_is_not_found_and_changes_nothing(world: World) -> None:
    world.consents.grant(world.alice, world.request(world.shop), ["name"], [])
    [consent] = world.consents.list(world.alice)
    before = len(world.entries())
    with pytest.raises(UnknownConsentError) as raised:
        world.consents.revoke(world.bob, consent.id)
    assert raised.value.status == 404
    with pytest.raises(UnknownConsentError):
        world.consents.revoke(world.alice, "no-such-consent")
    assert world.consents.list(world.alice) == [consent]
    assert len(world.entries()) == before


def test_bad_grants_are_refused_without_a_trace(world: World) -> None:
    with pytest.raises(InvalidLinkageError):  # not a registered relying party
        world.consents.grant(world.alice, world.request(world.shop), [], ["unknown-client"])
    with pytest.raises(InvalidLinkageError):  # itself
        world.consents.grant(world.alice, world.request(world.shop), [], [world.shop.client_id])
    with pytest.raises(InvalidLinkageError):
        world.consents.missing(world.alice, world.request(world.shop, ("unknown-client",)), [])
    with pytest.raises(InvalidConsentError):
        world.consents.grant(world.alice, world.request(world.shop), ["name; drop"], [])
    with pytest.raises(InvalidConsentError):
        world.consents.grant(world.alice, world.request(world.shop), [f"c{i}" for i in range(33)], [])
    with pytest.raises(InvalidConsentError):
        world.consents.grant_consent(world.alice, "unknown-client", ["name"], [])
    assert world.consents.check_linkage(world.shop.client_id, [world.bank.client_id] * 2) == (world.bank.client_id,)
    assert world.consents.list(world.alice) == []
    assert world.entries() == []


def test_grant_use_linkage_and_revocation_are_hash_only_ledger_records(world: World) -> None:
    request = world.request(world.shop, (world.bank.client_id,), request_id="auth-42")
    consent = world.consents.grant_consent(
        world.alice, world.shop.client_id, ["name", "address"], [world.bank.client_id]
    )
    world.consents.used(world.alice, request, ["name"])
    world.consents.used(world.alice, request, [])  # released nothing: no use record
    world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
    world.consents.revoke(world.alice, consent.id)
    records = world.entries()
    assert [r["type"] for r in records] == ["consent", "consent", "linkage", "consent-revocation"]
    subject = commitment(world.ctx.ledger_key, world.alice)
    assert {r["subject"] for r in records} == {subject}
    assert {r["rp"] for r in records} == {"https://shop.example"}
    grant, use, linkage, revocation = records
    assert "transaction" not in grant
    assert len(use["transaction"]) == 64
    assert use["object"] == grant["object"]
    assert revocation["object"] == grant["object"]
    assert linkage["object"] != grant["object"]
    text = json.dumps(records)
    for clear in ("name", "address", consent.id, world.bank.client_id, world.alice, "auth-42"):
        assert clear not in text
    assert set().union(*records) <= {"v", "type", "time", "subject", "object", "rp", "transaction"}


def test_a_ledger_outage_does_not_lose_the_consent(world: World) -> None:
    ledger = world.ctx.ledger
    assert isinstance(ledger, Log)
    ledger.close()
    world.consents.grant(world.alice, world.request(world.shop), ["name"], [])
    assert [c.claims for c in world.consents.list(world.alice)] == [("name",)]


def test_without_a_ledger_consents_still_work(consent_context: OidcContext) -> None:
    world = World(replace(consent_context, ledger=None))
    world.consents.grant(world.alice, world.request(world.shop), ["name"], [world.bank.client_id])
    assert world.consents.linkage_id(world.alice, world.shop.client_id, world.bank.client_id, holder="holder-a")
