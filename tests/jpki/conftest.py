"""Session-wide TEST JPKI CA and card identity (the card tests import these fixtures too), and a local HTTP server.

The CA is created once per test session (RSA-2048 key generation is the slow part). It is shared and mutable:
tests that revoke or renew must issue their own identities (``test_ca.issue(person)``), never touch ``identity``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from hypothesis import strategies as st
from starlette.types import ASGIApp

from jpki_bridge.testca import CardIdentity, Person, TestCA

PERSONS = Path(__file__).parent / "persons"
PERSON_FILES = sorted(PERSONS.glob("*.toml"))


def load_person(stem: str) -> Person:
    """One of the example persons in tests/jpki/persons/."""
    return Person.from_toml(PERSONS / f"{stem}.toml")


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local uvicorn test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """The session's TEST CA: sign and auth trees, root generations 01 (expired), 02 and 03."""
    return TestCA.create(key_size=2048)


@pytest.fixture(scope="session")
def person() -> Person:
    """The default example person (tests/jpki/persons/yamada.toml)."""
    return load_person("yamada")


@pytest.fixture(scope="session")
def identity(test_ca: TestCA, person: Person) -> CardIdentity:
    """A card identity for the default person, issued now by the current root generation. Never revoke it."""
    return test_ca.issue(person)


@st.composite
def mutations(draw: st.DrawFn, der: bytes) -> bytes:
    """DER with one to four random edits: bit flips, tag and length bytes, truncation, insertion, deletion."""
    data = bytearray(der)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif kind == "set" and data:
            data[position] = draw(st.sampled_from([0x00, 0x04, 0x0C, 0x13, 0x30, 0x80, 0x81, 0x82, 0xA0, 0xFF]))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete" and data:
            del data[position : position + draw(st.integers(min_value=1, max_value=4))]
    return bytes(data)


# cryptography warns (and does not fail) about fields that break RFC 5280 limits, such as a 70-character common name
# or a non-positive serial, because real certificates have them; pytest turns warnings into errors, fuzz input has
# them by design.
CRYPTOGRAPHY_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Attribute's length must be:UserWarning",
    "ignore::cryptography.utils.CryptographyDeprecationWarning",
)
