"""PC/SC transport through pyscard (the optional ``card`` extra): real USB/NFC readers, or vpcd's virtual reader.

Every failure of the PC/SC stack is mapped to a specific error a person can act on: the PC/SC service is not
running, no reader is connected, the named reader is missing, no card within the time allowed, the card was
removed during the operation.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from jpki_bridge.apdu import (
    CardAbsentError,
    CardTimeoutError,
    NoReaderError,
    PcscUnavailableError,
    TransportError,
)

__all__ = [
    "PcscTransport",
    "list_readers",
]


def _pyscard() -> Any:
    try:
        import smartcard.scard
        import smartcard.System
    except ImportError as exc:
        raise PcscUnavailableError(
            "PC/SC support is not installed: install xid with the 'card' extra (pip install 'xid[card]')"
        ) from exc
    return smartcard


def _all_readers() -> list[Any]:
    smartcard = _pyscard()
    from smartcard.Exceptions import SmartcardException
    from smartcard.pcsc.PCSCExceptions import BaseSCardException

    try:
        return list(smartcard.System.readers())
    except (SmartcardException, BaseSCardException) as exc:
        raise PcscUnavailableError(
            "the PC/SC service is not running or not reachable: start pcscd (e.g. 'sudo systemctl start pcscd')"
        ) from exc


def list_readers() -> list[str]:
    """Names of the connected readers; raises PcscUnavailableError if pcscd is not running."""
    return [str(r) for r in _all_readers()]


class PcscTransport:
    """A connection to the card in one PC/SC reader."""

    def __init__(self, reader: str | None = None, *, wait: float = 0.0, poll: float = 0.2) -> None:
        """Connect to ``reader`` (name or prefix) or the first reader with a card, waiting up to ``wait`` s."""
        _pyscard()
        from smartcard.Exceptions import CardConnectionException, NoCardException

        deadline = time.monotonic() + wait
        last: Exception | None = None
        while True:
            readers = self._readers(reader)
            for candidate in readers:
                connection = candidate.createConnection()
                try:
                    connection.connect()
                except (NoCardException, CardConnectionException) as exc:
                    last = exc
                    continue
                self._connection = connection
                self.reader = str(candidate)
                self._atr = bytes(connection.getATR())
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(poll)
        where = f"reader {reader!r}" if reader else "any reader"
        if wait > 0:
            raise CardTimeoutError(f"no card was inserted in {where} within {wait:g} s") from last
        raise CardAbsentError(f"no card in {where}: insert the My Number card (or place it on the NFC reader)")

    @staticmethod
    def _readers(name: str | None) -> list[Any]:
        readers = _all_readers()
        if not readers:
            raise NoReaderError("no card reader is connected (check the USB cable, or 'pcsc_scan')")
        if name is None:
            return readers
        chosen = [r for r in readers if str(r) == name or str(r).startswith(name)]
        if not chosen:
            names = ", ".join(str(r) for r in readers)
            raise NoReaderError(f"no reader named {name!r} (connected: {names})")
        return chosen

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send an APDU through PC/SC."""
        from smartcard.Exceptions import CardConnectionException

        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except CardConnectionException as exc:
            text = str(exc).lower()
            if "removed" in text or "reset" in text or "no smart card" in text:
                raise CardAbsentError("the card was removed during the operation; nothing was completed") from exc
            if "unknown reader" in text or "unavailable" in text or "service" in text:
                raise TransportError("the card reader was disconnected during the operation") from exc
            raise TransportError(f"the card reader failed: {exc}") from exc
        return bytes(data) + bytes([sw1, sw2])

    def close(self) -> None:
        """Disconnect from the card."""
        from smartcard.Exceptions import CardConnectionException

        with contextlib.suppress(CardConnectionException):
            self._connection.disconnect()
