"""``xid vc``: issue, verify and present Verifiable Credentials (VC-JOSE, SD-JWT VC and Data Integrity)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from xid.cli_group import XidGroup, echo_json, json_option
from xid.files import load_signer, parse_json, read_json, read_text

__all__ = ["vc"]

DI_FORMATS = {
    "di-eddsa-rdfc": "eddsa-rdfc-2022",
    "di-eddsa-jcs": "eddsa-jcs-2022",
    "di-ecdsa-rdfc": "ecdsa-rdfc-2019",
    "di-ecdsa-jcs": "ecdsa-jcs-2019",
}

RESERVED = {"iss", "vct", "iat", "exp", "nbf", "cnf", "status", "sub"}


def _path(text: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isascii() and p.isdigit() else p for p in text.split("."))


def _mark(claims: dict[str, Any], paths: list[tuple[str | int, ...]]) -> dict[str, Any]:
    """Wrap the values at the given paths (or every non-reserved top-level claim) in SD(...)."""
    from vc.sd_jwt import SD

    if not paths:
        return {k: (v if k in RESERVED else SD(v)) for k, v in claims.items()}

    def walk(value: Any, prefix: tuple[str | int, ...]) -> Any:
        out: Any = value
        if isinstance(value, dict):
            out = {k: walk(v, (*prefix, k)) for k, v in value.items()}
        elif isinstance(value, list):
            out = [walk(v, (*prefix, i)) for i, v in enumerate(value)]
        return SD(out) if prefix in paths else out

    unknown = [p for p in paths if not _exists(claims, p)]
    if unknown:
        raise click.BadParameter(f"no claim at {'.'.join(map(str, unknown[0]))}", param_hint="--sd")
    result: dict[str, Any] = walk(claims, ())
    return result


def _exists(claims: Any, path: tuple[str | int, ...]) -> bool:
    node = claims
    for part in path:
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                return False
            node = node[part]
        elif isinstance(node, dict):
            if not isinstance(part, str) or part not in node:
                return False
            node = node[part]
        else:
            return False
    return True


@click.group("vc", cls=XidGroup)
def vc() -> None:
    """Verifiable Credentials: issue (VC-JOSE, SD-JWT VC, Data Integrity), verify, and present a subset of claims."""


@vc.command("issue")
@click.argument("credential", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["sd-jwt", "jwt", "jwt-vc-json", *DI_FORMATS]),
    required=True,
    help="sd-jwt: SD-JWT VC (claims JSON); jwt: application/vc+jwt; jwt-vc-json: OID4VCI jwt_vc_json; "
    "di-*: a Data Integrity proof (eddsa-rdfc-2022, eddsa-jcs-2022, ecdsa-rdfc-2019, ecdsa-jcs-2019; "
    "ecdsa needs a P-256 or P-384 key), printed as the secured JSON credential.",
)
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The issuer's private JWK (its kid must be a DID URL, as 'xid did create' writes).")  # fmt: skip
@click.option("--holder-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="sd-jwt: bind to this holder key file (its public part goes into cnf.jwk).")  # fmt: skip
@click.option("--sd", "sd_paths", multiple=True, metavar="PATH",
              help="sd-jwt: a selectively disclosable claim (dotted path, e.g. address.region or nationalities.0); "
              "default: every top-level claim except iss, vct, iat, exp, nbf, sub, cnf, status.")  # fmt: skip
@click.option("--jose-alg", help="jwt, jwt-vc-json, sd-jwt: the JWS alg to write, a name of the key's algorithm "
              "(default EdDSA for Ed25519 keys; Ed25519 is RFC 9864's fully-specified name).")  # fmt: skip
def issue_command(
    credential: Path, fmt: str, key_file: Path, holder_key: Path | None, sd_paths: tuple[str, ...],
    jose_alg: str | None,
) -> None:  # fmt: skip
    """Secure CREDENTIAL (a JSON file) and print the token or the secured JSON."""
    from did.syntax import parse_did_url

    signer = load_signer(key_file, "--key")
    issuer_did = str(parse_did_url(signer.key_id).did)
    data = read_json(credential, "CREDENTIAL")
    if not isinstance(data, dict):
        raise click.BadParameter(f"{credential} must hold a JSON object")
    if "proof" in data:
        raise click.BadParameter(f"{credential} already carries a proof; issue secures an unsecured credential")
    if fmt in DI_FORMATS:
        if jose_alg is not None:
            raise click.BadParameter("applies to JOSE formats, not Data Integrity", param_hint="--jose-alg")
        from vc.data_integrity import add_proof
        from vc.model import validate_credential

        validate_credential(data)
        echo_json(add_proof(data, signer, cryptosuite=DI_FORMATS[fmt]))
    elif fmt == "jwt":
        from vc.jose import issue_vc_jwt

        click.echo(issue_vc_jwt(data, signer, alg=jose_alg))
    elif fmt == "jwt-vc-json":
        from vc.jose import issue_jwt_vc_json

        click.echo(issue_jwt_vc_json(data, signer, alg=jose_alg))
    else:
        from vc.sd_jwt import issue

        claims = {"iss": issuer_did, "iat": int(datetime.now(UTC).timestamp()), **data}
        holder = load_signer(holder_key, "--holder-key").public_jwk if holder_key else None
        click.echo(issue(_mark(claims, [_path(p) for p in sd_paths]), signer, holder_jwk=holder, alg=jose_alg))


def _status_files(paths: tuple[Path, ...]) -> dict[str, Any]:
    """Published status lists from files, keyed by the URL they are published at (credential id or token sub)."""
    from vc.errors import VcError
    from vc.jose import CompactJws, strict_json

    published: dict[str, Any] = {}
    for path in paths:
        text = read_text(path, "--status-list").strip()
        if text.startswith("{"):
            value: Any = parse_json(text, str(path), "--status-list")
            url = value.get("id") if isinstance(value, dict) else None
        else:
            value = text
            try:  # read sub to index the token; CredentialVerifier verifies it when it is used
                payload = strict_json(CompactJws.parse(text).payload, "the status list token")
            except VcError:
                payload = None
            url = payload.get("sub") if isinstance(payload, dict) else None
        if not isinstance(url, str):
            raise click.BadParameter(f"{path} is neither a status list credential nor a status list token",
                                     param_hint="--status-list")  # fmt: skip
        published[url] = value
    return published


@vc.command("verify")
@click.argument("token_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--aud", help="sd-jwt: the audience the KB-JWT must name (needed when it is key-bound).")
@click.option("--nonce", help="sd-jwt: the nonce the KB-JWT must carry.")
@click.option("--no-key-binding", is_flag=True, help="sd-jwt: accept a presentation without a KB-JWT.")
@click.option("--status-list", "status_lists", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A published status list (a secured BitstringStatusListCredential or a statuslist+jwt token) the "
              "credential's status refers to; repeat for several. Else status fails closed.")  # fmt: skip
@click.option("--no-status", is_flag=True, help="Do not check status; the result then says status is unchecked.")
@click.option("--allow-loopback", is_flag=True, help="did:web issuers on loopback hosts (development only).")
@json_option
def verify_command(
    token_file: Path,
    aud: str | None,
    nonce: str | None,
    no_key_binding: bool,
    status_lists: tuple[Path, ...],
    no_status: bool,
    allow_loopback: bool,
    as_json: bool,
) -> None:
    """Verify a credential in FILE (any format) and report the result; exit status 0 only when valid.

    The report names the format, issuer, key, status and the verified claims; --json prints it as one object
    (valid, format, issuer, verificationMethod, algorithm, status, keyBound, claims).
    """
    from did.did_web import DidWebResolver
    from did.resolver import Resolver
    from vc.verify import CredentialStatusError, CredentialVerifier

    token = read_text(token_file, "FILE").strip()
    published = _status_files(status_lists)

    def source(url: str) -> Any:
        if url not in published:
            raise CredentialStatusError(f"no --status-list file is published at {url}")
        return published[url]

    with DidWebResolver(allow_loopback=allow_loopback) as web:
        result = CredentialVerifier(Resolver.standard(web), source).verify(
            token, audience=aud, nonce=nonce, require_key_binding=not no_key_binding, check_status=not no_status
        )
    report = result.to_json()
    if as_json:
        echo_json(report)
        return
    statuses = report["status"]
    click.echo(f"valid: a {report['format']} credential")
    click.echo(f"issuer:              {report['issuer']}")
    click.echo(f"verification method: {report['verificationMethod']} ({report['algorithm']})")
    if isinstance(statuses, str):
        click.echo(f"status:              {statuses}")
    for status in statuses if isinstance(statuses, list) else []:
        where = f"{status['list_url']} index {status['index']}"
        click.echo(f"status:              {status['purpose']} = {status['value']} ({where})")
    click.echo(f"key bound:           {'yes' if report['keyBound'] else 'no'}")
    click.echo("claims:")
    click.echo(json.dumps(report["claims"], indent=2, ensure_ascii=False))


@vc.command("present")
@click.argument("sd_jwt_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--disclose", "paths", multiple=True, metavar="PATH", help="A claim to disclose (dotted path); repeat.")
@click.option("--holder-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The holder's private JWK (the key in cnf.jwk).")  # fmt: skip
@click.option("--aud", required=True, help="The verifier (audience) this presentation is for.")
@click.option("--nonce", required=True, help="The verifier's nonce.")
def present_command(sd_jwt_file: Path, paths: tuple[str, ...], holder_key: Path, aud: str, nonce: str) -> None:
    """Present an SD-JWT VC disclosing only the chosen claims, with a Key Binding JWT."""
    from vc.sd_jwt import present

    token = read_text(sd_jwt_file, "FILE").strip()
    holder = load_signer(holder_key, "--holder-key")
    click.echo(present(token, [_path(p) for p in paths], holder, audience=aud, nonce=nonce))
