"""DCQL (OpenID4VP 1.0 §6): query validation with precise errors, claims path pointers, claim_sets, credential_sets."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vc.dcql import Candidate, DcqlError, DcqlQuery, match, select

VC = "https://www.w3.org/2018/credentials#VerifiableCredential"
PID_TYPE = "https://xid.example/vocab#BasicFourCredential"

PID = Candidate(
    "pid-1",
    "dc+sd-jwt",
    {
        "vct": "https://xid.example/credentials/pid",
        "given_name": "Hanako",
        "family_name": "Yamada",
        "birthdate": "1990-01-02",
        "address": {"region": "Tokyo", "locality": "Chiyoda", "postal_code": "100-0001"},
        "nationalities": ["JP", "FR"],
        "age_over_18": True,
    },
    vct="https://xid.example/credentials/pid",
)
W3C = Candidate(
    "basic4-1",
    "ldp_vc",
    {
        "type": ["VerifiableCredential", "BasicFourCredential"],
        "credentialSubject": {"name": "山田花子", "sex": 2, "degrees": [{"type": "Bachelor"}, {"type": "Master"}]},
    },
    types=frozenset({VC, PID_TYPE}),
)
UNBOUND = Candidate(
    "plain-1", "jwt_vc_json", {"credentialSubject": {"x": 1}}, types=frozenset({VC}), holder_binding=False
)


def sd_query(claims: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    query: dict[str, Any] = {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [PID.vct]}, **extra}
    if claims is not None:
        query["claims"] = claims
    return query


def test_select_claims_path_pointers() -> None:
    assert select(PID.claims, ("address", "postal_code")) == ["100-0001"]
    assert select(PID.claims, ("nationalities", 1)) == ["FR"]
    assert select(PID.claims, ("nationalities", None)) == ["JP", "FR"]
    assert select(W3C.claims, ("credentialSubject", "degrees", None, "type")) == ["Bachelor", "Master"]
    assert select(PID.claims, ("nationalities", 5)) == []
    assert select(PID.claims, ("address", 0)) == []
    assert select(PID.claims, ("missing",)) == []


def test_simple_sd_jwt_query_matches_and_names_claims() -> None:
    query = DcqlQuery.parse({"credentials": [sd_query([{"path": ["given_name"]}, {"path": ["address", "locality"]}])]})
    result = match(query, [PID, W3C])
    assert result.satisfied
    assert [m.credential_id for m in result.matches["pid"]] == ["pid-1"]
    assert [c.path for c in result.matches["pid"][0].claims] == [("given_name",), ("address", "locality")]


def test_values_filter_and_missing_claims() -> None:
    yes = DcqlQuery.parse({"credentials": [sd_query([{"path": ["age_over_18"], "values": [True]}])]})
    assert match(yes, [PID]).satisfied
    wrong = DcqlQuery.parse({"credentials": [sd_query([{"path": ["address", "region"], "values": ["Osaka"]}])]})
    assert not match(wrong, [PID]).satisfied
    one_not_true = DcqlQuery.parse({"credentials": [sd_query([{"path": ["age_over_18"], "values": [1]}])]})
    assert not match(one_not_true, [PID]).satisfied  # 1 is not True: types must agree
    missing = DcqlQuery.parse({"credentials": [sd_query([{"path": ["tax_id"]}])]})
    result = match(missing, [PID])
    assert not result.satisfied
    assert result.unsatisfied == ("pid",)


def test_claim_sets_take_the_first_satisfiable_option() -> None:
    query = DcqlQuery.parse(
        {
            "credentials": [
                sd_query(
                    [
                        {"id": "a", "path": ["tax_id"]},
                        {"id": "b", "path": ["birthdate"]},
                        {"id": "c", "path": ["age_over_18"]},
                    ],
                    claim_sets=[["a", "c"], ["b"], ["c"]],
                )
            ]
        }
    )
    chosen = match(query, [PID]).matches["pid"][0]
    assert [c.id for c in chosen.claims] == ["b"]


def test_w3c_type_values_and_holder_binding() -> None:
    query = DcqlQuery.parse(
        {
            "credentials": [
                {
                    "id": "b4",
                    "format": "ldp_vc",
                    "meta": {"type_values": [[VC, PID_TYPE]]},
                    "claims": [{"path": ["credentialSubject", "sex"], "values": [2]}],
                }
            ]
        }
    )
    assert match(query, [PID, W3C]).matches["b4"][0].credential_id == "basic4-1"
    bound = DcqlQuery.parse({"credentials": [{"id": "p", "format": "jwt_vc_json", "meta": {"type_values": [[VC]]}}]})
    assert not match(bound, [UNBOUND]).satisfied  # holder binding required by default
    unbound = DcqlQuery.parse(
        {
            "credentials": [
                {
                    "id": "p",
                    "format": "jwt_vc_json",
                    "meta": {"type_values": [[VC]]},
                    "require_cryptographic_holder_binding": False,
                }
            ]
        }
    )
    assert match(unbound, [UNBOUND]).satisfied


def test_credential_sets_required_and_optional() -> None:
    query = DcqlQuery.parse(
        {
            "credentials": [
                sd_query(),
                {"id": "mdl", "format": "mso_mdoc", "meta": {"doctype_value": "org.iso.18013.5.1.mDL"}},
                {"id": "b4", "format": "ldp_vc", "meta": {"type_values": [[PID_TYPE]]}},
            ],
            "credential_sets": [
                {"options": [["mdl"], ["pid"]]},
                {"options": [["b4"]], "required": False},
            ],
        }
    )
    with_both = match(query, [PID, W3C])
    assert with_both.satisfied
    assert with_both.selected_queries == ("pid", "b4")
    without_optional = match(query, [PID])
    assert without_optional.satisfied
    assert without_optional.selected_queries == ("pid",)
    nothing = match(query, [W3C])
    assert not nothing.satisfied
    assert nothing.unsatisfied == ("credential_sets[0]",)


def test_multiple() -> None:
    second = Candidate("pid-2", "dc+sd-jwt", PID.claims, vct=PID.vct)
    single = DcqlQuery.parse({"credentials": [sd_query()]})
    assert len(match(single, [PID, second]).matches["pid"]) == 1
    many = DcqlQuery.parse({"credentials": [sd_query(multiple=True)]})
    assert len(match(many, [PID, second]).matches["pid"]) == 2


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ([], "JSON object"),
        ({}, "'credentials' must be a non-empty array"),
        ({"credentials": []}, "non-empty"),
        ({"credentials": [sd_query(), sd_query()]}, "unique"),
        ({"credentials": [{**sd_query(), "id": "bad id"}]}, r"credentials\[0\]\.id"),
        ({"credentials": [{"id": "x", "format": "dc+sd-jwt"}]}, "meta is required"),
        ({"credentials": [{"id": "x", "format": "dc+sd-jwt", "meta": {}}]}, "vct_values"),
        ({"credentials": [{"id": "x", "format": "ldp_vc", "meta": {"type_values": ["VC"]}}]}, "type_values"),
        ({"credentials": [sd_query([])]}, "claims must be a non-empty"),
        ({"credentials": [sd_query([{"path": []}])]}, "path must be a non-empty"),
        ({"credentials": [sd_query([{"path": ["a", -1]}])]}, "non-negative"),
        ({"credentials": [sd_query([{"path": ["a", True]}])]}, "non-negative"),
        ({"credentials": [sd_query([{"path": ["a"], "values": [{"x": 1}]}])]}, "values may hold"),
        ({"credentials": [sd_query(claim_sets=[["a"]])]}, "requires claims"),
        ({"credentials": [sd_query([{"path": ["a"]}], claim_sets=[["a"]])]}, "needs an id"),
        ({"credentials": [sd_query([{"id": "a", "path": ["a"]}], claim_sets=[["z"]])]}, "unknown claim ids: z"),
        ({"credentials": [sd_query([{"id": "a", "path": ["a"]}, {"id": "a", "path": ["b"]}])]}, "unique"),
        ({"credentials": [sd_query(multiple="yes")]}, "multiple must be a boolean"),
        ({"credentials": [sd_query()], "credential_sets": [{"options": [["nope"]]}]}, "unknown credential queries"),
        ({"credentials": [sd_query()], "credential_sets": [{"options": []}]}, "options must be"),
        ({"credentials": [sd_query()], "credential_sets": [{"options": [["pid"]], "required": "no"}]}, "required"),
        ({"credentials": [sd_query()], "credential_sets": []}, "credential_sets"),
    ],
)
def test_invalid_queries_name_the_problem(query: Any, reason: str) -> None:
    with pytest.raises(DcqlError, match=reason) as info:
        DcqlQuery.parse(query)
    assert info.value.code == "invalidDcqlQuery"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["credentials", "credential_sets", "x"]), json_values, max_size=3))
def test_parser_raises_only_dcql_errors(value: dict[str, Any]) -> None:
    with contextlib.suppress(DcqlError):
        DcqlQuery.parse(value)


@given(json_values, st.lists(st.none() | st.text(max_size=3) | st.integers(0, 3), min_size=1, max_size=4))
def test_select_never_raises(claims: Any, path: list[str | int | None]) -> None:
    assert isinstance(select(claims, tuple(path)), list)
