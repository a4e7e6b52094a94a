"""``xid verify-signature``: check a signed document: signature, signer certificate (chain, OCSP) and ledger receipt.

Exit status 0 only when everything holds; any failure (a changed byte, a revoked or untrusted certificate, a receipt
for something else) is one ``error [code]: message`` line and exit status 1 (codes: ``wallet.verify_signature``).
"""

from __future__ import annotations

from pathlib import Path

import click

from xid.cli_group import echo_json, json_option

__all__ = ["verify_signature_command"]

_MAX_PEM = 64 * 1024


def _read_small(path: Path, what: str) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(_MAX_PEM + 1)
    if len(data) > _MAX_PEM:
        raise click.BadParameter(f"{path} is too large for {what}")
    return data


@click.command("verify-signature")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The detached JWS (default FILE.jws; a PDF carries its own signature).",
)
@click.option(
    "--receipt",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The ledger receipt (default SIGNATURE.receipt, or FILE.receipt for a PDF).",
)
@click.option(
    "--trust-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The xid CA root certificate (PEM) to trust (default: fetched from --issuer).",
)
@click.option(
    "--tsa-root",
    "tsa_roots",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A timestamp authority's root (PEM) to trust for PAdES-B-T timestamps; repeatable.",
)
@click.option("--vkey", help="The ledger's note verifier key (default: fetched from --issuer).")
@click.option("--issuer", help="The issuer's base URL, for the root and the ledger key not given.")
@json_option
def verify_signature_command(
    document: Path,
    signature: Path | None,
    receipt: Path | None,
    trust_root: Path | None,
    tsa_roots: tuple[Path, ...],
    vkey: str | None,
    issuer: str | None,
    as_json: bool,
) -> None:
    """Verify a signed document: signature, signer, certificate status (OCSP) and ledger receipt."""
    from cryptography import x509

    from wallet.signing import MAX_DOCUMENT, is_pdf
    from wallet.verify_signature import (
        MAX_SIGNATURE,
        ReceiptInvalidError,
        TrustInputs,
        fetch_trust,
        verify_detached,
        verify_pdf,
        verify_receipt_for,
    )

    root = None
    if trust_root is not None:
        try:
            root = x509.load_pem_x509_certificate(_read_small(trust_root, "a root certificate"))
        except ValueError:
            raise click.BadParameter(f"{trust_root} is not a PEM certificate", param_hint="--trust-root") from None
    tsa = []
    for path in tsa_roots:
        try:
            tsa.append(x509.load_pem_x509_certificate(_read_small(path, "a root certificate")))
        except ValueError:
            raise click.BadParameter(f"{path} is not a PEM certificate", param_hint="--tsa-root") from None
    if issuer is None and (root is None or vkey is None):
        raise click.UsageError("give --issuer, or both --trust-root and --vkey")
    with document.open("rb") as handle:
        data = handle.read(MAX_DOCUMENT + 1)
    if len(data) > MAX_DOCUMENT:
        raise click.BadParameter(f"{document} is larger than {MAX_DOCUMENT} bytes", param_hint="FILE")
    pdf = is_pdf(data) and signature is None
    if not pdf:
        signature = signature or document.with_name(document.name + ".jws")
        if not signature.exists():
            raise click.UsageError(f"no signature: {signature} does not exist (give --signature)")
    carrier = document if pdf else signature
    assert carrier is not None
    receipt = receipt or carrier.with_name(carrier.name + ".receipt")
    if issuer is not None:
        trust = fetch_trust(issuer, root=root, log_vkey=vkey, tsa_roots=tuple(tsa))
    else:
        assert root is not None
        trust = TrustInputs(root, vkey, tuple(tsa))
    if pdf:
        report = verify_pdf(data, trust)
    else:
        assert signature is not None
        with signature.open("rb") as handle:
            token = handle.read(MAX_SIGNATURE + 1)
        report = verify_detached(data, token.decode("ascii", "replace"), trust)
    if not receipt.exists():
        raise ReceiptInvalidError(f"no ledger receipt: {receipt} does not exist (give --receipt)")
    with receipt.open("rb") as handle:
        text = handle.read(MAX_SIGNATURE + 1).decode("utf-8", "replace")
    assert trust.log_vkey is not None
    report.receipt = verify_receipt_for(text, report.sha256, trust.log_vkey)
    if as_json:
        echo_json(report.to_json())
        return
    click.echo(f"valid {'PAdES' if report.kind == 'pades' else 'detached JWS'} signature")
    click.echo(f"signer: {report.signer}" + (f" ({report.signer_did})" if report.signer_did else ""))
    if report.signing_time is not None:
        click.echo(f"signing time (claimed by the signer): {report.signing_time.isoformat(timespec='seconds')}")
    if report.timestamp is not None:
        click.echo(f"timestamp (RFC 3161): {report.timestamp.isoformat(timespec='seconds')}")
    click.echo(f"certificate status (OCSP): {report.certificate_status}")
    click.echo(
        f"ledger: entry {report.receipt.index} recorded {report.receipt.time}, in checkpoint {report.receipt.size}"
        f" of {report.receipt.origin}"
    )
