"""Run the real PC/SC stack for tests: pcscd with vsmartcard's vpcd driver, reached through pyscard.

If a pcscd is already running (a developer's machine) it is used; otherwise one is started in the foreground (as
root, as in CI; see docs/card.md) and stopped at the end. Missing pieces skip locally and fail in CI.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import require_component

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VIRTUAL_READER = "Virtual PCD 00 00"


def _readers() -> list[str]:
    from jpki_bridge.apdu import PcscUnavailableError
    from jpki_bridge.pcsc import list_readers

    try:
        return list_readers()
    except PcscUnavailableError:
        return []


def _start_pcscd(attempts: int = 3, wait: float = 30.0) -> subprocess.Popen[bytes] | None:
    """Start pcscd in the foreground until it shows the virtual reader; None after ``attempts`` tries.

    A pcscd stopped just before (a previous run on the same machine) can leave the vpcd driver's port briefly taken,
    and the new daemon then runs without the reader: such a daemon is stopped and started again."""
    for _ in range(attempts):
        process = subprocess.Popen(["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while process.poll() is None and time.monotonic() < deadline:
            if VIRTUAL_READER in _readers():
                return process
            time.sleep(0.2)
        process.kill()
        process.wait()
        time.sleep(2)
    return None


@pytest.fixture(scope="session")
def pcscd() -> Iterator[str]:
    """A running pcscd that shows the virtual reader; yields the reader's name."""
    require_component(shutil.which("pcscd") is not None, "pcscd (apt pcscd)")
    require_component(VPCD_DRIVER.exists(), "the vpcd reader driver (apt vsmartcard-vpcd)")
    require_component(importlib.util.find_spec("smartcard") is not None, "pyscard (the 'card' extra)")
    process: subprocess.Popen[bytes] | None = None
    if VIRTUAL_READER not in _readers():
        require_component(os.geteuid() == 0, "root, to start pcscd for the tests (or start pcscd yourself)")
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)
        process = _start_pcscd()
        require_component(process is not None, "a pcscd that starts and shows the vpcd reader")
    try:
        yield VIRTUAL_READER
    finally:
        # pyscard releases a connection's PC/SC context when the object is collected; collect the ones left in
        # reference cycles now, while pcscd still answers, not after it has stopped (an unraisable error then).
        gc.collect()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
