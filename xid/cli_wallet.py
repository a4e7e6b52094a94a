"""``xid wallet``: the holder's wallet: create it, enroll with a My Number card, accept offers, list, show, delete and
export what it holds, change its passphrase, present credentials to OpenID4VP verifiers, manage the roots trusted
for verifiers' certificates, hand the My Number to a business (``mynumber send``; the card's 4-digit
input-assist PIN is read like the signature password), and list or revoke consents at an OpenID Connect provider
(``consents``).

Secrets are never taken from the command line. The passphrase is asked twice (init) or once without echo, or read
as one line of standard input with ``--passphrase-stdin``; the card's signature password likewise with
``--pin-stdin``. With both, standard input holds the passphrase line first, then the password line.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xid.card_session import (
    ask_secret,
    confirm_option,
    emulated_option,
    open_transport,
    pin_stdin_option,
    reader_option,
    verify_pin,
    wait_option,
)
from xid.cli_group import XidGroup, echo_json, json_option
from xid.settings import Settings

if TYPE_CHECKING:
    from cryptography import x509

    from did import Signer
    from wallet.consents import AccountSession
    from wallet.http import WalletHttp
    from wallet.keystore import Keystore
    from wallet.oid4vci import CredentialOffer, Redemption
    from wallet.oid4vp import PresentationPlan, PresentationRequest

__all__ = ["wallet"]

FORMAT_WORDS = {
    "dc+sd-jwt": "SD-JWT VC (selective disclosure)",
    "jwt_vc_json": "W3C VC as a JWT",
    "ldp_vc": "W3C VC with a Data Integrity proof",
}


def _wallet_dir(value: Path | None) -> Path:
    return value if value is not None else Settings.from_env().home / "wallet"


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _passphrase(passphrase_stdin: bool, *, twice: bool = False) -> str:
    if passphrase_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--passphrase-stdin: standard input was empty")
        return line.rstrip("\r\n")
    first = getpass.getpass("wallet passphrase: ")
    if twice and getpass.getpass("wallet passphrase again: ") != first:
        raise click.UsageError("the two passphrases differ")
    return first


def _open(directory: Path, passphrase_stdin: bool) -> Keystore:
    from wallet.keystore import Keystore
    from wallet.vault import Vault

    if not Vault.exists(directory):  # say so before asking for a passphrase
        from wallet.errors import NoWalletError

        raise NoWalletError(f"no wallet in {directory}: run 'xid wallet init' first")
    return Keystore.open(directory, _passphrase(passphrase_stdin))


def _read_pin(pin_stdin: bool) -> Callable[[], str]:
    """Reads the PKCS#11 token PIN when it is needed: the next standard input line, or a prompt without echo."""

    def read() -> str:
        if pin_stdin:
            line = sys.stdin.readline()
            if not line:
                raise click.UsageError("--pin-stdin: no token PIN line on standard input")
            return line.rstrip("\r\n")
        return getpass.getpass("PKCS#11 token PIN: ")

    return read


def _holder(keystore: Keystore, pin_stdin: bool) -> Signer:
    """The wallet's holder key as a signer (software, or on a PKCS#11 token: its session closes with the command)."""
    signer = keystore.signer(_read_pin(pin_stdin))
    close = getattr(signer, "close", None)
    if close is not None:
        click.get_current_context().call_on_close(close)
    return signer


def _tx_code_prompt(given: str | None) -> Any:
    def ask(spec: Mapping[str, Any]) -> str:
        if given is not None:
            return given
        description = spec.get("description")
        hint = f" ({description})" if isinstance(description, str) else ""
        length = spec.get("length")
        kind = "letters and digits" if spec.get("input_mode") == "text" else "digits"
        shape = f"{length} {kind}" if isinstance(length, int) else kind
        return str(click.prompt(f"transaction code{hint} [{shape}]", hide_input=True, err=True))

    return ask


def _redeem(http: WalletHttp, keystore: Keystore, holder: Signer, offer: CredentialOffer, tx_code: Any) -> Redemption:
    from wallet.oid4vci import Oid4vciClient, keep_in
    from wallet.store import CredentialStore

    client = Oid4vciClient(http, holder)
    on_credential = keep_in(CredentialStore(keystore.vault), offer.credential_issuer)
    return client.redeem(offer, tx_code, progress=_progress, on_credential=on_credential)


def _credential_summary(redemption: Redemption) -> list[dict[str, Any]]:
    return [
        {
            "configurationId": c.configuration_id,
            "format": c.format,
            "validUntil": c.valid_until.isoformat(timespec="seconds") if c.valid_until else None,
        }
        for c in redemption.credentials
    ]


def _summary_lines(issuer: str, credentials: list[dict[str, Any]], certificates: list[dict[str, Any]]) -> list[str]:
    lines = [f"stored {len(credentials)} credential(s) from {issuer}:"]
    for c in credentials:
        until = f", valid until {c['validUntil'][:10]}" if c["validUntil"] else ""
        lines.append(f"  {c['configurationId']}: {FORMAT_WORDS.get(c['format'], c['format'])}{until}")
    if certificates:
        lines.append(f"stored {len(certificates)} xid CA certificate(s) for your key:")
        lines += [f"  {c['usage']}: valid until {c['validUntil'][:10]}" for c in certificates]
    lines.append("your personal details stay encrypted in the wallet; 'xid wallet list' shows what it holds")
    return lines


wallet_option = click.option(
    "--wallet",
    "wallet_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="XID_WALLET",
    help="The wallet directory (default $XID_WALLET, else $XID_HOME/wallet).",
)
passphrase_stdin_option = click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the wallet passphrase from standard input (one line; before the card password with --pin-stdin).",
)
token_pin_option = click.option(
    "--pin-stdin",
    is_flag=True,
    help="Read the PKCS#11 token PIN from standard input (the line after the passphrase), when the key is on a token.",
)
tx_code_option = click.option(
    "--tx-code", help="The transaction code the issuer gave by another channel (asked for when needed otherwise)."
)


@click.group("wallet", cls=XidGroup)
def wallet() -> None:
    """The holder's wallet: keys, card enrollment, credentials, presentations, document signing, My Number handover.

    Everything in the wallet is encrypted with a key derived from its passphrase (see docs/wallet.md).
    """


@wallet.command("init")
@wallet_option
@passphrase_stdin_option
@click.option(
    "--key-type",
    type=click.Choice(["p256", "ed25519"]),
    default="p256",
    show_default=True,
    help="The holder key's type.",
)
@click.option("--pkcs11-module", help="Keep the holder key on a PKCS#11 token: the module (shared library) path.")
@click.option("--pkcs11-token", help="The token's label (with --pkcs11-module).")
@click.option("--pkcs11-key", help="The label of the key pair on the token (with --pkcs11-module; it must exist).")
@token_pin_option
@json_option
def init_command(
    wallet_dir: Path | None,
    passphrase_stdin: bool,
    key_type: str,
    pkcs11_module: str | None,
    pkcs11_token: str | None,
    pkcs11_key: str | None,
    pin_stdin: bool,
    as_json: bool,
) -> None:
    """Create a wallet with a new holder key (asks for a new passphrase twice), or one using a key on a token.

    With --pkcs11-module, --pkcs11-token and --pkcs11-key the holder key stays on the token: the wallet keeps only
    where it is (no secret) and asks the token PIN whenever the key signs.
    """
    from did import did_jwk
    from wallet.errors import WalletExistsError
    from wallet.keystore import KEY_TYPES, Keystore, TokenKey
    from wallet.vault import Vault

    token = (pkcs11_module, pkcs11_token, pkcs11_key)
    if any(token) and not all(token):
        raise click.UsageError("--pkcs11-module, --pkcs11-token and --pkcs11-key go together")

    directory = _wallet_dir(wallet_dir)
    if Vault.exists(directory):  # before asking for a passphrase
        raise WalletExistsError(f"{directory} already holds a wallet; it is never overwritten")
    passphrase = _passphrase(passphrase_stdin, twice=True)
    if not passphrase:
        raise click.UsageError("the passphrase may not be empty")
    if pkcs11_module and pkcs11_token and pkcs11_key:
        reference = TokenKey(pkcs11_module, pkcs11_token, pkcs11_key)
        keystore = Keystore.create_pkcs11(directory, passphrase, reference, _read_pin(pin_stdin)())
        _progress(f"the holder key stays on token {pkcs11_token!r} (key {pkcs11_key!r})")
    else:
        keystore = Keystore.create(directory, passphrase, KEY_TYPES[key_type])
    record, _ = keystore.vault.get("holder-key")
    public = keystore.public_jwk()
    data = {"wallet": str(directory), "keyType": record.meta["keyType"], "holder": did_jwk.create(public)}
    if as_json:
        echo_json(data)
    else:
        click.echo(f"wallet created in {directory}")
        click.echo(f"holder key: {data['keyType']} ({data['holder'][:40]}…)")


@wallet.command("enroll")
@click.option("--issuer", required=True, help="The issuer's base URL (https, or http on 127.0.0.1).")
@wallet_option
@reader_option
@emulated_option
@wait_option
@pin_stdin_option
@passphrase_stdin_option
@confirm_option
@click.option("--offer-only", is_flag=True, help="Print the credential offer (and a QR code) instead of redeeming it.")
@tx_code_option
@json_option
def enroll_command(
    issuer: str,
    wallet_dir: Path | None,
    reader: str | None,
    emulated: bool,
    wait: float,
    pin_stdin: bool,
    passphrase_stdin: bool,
    confirm_last_try: bool,
    offer_only: bool,
    tx_code: str | None,
    as_json: bool,
) -> None:
    """Check your My Number card with an issuer and store the credentials and certificates it gives.

    The card's signature key signs the issuer's challenge (asks the signature password; the tries left are shown
    first and a wrong password is never retried). The issuer answers with an OpenID4VCI credential offer, which
    is redeemed into this wallet, followed by the xid CA's authentication and signing certificates for your key.
    With --offer-only the offer is printed (URI and QR code) for a phone wallet instead; a wallet is then used for
    the card check if one exists, else a one-time key.
    """
    from did import KeyType, SoftwareSigner
    from wallet.ca_client import USAGES, request_certificate
    from wallet.enroll import enroll, issuer_base
    from wallet.http import WalletHttp
    from wallet.store import CredentialStore
    from wallet.vault import Vault

    base = issuer_base(issuer)
    directory = _wallet_dir(wallet_dir)
    keystore: Keystore | None = None
    if offer_only and not Vault.exists(directory):
        if passphrase_stdin:  # the first line is the passphrase in every case, never taken for the card password
            _passphrase(True)
        holder: Signer = SoftwareSigner.generate(KeyType.P256)
        _progress("no wallet here: the card check binds a one-time key")
    else:
        keystore = _open(directory, passphrase_stdin)
        holder = _holder(keystore, pin_stdin)

    def card_sign(message: bytes) -> tuple[bytes, x509.Certificate]:
        from jpki_bridge.jpki import JpkiCard

        _progress("reading the card")
        with open_transport(reader, emulated, wait) as (transport, name):
            card = JpkiCard(transport)
            card.select()
            _progress(f"card in {name}: signature password, {card.pin_status('sign').tries_left} tries left")
            verify_pin(card, "sign", pin_stdin, confirm_last_try)
            signature = card.sign("sign", message)
            certificate = card.read_sign_certificate()
        _progress("the card signed the issuer's challenge")
        return signature, certificate

    http = WalletHttp()
    enrolled = enroll(http, base, holder, card_sign, progress=_progress)
    if offer_only:
        shown = enrolled.offer_reference or enrolled.offer_uri
        if as_json:
            echo_json({"offer": shown, "tx_code": enrolled.tx_code})
            return
        import segno

        segno.make(shown, error="m").terminal(out=sys.stdout, compact=True)
        click.echo(shown)
        if enrolled.tx_code is not None:
            click.echo(f"transaction code (type it into the wallet): {enrolled.tx_code}")
        if enrolled.expires_in is not None:
            click.echo(f"the offer expires in {enrolled.expires_in} s")
        return
    assert keystore is not None
    redemption = _redeem(http, keystore, holder, enrolled.offer, _tx_code_prompt(tx_code or enrolled.tx_code))
    store = CredentialStore(keystore.vault)
    certificates = []
    for usage in USAGES:
        _progress(f"requesting the xid CA {usage} certificate")
        issued = request_certificate(http, base, redemption.access_token, holder, usage)
        pem, chain = issued.pem()
        item = store.add_certificate(
            usage=usage, issuer=base, certificate=pem, chain=chain, not_after=issued.certificate.not_valid_after_utc
        )
        certificates.append({"usage": usage, "validUntil": item.meta["validUntil"]})
        _progress(f"received the {usage} certificate")
    credentials = _credential_summary(redemption)
    if as_json:
        echo_json({"issuer": base, "credentials": credentials, "certificates": certificates})
    else:
        for line in _summary_lines(base, credentials, certificates):
            click.echo(line)


@wallet.command("accept")
@click.argument("offer")
@wallet_option
@passphrase_stdin_option
@token_pin_option
@tx_code_option
@json_option
def accept_command(
    offer: str, wallet_dir: Path | None, passphrase_stdin: bool, pin_stdin: bool, tx_code: str | None, as_json: bool
) -> None:
    """Take the credentials of an OpenID4VCI 1.0 offer (openid-credential-offer://..., by value or by reference)."""
    from wallet.http import WalletHttp
    from wallet.oid4vci import parse_offer

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    http = WalletHttp()
    parsed = parse_offer(offer, http)
    redemption = _redeem(http, keystore, _holder(keystore, pin_stdin), parsed, _tx_code_prompt(tx_code))
    credentials = _credential_summary(redemption)
    if as_json:
        echo_json({"issuer": parsed.credential_issuer, "credentials": credentials})
    else:
        for line in _summary_lines(parsed.credential_issuer, credentials, []):
            click.echo(line)


@wallet.command("list")
@wallet_option
@json_option
def list_command(wallet_dir: Path | None, as_json: bool) -> None:
    """List the stored credentials and certificates (needs no passphrase: shows no personal data)."""
    from wallet.store import list_wallet

    items = list_wallet(_wallet_dir(wallet_dir))
    if as_json:
        echo_json([item.to_json() for item in items])
        return
    if not items:
        click.echo("the wallet holds no credential yet")
    for item in items:
        meta = item.meta
        until = f", valid until {str(meta['validUntil'])[:10]}" if meta.get("validUntil") else ""
        if item.kind == "credential":
            what = f"{meta.get('configurationId')}: {FORMAT_WORDS.get(str(meta.get('format')), meta.get('format'))}"
        else:
            what = f"xid CA {meta.get('usage')} certificate"
        click.echo(f"{item.id}  {what} from {meta.get('issuer')}{until}")


def _query_lines(request: PresentationRequest, plan: PresentationPlan) -> list[str]:
    """What is asked, by whom, and the verification code, in plain words (shown before consent).

    Everything the verifier chose (its identifier, query ids, claim names) is shown through ``one_line``, so no
    control character or terminal escape from the request reaches the terminal.
    """
    from wallet.http import one_line

    lines = [f"{one_line(request.verifier, 200)} ({request.prefix}) asks for:"]
    for selection in plan.selections:
        what = FORMAT_WORDS.get(selection.format, selection.format)
        query_id = one_line(selection.query_id, 80)
        if selection.whole:
            lines.append(f"  {query_id}: the whole credential ({what}; this format cannot disclose less):")
        else:
            lines.append(f"  {query_id}: from your {what}:")
        names = [one_line(".".join(str(e) for e in path), 200) for path in selection.paths]
        lines += [f"    {name}" for name in names] or ["    only the credential's type, issuer and validity"]
    lines.append(f"verification code: {request.verification_code} (it must match the one on the requester's page)")
    return lines


@wallet.command("present")
@click.argument("request_url")
@wallet_option
@passphrase_stdin_option
@token_pin_option
@click.option("--yes", is_flag=True, help="Present without asking (for scripts); what is asked is still shown.")
@json_option
def present_command(
    request_url: str, wallet_dir: Path | None, passphrase_stdin: bool, pin_stdin: bool, yes: bool, as_json: bool
) -> None:
    """Answer an OpenID4VP request (openid4vp://...), disclosing only what it asks for, after your consent.

    The request is checked first (its signature and who sent it, see docs/wallet.md); then what is asked, by whom,
    and the four-digit verification code are shown on stderr. Nothing is sent unless you agree (or --yes).
    """
    from wallet.errors import ConsentDeclinedError
    from wallet.http import one_line
    from wallet.oid4vp import Oid4vpHolder
    from wallet.store import CredentialStore
    from wallet.trust import trusted_roots

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    signer = _holder(keystore, pin_stdin)
    holder = Oid4vpHolder(signer, CredentialStore(keystore.vault), trusted_roots(keystore.vault))
    _progress("fetching and checking the request")
    request = holder.resolve(request_url)
    plan = holder.plan(request)
    for line in _query_lines(request, plan):
        _progress(line)
    if not yes and not click.confirm("present this?", default=False, err=True):
        raise ConsentDeclinedError("you declined; nothing was sent")
    _progress(f"sending the presentation ({request.response_mode})")
    result = holder.present(request, plan)
    if as_json:
        echo_json(
            {
                "verification_code": request.verification_code,
                "disclosed": result.disclosed,
                "redirect_uri": result.redirect_uri,
            }
        )
        return
    click.echo(f"presented to {one_line(request.verifier, 200)}")
    if result.redirect_uri is not None:
        click.echo(f"continue at: {one_line(result.redirect_uri, 2000)}")


@wallet.command("show")
@click.argument("record_id", metavar="ID")
@wallet_option
@passphrase_stdin_option
@json_option
def show_command(record_id: str, wallet_dir: Path | None, passphrase_stdin: bool, as_json: bool) -> None:
    """Show a stored credential: its claims, issuer, validity, and its status checked live with the issuer."""
    from wallet.http import one_line
    from wallet.store import CredentialStore, inspect_credential

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    _progress("verifying the credential and checking its status with the issuer")
    view = inspect_credential(CredentialStore(keystore.vault), record_id)
    if as_json:
        echo_json(view.to_json())
        return
    # Everything here comes from an issuer: shown through one_line, so no terminal escape reaches the terminal.
    click.echo(one_line(f"{view.id}: {view.configuration_id} ({FORMAT_WORDS.get(view.format, view.format)})"))
    click.echo(f"issuer: {one_line(view.issuer)}")
    click.echo(one_line(f"valid from {view.valid_from or '(not stated)'} until {view.valid_until or '(no end)'}"))
    click.echo(f"signature: {'verified' if view.verified else 'NOT verified'}")
    click.echo(f"status: {view.status}" + (f" ({view.problem})" if view.problem else ""))
    for name, value in view.claims.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        click.echo(f"  {one_line(str(name), 200)}: {one_line(shown, 2000)}")


@wallet.command("delete")
@click.argument("record_id", metavar="ID")
@wallet_option
@passphrase_stdin_option
@click.option("--yes", is_flag=True, help="Delete without asking (for scripts).")
@json_option
def delete_command(record_id: str, wallet_dir: Path | None, passphrase_stdin: bool, yes: bool, as_json: bool) -> None:
    """Delete a stored credential or certificate (asks first; --yes for scripts). This cannot be undone."""
    from wallet.errors import ConsentDeclinedError
    from wallet.store import CredentialStore

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    store = CredentialStore(keystore.vault)
    item = store.find(record_id)
    what = item.meta.get("configurationId") or f"xid CA {item.meta.get('usage')} certificate"
    if not yes and not click.confirm(f"delete {item.id} ({what} from {item.meta.get('issuer')})?", err=True):
        raise ConsentDeclinedError("you declined; nothing was deleted")
    store.delete(record_id)
    if as_json:
        echo_json({"deleted": item.id})
    else:
        click.echo(f"deleted {item.id}")


@wallet.command("export")
@click.argument("record_id", metavar="ID")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The new file (mode 0600; an existing file is never overwritten).",
)
@wallet_option
@passphrase_stdin_option
def export_command(record_id: str, out: Path, wallet_dir: Path | None, passphrase_stdin: bool) -> None:
    """Write a stored credential, as issued, to a new file (it holds your personal data: keep it safe)."""
    from wallet.store import CredentialStore

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    CredentialStore(keystore.vault).export_credential(record_id, out)
    _progress(f"wrote {out} (mode 0600): it holds your personal data in clear")


@wallet.command("passphrase")
@wallet_option
@click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the old passphrase, then the new one twice, from standard input (three lines).",
)
@json_option
def passphrase_command(wallet_dir: Path | None, passphrase_stdin: bool, as_json: bool) -> None:
    """Change the wallet passphrase: every record is encrypted again under the new one, all or nothing."""
    from wallet.vault import Vault, change_passphrase

    directory = _wallet_dir(wallet_dir)
    if not Vault.exists(directory):
        from wallet.errors import NoWalletError

        raise NoWalletError(f"no wallet in {directory}: run 'xid wallet init' first")
    old = _passphrase(passphrase_stdin)
    Vault.open(directory, old)  # a wrong old passphrase stops here, before the new one is asked
    if passphrase_stdin:
        new, again = _passphrase(True), _passphrase(True)
    else:
        new, again = getpass.getpass("new wallet passphrase: "), getpass.getpass("new wallet passphrase again: ")
    if new != again:
        raise click.UsageError("the two new passphrases differ; nothing was changed")
    if not new:
        raise click.UsageError("the passphrase may not be empty; nothing was changed")
    change_passphrase(directory, old, new)
    count = sum(1 for _ in (directory / "records").glob("*.json"))
    if as_json:
        echo_json({"wallet": str(directory), "records": count})
    else:
        click.echo(f"passphrase changed; {count} record(s) encrypted again under the new one")


@wallet.group("trust", cls=XidGroup)
def trust() -> None:
    """Roots trusted for verifiers' certificates: the xid CA's (from enrollment) and those you add."""


@trust.command("add")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@wallet_option
@passphrase_stdin_option
@json_option
def trust_add_command(certificate: Path, wallet_dir: Path | None, passphrase_stdin: bool, as_json: bool) -> None:
    """Trust a root CA certificate (PEM) for verifiers that identify with x509_san_dns."""
    from wallet.trust import MAX_PEM, add_root

    with certificate.open("rb") as handle:
        pem = handle.read(MAX_PEM + 1)
    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    record = add_root(keystore.vault, pem)
    if as_json:
        echo_json({"id": record.id, **record.meta})
    else:
        click.echo(f"trusted: {record.meta['subject']} (SHA-256 {record.meta['sha256']})")


@trust.command("list")
@wallet_option
@json_option
def trust_list_command(wallet_dir: Path | None, as_json: bool) -> None:
    """List the roots you added (needs no passphrase; the xid CA roots from enrollment are trusted too)."""
    from wallet.trust import list_roots

    roots = list_roots(_wallet_dir(wallet_dir))
    if as_json:
        echo_json([{"id": r.id, **r.meta} for r in roots])
        return
    if not roots:
        click.echo("no root added; the xid CA roots from enrollment are trusted")
    for r in roots:
        click.echo(
            f"{r.meta.get('subject')}  SHA-256 {r.meta.get('sha256')}, valid until {str(r.meta.get('validUntil'))[:10]}"
        )


@wallet.group("mynumber", cls=XidGroup)
def mynumber() -> None:
    """Hand your My Number to a business, encrypted to its key (no xid server sees it)."""


@mynumber.command("send")
@click.option("--to", "business", required=True, help="The business's URL (it publishes {URL}/mynumber/key).")
@click.option("--purpose", required=True, help="Why the business collects it (one of the purposes it accepts).")
@reader_option
@emulated_option
@wait_option
@pin_stdin_option
@confirm_option
@click.option("--yes", is_flag=True, help="Hand over without asking (for scripts); who and why are still shown.")
@json_option
def mynumber_send_command(
    business: str,
    purpose: str,
    reader: str | None,
    emulated: bool,
    wait: float,
    pin_stdin: bool,
    confirm_last_try: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Read your My Number from the card and hand it, encrypted, to a business that may collect it.

    The business's key is fetched and checked first; then who receives the number and why are shown and you are
    asked to agree (or --yes). Only then is the card read: the 4-digit input-assist PIN (tries left shown first; a
    wrong PIN is never retried) unlocks the number, which is encrypted to the business's key in memory and sent.
    """
    from wallet.errors import ConsentDeclinedError
    from wallet.http import one_line
    from wallet.mynumber import RecipientKey, business_base, hand_over, read_my_number

    base = business_base(business)

    def consent(key: RecipientKey) -> bool:
        _progress(f"your My Number goes to: {base}")
        _progress(f"for the purpose:        {one_line(purpose, 200)}")
        _progress(f"encrypted to its key:   {key.description} (kid {one_line(key.kid, 80)}); no one else can read it")
        return yes or click.confirm("hand over your My Number?", default=False, err=True)

    def read() -> str:
        _progress("reading the card's input-assist application")
        with open_transport(reader, emulated, wait) as (transport, name):

            def ask(tries_left: int) -> str:
                _progress(f"card in {name}: input-assist PIN, {tries_left} tries left")
                return ask_secret(f"4-digit input-assist PIN ({tries_left} tries left): ", pin_stdin)

            return read_my_number(transport, ask, confirm_last_try=confirm_last_try)

    _progress(f"fetching the key of {base}")
    receipt = hand_over(base, purpose, read, consent=consent)
    if receipt is None:
        raise ConsentDeclinedError("you declined; the card was not read and nothing was sent")
    if as_json:
        echo_json({"to": base, "purpose": purpose, "id": receipt.id, "kept": receipt.kept})
        return
    kept = {
        "number": "keeps your My Number",
        "hash": "keeps only a keyed hash of it",
        "none": "keeps nothing of it",
    }[receipt.kept]
    click.echo(f"handed over to {base} (handover {receipt.id}); the business says it {kept}")


@wallet.command("sign")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the signature goes (default FILE.signed.pdf for a PDF, else FILE.jws); never overwritten.",
)
@click.option(
    "--issuer", help="The issuer whose ledger records the signature (default: the one of the signing certificate)."
)
@click.option("--tsa", help="An RFC 3161 timestamp authority's URL: PDFs get a PAdES-B-T signature.")
@wallet_option
@passphrase_stdin_option
@json_option
def sign_command(
    document: Path,
    out: Path | None,
    issuer: str | None,
    tsa: str | None,
    wallet_dir: Path | None,
    passphrase_stdin: bool,
    as_json: bool,
) -> None:
    """Sign a file with your xid CA signing certificate: a PAdES signature in a PDF, else a detached JWS.

    The signature event (the document's SHA-256 only) is recorded in the issuer's ledger and its receipt written
    beside the signature as SIGNATURE.receipt. The input is never changed (see docs/wallet.md).
    """
    from wallet.enroll import issuer_base
    from wallet.http import WalletHttp
    from wallet.signing import output_paths, sign_document, signing_certificate

    directory = _wallet_dir(wallet_dir)
    base = issuer_base(issuer) if issuer is not None else None
    if out is None:  # refuse before asking for the passphrase
        with document.open("rb") as handle:
            pdf = handle.read(5) == b"%PDF-"
        taken = [p for p in output_paths(document, pdf, None) if p.exists()]
        if taken:
            raise click.UsageError(f"{taken[0]} already exists; it is never overwritten (use --out)")
    keystore = _open(directory, passphrase_stdin)
    certificate = signing_certificate(keystore.vault, base)
    _progress(f"signing {document.name} with your xid CA signing certificate")
    signed = sign_document(
        document, _holder(keystore, False), certificate, out=out, http=WalletHttp(), issuer=base, tsa=tsa
    )
    data = {
        "kind": signed.kind,
        "signature": str(signed.signature),
        "receipt": str(signed.receipt) if signed.receipt else None,
        "sha256": signed.sha256,
        "ledger_index": signed.index,
    }
    if as_json:
        echo_json(data)
        return
    what = "PAdES signature (signed PDF)" if signed.kind == "pades" else "detached JWS signature"
    click.echo(f"{what}: {signed.signature}")
    click.echo(f"recorded in the ledger (entry {signed.index}); receipt: {signed.receipt}")


class _ListByDefault(XidGroup):
    """A group whose subcommand defaults to ``list`` (``xid wallet consents --op URL`` lists)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@wallet.group("consents", cls=_ListByDefault)
def consents() -> None:
    """Your consents at an xid OpenID Connect provider: list them (the default), revoke one (see docs/wallet.md).

    The wallet signs in to the provider's account API by proving its key (your identity credential, no claim
    disclosed), then lists or revokes.
    """


op_option = click.option(
    "--op",
    required=True,
    envvar="XID_OP",
    help="The OpenID Connect provider's base URL (its issuer), e.g. https://xid.example.jp ($XID_OP).",
)


def _account_session(wallet_dir: Path | None, passphrase_stdin: bool, pin_stdin: bool, op: str) -> AccountSession:
    from wallet.consents import open_session
    from wallet.oid4vp import Oid4vpHolder
    from wallet.store import CredentialStore
    from wallet.trust import trusted_roots

    keystore = _open(_wallet_dir(wallet_dir), passphrase_stdin)
    signer = _holder(keystore, pin_stdin)
    holder = Oid4vpHolder(signer, CredentialStore(keystore.vault), trusted_roots(keystore.vault))
    _progress(f"opening an account session at {op}")
    return open_session(op, holder, progress=_progress)


def _consent_line(consent: Mapping[str, Any]) -> str:
    from wallet.http import one_line

    def words(value: Any) -> str:
        return ", ".join(one_line(str(v), 80) for v in value) if isinstance(value, list) and value else ""

    line = f"{one_line(str(consent.get('client_name', '?')), 100)}: {words(consent.get('claims')) or 'login only'}"
    if linked := words(consent.get("linkage_names")) or words(consent.get("linkage")):
        line += f"; linked with {linked}"
    return line + f"; since {one_line(str(consent.get('granted_at')), 40)} (id {one_line(str(consent.get('id')), 80)})"


@consents.command("list")
@op_option
@wallet_option
@passphrase_stdin_option
@token_pin_option
@json_option
def consents_list_command(
    op: str, wallet_dir: Path | None, passphrase_stdin: bool, pin_stdin: bool, as_json: bool
) -> None:
    """List the relying parties you consented to: the claims each receives and the linkage you allowed."""
    from wallet.consents import list_consents

    listed = list_consents(_account_session(wallet_dir, passphrase_stdin, pin_stdin, op))
    if as_json:
        echo_json(listed)
        return
    if not listed:
        click.echo("no consent")
    for consent in listed:
        click.echo(_consent_line(consent))


@consents.command("revoke")
@click.argument("consent_id")
@op_option
@wallet_option
@passphrase_stdin_option
@token_pin_option
@json_option
def consents_revoke_command(
    consent_id: str, op: str, wallet_dir: Path | None, passphrase_stdin: bool, pin_stdin: bool, as_json: bool
) -> None:
    """Revoke one consent (its id from 'consents list'): the relying party is asked again at your next login."""
    from wallet.consents import revoke_consent

    revoked = revoke_consent(_account_session(wallet_dir, passphrase_stdin, pin_stdin, op), consent_id)
    if as_json:
        echo_json(revoked)
        return
    click.echo(f"revoked: {_consent_line(revoked)}")
