"""``make demo``: the whole story on the embedded default, every step run for real on local services.

First the story a person lives (issue: "read the card once, then the wallet alone"): a software My Number card, the
card check through PC/SC, credentials and certificates, a website login through the OpenID Connect facade, an age
proof, a signed PDF, the My Number handover, the ledger's receipts and audit, and a card renewal that keeps the
website's pairwise ``sub``. Then the building blocks one at a time. Every step shows its place (``[n/N]``) and the
seconds since the start.
"""

from __future__ import annotations

import http.server
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from did import (
    DidError,
    DidWebResolver,
    KeyType,
    Resolver,
    SoftwareSigner,
    did_jwk,
    did_key,
    web_did,
    web_document,
)
from jpki_bridge.apdu import CardError
from jpki_bridge.errors import JpkiError
from xid.demo_login import serve_app

if TYPE_CHECKING:
    from jpki_bridge.softcard import SoftCard
    from jpki_bridge.testca import Person
    from jpki_bridge.transport import Transport

Secured = str | dict[str, Any]
"""A credential as the demo passes it around: a token, or a JSON credential with a Data Integrity proof."""


_PROGRESS: dict[str, float] = {"step": 0, "of": 0, "start": time.monotonic()}


def _section(title: str, steps: int) -> None:
    """Start a part of the demo with ``steps`` numbered steps."""
    _PROGRESS.update(step=0, of=steps)
    click.echo()
    click.secho(title, bold=True, underline=True)


def _step(title: str) -> None:
    _PROGRESS["step"] += 1
    elapsed = time.monotonic() - _PROGRESS["start"]
    click.echo()
    click.secho(f"[{_PROGRESS['step']:.0f}/{_PROGRESS['of']:.0f}] {title}", bold=True, nl=False)
    click.secho(f"  ({elapsed:.0f} s)", dim=True)


def _say(text: str) -> None:
    click.echo(f"   {text}")


@contextmanager
def _serve_directory(root: Path) -> Iterator[int]:
    """Serve a directory over HTTP on 127.0.0.1 (a stand-in for the issuer's web server); yield the port."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            """Keep the demo output quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


STORY_STEPS = 9
BLOCK_STEPS = 6


def run() -> None:
    """Run the demo, printing each step."""
    _PROGRESS["start"] = time.monotonic()
    click.secho("xid demo: read the My Number card once, then the wallet alone (development configuration:", bold=True)
    click.secho("SQLite, software keys and a TEST CA under a temporary directory, services on 127.0.0.1)", bold=True)
    with tempfile.TemporaryDirectory(prefix="xid-demo-") as tmp:
        home = Path(tmp)
        _section("The story", STORY_STEPS)
        story(home)
        _section("Under the hood: the building blocks, one at a time", BLOCK_STEPS)
        holder_keys(home)
        issuer = issuer_did_web(home)
        refusals(issuer)
        card_story(home)
        ledger_story(home)
        credential_story()
    click.echo()
    click.secho(f"Done in {time.monotonic() - _PROGRESS['start']:.0f} s. Nothing was written outside a temporary "
                "directory.", bold=True)  # fmt: skip
    click.echo(WHERE_NEXT)


WHERE_NEXT = """
Where to look next:
  README.md                 what xid is, the two commands, the architecture
  docs/wallet.md            xid wallet: enroll, accept, present, sign, consents, My Number
  docs/relying-party.md     a website logs people in with xid (Authlib in under 20 lines, openid-client)
  docs/oidc.md              the OpenID Connect facade: endpoints, login page, claims, consent and linkage
  docs/issuer.md            the card check, persons, OpenID4VCI, credentials, status, the xid CA
  docs/verifier.md          presentations over OpenID4VP, the RP API, the VC API
  docs/ledger.md            the append-only log, receipts, checkpoints and anchors
  docs/operations.md        running xid serve: settings, PostgreSQL, workers, keys, backups, metrics
  docs/security.md          the threat model
  xid --help                every command"""


def holder_keys(home: Path) -> None:
    """Create holder keys of each type, their DIDs, and sign/verify through resolution."""
    _step("A holder creates keys and DIDs (did:key and did:jwk)")
    resolver = Resolver()
    for key_type, method in [(KeyType.ED25519, "key"), (KeyType.P256, "key"), (KeyType.SECP256K1, "jwk")]:
        signer = SoftwareSigner.generate(key_type)
        did = did_key.create(signer.public_key) if method == "key" else did_jwk.create(signer.public_key)
        signer.save(home / "keys" / f"{signer.key_id}.jwk")
        shown = did if len(did) < 70 else did[:66] + "..."
        _say(f"{key_type.value:<9} {signer.algorithm:<7} {shown}")
        doc = resolver.resolve_document(did)
        vm_id = next(doc.method_ids())
        vm = doc.verification_method(vm_id, "authentication")
        message = b"xid-enroll-v1 || nonce || thumbprint"
        signature = signer.sign(message)
        vm.public_key.verify(signature, message)
        _say(f"          resolved to {vm.type}; a {len(signature)}-byte signature verifies with the resolved key")
        try:
            vm.public_key.verify(signature, message + b"!")
        except DidError as exc:
            _say(f"          the same signature over changed bytes is rejected: {exc.code}")
    _say(f"private keys were written as JWK files (mode 0600) under {home / 'keys'}")


def issuer_did_web(home: Path) -> str:
    """Publish an issuer did:web document on a local server and resolve it (with caching)."""
    _step("The issuer publishes did:web (served locally; HTTPS is required outside development)")
    issuer_key = SoftwareSigner.generate(KeyType.ED25519)
    web_root = home / "www"
    with _serve_directory(web_root) as port:
        did = web_did("localhost", port, ["issuer"])
        document = web_document(did, [("assertion-1", issuer_key.public_key)])
        target = web_root / "issuer" / "did.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(document, indent=2))
        _say(f"DID      {did}")
        _say(f"document http://localhost:{port}/issuer/did.json ({target.stat().st_size} bytes)")
        with DidWebResolver(allow_loopback=True, scheme="http") as web:
            resolver = Resolver.standard(web, cache_ttl=300)
            start = time.perf_counter()
            vm = resolver.dereference(f"{did}#assertion-1", "assertionMethod")
            first = time.perf_counter() - start
            start = time.perf_counter()
            resolver.dereference(f"{did}#assertion-1", "assertionMethod")
            cached = time.perf_counter() - start
        assert vm.public_key == issuer_key.public_key
        _say(
            f"resolved {vm.id.split('#')[1]} ({vm.type}) over HTTP in {first * 1000:.1f} ms, from cache in "
            f"{cached * 1e6:.0f} us"
        )
    return did


def _virtual_reader() -> tuple[str | None, str]:
    """The vpcd reader's name when pcscd with vsmartcard-vpcd and pyscard are available, else why not."""
    try:
        from jpki_bridge.pcsc import list_readers

        readers = list_readers()
    except CardError as exc:
        return None, exc.message
    reader = next((r for r in readers if r.startswith("Virtual PCD")), None)
    return reader, "pcscd is running, but no vsmartcard-vpcd reader is connected to it"


def _person() -> Person:
    """The demo's fictional card holder."""
    from jpki_bridge.testca import Person

    return Person(
        name="\u5c71\u7530\u3000\u82b1\u5b50",  # 山田　花子 (fictional)
        sex="2",
        date_of_birth="419900102",
        address="\u6771\u4eac\u90fd\u5343\u4ee3\u7530\u533a\u5343\u4ee3\u7530\uff11\uff0d\uff11",
        my_number="123456789018",
    )


@contextmanager
def _card_in_reader(soft: SoftCard) -> Iterator[Transport]:
    """The card in vsmartcard's virtual reader through pcscd when available, else read in-process (saying why)."""
    from jpki_bridge.pcsc import PcscTransport
    from jpki_bridge.transport import InMemoryTransport
    from jpki_bridge.vpcd import VpcdLink

    reader, why_not = _virtual_reader()
    link: VpcdLink | None = None
    transport: Transport
    if reader is not None:
        link = VpcdLink(soft)
        link.start()
        transport = PcscTransport(reader, wait=15)
        _say(f"the card is in the virtual reader '{reader}': every APDU goes through pcscd and pyscard")
    else:
        transport = InMemoryTransport(soft)
        _say(f"skipping PC/SC: {why_not}")
        _say("so the card is read in-process instead (the same APDUs, without pcscd and pyscard in between)")
    try:
        yield transport
    finally:
        transport.close()
        if link is not None:
            link.close()


def card_story(home: Path) -> None:
    """Read a TEST My Number card (through pcscd when available), validate its chain and revocation, sign."""
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from jpki_bridge import revocation, trust
    from jpki_bridge.jpki import JpkiCard
    from jpki_bridge.profile import parse_signature_certificate
    from jpki_bridge.softcard import FaceData, SoftCard
    from jpki_bridge.testca import TestCA

    _step("A My Number card is read, its chain and revocation checked, and it signs a challenge")
    ca = TestCA.create()
    person = _person()
    identity = ca.issue(person)
    soft = SoftCard(identity, sign_pin="TEST1234", auth_pin="1234", face=FaceData.of(person), input_pin="1234")
    _say("a TEST CA (names say 'xid TEST JPKI', never J-LIS) issued a software card for a fictional person")
    with _card_in_reader(soft) as transport:
        card = JpkiCard(transport)
        card.select()
        status = card.pin_status("sign")
        _say(f"card type {card.token_type}; signature password: {status.tries_left} tries left (checked first)")
        card.verify("sign", "test1234")
        cert = card.read_sign_certificate()
        challenge = b"xid-enroll-v1 || nonce || holder key thumbprint"
        signature = card.sign("sign", challenge)
    info = parse_signature_certificate(cert)
    _say(f"basic 4 info from the signature certificate: {info.name} / sex {info.sex.value} /")
    _say(f"    born {info.date_of_birth.text} (era digit + date) / {info.address}")
    now = dt.datetime.now(dt.UTC)
    crl_file = home / "sign.crl"
    crl_file.write_bytes(ca.crl("sign", now).public_bytes(serialization.Encoding.DER))
    result = trust.validate_chain(cert, ca.trust_anchors(), now, "sign", revocation.CrlProvider([crl_file]))
    _say(f"{result.summary[:100]}...")
    trust.verify_card_signature(cert, challenge, signature)
    _say(f"the card's {len(signature)}-byte RSA signature over the enrollment challenge verifies")
    try:
        trust.verify_card_signature(cert, challenge + b"!", signature)
    except JpkiError as exc:
        _say(f"over a changed challenge it does not: {exc.code}")


def ledger_story(home: Path) -> None:
    """Append records to the ledger, show and verify a receipt offline, anchor a checkpoint on a local chain."""
    from datetime import UTC, datetime

    from web3 import EthereumTesterProvider, Web3

    from foundation.db import sqlite_engine
    from ledger.anchors import AnchorReceipt
    from ledger.anchors.evm import EvmAnchor
    from ledger.log import Log
    from ledger.note import Ed25519NoteVerifier
    from ledger.receipt import Receipt, verify_receipt
    from ledger.records import EventType, Record, commitment, digest
    from ledger.store import Store

    _step("The ledger records transactions as hashes, with receipts anyone can verify offline")
    chain = Web3(EthereumTesterProvider())
    anchor = EvmAnchor(chain, chain.eth.accounts[0])
    engine = sqlite_engine(home / "ledger.sqlite3")
    try:
        store = Store(engine)
        log_key = SoftwareSigner.generate(KeyType.ED25519)
        with Log(store, log_key, origin="xid.localhost/demo-ledger", anchors=[anchor]) as log:
            subject = commitment(b"operator-secret-key-kept-off-the-log", "person-0001")
            events = [
                Record(EventType.ENROLLMENT, datetime.now(UTC), subject=subject),
                Record(EventType.AUTHENTICATION, datetime.now(UTC), subject=subject, rp="https://shop.example.jp"),
                Record(EventType.SIGNATURE, datetime.now(UTC), subject=subject, object=digest(b"contract.pdf bytes")),
            ]
            pending = [log.append(record) for record in events]
            for record, p in zip(events, pending, strict=True):
                _say(f"#{p.index} {record.type.value:<15} leaf {p.leaf_hash.hex()[:16]}...")
            _say(f"an entry is only hashes and enums: {events[2].to_bytes().decode()[:96]}...")
            stored = log.checkpoint()
            assert stored is not None
            receipt = pending[2].wait_included()
            vkey = log.vkey
        text = receipt.format()
        _say(f"receipt for entry #2 (C2SP tlog-proof), {len(text)} bytes:")
        for line in text.splitlines():
            if line and not line.startswith("\u2014"):
                _say(f"    {line}")
        _say("    (and the log's signature line)")
        checkpoint = verify_receipt(Receipt.parse(text), events[2].to_bytes(), Ed25519NoteVerifier.from_vkey(vkey))
        _say(f"verified offline with only the log's public key: entry #2 is in the tree of size {checkpoint.size}")
        try:
            verify_receipt(Receipt.parse(text), events[1].to_bytes(), Ed25519NoteVerifier.from_vkey(vkey))
        except DidError:
            raise
        except Exception as exc:
            _say(f"the same receipt for another entry is rejected: {getattr(exc, 'code', type(exc).__name__)}")
        with store.transaction() as txn:
            row = txn.anchors(stored.size)[0]
        anchor_receipt = AnchorReceipt.from_json(json.loads(row.receipt))
        result = anchor.verify(anchor_receipt, stored.note.encode())
        tx = str(anchor_receipt.evidence["txHash"])
        _say(f"checkpoint {stored.size} anchored on an in-process EVM chain (tx {tx[:18]}...); re-read from the")
        _say(f"chain and verified: anchored={result.anchored}")
    finally:
        engine.dispose()


def refusals(issuer_did: str) -> None:
    """Show that bad or dangerous input gets a specific error."""
    _step("Bad input gets a specific error, never a crash")
    with DidWebResolver() as web:
        resolver = Resolver.standard(web)
        for did, why in [
            ("did:web:10.0.0.1", "a did:web pointing at a private address (no request is sent)"),
            (issuer_did, "the same issuer without the development loopback allowance"),
            (
                "did:key:zUC7EK3ZakmukHhuncwkbySmomv3FmrkmS36E4Ks5rsb6VQSRpoCrx6Hb8e2Nk6UvJFSdyw9NK1scFXJp21gNNYFjVWNg"
                "aqyGnkyhtagagCpQb5B7tagJu3HDbjQ8h5ypoHjwBb",
                "a BLS12-381 did:key",
            ),
            ("did:example:123", "an unknown DID method"),
            ("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do", "a did:key with a damaged identifier"),
        ]:
            result = resolver.resolve(did)
            _say(f"{why}:")
            _say(f"    {result.error}: {result.did_resolution_metadata.get('errorMessage')}")


def credential_story() -> None:
    """Issue one credential in each securing mechanism, verify it, and show a tampered copy rejected."""
    from foundation.b64 import b64url_decode, b64url_encode
    from vc.data_integrity import add_proof
    from vc.errors import VcError
    from vc.jose import issue_vc_jwt
    from vc.sd_jwt import SD, issue, present
    from vc.status_list import BitstringStatusList
    from vc.verify import CredentialVerifier

    _step("Credentials: VC-JOSE, SD-JWT VC and Data Integrity, verified, tampered, revoked")
    issuer, issuer_p256, holder = (did_key.generate(t) for t in (KeyType.ED25519, KeyType.P256, KeyType.ED25519))
    issuer_did = issuer.key_id.split("#")[0]
    list_url = "https://issuer.example.jp/status/1"
    published: dict[str, Secured] = {}
    verifier = CredentialVerifier(Resolver(), published.__getitem__)

    def credential(did: str, index: int) -> dict[str, Any]:
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
            "id": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            "type": ["VerifiableCredential", "ExampleAlumniCredential"],
            "issuer": did,
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": {"id": holder.key_id.split("#")[0], "alumniOf": "Example University"},
        }
        if did == issuer_did:  # the status list is the Ed25519 issuer's
            document["credentialStatus"] = {
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": str(index),
                "statusListCredential": list_url,
            }
        return document

    status = BitstringStatusList()

    def publish() -> None:
        unsigned = status.credential(list_url, issuer_did, "revocation", "2026-01-01T00:00:00Z")
        published[list_url] = add_proof(unsigned, issuer, cryptosuite="eddsa-rdfc-2022")

    publish()

    def tampered_jwt(token: str) -> str:
        head, body, signature = token.split(".")
        forged = b64url_decode(body).replace(b"Example University", b"Forged University")
        return f"{head}.{b64url_encode(forged)}.{signature}"

    def tampered_di(secured: dict[str, Any]) -> dict[str, Any]:
        return {**secured, "credentialSubject": {**secured["credentialSubject"], "alumniOf": "Forged University"}}

    audience, nonce = "https://shop.example.jp", "n-4711"
    samples: list[tuple[str, Secured, Secured, str]] = []
    token = issue_vc_jwt(credential(issuer_did, 1), issuer)
    samples.append(("vc+jwt (VC-JOSE)", token, tampered_jwt(token), nonce))
    for index, (suite, signer) in enumerate(
        [("eddsa-rdfc-2022", issuer), ("eddsa-jcs-2022", issuer), ("ecdsa-rdfc-2019", issuer_p256)], start=2
    ):
        secured = add_proof(credential(signer.key_id.split("#")[0], index), signer, cryptosuite=suite)
        samples.append((f"Data Integrity {suite}", secured, tampered_di(secured), nonce))
    sd_jwt = issue(
        {"iss": issuer_did, "vct": "https://xid.example/credentials/example", "given_name": SD("Hanako"),
         "family_name": SD("Yamada"), "birthdate": SD("1990-01-02")},
        issuer,
        holder_jwk=holder.public_jwk,
    )  # fmt: skip
    shown = present(sd_jwt, [("family_name",)], holder, audience=audience, nonce=nonce)
    samples.append(("SD-JWT VC (dc+sd-jwt), 1 of 3 claims shown", shown, shown, "replayed"))
    for name, good, bad, bad_nonce in samples:
        start = time.perf_counter()
        result = verifier.verify(good, audience=audience, nonce=nonce)
        elapsed = (time.perf_counter() - start) * 1000
        size = len(good) if isinstance(good, str) else len(json.dumps(good))
        _say(f"{name}: {size} bytes, verified in {elapsed:.1f} ms by {result.verification_method[:40]}...")
        if result.format == "dc+sd-jwt":
            _say(f"    disclosed: {json.dumps({k: result.claims[k] for k in ('family_name',)})}, holder-bound")
        try:
            verifier.verify(bad, audience=audience, nonce=bad_nonce)
        except VcError as exc:
            what = "replayed with another nonce" if bad is good else "tampered copy"
            _say(f"    {what}: rejected [{exc.code}]")
        else:
            raise AssertionError(f"a tampered {name} was accepted")
    status.set(2)
    publish()
    try:
        verifier.verify(samples[1][1])
    except VcError as exc:
        _say(f"the issuer sets bit 2 of its status list; the eddsa-rdfc-2022 credential is now: [{exc.code}]")
    else:
        raise AssertionError("a revoked credential was accepted")


_FORMAT_WORDS = {
    "dc+sd-jwt": "SD-JWT VC (each claim can be shown on its own)",
    "jwt_vc_json": "W3C VC as a JWT (jwt_vc_json)",
    "ldp_vc": "W3C VC with a Data Integrity proof (ldp_vc, eddsa-rdfc-2022)",
}
_CLAIM_WORDS = {
    "name": "name",
    "address": "address",
    "sex": "sex code (1 male, 2 female, 3 not applicable)",
    "jpki_date_of_birth": "date of birth as the card writes it (era digit + date)",
    "birthdate": "birth date",
    "age_over_18": "over 18",
    "age_over_20": "over 20",
}


def _plain_claims(claims: dict[str, Any]) -> list[str]:
    """The identity claims of a credential in plain words (the demo's person is fictional)."""
    lines = []
    for key, words in _CLAIM_WORDS.items():
        if key in claims:
            value = claims[key]
            shown = value["formatted"] if isinstance(value, dict) else ("yes" if value is True else value)
            lines.append(f"{words}: {shown}")
    verification = claims.get("verification")
    if isinstance(verification, dict):
        lines.append(
            f"verified under {verification.get('trust_framework')} at {verification.get('time')}, "
            "by a JPKI signature certificate"
        )
    return lines


def story(home: Path) -> None:
    """The person's story on ``xid serve``'s embedded default: card, enrollment, credentials, a website login, an
    age proof, a signed PDF, the My Number handover, the ledger, and a card renewal that keeps the website's sub."""
    from jpki_bridge.softcard import FaceData, SoftCard
    from jpki_bridge.testca import TestCA
    from wallet.keystore import Keystore
    from wallet.store import CredentialStore
    from xid.demo_login import sample_site_login
    from xid.serve import running
    from xid.settings import Settings

    settings = Settings.from_env({"XID_HOME": str(home / "issuer")})
    with serve_app("xid-demo-serve") as (url, slot), running(settings, url) as (services, app):
        slot["app"] = app
        _step("A software My Number card is made")
        _say(f"xid serve runs at {url}: issuer ({services.issuer.did}), verifier, OpenID Connect provider, ledger")
        ca = TestCA.load(settings.test_ca_dir)
        person = _person()
        identity = ca.issue(person)
        ca.save(settings.test_ca_dir)
        soft = SoftCard(identity, sign_pin="TEST1234", auth_pin="1234", face=FaceData.of(person), input_pin="1234")
        _say("a TEST CA (its names say 'xid TEST JPKI', never J-LIS) issued a software card for a fictional person;")
        _say("the development configuration trusts that TEST CA, and nothing else")

        _step("The wallet has the card checked once, through PC/SC")
        keystore = Keystore.create(home / "wallet", "demo passphrase")
        _say("the wallet made a holder key (P-256), stored encrypted under the person's passphrase")
        store = CredentialStore(keystore.vault)
        enrolled = _enroll(url, keystore, soft)

        _step("Credentials and certificates arrive, bound to the wallet's key")
        _receive(url, keystore, store, enrolled)

        _step("The person logs in to a website through xid's OpenID Connect provider")
        first = sample_site_login(url, settings.home, "demo passphrase", wallet_dir=home / "wallet", say=_say)

        presentation_story(url, services, keystore)
        signing_story(url, home, keystore)
        mynumber_story(soft, person.my_number, settings)
        ledger_receipts(services)

        _step("The card is renewed; the website still knows the person by the same pairwise sub")
        renewed = ca.issue(person)
        ca.save(settings.test_ca_dir)
        new_card = SoftCard(renewed, sign_pin="TEST1234", auth_pin="1234", face=FaceData.of(person), input_pin="1234")
        _say(f"a new card certificate (serial {renewed.sign_cert.serial_number:x}) for the same person; the wallet")
        _say("has the new card checked: the issuer links it to the same person (same holder key, same basic 4)")
        again = _enroll(url, keystore, new_card, quiet=True)
        _receive(url, keystore, store, again, quiet=True)
        second = sample_site_login(url, settings.home, "demo passphrase", wallet_dir=home / "wallet", say=_say)
        same = "the same" if second["sub"] == first["sub"] else "a DIFFERENT"
        _say(f"sub before the renewal {first['sub']}, after it {second['sub']}: {same} person for the website")
        if second["sub"] != first["sub"]:
            raise AssertionError("the pairwise sub changed across a card renewal")


def _enroll(url: str, keystore: Any, soft: SoftCard, *, quiet: bool = False) -> Any:
    """The wallet's card check at the issuer (the card through PC/SC when available); the enrollment result."""
    from cryptography import x509

    from jpki_bridge.jpki import JpkiCard
    from wallet.enroll import enroll
    from wallet.http import WalletHttp

    def card_sign(message: bytes) -> tuple[bytes, x509.Certificate]:
        with _card_in_reader(soft) as transport:
            card = JpkiCard(transport)
            card.select()
            card.verify("sign", "TEST1234")
            return card.sign("sign", message), card.read_sign_certificate()

    progress = (lambda text: None) if quiet else (lambda text: _say(f"  wallet: {text}"))
    enrolled = enroll(WalletHttp(), url, keystore.holder(), card_sign, progress=progress)
    if not quiet:
        _say("the issuer checked the chain, revocation and both signatures, and answered with a credential offer")
        _say(f"    (transaction code {enrolled.tx_code}, which a phone wallet would ask the person to type)")
    return enrolled


def _receive(url: str, keystore: Any, store: Any, enrolled: Any, *, quiet: bool = False) -> None:
    """Redeem the offer (OpenID4VCI), verify each credential, and fetch the two xid CA certificates."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from vc.verify import CredentialVerifier
    from wallet.ca_client import USAGES, request_certificate
    from wallet.http import WalletHttp
    from wallet.oid4vci import Oid4vciClient, keep_in

    http = WalletHttp()
    holder = keystore.holder()
    redemption = Oid4vciClient(http, holder).redeem(enrolled.offer, enrolled.tx_code, on_credential=keep_in(store, url))
    with httpx_client() as client:
        verifier = CredentialVerifier(
            Resolver.standard(DidWebResolver(client=client, allow_loopback=True, scheme="http")),
            lambda list_url: _fetched(client, list_url),
        )
        for received in redemption.credentials:
            result = verifier.verify(received.credential, require_key_binding=False)
            if quiet:
                continue
            claims = result.claims.get("credentialSubject", result.claims)
            how = _FORMAT_WORDS.get(received.format, received.format)
            _say(f"{how}: signature verified, bound to the wallet's key, status valid; it says")
            for line in _plain_claims(claims):
                _say(f"    {line}")
    for usage in USAGES:
        issued = request_certificate(http, url, redemption.access_token, holder, usage)
        cert = issued.certificate
        pem, chain = issued.pem()
        store.add_certificate(usage=usage, issuer=url, certificate=pem, chain=chain, not_after=cert.not_valid_after_utc)
        if quiet:
            continue
        uses = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        purpose = "client authentication" if ExtendedKeyUsageOID.CLIENT_AUTH in uses else "document signing"
        _say(f"xid CA {usage} certificate: {cert.subject.rfc4514_string()}, for {purpose},")
        _say(f"    valid until {cert.not_valid_after_utc:%Y-%m-%d}, no personal data, chains to the xid TEST root")
    if quiet:
        _say(f"the wallet received {len(redemption.credentials)} new credentials and two new certificates")
    else:
        _say("the issuer's database and the ledger hold keyed hashes and encrypted evidence, never these details")


def ledger_receipts(services: Any) -> None:
    """What the served ledger recorded during the story, one receipt verified offline, and the whole log audited."""
    from collections import Counter

    from ledger.audit import audit
    from ledger.note import Ed25519NoteVerifier
    from ledger.receipt import Receipt, verify_receipt
    from ledger.records import Record

    _step("The ledger: every event a hash-only record, receipts anyone can check, the whole log audited")
    log = services.ledger
    log.checkpoint()
    store = log.store
    with store.transaction() as txn:
        size = txn.state().size
        entries = txn.entries(0, size)
    kinds = Counter(Record.from_bytes(entry).type.value for _, entry, _ in entries)
    _say(f"{size} entries so far: " + ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())))
    index, entry, _ = next(e for e in reversed(entries) if Record.from_bytes(e[1]).type.value == "authentication")
    receipt = log.prove(index)
    verify_receipt(Receipt.parse(receipt.format()), entry, Ed25519NoteVerifier.from_vkey(log.vkey))
    _say(f"the website login is entry #{index}: {entry.decode()[:88]}...")
    _say("    its receipt (inclusion proof + signed checkpoint) verifies offline with only the log's public key")
    report = audit(store, Ed25519NoteVerifier.from_vkey(log.vkey))
    _say(f"audit of the whole log (what 'xid ledger verify' does): {report.entries_checked} entries, "
         f"{report.checkpoints_checked} checkpoints, problems: {len(report.findings)}")  # fmt: skip
    if not report.ok:
        raise AssertionError(f"the ledger audit found problems: {report.findings[:3]}")


def presentation_story(url: str, services: Any, keystore: Any) -> None:
    """A relying party asks through the verifier's RP API; the wallet answers with only what was asked."""
    import httpx

    from verifier.rps import register
    from wallet.oid4vp import Oid4vpHolder
    from wallet.store import CredentialStore
    from wallet.trust import trusted_roots

    _step("A shop asks for proof of age over OpenID4VP; the wallet shows only that; the shop reads the result")
    rp, secret = register(services.verifier.engine, "Example Shop", ["https://shop.example.jp/cb"])
    _say(f"the shop registered with the verifier (xid rp add): client_id {rp.client_id}")
    with httpx.Client(base_url=url, auth=(rp.client_id, secret), timeout=30) as api:
        created = api.post("/verifier/v1/requests", json={"preset": "age_over_20"}).json()
        _say(f"the shop's page shows a QR code of {created['request_url'][:60]}...")
        _say(f"    and the verification code {created['verification_code']}")
        holder = Oid4vpHolder(keystore.holder(), CredentialStore(keystore.vault), trusted_roots(keystore.vault))
        request = holder.resolve(created["request_url"])
        _say(f"the wallet checked the signed request of {request.client_id} (certificate from the xid CA)")
        _say(f"    and shows the same code {request.verification_code}; it will disclose only: age_over_20")
        plan = holder.plan(request)
        holder.present(request, plan)
        _say(f"the wallet sent an SD-JWT VC presentation ({request.response_mode}, encrypted to the verifier)")
        services.ledger.checkpoint()  # the log signs a checkpoint every second; do not wait for it
        answer = api.get(f"/verifier/v1/requests/{created['id']}").json()
        (credential,) = answer["result"]["credentials"]
        _say(f"the shop reads: status {answer['status']}, issuer {credential['issuer']},")
        _say(f"    claims {json.dumps(credential['claims'])}: nothing else about the person")
        receipt = str(answer["result"].get("ledger_receipt"))
        _say(f"the presentation is in the ledger as a hash; the shop got its receipt: {receipt.splitlines()[0]}")
        again = api.get(f"/verifier/v1/requests/{created['id']}").json()
        _say(f"asked again, the verifier has deleted the result: {'result' not in again}")


def sample_pdf(text: str = "Hello") -> bytes:
    """A minimal one-page PDF written by hand (ISO 32000: objects, a cross-reference table, a trailer)."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def signing_story(url: str, home: Path, keystore: Any) -> None:
    """The wallet signs a PDF (PAdES) with its xid CA signing certificate; pyHanko's validator checks it."""
    from wallet.errors import WalletError
    from wallet.http import WalletHttp
    from wallet.signing import sign_document, signing_certificate
    from wallet.verify_signature import fetch_trust, verify_pdf, verify_receipt_for

    _step("The person signs a contract (PAdES) with the xid CA signing certificate; anyone can check it")
    contract = home / "contract.pdf"
    contract.write_bytes(sample_pdf("Contract"))
    certificate = signing_certificate(keystore.vault, url)
    signed = sign_document(contract, keystore.holder(), certificate, http=WalletHttp(), issuer=url)
    _say(f"signed {contract.name} -> {signed.signature.name}; the ledger holds only its SHA-256 (#{signed.index})")
    trust = fetch_trust(url)
    report = verify_pdf(signed.signature.read_bytes(), trust)
    _say(f"pyHanko's validator (trust root: the xid CA): signer {report.signer}, {str(report.signer_did)[:40]}...")
    _say(f"    signed at {report.signing_time:%Y-%m-%d %H:%M:%S} UTC, certificate {report.certificate_status} (OCSP)")
    assert signed.receipt is not None
    assert trust.log_vkey is not None
    verify_receipt_for(signed.receipt.read_text(encoding="utf-8"), report.sha256, trust.log_vkey)
    _say(f"the ledger receipt beside it ({signed.receipt.name}) proves the signature event, verified offline")
    tampered = bytearray(signed.signature.read_bytes())
    tampered[tampered.index(b"Contract")] ^= 0x01  # one changed letter in the signed page
    try:
        verify_pdf(bytes(tampered), trust)
    except WalletError as exc:
        _say(f"with one letter of the contract changed: rejected [{exc.code}]")
    else:
        raise AssertionError("a tampered PDF was accepted")


def mynumber_story(soft: Any, my_number: str, settings: Any) -> None:
    """The wallet hands the My Number, encrypted to the business's key, straight to the business."""
    from starlette.applications import Starlette

    from foundation.web import EXCEPTION_HANDLERS
    from verifier.mynumber import Receiver, generate_key, routes
    from wallet.mynumber import hand_over, read_my_number

    _step("An employer needs the My Number by law; the wallet hands it over encrypted to the employer's key")
    kept: list[Any] = []
    with serve_app("xid-demo-business") as (business, slot):
        receiver = Receiver(generate_key(), business, {"employment"}, "hash", kept.append)
        slot["app"] = Starlette(routes=routes(receiver), exception_handlers=dict(EXCEPTION_HANDLERS))
        _say(f"the employer publishes an encryption key at {business}/mynumber/key (ECDH-ES, P-256)")

        def pin(tries_left: int) -> str:
            _say(f"    card: the input-assist PIN has {tries_left} tries left (read first); the PIN is entered once")
            return "1234"

        def read() -> str:
            with _card_in_reader(soft) as transport:
                return read_my_number(transport, pin)

        receipt = hand_over(business, "employment", read)
    assert receipt is not None
    _say(f"the wallet checked the key, read the card (4-digit PIN), and sent a JWE: handover {receipt.id}")
    what = {"number": "the number", "hash": "only a keyed hash of it", "none": "nothing of it"}[receipt.kept]
    _say(f"the employer decrypted it, checked audience, purpose, expiry and check digit; it keeps {what}")
    stored = b"".join(p.read_bytes() for p in settings.home.glob("*.sqlite3*"))
    _say(f"xid's own databases hold the number: {my_number.encode() in stored} (it never passed through xid)")


@contextmanager
def httpx_client() -> Iterator[Any]:
    """An HTTP client for the demo's verifier (closed afterwards)."""
    import httpx

    with httpx.Client(timeout=10) as client:
        yield client


def _fetched(client: Any, url: str) -> Secured:
    """A published status list: JSON for a Bitstring Status List credential, text for a status list token."""
    response = client.get(url)
    response.raise_for_status()
    return response.json() if "json" in response.headers["content-type"] else str(response.text)
