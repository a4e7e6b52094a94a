"""Saving a TEST CA to a directory and reading it back (``testca.json``: TEST keys unencrypted, mode 0600)."""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from jpki_bridge.testca.ca import IssuedRecord, RevocationRecord, TestCA
from jpki_bridge.testca.certificates import RootGeneration
from jpki_bridge.testca.common import TREES, Clock, TestCAError, TestCAStoreError, Tree, tree_of, utc_now
from jpki_bridge.testca.person import Person, load_pem, pem

__all__ = [
    "STORE_FILE",
    "STORE_FORMAT",
    "load",
    "save",
]

STORE_FILE: Final = "testca.json"
STORE_FORMAT: Final = "xid-testca-v1"


def save(ca: TestCA, directory: Path) -> Path:
    """Write the CA to ``directory/testca.json`` (created 0700, the file 0600, replaced atomically)."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = {
        "format": STORE_FORMAT,
        "key_size": ca.key_size,
        "base_url": ca.base_url,
        "crl_number": ca.crl_number,
        "roots": [
            {"tree": r.tree, "label": r.label, "key": pem(r.key), "cert": pem(r.cert)}
            for tree in TREES
            for r in ca.roots(tree)
        ],
        "issued": [
            {
                "tree": i.tree,
                "generation": i.generation,
                "serial": format(i.serial, "x"),
                "not_after": i.not_after.isoformat(),
                "person": None if i.person is None else i.person.to_toml(),
            }
            for i in ca.issued_records
        ],
        "revoked": [
            {
                "tree": tree,
                "generation": label,
                "serial": format(serial, "x"),
                "time": r.time.isoformat(),
                "reason": r.reason.value,
            }
            for (tree, label, serial), r in ca.revocation_records.items()
        ],
    }
    path = directory / STORE_FILE
    tmp = directory / (STORE_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, ensure_ascii=False, indent=1)
    tmp.replace(path)
    return path


def load(directory: Path, *, clock: Clock = utc_now) -> TestCA:
    """Read a CA written by ``save``; TestCAStoreError when it is missing or damaged."""
    path = Path(directory) / STORE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TestCAStoreError(f"no test CA at {path}") from None
    except (OSError, ValueError) as exc:
        raise TestCAStoreError(f"cannot read the test CA at {path} ({type(exc).__name__})") from None
    try:
        if state["format"] != STORE_FORMAT:
            raise TestCAStoreError(f"{path} is not a {STORE_FORMAT} file")
        roots: dict[Tree, list[RootGeneration]] = {tree: [] for tree in TREES}
        for item in state["roots"]:
            tree = tree_of(item["tree"])
            key = load_pem("root_key", item["key"])
            cert = load_pem("root_cert", item["cert"])
            if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(cert, x509.Certificate):
                raise TestCAStoreError(f"the test CA at {path} holds a root that is not an RSA key and certificate")
            roots[tree].append(RootGeneration(tree, str(item["label"]), key, cert))
        issued = []
        for item in state["issued"]:
            person = None
            if item["person"] is not None:
                person = Person.from_mapping(tomllib.loads(item["person"]), source=str(path))
            issued.append(
                IssuedRecord(
                    tree_of(item["tree"]),
                    item["generation"],
                    int(item["serial"], 16),
                    dt.datetime.fromisoformat(item["not_after"]),
                    person,
                )
            )
        revoked = {
            (tree_of(item["tree"]), str(item["generation"]), int(item["serial"], 16)): RevocationRecord(
                dt.datetime.fromisoformat(item["time"]), x509.ReasonFlags(item["reason"])
            )
            for item in state["revoked"]
        }
        return TestCA(
            roots,
            key_size=int(state["key_size"]),
            clock=clock,
            base_url=state["base_url"],
            issued=issued,
            revoked=revoked,
            crl_number=int(state["crl_number"]),
        )
    except TestCAStoreError:
        raise
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError, TestCAError) as exc:
        raise TestCAStoreError(f"the test CA at {path} is damaged ({type(exc).__name__})") from None
