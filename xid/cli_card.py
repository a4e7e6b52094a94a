"""``xid card``: emulate a test card, and read, check and sign with a My Number card (real or emulated).

Passwords and PINs are asked without echo, or read from standard input with ``--pin-stdin`` (one line); they are
never taken from the command line, where other users and shell histories would see them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import signal
import threading
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from xid.card_session import (
    PIN_ENV,
    TEST_PINS,
    EmulatedCard,
    card_dir,
    confirm_option,
    emulated_option,
    open_transport,
    pin_stdin_option,
    reader_option,
    verify_pin,
    wait_option,
)
from xid.cli_group import XidGroup, echo_json, json_option
from xid.files import CannotWriteError, read_bytes, read_text, write_file

if TYPE_CHECKING:
    from cryptography import x509

    from jpki_bridge.jpki import PinName

__all__ = ["PIN_ENV", "TEST_PINS", "card"]


def _cert_summary(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "notBefore": cert.not_valid_before_utc.isoformat(),
        "notAfter": cert.not_valid_after_utc.isoformat(),
    }


def _output(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        echo_json(data)
    else:
        for line in lines:
            click.echo(line)


@click.group("card", cls=XidGroup)
def card() -> None:
    """The My Number card: emulate a TEST card, show status, read certificates and the basic 4 info, sign.

    Works with any PC/SC reader (USB contact or NFC; see docs/card.md) and with the emulated TEST card, either
    in-process (--emulated) or plugged into vsmartcard's virtual reader (xid card emulate --vpcd).
    """


@card.command("emulate")
@click.option(
    "--person",
    "person_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with the TEST holder (see tests/jpki/persons/).",
)
@click.option("--vpcd", is_flag=True, help="Insert the card into vsmartcard's virtual reader until Ctrl-C.")
@click.option("--port", type=int, default=35963, show_default=True, help="vpcd port (slot 0).")
def emulate_command(person_file: Path, vpcd: bool, port: int) -> None:
    """Issue a TEST card for a person from the TEST CA and keep it under $XID_HOME/card.

    The card's PINs come from XID_CARD_SIGN_PASSWORD, XID_CARD_AUTH_PIN and XID_CARD_INPUT_PIN (defaults:
    TEST1234, 1234, 1234). With --vpcd the card is inserted into the 'Virtual PCD 00 00' reader (pcscd with
    vsmartcard-vpcd must be running) until interrupted; without it, use the card with --emulated.
    """
    from jpki_bridge.testca import Person

    try:
        mapping = tomllib.loads(read_text(person_file, "--person"))
    except tomllib.TOMLDecodeError as exc:
        raise click.BadParameter(f"{person_file} is not TOML: {exc}", param_hint="--person") from None
    person = Person.from_mapping(mapping, source=str(person_file))
    store = EmulatedCard(card_dir())
    try:
        identity = store.create(person)
    except OSError as exc:  # the TEST CA's own files (jpki_bridge.testca writes them)
        raise CannotWriteError(f"cannot write the emulated card under {store.directory}: {exc.strerror}") from None
    click.echo(f"TEST card issued: signature certificate serial {identity.sign_cert.serial_number:x}", err=True)
    click.echo(f"stored in {store.directory}", err=True)
    if not vpcd:
        click.echo("use it with: xid card status --emulated", err=True)
        return
    from jpki_bridge.vpcd import VpcdLink

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with VpcdLink(store.load(), port=port):
        click.echo("card inserted in the virtual reader 'Virtual PCD 00 00'; press Ctrl-C to remove it", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                pass
    click.echo("card removed", err=True)


@card.command("status")
@reader_option
@emulated_option
@wait_option
@json_option
def status_command(reader: str | None, emulated: bool, wait: float, as_json: bool) -> None:
    """Show the reader, the card type and the tries left for each PIN (spends no try)."""
    from jpki_bridge.input_assist import InputAssistCard
    from jpki_bridge.jpki import JpkiCard

    with open_transport(reader, emulated, wait) as (transport, name):
        jpki = JpkiCard(transport)
        jpki.select()
        sign, auth = jpki.pin_status("sign"), jpki.pin_status("auth")
        assist = InputAssistCard(transport)
        assist.select()
        face = assist.pin_status()
        data = {
            "reader": name,
            "atr": transport.atr.hex(),
            "card": jpki.token_type,
            "triesLeft": {"sign": sign.tries_left, "auth": auth.tries_left, "inputAssist": face.tries_left},
        }
    _output(
        data,
        as_json,
        [
            f"reader:  {name}",
            f"card:    {jpki.token_type} (ATR {data['atr']})",
            f"signature password:   {sign.tries_left} tries left" + ("  BLOCKED" if sign.blocked else ""),
            f"authentication PIN:   {auth.tries_left} tries left" + ("  BLOCKED" if auth.blocked else ""),
            f"input-assist PIN:     {face.tries_left} tries left" + ("  BLOCKED" if face.blocked else ""),
        ],
    )


@card.command("read")
@reader_option
@emulated_option
@wait_option
@json_option
@pin_stdin_option
@confirm_option
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the two certificates here as PEM files (signature.pem, authentication.pem; mode 0600, "
    "the signature certificate holds the basic 4 info), e.g. for 'openssl x509 -text -in signature.pem'.",
)
def read_command(
    reader: str | None,
    emulated: bool,
    wait: float,
    as_json: bool,
    pin_stdin: bool,
    confirm_last_try: bool,
    out_dir: Path | None,
) -> None:
    """Read the certificates and the basic 4 info (asks for the signature password).

    The basic 4 info is shown as the card stores it and as people read it: the date of birth as an ISO date with
    its Japanese era year (partial dates say what is unknown), the sex as a word. --json adds these as sexLabel,
    dateOfBirthIso and dateOfBirthEra next to the stored sex and dateOfBirth.
    """
    from cryptography.hazmat.primitives.serialization import Encoding

    from jpki_bridge.jpki import JpkiCard
    from jpki_bridge.profile import parse_signature_certificate

    if out_dir is not None:  # fail before the card spends a PIN verification
        try:
            out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotWriteError(f"cannot write into {out_dir}: {exc.strerror}") from None
    with open_transport(reader, emulated, wait) as (transport, _):
        jpki = JpkiCard(transport)
        jpki.select()
        verify_pin(jpki, "sign", pin_stdin, confirm_last_try)
        sign_cert = jpki.read_sign_certificate()
        auth_cert = jpki.read_auth_certificate()
    info = parse_signature_certificate(sign_cert)
    dob = info.date_of_birth
    basic4 = {
        "name": info.name,
        "sex": info.sex.value,
        "sexLabel": info.sex.label,
        "dateOfBirth": dob.text,
        "dateOfBirthIso": dob.iso,
        "dateOfBirthEra": dob.era_year,
        "address": info.address,
        "nameSubstitution": info.name_substitution,
        "addressSubstitution": info.address_substitution,
    }
    data: dict[str, Any] = {
        "signCertificate": _cert_summary(sign_cert),
        "authCertificate": _cert_summary(auth_cert),
        "basic4": basic4,
    }
    if out_dir is not None:
        files = {"signature.pem": sign_cert, "authentication.pem": auth_cert}
        for name, cert in files.items():
            write_file(out_dir / name, cert.public_bytes(Encoding.PEM), secret=True, parents=True)
            click.echo(f"wrote {out_dir / name}", err=True)
        data["files"] = {
            "signCertificate": str(out_dir / "signature.pem"),
            "authCertificate": str(out_dir / "authentication.pem"),
        }
    _output(
        data,
        as_json,
        [
            f"signature certificate:      {data['signCertificate']['subject']}",
            f"                            valid until {sign_cert.not_valid_after_utc:%Y-%m-%d}",
            f"authentication certificate: {data['authCertificate']['subject']}",
            f"name:          {info.name}",
            f"sex:           {info.sex.label} (code {info.sex.value})",
            f"date of birth: {dob.display()} (stored as {dob.text})",
            f"address:       {info.address}",
        ],
    )


@card.command("sign")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--which",
    "key_name",
    type=click.Choice(["sign", "auth"]),
    default="sign",
    show_default=True,
    help="The signature key (password) or the authentication key (4-digit PIN).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the raw signature here.")
@reader_option
@emulated_option
@wait_option
@json_option
@pin_stdin_option
@confirm_option
def sign_command(
    file: Path,
    key_name: PinName,
    out: Path | None,
    reader: str | None,
    emulated: bool,
    wait: float,
    as_json: bool,
    pin_stdin: bool,
    confirm_last_try: bool,
) -> None:
    """Sign a file (RSASSA-PKCS1-v1_5 over SHA-256) with a card key; the signature is checked before printing."""
    from jpki_bridge.jpki import JpkiCard
    from jpki_bridge.trust import verify_card_signature

    data = read_bytes(file, "FILE")
    if out is not None and not out.parent.is_dir():  # fail before the card spends a PIN verification
        raise CannotWriteError(f"cannot write {out}: {out.parent} is not a directory")
    with open_transport(reader, emulated, wait) as (transport, _):
        jpki = JpkiCard(transport)
        jpki.select()
        verify_pin(jpki, key_name, pin_stdin, confirm_last_try)
        signature = jpki.sign(key_name, data)
        cert = jpki.read_sign_certificate() if key_name == "sign" else jpki.read_auth_certificate()
    verify_card_signature(cert, data, signature)
    if out is not None:
        write_file(out, signature)
        click.echo(f"wrote {out}", err=True)
    result = {
        "file": str(file),
        "sha256": hashlib.sha256(data).hexdigest(),
        "key": key_name,
        "certificateSerial": format(cert.serial_number, "x"),
        "signature": base64.b64encode(signature).decode(),
    }
    _output(result, as_json, [f"sha256 {result['sha256']}", f"signature (base64) {result['signature']}"])
