"""The TEST certification authority itself: root generations per tree, issuance and renewal of card identities,
and the record of what it issued and revoked, which its CRLs and OCSP responses report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from jpki_bridge import profile
from jpki_bridge.revocation import issuer_hashes
from jpki_bridge.testca.app import http_app
from jpki_bridge.testca.certificates import (
    RootGeneration,
    end_entity_certificate,
    fifth_birthday_after,
    responder_certificate,
    root_certificate,
)
from jpki_bridge.testca.common import TREES, Clock, TestCAError, Tree, second, tree_of, utc_now
from jpki_bridge.testca.person import CardIdentity, Person
from jpki_bridge.testca.responder import CertificateStatus, build_crl, build_ocsp_response
from jpki_bridge.trust import Anchor, TrustAnchors

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "IssuedRecord",
    "RevocationRecord",
    "TestCA",
]

# Root generations relative to the CA's creation time, mirroring the J-LIS 2015 / 2019 / 2023 roots as of 2026
# (docs/jpki.md §2.1): (label, starts this many days before creation), each with a ten-year lifetime. "01" is
# already expired.
_GENERATIONS: Final = (("01", 4055), ("02", 2629), ("03", 1228))
_ROOT_LIFETIME: Final = dt.timedelta(days=3652)

_Key = tuple[Tree, str, int]  # (tree, root generation, serial)


@dataclass
class IssuedRecord:
    """A certificate the CA issued: its tree, root generation, serial, end of validity and holder."""

    tree: Tree
    generation: str
    serial: int
    not_after: dt.datetime
    person: Person | None = None


@dataclass
class RevocationRecord:
    """When and why a certificate was revoked."""

    time: dt.datetime
    reason: x509.ReasonFlags


class TestCA:
    """A TEST JPKI CA: sign and auth trees with root generations, issuance, renewal, revocation, CRL and OCSP."""

    __test__ = False

    def __init__(
        self,
        roots: Mapping[Tree, list[RootGeneration]],
        *,
        key_size: int = 2048,
        clock: Clock = utc_now,
        base_url: str | None = None,
        crl_validity: dt.timedelta = dt.timedelta(days=1),
        ocsp_validity: dt.timedelta = dt.timedelta(hours=4),
        issued: Iterable[IssuedRecord] = (),
        revoked: Mapping[_Key, RevocationRecord] | None = None,
        crl_number: int = 0,
    ) -> None:
        for tree in TREES:
            if not roots.get(tree):
                raise TestCAError(f"the {tree} tree needs at least one root generation")
        self._roots: dict[Tree, list[RootGeneration]] = {
            tree: sorted(roots[tree], key=lambda root: root.label) for tree in TREES
        }
        self.key_size = key_size
        self.clock = clock
        self.base_url = base_url
        self.crl_validity = crl_validity
        self.ocsp_validity = ocsp_validity
        self._issued: dict[_Key, IssuedRecord] = {(r.tree, r.generation, r.serial): r for r in issued}
        self._revoked: dict[_Key, RevocationRecord] = dict(revoked or {})
        self._crl_number = crl_number

    @classmethod
    def create(
        cls,
        *,
        now: dt.datetime | None = None,
        key_size: int = 2048,
        clock: Clock = utc_now,
        base_url: str | None = None,
    ) -> TestCA:
        """Generate a new CA: three root generations per tree, the oldest expired at ``now``."""
        created = second(now or clock())
        roots: dict[Tree, list[RootGeneration]] = {}
        for tree in TREES:
            roots[tree] = []
            for label, days_before in _GENERATIONS:
                key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
                start = created - dt.timedelta(days=days_before)
                cert = root_certificate(tree, key, start, start + _ROOT_LIFETIME)
                roots[tree].append(RootGeneration(tree, label, key, cert))
        return cls(roots, key_size=key_size, clock=clock, base_url=base_url)

    # -- what it recorded (for the store) ------------------------------------------------------------------------

    @property
    def issued_records(self) -> tuple[IssuedRecord, ...]:
        """Every certificate issued, in issuance order."""
        return tuple(self._issued.values())

    @property
    def revocation_records(self) -> dict[_Key, RevocationRecord]:
        """Every revocation, by (tree, generation, serial)."""
        return dict(self._revoked)

    @property
    def crl_number(self) -> int:
        """The number of the last CRL issued (0 before the first)."""
        return self._crl_number

    # -- roots -------------------------------------------------------------------------------------------------

    def roots(self, tree: Tree) -> tuple[RootGeneration, ...]:
        """All root generations of a tree, oldest first."""
        return tuple(self._roots[tree_of(tree)])

    def root(self, tree: Tree, generation: str) -> RootGeneration:
        """One root generation by its label."""
        for root in self._roots[tree_of(tree)]:
            if root.label == generation:
                return root
        raise TestCAError(f"the {tree} tree has no root generation {generation!r}")

    def current_root(self, tree: Tree, now: dt.datetime | None = None) -> RootGeneration:
        """The newest root generation valid at ``now`` (the one that issues new certificates)."""
        when = now or self.clock()
        live = [root for root in self._roots[tree_of(tree)] if root.valid_at(when)]
        if not live:
            raise TestCAError(f"no {tree} root generation is valid at {when.isoformat()}")
        return live[-1]

    def trust_anchor_certificates(self, tree: Tree) -> tuple[x509.Certificate, ...]:
        """The root certificates of a tree, for TrustAnchors.for_testing."""
        return tuple(root.cert for root in self._roots[tree_of(tree)])

    def trust_anchors(self) -> TrustAnchors:
        """TrustAnchors holding this CA's roots (every generation of both trees)."""
        return TrustAnchors(
            Anchor(root.tree, f"TEST-{root.tree}ca{root.label}", root.cert)
            for tree in TREES
            for root in self._roots[tree]
        )

    # -- issuance ----------------------------------------------------------------------------------------------

    def issue(
        self,
        person: Person,
        now: dt.datetime | None = None,
        *,
        generation: str | None = None,
    ) -> CardIdentity:
        """Issue a card: a sign and an auth key pair with certificates valid to the 5th birthday after ``now``."""
        issued_at = second(now or self.clock())
        sign_root = self.root("sign", generation) if generation else self.current_root("sign", issued_at)
        auth_root = self.root("auth", generation) if generation else self.current_root("auth", issued_at)
        not_after = fifth_birthday_after(issued_at, profile.DateOfBirth.parse(person.date_of_birth))
        sign_key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        auth_key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        sign_cert = self._end_entity(sign_root, sign_key.public_key(), issued_at, not_after, person)
        auth_cert = self._end_entity(auth_root, auth_key.public_key(), issued_at, not_after, None)
        self._issued[("sign", sign_root.label, sign_cert.serial_number)] = IssuedRecord(
            "sign", sign_root.label, sign_cert.serial_number, sign_cert.not_valid_after_utc, person
        )
        self._issued[("auth", auth_root.label, auth_cert.serial_number)] = IssuedRecord(
            "auth", auth_root.label, auth_cert.serial_number, auth_cert.not_valid_after_utc, person
        )
        return CardIdentity(sign_key, sign_cert, sign_root.cert, auth_key, auth_cert, auth_root.cert)

    def renew(
        self, identity_or_person: CardIdentity | Person, now: dt.datetime | None = None, *, revoke_old: bool = True
    ) -> CardIdentity:
        """Issue new keys and certificates (new serials) for the same person; the old pair is revoked (superseded)."""
        if isinstance(identity_or_person, Person):
            return self.issue(identity_or_person, now)
        old = identity_or_person
        record = self._record(old.sign_cert)
        if record.person is None:
            raise TestCAError("this CA holds no person record for the identity's signature certificate")
        when = second(now or self.clock())
        renewed = self.issue(record.person, when)
        if revoke_old:
            self.revoke(old.sign_cert, x509.ReasonFlags.superseded, when)
            self.revoke(old.auth_cert, x509.ReasonFlags.superseded, when)
        return renewed

    def person_of(self, cert: x509.Certificate) -> Person | None:
        """The person a certificate from this CA was issued to, if the CA knows."""
        return self._record(cert).person

    def _record(self, cert: x509.Certificate) -> IssuedRecord:
        for key, record in self._issued.items():
            if key[2] == cert.serial_number and self.root(key[0], key[1]).cert.subject == cert.issuer:
                return record
        raise TestCAError("the certificate was not issued by this test CA")

    def _end_entity(
        self,
        root: RootGeneration,
        public_key: rsa.RSAPublicKey,
        not_before: dt.datetime,
        not_after: dt.datetime,
        person: Person | None,
    ) -> x509.Certificate:
        return end_entity_certificate(
            root,
            public_key,
            not_before,
            not_after,
            person,
            crl_url=self.crl_url(root.tree, root.label) if self.base_url else None,
            ocsp_url=f"{self.base_url}/ocsp" if self.base_url else None,
        )

    def crl_url(self, tree: Tree, generation: str) -> str:
        """Where the HTTP app serves one root generation's CRL (needs ``base_url``)."""
        if not self.base_url:
            raise TestCAError("the test CA has no base_url, so it has no CRL URL")
        return f"{self.base_url}/crl/{tree}-{generation}.crl"

    # -- revocation --------------------------------------------------------------------------------------------

    def revoke(
        self,
        cert: x509.Certificate,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        time: dt.datetime | None = None,
    ) -> None:
        """Revoke a certificate this CA issued (the first revocation of a certificate stands)."""
        record = self._record(cert)
        key = (record.tree, record.generation, record.serial)
        self._revoked.setdefault(key, RevocationRecord(second(time or self.clock()), reason))

    def status(self, root: RootGeneration, serial: int, at: dt.datetime | None = None) -> CertificateStatus:
        """The status of a serial under a root at a time: revoked if revoked by then, good if issued, else unknown."""
        key = (root.tree, root.label, serial)
        when = at or self.clock()
        revoked = self._revoked.get(key)
        if revoked is not None and revoked.time <= when:
            return CertificateStatus("revoked", revoked.time, revoked.reason)
        if key in self._issued:
            return CertificateStatus("good")
        return CertificateStatus("unknown")

    def crl(
        self, tree: Tree, now: dt.datetime | None = None, *, generation: str | None = None
    ) -> x509.CertificateRevocationList:
        """A signed CRL of one root generation (default: the current one) listing what it revoked by ``now``."""
        when = second(now or self.clock())
        root = self.root(tree, generation) if generation else self.current_root(tree, when)
        self._crl_number += 1
        entries = [
            (serial, revoked.time, revoked.reason)
            for (entry_tree, label, serial), revoked in self._revoked.items()
            if entry_tree == root.tree and label == root.label
        ]
        return build_crl(root, entries, self._crl_number, when, when + self.crl_validity)

    def ocsp_response(self, request_der: bytes, now: dt.datetime | None = None) -> bytes:
        """Answer a DER OCSP request (RFC 6960), signed by the issuing root itself; echoes the request nonce."""
        when = second(now or self.clock())
        return build_ocsp_response(request_der, self._root_by_hashes, self.status, when, self.ocsp_validity)

    def _root_by_hashes(
        self, algorithm: hashes.HashAlgorithm, name_hash: bytes, key_hash: bytes
    ) -> RootGeneration | None:
        for roots in self._roots.values():
            for root in roots:
                if issuer_hashes(root.cert, algorithm) == (name_hash, key_hash):
                    return root
        return None

    def ocsp_delegate(
        self, tree: Tree, generation: str, now: dt.datetime | None = None
    ) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        """A delegated OCSP responder key and certificate (EKU OCSPSigning) issued by one root, for tests."""
        root = self.root(tree, generation)
        key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        return key, responder_certificate(root, key, second(now or self.clock()))

    # -- HTTP and persistence ----------------------------------------------------------------------------------

    def http_app(self, clock: Clock | None = None) -> Starlette:
        """A Starlette app: ``POST /ocsp`` (application/ocsp-request) and ``GET /crl/<tree>[-<generation>].crl``."""
        return http_app(self, clock)

    def save(self, directory: Path) -> Path:
        """Write the CA (TEST keys unencrypted, mode 0600) to ``directory/testca.json``; returns the file."""
        from jpki_bridge.testca import store  # store builds TestCA objects, so it imports this module

        return store.save(self, directory)

    @classmethod
    def load(cls, directory: Path, *, clock: Clock = utc_now) -> TestCA:
        """Read a CA written by save."""
        from jpki_bridge.testca import store

        return store.load(directory, clock=clock)
