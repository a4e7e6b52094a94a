"""One stable person per human: renewal links, re-issued cards proven by a bound holder key, merging, pairwise IDs."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from did.keys import KeyType, PublicKey
from did.signer import SoftwareSigner
from foundation.db import transaction
from issuer.context import IssuerContext, OperatorSecrets
from issuer.enrollment import Enrollment
from issuer.evidence import evidence_table, identity_facts
from issuer.persons import (
    MergeError,
    StaticRenewalLinks,
    TestCaRenewalLinks,
    UnknownPersonError,
    current_person,
    match_text,
    merge,
    pairwise_subject,
    persons,
)
from jpki_bridge.profile import Basic4Info
from jpki_bridge.testca import CardIdentity, Person, TestCA
from ledger.log import Log
from ledger.records import EventType, Record, commitment
from ledger.store import Store
from tests.helpers import load_person
from tests.issuer.enroll_kit import FakeOffers, Wallet, snapshot


@pytest.fixture
def enrollment(issuer_context: IssuerContext) -> Enrollment:
    return Enrollment(issuer_context, FakeOffers(issuer_context.base_url))


def wallet(ctx: IssuerContext) -> Wallet:
    return Wallet(ctx.base_url)


def test_same_certificate_same_person(
    issuer_context: IssuerContext, enrollment: Enrollment, yamada_card: CardIdentity
) -> None:
    first = wallet(issuer_context).enroll(enrollment, yamada_card)
    again = wallet(issuer_context).enroll(enrollment, yamada_card)  # another wallet, the same card
    assert first.new_person
    assert not again.new_person
    assert again.person_id == first.person_id
    assert len(first.person_id) == 22


def test_renewal_links_to_the_same_person(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any
) -> None:
    ca: TestCA = served_ca.ca
    links = TestCaRenewalLinks(ca)
    issuer_context.renewal_links = links
    card = ca.issue(load_person("yamada"))
    first = wallet(issuer_context).enroll(enrollment, card)
    renewed = links.renew(card)
    assert links.predecessors(renewed.sign_cert)
    second = wallet(issuer_context).enroll(enrollment, renewed)  # a new holder key as well
    assert not second.new_person
    assert second.person_id == first.person_id
    # Without the provider, the same renewal with a new holder key is a new person: the link is what joined them.
    issuer_context.renewal_links = None
    third = wallet(issuer_context).enroll(enrollment, links.renew(renewed))
    assert third.new_person


def test_reissued_card_with_the_bound_holder_key_and_same_basic4(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any
) -> None:
    ca: TestCA = served_ca.ca
    holder = wallet(issuer_context)
    first = holder.enroll(enrollment, ca.issue(load_person("yamada")))
    reissued = ca.issue(load_person("yamada"))  # a new card: new keys, no renewal link
    second = holder.enroll(enrollment, reissued)
    assert not second.new_person
    assert second.person_id == first.person_id
    # A new card with the same basic 4 info but a holder key never bound is a new person (no proof of the old one).
    assert wallet(issuer_context).enroll(enrollment, ca.issue(load_person("yamada"))).new_person


def test_bound_holder_key_but_another_name_is_a_new_person(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any, yamada_card: CardIdentity
) -> None:
    ca: TestCA = served_ca.ca
    holder = wallet(issuer_context)
    first = holder.enroll(enrollment, yamada_card)
    other = dataclasses.replace(load_person("yamada"), name="山田　次郎", name_substitution="")
    second = holder.enroll(enrollment, ca.issue(other))
    assert second.new_person
    assert second.person_id != first.person_id
    # The key is now bound to both; each one's own basic 4 info finds its own person.
    third = holder.enroll(enrollment, ca.issue(other))
    assert third.person_id == second.person_id
    fourth = holder.enroll(enrollment, ca.issue(load_person("yamada")))
    assert fourth.person_id == first.person_id


def _basic4(name: str, flags: str = "", sex: str = "1", dob: str = "419900102") -> Basic4Info:
    person = Person(name, sex, dob, "東京都千代田区千代田1-1", "123456789018", name_substitution=flags)  # type: ignore[arg-type]
    return person.basic4()


def test_match_normalisation() -> None:
    assert match_text(_basic4("山田　太郎")) == match_text(_basic4("山田 太郎")) == match_text(_basic4("山田太郎"))
    assert match_text(_basic4("髙橋　一郎")) == match_text(_basic4("高橋　一郎"))
    assert match_text(_basic4("山﨑　花子")) == match_text(_basic4("山崎　花子"))
    assert match_text(_basic4("齋藤　花子")) == match_text(_basic4("斎藤　花子")) == match_text(_basic4("齊藤　花子"))
    assert match_text(_basic4("渡邊　一")) == match_text(_basic4("渡辺　一")) == match_text(_basic4("渡邉　一"))
    assert match_text(_basic4("ﾔﾏﾀﾞ　ﾀﾛｳ")) == match_text(_basic4("ヤマダ　タロウ"))
    assert match_text(_basic4("山田　太郎")) != match_text(_basic4("山田　次郎"))
    assert match_text(_basic4("山田　太郎")) != match_text(_basic4("山田　太郎", sex="2"))
    assert match_text(_basic4("山田　太郎")) != match_text(_basic4("山田　太郎", dob="419900103"))


def test_substituted_positions_are_wildcards_at_the_same_positions() -> None:
    # Position 0 was substituted on both cards (with different substitutes): they match.
    assert match_text(_basic4("邉田　太郎", "10000")) == match_text(_basic4("ア田　太郎", "10000"))
    # A substitute is not a wildcard where the other card has the real character flagged as not substituted.
    assert match_text(_basic4("ア田　太郎", "10000")) != match_text(_basic4("辺田　太郎"))
    # Unflagged positions still compare.
    assert match_text(_basic4("ア田　太郎", "10000")) != match_text(_basic4("ア田　次郎", "10000"))


def test_merge(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any, yamada_card: CardIdentity
) -> None:
    ca: TestCA = served_ca.ca
    keep = wallet(issuer_context).enroll(enrollment, yamada_card)
    absorbed_card = ca.issue(load_person("yamada"))
    absorb = wallet(issuer_context).enroll(enrollment, absorbed_card)
    assert absorb.new_person
    merge(issuer_context, keep.person_id, absorb.person_id)
    with transaction(issuer_context.engine) as conn:
        assert current_person(conn, absorb.person_id) == keep.person_id
        merged = conn.execute(select(persons.c.merged_into).where(persons.c.person_id == absorb.person_id)).scalar()
        assert merged == keep.person_id
        owners = {row.person_id for row in conn.execute(select(evidence_table.c.person_id))}
        assert owners == {keep.person_id}
        assert identity_facts(issuer_context)(conn, absorb.evidence_id).person_id == keep.person_id
    # The absorbed person's certificate now finds the kept person.
    assert wallet(issuer_context).enroll(enrollment, absorbed_card).person_id == keep.person_id
    before = snapshot(issuer_context.engine)
    with pytest.raises(MergeError):
        merge(issuer_context, keep.person_id, absorb.person_id)
    with pytest.raises(MergeError):
        merge(issuer_context, keep.person_id, keep.person_id)
    with pytest.raises(UnknownPersonError):
        merge(issuer_context, keep.person_id, "A" * 22)
    assert snapshot(issuer_context.engine) == before


@pytest.fixture
def ledger(issuer_context: IssuerContext) -> Iterator[Log]:
    with Log(
        Store(issuer_context.engine), SoftwareSigner.generate(KeyType.ED25519), origin="xid.test/ledger/v1"
    ) as log:
        issuer_context.ledger = log
        yield log


def test_ledger_records_of_enrollment_and_merge(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any, yamada_card: CardIdentity, ledger: Log
) -> None:
    first = wallet(issuer_context).enroll(enrollment, yamada_card)
    second = wallet(issuer_context).enroll(enrollment, served_ca.ca.issue(load_person("yamada")))
    merge(issuer_context, first.person_id, second.person_id)
    ledger.close()
    with ledger.store.transaction() as txn:
        entries = [entry for _, entry, _ in txn.entries(0, txn.state().size)]
    records = [Record.from_bytes(entry) for entry in entries]
    key = issuer_context.secrets.ledger_key
    assert [r.type for r in records] == [EventType.ENROLLMENT, EventType.ENROLLMENT, EventType.LINKAGE]
    assert records[0].subject == commitment(key, first.person_id)
    assert records[1].subject == commitment(key, second.person_id)
    assert records[2].subject == commitment(key, first.person_id)
    assert records[2].object == commitment(key, second.person_id)
    with transaction(issuer_context.engine) as conn:
        rows = conn.execute(select(evidence_table.c.nonce, evidence_table.c.ciphertext)).all()
    assert {r.evidence for r in records[:2]} == {hashlib.sha256(bytes(n) + bytes(c)).hexdigest() for n, c in rows}
    for entry in entries:
        assert first.person_id.encode() not in entry
        assert "山田".encode() not in entry


def test_pairwise_subjects(issuer_context: IssuerContext) -> None:
    a, b = "A" * 22, "B" * 22
    rp1, rp2 = "rp1.example.jp", "rp2.example.jp"
    assert pairwise_subject(issuer_context, a, rp1) == pairwise_subject(issuer_context, a, rp1)
    assert pairwise_subject(issuer_context, a, rp1) != pairwise_subject(issuer_context, a, rp2)
    assert pairwise_subject(issuer_context, a, rp1) != pairwise_subject(issuer_context, b, rp1)
    assert len(pairwise_subject(issuer_context, a, rp1)) == 43
    assert a not in pairwise_subject(issuer_context, a, rp1)
    other = dataclasses.replace(issuer_context, secrets=OperatorSecrets.generate())
    assert pairwise_subject(other, a, rp1) != pairwise_subject(issuer_context, a, rp1)
    # The sector and the ID are separated: ("ab", "c") and ("a", "bc") differ.
    assert pairwise_subject(issuer_context, "c", "ab") != pairwise_subject(issuer_context, "bc", "a")


def test_static_renewal_links(yamada_card: CardIdentity) -> None:
    old = "AB" * 32
    links = StaticRenewalLinks()
    links.add(old, yamada_card.sign_cert)
    assert links.predecessors(yamada_card.sign_cert) == (old.lower(),)
    assert StaticRenewalLinks().predecessors(yamada_card.sign_cert) == ()


def test_pairwise_for_holder_follows_the_person_across_a_renewed_card(
    issuer_context: IssuerContext, enrollment: Enrollment, served_ca: Any
) -> None:
    from issuer.credentials import SD_JWT, make_credential_issuer
    from issuer.persons import pairwise_for_holder
    from issuer.status import StatusLists

    ca: TestCA = served_ca.ca
    links = TestCaRenewalLinks(ca)
    issuer_context.renewal_links = links
    issue = make_credential_issuer(issuer_context, StatusLists(issuer_context))

    def holder_of_credential(card: CardIdentity) -> str:
        enrolled = wallet(issuer_context).enroll(enrollment, card)
        key = SoftwareSigner.generate(KeyType.P256)  # the credential's own holder key (batch keys differ)
        with transaction(issuer_context.engine, write=True) as conn:
            facts = identity_facts(issuer_context)(conn, enrolled.evidence_id)
            issue(conn, SD_JWT, facts, key.public_jwk)
        return PublicKey.from_jwk(key.public_jwk).thumbprint()

    card = ca.issue(load_person("yamada"))
    first = holder_of_credential(card)
    renewed = holder_of_credential(links.renew(card))  # same person, new card, new credential and holder key
    other = holder_of_credential(ca.issue(load_person("long_address")))
    sub = pairwise_for_holder(issuer_context, first, "shop.example")
    assert sub is not None
    assert pairwise_for_holder(issuer_context, renewed, "shop.example") == sub
    assert pairwise_for_holder(issuer_context, first, "other.example") not in (None, sub)
    assert pairwise_for_holder(issuer_context, other, "shop.example") not in (None, sub)
    assert pairwise_for_holder(issuer_context, "unknown-thumbprint", "shop.example") is None
