"""Plug a software card into vsmartcard's virtual reader (vpcd), so pcscd and any PC/SC program see a real reader.

vpcd listens on TCP (port 35963 for reader slot 0, "Virtual PCD 00 00"); the card connects to it. Both directions
frame messages as a 2-byte big-endian length and a payload. A 1-byte payload from vpcd is a control command
(0 power off, 1 power on, 2 reset, 4 send the ATR); anything else is a command APDU, answered with exactly one
response APDU. Closing the connection looks like removing the card.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Final

from jpki_bridge.apdu import TransportError
from jpki_bridge.transport import CardLike

__all__ = [
    "DEFAULT_PORT",
    "VpcdLink",
]

DEFAULT_PORT: Final = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class VpcdLink:
    """Connects a card to vpcd and answers vpcd's messages in a background thread until closed."""

    def __init__(self, card: CardLike, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self._card = card
        self._address = (host, port)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Connect to vpcd (retrying until ``timeout``, since pcscd starts vpcd lazily) and start serving."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.create_connection(self._address, timeout=2)
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"cannot connect to vpcd at {self._address[0]}:{self._address[1]} "
                        "(is pcscd running with the vsmartcard-vpcd driver?)"
                    ) from exc
                time.sleep(0.1)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, name="vpcd-card", daemon=True)
        self._thread.start()

    def _recv_exact(self, size: int) -> bytes | None:
        assert self._sock is not None
        data = b""
        while len(data) < size:
            if self._stop.is_set():
                return None
            try:
                chunk = self._sock.recv(size - len(data))
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        return data

    def _send(self, payload: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(len(payload).to_bytes(2, "big") + payload)

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                header = self._recv_exact(2)
                if header is None:
                    return
                payload = self._recv_exact(int.from_bytes(header, "big"))
                if payload is None:
                    return
                if len(payload) == 1:
                    if payload[0] == GET_ATR:
                        self._send(self._card.atr)
                    elif payload[0] in (POWER_OFF, POWER_ON, RESET):
                        self._card.reset()
                    continue
                self._send(self._card.transmit(payload))
        except OSError as exc:
            if not self._stop.is_set():
                self.error = exc

    def close(self) -> None:
        """Disconnect: to PC/SC programs the card is removed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None

    def __enter__(self) -> VpcdLink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
