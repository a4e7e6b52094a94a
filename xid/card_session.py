"""The card session the card-using commands share (``xid card``, ``xid wallet enroll``): the emulated TEST card,
the transport choice (PC/SC reader or the emulated card in-process), PIN prompts and the one VERIFY with tries left.

Passwords and PINs are asked without echo, or read from standard input with ``--pin-stdin`` (one line); they are
never taken from the command line, where other users and shell histories would see them.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xid.files import write_file
from xid.settings import Settings

if TYPE_CHECKING:
    from jpki_bridge.jpki import JpkiCard, PinName
    from jpki_bridge.softcard import SoftCard
    from jpki_bridge.testca import CardIdentity, Person
    from jpki_bridge.transport import Transport

__all__ = [
    "PIN_ENV",
    "TEST_PINS",
    "EmulatedCard",
    "ask_secret",
    "card_dir",
    "open_transport",
    "verify_pin",
]

# PINs of the emulated TEST card (environment variables, never arguments); documented in docs/card.md.
PIN_ENV = {"sign": "XID_CARD_SIGN_PASSWORD", "auth": "XID_CARD_AUTH_PIN", "input": "XID_CARD_INPUT_PIN"}
TEST_PINS = {"sign": "TEST1234", "auth": "1234", "input": "1234"}


def card_dir() -> Path:
    """Where the emulated TEST card lives ($XID_HOME/card)."""
    return Settings.from_env().home / "card"


@dataclass(frozen=True)
class EmulatedCard:
    """The files of the emulated TEST card under $XID_HOME/card."""

    directory: Path

    @property
    def exists(self) -> bool:
        """Whether ``xid card emulate`` has created the card."""
        return (self.directory / "identity.json").exists()

    def create(self, person: Person) -> CardIdentity:
        """Issue a card for the person from the TEST CA (created on first use) and store it."""
        from jpki_bridge.testca import TestCA

        ca_dir = self.directory / "testca"
        ca = TestCA.load(ca_dir) if (ca_dir / "testca.json").exists() else TestCA.create()
        identity = ca.issue(person)
        ca.save(ca_dir)  # after issuing: the CA's record of the card is what its OCSP responder answers from
        pins = {name: os.environ.get(env, TEST_PINS[name]) for name, env in PIN_ENV.items()}
        for path, text in [
            (self.directory / "identity.json", identity.to_json()),
            (self.directory / "person.toml", person.to_toml()),
            (self.directory / "pins.json", json.dumps(pins)),
        ]:
            write_file(path, text, secret=True, parents=True)
        (self.directory / "state.json").unlink(missing_ok=True)
        return identity

    def load(self) -> SoftCard:
        """The software card, with retry counters persisted in state.json."""
        from jpki_bridge.apdu import CardError
        from jpki_bridge.softcard import FaceData, SoftCard
        from jpki_bridge.testca import CardIdentity, Person

        if not self.exists:
            raise CardError(f"no emulated card in {self.directory}: run 'xid card emulate --person FILE' first")
        identity = CardIdentity.from_json((self.directory / "identity.json").read_text(encoding="utf-8"))
        person = Person.from_toml(self.directory / "person.toml")
        pins = json.loads((self.directory / "pins.json").read_text(encoding="utf-8"))
        return SoftCard(
            identity,
            sign_pin=pins["sign"],
            auth_pin=pins["auth"],
            face=FaceData.of(person),
            input_pin=pins["input"],
            state_file=self.directory / "state.json",
        )


@contextlib.contextmanager
def open_transport(reader: str | None, emulated: bool, wait: float) -> Iterator[tuple[Transport, str]]:
    """The card's transport and a name for it: a PC/SC reader, or the emulated TEST card in-process."""
    from jpki_bridge.transport import InMemoryTransport

    if emulated:
        transport: Transport = InMemoryTransport(EmulatedCard(card_dir()).load())
        name = "emulated TEST card (in-process)"
    else:
        from jpki_bridge.pcsc import PcscTransport

        pcsc = PcscTransport(reader, wait=wait)
        transport, name = pcsc, pcsc.reader
    try:
        yield transport, name
    finally:
        transport.close()


def ask_secret(prompt: str, pin_stdin: bool) -> str:
    """A secret asked without echo, or one line of standard input with ``--pin-stdin``."""
    if pin_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--pin-stdin: standard input was empty")
        return line.rstrip("\r\n")
    return getpass.getpass(prompt)


def verify_pin(card: JpkiCard, pin: PinName, pin_stdin: bool, confirm_last_try: bool) -> None:
    """Show the tries left, refuse the last try unless confirmed, ask the PIN and VERIFY it once (never retried)."""
    from jpki_bridge.apdu import LastTryError

    status = card.pin_status(pin)
    label = "signature password (6-16 letters/digits)" if pin == "sign" else "4-digit authentication PIN"
    if status.tries_left == 1 and not confirm_last_try:
        raise LastTryError(
            f"only one try is left for the {label}; a wrong value blocks it. Re-run with --confirm-last-try "
            "if you are sure"
        )
    secret = ask_secret(f"{label} ({status.tries_left} tries left): ", pin_stdin)
    card.verify(pin, secret, confirm_last_try=confirm_last_try)


reader_option = click.option("--reader", help="Reader name (or prefix); default: the first reader with a card.")
emulated_option = click.option(
    "--emulated", is_flag=True, help="Use the emulated TEST card in-process (made by 'xid card emulate')."
)
wait_option = click.option("--wait", type=float, default=0.0, show_default=True, help="Seconds to wait for a card.")
pin_stdin_option = click.option(
    "--pin-stdin", is_flag=True, help="Read the password or PIN from standard input (one line) instead of asking."
)
confirm_option = click.option(
    "--confirm-last-try", is_flag=True, help="Allow a VERIFY when only one try is left (a wrong value blocks the PIN)."
)
