"""Card transports behind one protocol, and the channel that handles ``61xx``/``6Cxx`` on any of them."""

from __future__ import annotations

from typing import Protocol

from jpki_bridge.apdu import Command, Response, TransportError

__all__ = [
    "MAX_GET_RESPONSE_ROUNDS",
    "CardLike",
    "Channel",
    "InMemoryTransport",
    "Transport",
]

MAX_GET_RESPONSE_ROUNDS = 64


class Transport(Protocol):
    """Moves APDU bytes to a card and back (PC/SC reader, vpcd, or an in-process software card)."""

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response bytes including the status word."""
        ...

    def close(self) -> None:
        """Release the reader or connection."""
        ...


class CardLike(Protocol):
    """What the in-memory transport drives: a card that answers APDUs (the software card)."""

    @property
    def atr(self) -> bytes:
        """The answer to reset."""
        ...

    def reset(self) -> None:
        """Power-cycle: clear selection and PIN state."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Answer one command APDU."""
        ...


class InMemoryTransport:
    """Calls a software card directly: no daemon, no reader (fast unit tests)."""

    def __init__(self, card: CardLike) -> None:
        self._card = card
        self._open = True
        card.reset()

    @property
    def atr(self) -> bytes:
        """The software card's ATR."""
        return self._card.atr

    def transmit(self, apdu: bytes) -> bytes:
        """Hand the APDU to the card."""
        if not self._open:
            raise TransportError("the in-memory card connection is closed")
        return self._card.transmit(apdu)

    def close(self) -> None:
        """Disconnect."""
        self._open = False


class Channel:
    """Sends commands over a transport, following ``61xx`` (GET RESPONSE) and ``6Cxx`` (wrong Le) answers."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.log: list[tuple[bytes, int]] | None = None  # (command header, SW) pairs when tracing; no data kept

    def send(self, command: Command) -> Response:
        """Send a command and return the complete response (status not yet checked)."""
        response = self._exchange(command.encode())
        if response.sw >> 8 == 0x6C:  # wrong Le: resend with the length the card asked for
            corrected = Command(
                command.cla, command.ins, command.p1, command.p2, command.data, response.sw & 0xFF or 256
            )
            response = self._exchange(corrected.encode())
        data = response.data
        rounds = 0
        while response.sw >> 8 == 0x61:  # more data available: GET RESPONSE
            rounds += 1
            if rounds > MAX_GET_RESPONSE_ROUNDS:
                raise TransportError("the card kept answering 61xx: response too long")
            response = self._exchange(Command(0x00, 0xC0, 0x00, 0x00, le=response.sw & 0xFF or 256).encode())
            data += response.data
        return Response(data, response.sw)

    def _exchange(self, apdu: bytes) -> Response:
        response = Response.parse(self.transport.transmit(apdu))
        if self.log is not None:
            self.log.append((apdu[:4], response.sw))
        return response
