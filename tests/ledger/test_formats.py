"""tlog-tiles paths and bundles, C2SP signed notes, checkpoints, cosignatures and tlog-proof receipts.

The Tessera log in tests/vectors/merkle/tessera-posix-log is a log we did not write: every checkpoint must
verify, and our tiles and entry bundles for the same entries must equal its files byte for byte.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from did import KeyType, SoftwareSigner
from ledger.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    Ed25519CosignatureSigner,
    check_consistent,
    cosign,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.errors import (
    CheckpointInconsistentError,
    InclusionProofError,
    InvalidCheckpointError,
    InvalidNoteError,
    InvalidReceiptError,
    LedgerError,
    NoteSignatureError,
    TileError,
)
from ledger.note import Ed25519NoteSigner, Ed25519NoteVerifier, open_note, sign_note
from ledger.receipt import Receipt, verify_receipt
from ledger.rfc9162 import CompactRange, consistency_proof, inclusion_proof, leaf_hash, root
from ledger.tiles import (
    build_tiles,
    decode_entry_bundle,
    encode_entry_bundle,
    entries_path,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)
from tests.helpers import VECTORS, load_vector

TESSERA = VECTORS / "merkle" / "tessera-posix-log"
# The log's own 15-entry bundle; every smaller bundle, tile and checkpoint is then checked against it.
TESSERA_ENTRIES = decode_entry_bundle((TESSERA / "tile" / "entries" / "000.p" / "15").read_bytes())
NOTES = load_vector("merkle/c2sp-signed-note-examples.json")["cases"]
TESSERA_VKEY = NOTES[1]["vkey"]


def _nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for h in leaves:
        compact.append(h, lambda level, index, value: nodes.__setitem__((level, index), value))
    return nodes


def _reader(nodes: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    return lambda level, index: nodes[(level, index)]


# -- tiles ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 1234067, 256, "tile/0/x001/x234/067"),
        (1, 5, 17, "tile/1/005.p/17"),
        (2, 1000, 256, "tile/2/x001/000"),
    ],
)
def test_tile_paths(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path
    assert parse_tile_path(path) == (level, index, width)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("tile/0/1", "bad tile index"),
        ("tile/0/x000", "bad tile index"),
        ("tile/00/000", "bad tile level"),
        ("tile/0/000.p/256", "bad partial tile width"),
        ("tile/0/000.p/0", "bad partial tile width"),
        ("tile/0/x001/x002", "bad tile index"),
        ("tiles/0/000", "not a tile path"),
        ("tile/0/000.p/07", "bad partial tile width"),
        ("tile/64/000", "bad tile level"),
        ("tile/0/abc", "bad tile index"),
    ],
)
def test_bad_tile_paths(bad: str, reason: str) -> None:
    with pytest.raises(TileError, match=reason):
        parse_tile_path(bad)


def test_entries_path_and_bundles() -> None:
    assert entries_path(0, 15) == "tile/entries/000.p/15"
    assert parse_tile_path("tile/entries/x001/002") == (-1, 1002, 256)
    entries = [b"", b"a", b"x" * 300]
    assert decode_entry_bundle(encode_entry_bundle(entries)) == entries
    with pytest.raises(TileError, match="limit"):
        encode_entry_bundle([b"x" * 70000])
    with pytest.raises(TileError, match="inside an entry"):
        decode_entry_bundle(b"\x00\x05abc")
    with pytest.raises(TileError, match="length prefix"):
        decode_entry_bundle(b"\x00\x01a\x00")


def test_tiles_for_size() -> None:
    assert tiles_for_size(0) == []
    assert tiles_for_size(15) == [(0, 0, 15)]
    assert tiles_for_size(256) == [(0, 0, 256), (1, 0, 1)]
    assert tiles_for_size(70000) == [
        *[(0, i, 256) for i in range(273)],
        (0, 273, 112),
        (1, 0, 256),
        (1, 1, 17),
        (2, 0, 1),
    ]


def test_tessera_log_tiles_and_bundles_reproduced_byte_for_byte() -> None:
    for size in range(1, 16):
        entries = TESSERA_ENTRIES[:size]
        nodes = _nodes([leaf_hash(e) for e in entries])
        tiles = build_tiles(size, _reader(nodes))
        assert tiles == {f"tile/0/000.p/{size}": (TESSERA / "tile" / "0" / "000.p" / str(size)).read_bytes()}
        bundle = (TESSERA / "tile" / "entries" / "000.p" / str(size)).read_bytes()
        assert encode_entry_bundle(entries) == bundle
        assert decode_entry_bundle(bundle) == entries


def test_tessera_entries_are_the_documented_ones() -> None:
    assert len(TESSERA_ENTRIES) == 15
    readme = (VECTORS / "merkle" / "README.md").read_text()
    assert ", ".join(e.decode() for e in TESSERA_ENTRIES[:3]) in readme


def test_tessera_checkpoints_verify_and_match_the_entries() -> None:
    verifier = Ed25519NoteVerifier.from_vkey(TESSERA_VKEY)
    previous: Checkpoint | None = None
    for size in range(16):
        note = (TESSERA / f"checkpoint.{size}").read_text()
        cp = open_checkpoint(note, verifier)
        leaves = [leaf_hash(e) for e in TESSERA_ENTRIES[:size]]
        assert cp.size == size
        assert cp.root_hash == root(leaves)
        if previous is not None:
            proof = consistency_proof(previous.size, leaves) if previous.size else []
            check_consistent(previous, cp, proof)
        previous = cp
    assert (TESSERA / "checkpoint").read_text() == (TESSERA / "checkpoint.15").read_text()


# -- signed notes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", NOTES, ids=lambda c: c["desc"])
def test_c2sp_note_examples(case: dict[str, str]) -> None:
    verifier = Ed25519NoteVerifier.from_vkey(case["vkey"])
    verified = open_note(case["note"], [verifier])
    assert verified.verified_by == (verifier.name,)


def _flip(text: str, position: int) -> str:
    return text[:position] + chr(ord(text[position]) ^ 1) + text[position + 1 :]


def test_note_tampering_is_detected() -> None:
    case = NOTES[0]
    note, verifier = case["note"], Ed25519NoteVerifier.from_vkey(case["vkey"])
    with pytest.raises(NoteSignatureError, match="does not verify"):
        open_note(_flip(note, 3), [verifier])
    text, sig_line = note.split("\n\n")
    blob = bytearray(base64.b64decode(sig_line.split(" ")[-1]))
    blob[10] ^= 1
    forged = f"{text}\n\n\u2014 example.com/foo {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteSignatureError, match="does not verify"):
        open_note(forged, [verifier])
    other = Ed25519NoteSigner("example.com/foo", SoftwareSigner.generate(KeyType.ED25519))
    with pytest.raises(NoteSignatureError, match="no signature from a trusted key"):
        open_note(sign_note(text + "\n", [other]), [verifier])  # same name, other key: ignored as unknown
    with pytest.raises(InvalidNoteError, match="two signatures"):
        open_note(note + note.split("\n\n")[1], [verifier])
    with pytest.raises(InvalidNoteError, match="newline"):
        open_note(note.rstrip("\n"), [verifier])
    with pytest.raises(InvalidNoteError, match="blank line"):
        open_note(text, [verifier])
    many = text + "\n\n" + "".join(f"\u2014 k{i} AAAAAAAA\n" for i in range(101))
    with pytest.raises(InvalidNoteError, match="more than 100"):
        open_note(many, [verifier])


def test_vkey_errors() -> None:
    good = NOTES[0]["vkey"]
    with pytest.raises(InvalidNoteError, match="name\\+keyid\\+key"):
        Ed25519NoteVerifier.from_vkey("nokey")
    with pytest.raises(InvalidNoteError, match="does not match"):
        Ed25519NoteVerifier.from_vkey(good.replace("+530d903a+", "+530d903b+"))
    with pytest.raises(InvalidNoteError, match="Ed25519"):
        Ed25519NoteVerifier.from_vkey(good.replace("+Aek", "+Aqk"))
    with pytest.raises(InvalidNoteError, match="Ed25519"):
        Ed25519NoteSigner("log", SoftwareSigner.generate(KeyType.P256))


@given(st.text(max_size=300))
def test_note_parser_raises_only_ledger_errors(text: str) -> None:
    verifier = Ed25519NoteVerifier.from_vkey(NOTES[0]["vkey"])
    with contextlib.suppress(LedgerError):
        open_note(text, [verifier])


# -- checkpoints and cosignatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("log\n01\nAAAA\n", "leading zeros"),
        ("log\n-1\nAAAA\n", "decimal"),
        ("log\n1\n!!!\n", "base64"),
        ("log\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n", "32 bytes"),
        ("\n1\n" + base64.b64encode(b"x" * 32).decode() + "\n", "origin"),
        ("log\n1\n", "needs origin"),
        ("log\n1\n" + base64.b64encode(b"x" * 32).decode(), "newline"),
    ],
)
def test_checkpoint_parse_errors(body: str, reason: str) -> None:
    with pytest.raises(InvalidCheckpointError, match=reason):
        Checkpoint.parse(body)


def _log(name: str = "xid.example/log") -> tuple[Ed25519NoteSigner, Ed25519NoteVerifier]:
    signer = Ed25519NoteSigner(name, SoftwareSigner.generate(KeyType.ED25519))
    return signer, Ed25519NoteVerifier.from_vkey(signer.vkey())


def test_checkpoint_signing_and_witnesses() -> None:
    signer, verifier = _log()
    leaves = [leaf_hash(bytes([i])) for i in range(10)]
    cp = Checkpoint("xid.example/log", 10, root(leaves), ("extension line",))
    note = sign_checkpoint(cp, signer)
    assert open_checkpoint(note, verifier) == cp
    witness = Ed25519CosignatureSigner("witness.example", SoftwareSigner.generate(KeyType.ED25519), clock=lambda: 1.7e9)
    witness_verifier = CosignatureVerifier.from_vkey(witness.vkey())
    cosigned = cosign(note, verifier, witness)
    assert open_checkpoint(cosigned, verifier, [witness_verifier], quorum=1) == cp
    with pytest.raises(NoteSignatureError, match="1 required"):
        open_checkpoint(note, verifier, [witness_verifier], quorum=1)
    other_witness = CosignatureVerifier.from_vkey(
        Ed25519CosignatureSigner("witness.example", SoftwareSigner.generate(KeyType.ED25519)).vkey()
    )
    with pytest.raises(NoteSignatureError, match="1 required"):  # a cosignature by another key is ignored
        open_checkpoint(cosigned, verifier, [other_witness], quorum=1)
    text, sigs = cosigned.split("\n\n")
    log_line, witness_line = sigs.strip("\n").split("\n")
    blob = bytearray(base64.b64decode(witness_line.split(" ")[-1]))
    blob[4 + 7] ^= 1  # change the timestamp
    tampered = f"{text}\n\n{log_line}\n\u2014 witness.example {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteSignatureError, match=r"cosignature by witness\.example does not verify"):
        open_checkpoint(tampered, verifier, [witness_verifier], quorum=1)
    with pytest.raises(InvalidCheckpointError, match="origin"):
        sign_checkpoint(Checkpoint("other/log", 1, leaves[0]), signer)
    other_signer, _ = _log("other/log")
    with pytest.raises(NoteSignatureError, match="trusted key"):
        open_checkpoint(sign_checkpoint(Checkpoint("other/log", 1, leaves[0]), other_signer), verifier)


def test_check_consistent_detects_forks_and_shrinking() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(12)]
    old, new = Checkpoint("l", 7, root(leaves[:7])), Checkpoint("l", 12, root(leaves))
    check_consistent(old, new, consistency_proof(7, leaves))
    forked = Checkpoint("l", 12, root([*leaves[:11], leaf_hash(b"other")]))
    with pytest.raises(CheckpointInconsistentError, match="does not extend"):
        check_consistent(old, forked, consistency_proof(7, leaves))
    with pytest.raises(CheckpointInconsistentError, match="fork"):
        check_consistent(new, forked, [])
    with pytest.raises(CheckpointInconsistentError, match="shrank"):
        check_consistent(new, old, [])
    with pytest.raises(CheckpointInconsistentError, match="different logs"):
        check_consistent(old, Checkpoint("m", 12, root(leaves)), [])


# -- receipts ---------------------------------------------------------------------------------------------------


def _receipt() -> tuple[Receipt, list[bytes], Ed25519NoteVerifier, Ed25519NoteSigner]:
    signer, verifier = _log()
    entries = [f"record {i}".encode() for i in range(9)]
    leaves = [leaf_hash(e) for e in entries]
    note = sign_checkpoint(Checkpoint("xid.example/log", 9, root(leaves)), signer)
    return Receipt(4, tuple(inclusion_proof(4, leaves)), note, b"ctx"), entries, verifier, signer


def test_receipt_round_trip_and_verification() -> None:
    receipt, entries, verifier, _ = _receipt()
    text = receipt.format()
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert Receipt.parse(text) == receipt
    assert verify_receipt(Receipt.parse(text), entries[4], verifier).size == 9


def test_receipt_tampering_fails() -> None:
    receipt, entries, verifier, signer = _receipt()
    wrong_root = "does not lead to the root of tree size 9"
    with pytest.raises(InclusionProofError, match=wrong_root):
        verify_receipt(Receipt(5, receipt.proof, receipt.checkpoint), entries[4], verifier)
    flipped = bytes([receipt.proof[0][0] ^ 1]) + receipt.proof[0][1:]
    with pytest.raises(InclusionProofError, match=wrong_root):
        verify_receipt(Receipt(4, (flipped, *receipt.proof[1:]), receipt.checkpoint), entries[4], verifier)
    with pytest.raises(InclusionProofError, match=wrong_root):
        verify_receipt(receipt, b"record 5", verifier)
    other_root = sign_checkpoint(Checkpoint("xid.example/log", 9, leaf_hash(b"x")), signer)
    with pytest.raises(InclusionProofError, match=wrong_root):
        verify_receipt(Receipt(4, receipt.proof, other_root), entries[4], verifier)
    _, stranger = _log()
    with pytest.raises(NoteSignatureError, match="no signature from a trusted key"):
        verify_receipt(receipt, entries[4], stranger)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("c2sp.org/tlog-proof@v1\nindex 1\n", "blank line"),
        ("tlog-proof\nindex 1\n\ncp\n", "must start"),
        ("c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n", "index"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp\n", "extra"),
        ("c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n", "32 bytes"),
        ("c2sp.org/tlog-proof@v1\nindex 1\n$$$\n\ncp\n", "base64"),
    ],
)
def test_receipt_parse_errors(text: str, reason: str) -> None:
    with pytest.raises(InvalidReceiptError, match=reason):
        Receipt.parse(text)


@given(st.text(max_size=200))
def test_receipt_parser_raises_only_ledger_errors(text: str) -> None:
    with contextlib.suppress(LedgerError):
        Receipt.parse("c2sp.org/tlog-proof@v1\n" + text)


def test_vectors_readme_travels_with_the_copy() -> None:
    assert (Path(VECTORS) / "merkle" / "README.md").exists()
