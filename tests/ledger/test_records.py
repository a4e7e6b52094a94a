"""Ledger records: canonical bytes, strict schema, and no way to write personal data through the public API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.records import (
    MAX_ENTRY_BYTES,
    EventType,
    Outcome,
    PersonalDataError,
    Record,
    RecordError,
    canonical_json,
    commitment,
    digest,
)

T = datetime(2025, 4, 1, 9, 30, 0, 123456, tzinfo=UTC)
H = digest(b"document")
SUBJECT = commitment(b"k" * 32, "person-42")


def valid() -> dict[str, Any]:
    return {
        "type": "authentication",
        "time": "2025-04-01T09:30:00.123Z",
        "subject": SUBJECT,
        "rp": "https://rp.example.jp",
        "object": H,
    }


def test_canonical_bytes_sorted_compact_with_version() -> None:
    record = Record(EventType.SIGNATURE, T, subject=SUBJECT, rp="did:web:rp.example.jp", object=H)
    data = record.to_bytes()
    assert (
        data
        == (
            f'{{"object":"{H}","rp":"did:web:rp.example.jp","subject":"{SUBJECT}",'
            f'"time":"2025-04-01T09:30:00.123Z","type":"signature","v":1}}'
        ).encode()
    )
    assert Record.from_bytes(data) == record
    assert record.time == datetime(2025, 4, 1, 9, 30, 0, 123000, tzinfo=UTC)


def test_time_is_normalised_to_utc_milliseconds() -> None:
    jst = timezone(timedelta(hours=9))
    record = Record(EventType.ENROLLMENT, datetime(2025, 4, 1, 18, 30, tzinfo=jst))
    assert record.to_json()["time"] == "2025-04-01T09:30:00.000Z"


def test_from_json_round_trip_and_all_optional_fields() -> None:
    doc = {
        **valid(),
        "credential": digest(b"c"),
        "evidence": digest(b"e"),
        "transaction": digest(b"t"),
        "previous": digest(b"p"),
        "outcome": "failure",
    }
    record = Record.from_json(doc)
    assert record.outcome is Outcome.FAILURE
    assert record.to_json() == {**doc, "v": 1}
    assert Record.from_bytes(record.to_bytes()) == record


def test_commitment_and_digest() -> None:
    assert digest(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert commitment(b"k" * 32, "a") != commitment(b"j" * 32, "a")
    with pytest.raises(ValueError, match="16 bytes"):
        commitment(b"short", "a")


PERSONAL_VALUES = [
    "山田太郎",  # a name in kanji
    "Taro Yamada",  # a name in latin letters
    "東京都千代田区千代田1-1",  # an address
    "1-1 Chiyoda, Chiyoda-ku, Tokyo",
    "1985-04-12",  # a birth date
    "19850412",
    "1985/4/12",
    "123456789012",  # a 12-digit My Number
    "1234 5678 9012",
    "1234-5678-9012",
    "taro@example.jp",
    "090-1234-5678",  # a phone number
    "100-0001",  # a postal code
    "the person said they were late",  # free text
    "男",
]


@pytest.mark.parametrize("field", ["subject", "object", "credential", "evidence", "transaction", "previous", "rp"])
@pytest.mark.parametrize("value", PERSONAL_VALUES)
def test_personal_data_values_are_refused_in_every_field(field: str, value: str) -> None:
    doc = {**valid(), field: value}
    with pytest.raises(PersonalDataError) as info:
        Record.from_json(doc)
    assert info.value.code == "personalData"
    assert repr(field) in info.value.message
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(PersonalDataError, match=f"field {field!r} refused"):
        Record(EventType.AUTHENTICATION, T, **kwargs)


@pytest.mark.parametrize("value", ["1985-04-12T00:00:00.000Z", "1999-12-31T23:59:59.999Z"])
def test_times_before_2020_are_refused_as_possible_birth_dates(value: str) -> None:
    with pytest.raises(PersonalDataError, match="date of birth"):
        Record.from_json({**valid(), "time": value})


@pytest.mark.parametrize("value", [*PERSONAL_VALUES, "auth", ""])
def test_personal_data_in_type_and_outcome_is_refused(value: str) -> None:
    for field in ("type", "outcome"):
        with pytest.raises(RecordError, match=f"'{field}'"):
            Record.from_json({**valid(), field: value})


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "full_name",
        "givenName",
        "family-name",
        "kana",
        "address",
        "postal_code",
        "birthdate",
        "date_of_birth",
        "dob",
        "gender",
        "sex",
        "my_number",
        "myNumber",
        "individual_number",
        "kojin_bango",
        "phone",
        "email",
        "card_number",
        "certificate",
        "comment",
        "note",
        "description",
        "memo",
        "text",
    ],
)
def test_personal_data_fields_are_refused(field: str) -> None:
    with pytest.raises(PersonalDataError, match=f"field {field!r} would hold personal data"):
        Record.from_json({**valid(), field: H})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(RecordError, match="unknown field 'colour'") as info:
        Record.from_json({**valid(), "colour": H})
    assert info.value.code == "invalidRecord"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"time": "2025-04-01T09:30:00.123Z"}, "'type' is required"),
        ({"type": "consent"}, "'time' is required"),
        ({**valid(), "v": 2}, "unsupported record version"),
        ({**valid(), "v": True}, "unsupported record version"),
        ({**valid(), "subject": H.upper()}, "64 lowercase hex"),
        ({**valid(), "subject": H[:-1]}, "64 lowercase hex"),
        ({**valid(), "subject": 12}, "'subject' must be a string"),
        ({**valid(), "time": "2025-04-01T09:30:00Z"}, "YYYY-MM-DDTHH:MM:SS.mmmZ"),
        ({**valid(), "time": "2025-02-30T09:30:00.000Z"}, "not a real date"),
        ({**valid(), "time": 1743499800}, "must be a datetime"),
        ({**valid(), "rp": "http://rp.example.jp"}, "https URL"),
        ({**valid(), "rp": "https://rp.example.jp/?user=1"}, "https URL"),
        ({**valid(), "rp": "https://user@rp.example.jp"}, "'rp'"),
        ({**valid(), "rp": "https://" + "a" * 250 + ".jp"}, "'rp'"),
        ({**valid(), "rp": "did:example:123"}, "https URL"),
    ],
)
def test_malformed_records_are_refused(doc: Any, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        Record.from_json(doc)


def test_naive_time_is_refused() -> None:
    with pytest.raises(RecordError, match="timezone-aware"):
        Record(EventType.CONSENT, datetime(2025, 1, 1))


def test_from_bytes_is_strict() -> None:
    good = Record.from_json(valid()).to_bytes()
    spaced = json.dumps(json.loads(good), sort_keys=True).encode()
    with pytest.raises(RecordError, match="not the canonical serialization"):
        Record.from_bytes(spaced)
    with pytest.raises(RecordError, match="not UTF-8 JSON"):
        Record.from_bytes(b"\xff{")
    with pytest.raises(RecordError, match="not a version 1 record"):
        Record.from_bytes(b'{"type":"consent"}')
    with pytest.raises(RecordError, match="more than the"):
        Record.from_bytes(b" " * (MAX_ENTRY_BYTES + 1))
    with pytest.raises(PersonalDataError, match="field 'subject' refused: it is a 12-digit number"):
        Record.from_bytes(good.replace(SUBJECT.encode(), b"123456789012"))


@given(st.text(max_size=80))
def test_hash_fields_accept_nothing_but_hex_sha256(value: str) -> None:
    try:
        record = Record(EventType.PRESENTATION, T, subject=value)
    except RecordError:
        return
    assert len(value) == 64
    assert all(c in "0123456789abcdef" for c in value)
    assert Record.from_bytes(record.to_bytes()) == record


hashes = st.none() | st.binary(max_size=8).map(digest)


@given(
    st.sampled_from(EventType),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2199, 12, 31), timezones=st.just(UTC)),
    hashes,
    hashes,
    hashes,
    hashes,
    hashes,
    hashes,
    st.none() | st.sampled_from(Outcome),
    st.none() | st.sampled_from(["https://rp.example.jp", "did:web:rp.example.jp", "https://a.example/x/y"]),
)
def test_fast_serialisation_is_the_canonical_json(
    event: EventType,
    when: datetime,
    subject: str | None,
    obj: str | None,
    credential: str | None,
    evidence: str | None,
    transaction: str | None,
    previous: str | None,
    outcome: Outcome | None,
    rp: str | None,
) -> None:
    record = Record(event, when, subject, rp, obj, credential, evidence, transaction, previous, outcome)
    assert record.to_bytes() == canonical_json(record.to_json())
    assert Record.from_bytes(record.to_bytes()) == record


@given(st.text(max_size=80))
def test_rp_accepts_no_spaces_or_non_ascii(value: str) -> None:
    try:
        Record(EventType.PRESENTATION, T, rp=value)
    except RecordError:
        return
    assert value.isascii()
    assert not any(c.isspace() for c in value)
    assert "@" not in value
    assert value.startswith(("https://", "did:"))


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=20), max_size=4))
def test_only_known_fields_survive(extra: dict[str, str]) -> None:
    try:
        record = Record.from_json({**valid(), **extra})
    except RecordError:
        return
    assert set(record.to_json()) <= {"v", "type", "time", "subject", "rp", "object", "credential", "evidence"} | {
        "transaction",
        "previous",
        "outcome",
    }
