"""Hostile inputs to the JOSE, SD-JWT and verifier layers (regressions from the fuzzing review).

Each test feeds a tampered or adversarial input, validly signed where a signature would otherwise stop it first, and
asserts the specific error: never acceptance, never a builtin exception escaping.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from did import KeyType, PublicKey, Resolver, did_key
from foundation.b64 import b64url_encode
from vc.data_integrity import add_proof
from vc.jose import (
    MAX_JSON_DEPTH,
    CompactJws,
    JoseError,
    JwtClaimsError,
    compact_json,
    is_numeric_date,
    issue_vc_jwt,
    sign_compact,
    strict_json,
    verify_vc_jwt,
)
from vc.sd_jwt import (
    MAX_DEPTH,
    NEVER_DISCLOSABLE,
    SD,
    DisclosureError,
    NonDisclosableClaimError,
    SdJwtError,
    issue,
    present,
    sd_hash,
    verify,
)
from vc.status_list import TokenStatusList, issue_status_list_token
from vc.verify import (
    CredentialInputError,
    CredentialStatusError,
    CredentialVerifier,
    detect_format,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
STAMP = int(NOW.timestamp())
ISSUER = did_key.generate(KeyType.ED25519)
ISSUER_DID = did_key.create(ISSUER.public_key)
HOLDER = did_key.generate(KeyType.ED25519)
STATUS_URL = "https://issuer.example.jp/status/t1"


def issuer_key(header: dict[str, Any], payload: dict[str, Any]) -> PublicKey:
    return ISSUER.public_key


def verifier(published: dict[str, str] | None = None) -> CredentialVerifier:
    return CredentialVerifier(Resolver(), lambda url: (published or {})[url])


def credential(**extra: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "type": ["VerifiableCredential"],
        "issuer": ISSUER_DID,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:holder", "alumniOf": "Example University"},
        **extra,
    }


def disclosure(*items: Any) -> str:
    return b64url_encode(json.dumps(list(items)).encode("utf-8"))


def digest(encoded: str) -> str:
    from vc.sd_jwt import _digest

    return _digest(encoded)


def signed_sd_jwt(payload: dict[str, Any], disclosures: list[str], typ: str = "dc+sd-jwt") -> str:
    """An SD-JWT the issuer really signed, with whatever payload and disclosures a hostile issuer chose."""
    jwt = sign_compact({"typ": typ}, compact_json(payload), ISSUER)
    return "~".join([jwt, *disclosures]) + "~"


def revoked_status_list_token() -> str:
    tokens = TokenStatusList()
    tokens.set(3, 1)
    return issue_status_list_token(tokens, STATUS_URL, ISSUER, now=NOW)


# 1. SD-JWT VC: iss, nbf, exp, cnf, vct, vct#integrity and status must never be selectively disclosable ---------------

PROTECTED_VALUES: dict[str, Any] = {
    "iss": ISSUER_DID,
    "nbf": STAMP - 60,
    "exp": STAMP + 3600,
    "cnf": {"jwk": HOLDER.public_jwk},
    "vct": "https://xid.example/credentials/x",
    "vct#integrity": "sha256-ZXhhbXBsZQ",
    "status": {"status_list": {"idx": 3, "uri": STATUS_URL}},
}


def test_the_protected_names_are_the_sd_jwt_vc_drafts() -> None:
    assert set(PROTECTED_VALUES) == NEVER_DISCLOSABLE


@pytest.mark.parametrize("name", sorted(NEVER_DISCLOSABLE))
def test_issue_refuses_to_make_a_protected_claim_disclosable(name: str) -> None:
    claims = {"iss": ISSUER_DID, "vct": "x", "name": SD("a"), name: SD(PROTECTED_VALUES[name])}
    with pytest.raises(NonDisclosableClaimError, match=f"may not make .*{name}") as raised:
        issue(claims, ISSUER, holder_jwk=HOLDER.public_jwk)
    assert raised.value.code == "nonDisclosableClaim"
    with pytest.raises(NonDisclosableClaimError):
        issue(claims, ISSUER, typ="vc+sd-jwt")


def test_issue_names_every_protected_claim_it_refuses() -> None:
    claims = {"iss": ISSUER_DID, "vct": "x", "status": SD({}), "exp": SD(STAMP)}
    with pytest.raises(NonDisclosableClaimError, match="may not make exp, status selectively"):
        issue(claims, ISSUER)


def test_revoked_expired_sd_jwt_vc_cannot_be_issued_with_withholdable_status_and_exp() -> None:
    """The fuzzing repro: the holder withheld status and exp, and a revoked, expired VC verified."""
    claims = {
        "iss": ISSUER_DID,
        "vct": "x",
        "name": SD("a"),
        "status": SD({"status_list": {"idx": 3, "uri": STATUS_URL}}),
        "exp": SD(STAMP - 86400),
    }
    with pytest.raises(NonDisclosableClaimError):
        issue(claims, ISSUER, holder_jwk=HOLDER.public_jwk)


def test_protected_names_stay_disclosable_below_the_top_level_and_in_plain_sd_jwt() -> None:
    nested = {"iss": ISSUER_DID, "vct": "x", "evidence": {"status": SD("checked"), "exp": SD(1)}}
    token = issue(nested, ISSUER)
    assert verify(token, issuer_key, audience=None, nonce=None, now=NOW, require_key_binding=False).claims[
        "evidence"
    ] == {"status": "checked", "exp": 1}
    plain = issue({"iss": ISSUER_DID, "status": SD("x")}, ISSUER, typ="example+sd-jwt")
    result = verify(
        plain, issuer_key, audience=None, nonce=None, require_key_binding=False, allowed_types=("example+sd-jwt",)
    )
    assert result.claims["status"] == "x"


@pytest.mark.parametrize("name", sorted(NEVER_DISCLOSABLE))
@pytest.mark.parametrize("typ", ["dc+sd-jwt", "vc+sd-jwt"])
def test_verify_refuses_an_sd_jwt_vc_that_discloses_a_protected_claim(name: str, typ: str) -> None:
    base = {"iss": ISSUER_DID, "vct": "https://xid.example/credentials/x"}
    payload: dict[str, Any] = {k: v for k, v in base.items() if k != name}
    hidden = disclosure("c2FsdHNhbHRzYWx0", name, PROTECTED_VALUES[name])
    payload["_sd"] = [digest(hidden)]
    token = signed_sd_jwt(payload, [hidden], typ)
    with pytest.raises(NonDisclosableClaimError, match=f"may not disclose '{name}'") as raised:
        verify(token, issuer_key, audience=None, nonce=None, now=NOW, require_key_binding=False, allowed_types=(typ,))
    assert raised.value.code == "nonDisclosableClaim"


def test_verifier_refuses_a_revoked_sd_jwt_vc_whose_status_was_made_disclosable() -> None:
    """A disclosed status used to be checked and a withheld one skipped; now the disclosure itself is refused."""
    hidden = disclosure("c2FsdHNhbHRzYWx0", "status", {"status_list": {"idx": 3, "uri": STATUS_URL}})
    token = signed_sd_jwt({"iss": ISSUER_DID, "vct": "x", "_sd": [digest(hidden)]}, [hidden])
    with pytest.raises(NonDisclosableClaimError):
        verifier({STATUS_URL: revoked_status_list_token()}).verify(token, require_key_binding=False, now=NOW)


# 2. NaN and Infinity are not JSON numbers, and times must be finite ------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_strict_json_refuses_non_finite_constants(constant: str) -> None:
    with pytest.raises(JoseError, match=f"{constant} is not a JSON number") as raised:
        strict_json(f'{{"exp":{constant}}}'.encode(), "the payload")
    assert type(raised.value) is JoseError


@pytest.mark.parametrize("number", ["1e999", "-1e999", "[1.5e400]"])
def test_strict_json_refuses_numbers_that_overflow_to_infinity(number: str) -> None:
    with pytest.raises(JoseError, match="out of range"):
        strict_json(f'{{"exp":{number}}}'.encode(), "the payload")


def test_strict_json_still_reads_finite_floats_and_text() -> None:
    assert strict_json(b'{"a":1.5e300,"b":-0.0,"c":1}', "x") == {"a": 1.5e300, "b": -0.0, "c": 1}
    assert strict_json('{"a":"é"}', "x") == {"a": "é"}


def test_key_binding_jwt_with_nan_iat_is_refused() -> None:
    body = issue({"iss": ISSUER_DID, "vct": "x", "a": SD(1)}, ISSUER, holder_jwk=HOLDER.public_jwk)
    kb = f'{{"iat":NaN,"aud":"a","nonce":"n","sd_hash":"{sd_hash(body)}"}}'.encode()
    presentation = body + sign_compact({"typ": "kb+jwt"}, kb, HOLDER)
    with pytest.raises(JoseError, match="NaN is not a JSON number"):
        verifier().verify(presentation, audience="a", nonce="n", now=NOW.replace(year=2036))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_jwt_vc_json_with_non_finite_time_is_refused(claim: str) -> None:
    payload = compact_json({"iss": ISSUER_DID, "vc": credential()})[:-1] + f',"{claim}":NaN}}'.encode()
    with pytest.raises(JoseError, match="NaN"):
        verifier().verify(sign_compact({"typ": "JWT"}, payload, ISSUER), now=NOW)


def test_status_list_token_with_nan_exp_is_refused() -> None:
    claims = {"sub": STATUS_URL, "iat": STAMP, "status_list": TokenStatusList().to_json()}
    published = sign_compact({"typ": "statuslist+jwt"}, compact_json(claims)[:-1] + b',"exp":NaN}', ISSUER)
    token = issue({"iss": ISSUER_DID, "vct": "x", "status": {"status_list": {"idx": 3, "uri": STATUS_URL}}}, ISSUER)
    with pytest.raises(CredentialStatusError, match="NaN"):
        verifier({STATUS_URL: published}).verify(token, require_key_binding=False, now=NOW)


@pytest.mark.parametrize("exp", ["0", None, [], {"t": 0}, True])
def test_status_list_token_whose_exp_is_not_a_number_is_refused(exp: Any) -> None:
    """A string exp used to be ignored, so an old status list never expired."""
    claims = {"sub": STATUS_URL, "iat": STAMP, "exp": exp, "status_list": TokenStatusList().to_json()}
    if exp is None:
        claims["exp"] = "soon"
    published = sign_compact({"typ": "statuslist+jwt"}, compact_json(claims), ISSUER)
    token = issue({"iss": ISSUER_DID, "vct": "x", "status": {"status_list": {"idx": 3, "uri": STATUS_URL}}}, ISSUER)
    with pytest.raises(CredentialStatusError, match="exp that is not a finite number"):
        verifier({STATUS_URL: published}).verify(token, require_key_binding=False, now=NOW)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "1", None])
def test_is_numeric_date_refuses_non_finite_and_non_numbers(value: Any) -> None:
    assert not is_numeric_date(value)


def test_is_numeric_date_accepts_ints_and_finite_floats() -> None:
    assert is_numeric_date(0)
    assert is_numeric_date(10**30)
    assert is_numeric_date(1.5)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_time_checks_refuse_non_finite_values_that_bypass_the_parser(claim: str, value: float) -> None:
    """Defence in depth: a NaN exp compares false with everything, so it would never expire."""
    from vc.jose import check_times

    with pytest.raises(JwtClaimsError, match=f"{claim} must be a finite number"):
        check_times({claim: value}, NOW, timedelta(seconds=60))
    with pytest.raises(SdJwtError, match=f"{claim} must be a finite number"):
        check_times({claim: value}, NOW, timedelta(seconds=60), error=SdJwtError, what="the SD-JWT")


# 3. vc+jwt honours the JWT exp and nbf claims ---------------------------------------------------------------------


def vc_jwt(**claims: Any) -> str:
    return sign_compact({"typ": "vc+jwt", "cty": "vc"}, compact_json(credential(**claims)), ISSUER)


def test_vc_jwt_with_an_expired_exp_is_refused() -> None:
    with pytest.raises(JwtClaimsError, match=r"expired \(exp\)"):
        verifier().verify(vc_jwt(exp=STAMP - 86400), now=NOW)


def test_vc_jwt_with_a_future_nbf_is_refused() -> None:
    with pytest.raises(JwtClaimsError, match=r"not valid yet \(nbf\)"):
        verify_vc_jwt(vc_jwt(nbf=STAMP + 86400), lambda kid: ISSUER.public_key, now=NOW)


def test_vc_jwt_with_a_non_numeric_exp_is_refused() -> None:
    with pytest.raises(JwtClaimsError, match="exp must be a finite number"):
        verifier().verify(vc_jwt(exp="2000-01-01"), now=NOW)


def test_vc_jwt_within_its_exp_and_nbf_verifies() -> None:
    assert verifier().verify(vc_jwt(nbf=STAMP - 60, exp=STAMP + 3600), now=NOW).format == "vc+jwt"
    assert verifier().verify(issue_vc_jwt(credential(), ISSUER), now=NOW).format == "vc+jwt"


# 4. Data Integrity JSON text: duplicate members are refused ---------------------------------------------------------


def test_data_integrity_json_text_with_a_duplicate_member_is_refused() -> None:
    text = json.dumps(add_proof(credential(), ISSUER, cryptosuite="eddsa-rdfc-2022", created=NOW))
    forged = '"credentialSubject": {"id": "did:example:mallory", "alumniOf": "Forged"}, "credentialSubject":'
    duplicated = text.replace('"credentialSubject":', forged, 1)
    with pytest.raises(CredentialInputError, match="duplicate JSON member 'credentialSubject'") as raised:
        verifier().verify(duplicated, now=NOW)
    assert raised.value.code == "invalidInput"


def test_data_integrity_json_text_with_nan_is_refused() -> None:
    with pytest.raises(CredentialInputError, match="NaN is not a JSON number"):
        verifier().verify('{"a": NaN}', now=NOW)


# 5. Deep nesting and huge integers are errors, not RecursionError / ValueError ---------------------------------------

DEEP = "[" * 5000 + "]" * 5000
HUGE = "1" * 5000


@pytest.mark.parametrize(("value", "message"), [(DEEP, "nested too deeply"), (HUGE, "number too long")])
def test_jws_header_nested_deeply_or_with_a_huge_integer_is_a_jose_error(value: str, message: str) -> None:
    header = b64url_encode(f'{{"alg":"EdDSA","x":{value}}}'.encode())
    with pytest.raises(JoseError, match=message):
        CompactJws.parse(header + ".e30.AA")


@pytest.mark.parametrize(("value", "message"), [(DEEP, "nested too deeply"), (HUGE, "number too long")])
def test_credential_json_nested_deeply_or_with_a_huge_integer_is_an_input_error(value: str, message: str) -> None:
    with pytest.raises(CredentialInputError, match=message):
        verifier().verify(f'{{"a":{value}}}', now=NOW)


def test_strict_json_depth_limit_is_exact_and_ignores_brackets_in_strings() -> None:
    limit = MAX_JSON_DEPTH - 1  # objects around one (innermost) array
    assert strict_json('{"a":' * limit + "[]" + "}" * limit, "x")["a"]["a"]
    with pytest.raises(JoseError, match=f"more than {MAX_JSON_DEPTH} levels"):
        strict_json('{"a":' * limit + "[[]]" + "}" * limit, "x")
    brackets = "[{" * 1000 + '\\"' + "]}" * 1000
    assert strict_json(json.dumps({"text": brackets, "list": [[1]]}), "x")["text"] == brackets


def test_deep_json_is_refused_even_when_a_library_raised_the_recursion_limit() -> None:
    """py_ecc (imported with web3 by the ledger's EVM anchor) sets the limit to 100,000: the C decoder then ran out of
    C stack and the whole process died (SIGSEGV) on a 90,000-deep JWS header, instead of raising RecursionError."""
    script = (
        "import sys; sys.setrecursionlimit(200_000)\n"
        "from foundation.b64 import b64url_encode\n"
        "from vc.jose import CompactJws, JoseError\n"
        "header = b64url_encode(b'{\"alg\":\"EdDSA\",\"x\":' + b'[' * 90_000 + b']' * 90_000 + b'}')\n"
        "try:\n"
        "    CompactJws.parse(header + '.e30.AA')\n"
        "except JoseError as exc:\n"
        "    print(exc.code, exc.message)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("invalidJws the JWS header is JSON nested too deeply")


def test_strict_json_maps_invalid_utf8_to_a_jose_error() -> None:
    with pytest.raises(JoseError, match="not valid JSON"):
        strict_json(b'{"a":"\xff"}', "the payload")


# 6. Non-ASCII disclosures and lone surrogates are errors, not UnicodeEncodeError --------------------------------------


def test_non_ascii_disclosure_is_a_disclosure_error_in_verify_and_present() -> None:
    jwt = issue({"iss": ISSUER_DID, "vct": "x"}, ISSUER).split("~")[0]
    with pytest.raises(DisclosureError, match="non-ASCII"):
        verifier().verify(jwt + "~é~", require_key_binding=False, now=NOW)
    with pytest.raises(DisclosureError, match="non-ASCII"):
        present(jwt + "~é~", [], None)


def test_json_serialization_with_a_non_ascii_disclosure_is_a_disclosure_error() -> None:
    protected, payload, signature = issue({"iss": ISSUER_DID, "vct": "x"}, ISSUER).split("~")[0].split(".")
    document = {"protected": protected, "payload": payload, "signature": signature, "disclosures": ["\u00e9"]}
    with pytest.raises(DisclosureError, match="non-ASCII"):
        verify(json.dumps(document), issuer_key, audience=None, nonce=None, require_key_binding=False)


def test_json_serialization_with_a_lone_surrogate_is_an_sd_jwt_error() -> None:
    protected, payload, signature = issue({"iss": ISSUER_DID, "vct": "x"}, ISSUER).split("~")[0].split(".")
    with pytest.raises(SdJwtError, match="needs protected, payload and signature"):
        verify('{"payload":"\ud800"}', issuer_key, audience=None, nonce=None)
    text = json.dumps({"protected": protected, "payload": payload + "\ud800", "signature": signature})
    with pytest.raises(SdJwtError, match="malformed"):
        verify(text, issuer_key, audience=None, nonce=None, require_key_binding=False)


# 7. The SD-JWT resolver has an explicit depth limit ---------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def deep_disclosure_sd_jwt(depth: int) -> str:
    """A disclosure ``["salt", "deep", [[...[1]...]]]`` with ``depth`` arrays (written by hand: json.dumps recurses)."""
    text = '["c2FsdHNhbHRzYWx0", "deep", ' + "[" * depth + "1" + "]" * depth + "]"
    hidden = b64url_encode(text.encode())
    return signed_sd_jwt({"iss": ISSUER_DID, "vct": "x", "_sd": [digest(hidden)]}, [hidden])


def test_a_deeply_nested_disclosure_is_refused_by_present_and_verify() -> None:
    token = deep_disclosure_sd_jwt(990)
    with pytest.raises(SdJwtError, match=f"more than {MAX_DEPTH} levels deep"):
        present(token, [], None)
    with pytest.raises(SdJwtError, match=f"more than {MAX_DEPTH} levels deep"):
        verifier().verify(token, require_key_binding=False, now=NOW)


def test_the_depth_limit_is_exactly_max_depth_levels_below_the_payload() -> None:
    ok = verify(deep_disclosure_sd_jwt(MAX_DEPTH), issuer_key, audience=None, nonce=None, require_key_binding=False)
    assert ok.claims["deep"] == nested(MAX_DEPTH)  # the outermost array is level 1, the innermost level MAX_DEPTH
    with pytest.raises(SdJwtError, match="levels deep"):
        verify(deep_disclosure_sd_jwt(MAX_DEPTH + 1), issuer_key, audience=None, nonce=None, require_key_binding=False)


def test_a_long_chain_of_disclosures_is_refused() -> None:
    chain = [disclosure("c2FsdHNhbHRzYWx0", "n", 1)]
    for i in range(999):
        chain.append(disclosure(f"c2FsdA{i:05d}", "n", {"_sd": [digest(chain[-1])]}))
    token = signed_sd_jwt({"iss": ISSUER_DID, "vct": "x", "_sd": [digest(chain[-1])]}, chain[::-1])
    with pytest.raises(SdJwtError, match="levels deep"):
        present(token, [], None)
    with pytest.raises(SdJwtError, match="levels deep"):
        verify(token, issuer_key, audience=None, nonce=None, require_key_binding=False)


# 8. The verifier names the input types it reads --------------------------------------------------------------------


@pytest.mark.parametrize("secured", [[{}], 42, None, b"a.b.c"])
def test_verifying_a_non_object_non_string_is_an_input_error(secured: Any) -> None:
    with pytest.raises(CredentialInputError, match=f"JSON object .* or a string, not a {type(secured).__name__}"):
        verifier().verify(secured, now=NOW)
    with pytest.raises(CredentialInputError):
        detect_format(secured)
