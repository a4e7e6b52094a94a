"""The ``xid`` command line: the root group, which loads each command group only when it is used."""

from __future__ import annotations

import click

from xid import __version__
from xid.cli_group import CONTRACT, XidGroup

__all__ = ["COMMAND_GROUPS", "main"]

COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "card": (
        "xid.cli_card:card",
        "The My Number card: emulate a TEST card, show status, read certificates and the basic 4 info, sign.",
    ),
    "config": (
        "xid.cli_config:config",
        "The server's settings: check them before starting, show them with secrets redacted.",
    ),
    "db": (
        "xid.cli_db:db",
        "The schema of xid's databases: upgrade, current revision, models-vs-migrations check, history.",
    ),
    "demo": ("xid.cli_demo:demo_command", "Tell the whole story on the embedded default, running each step for real."),
    "did": (
        "xid.cli_did:did",
        "Decentralized identifiers: create keys and DIDs, resolve DIDs, publish did:web documents.",
    ),
    "issuer": (
        "xid.cli_issuer:issuer",
        "Operate the issuer: credentials and their status, persons, evidence, the VC API's instances.",
    ),
    "ledger": (
        "xid.cli_ledger:ledger",
        "The xid Ledger: an append-only, publicly verifiable log of hash-only records.",
    ),
    "mynumber": (
        "xid.cli_mynumber:mynumber",
        "Receive My Numbers as a business: make the receiver's key, run the receiver.",
    ),
    "oidc": ("xid.cli_oidc:oidc", "The OpenID Connect facade: its ID token signing keys."),
    "rp": (
        "xid.cli_rp:rp",
        "Relying parties (clients of the verifier and the OpenID Connect provider): add, list, remove.",
    ),
    "serve": (
        "xid.cli_serve:serve_command",
        "Serve everything on one origin: issuer, verifier, OpenID Connect provider, xid CA, VC API, ledger.",
    ),
    "status-list": (
        "xid.cli_status:status_list",
        "Bitstring Status Lists: revoke or suspend credentials by flipping a bit in a published list.",
    ),
    "vc": (
        "xid.cli_vc:vc",
        "Verifiable Credentials: issue (VC-JOSE, SD-JWT VC, Data Integrity), verify, and present a subset of claims.",
    ),
    "verify-signature": (
        "xid.cli_verify_signature:verify_signature_command",
        "Verify a signed document: signature, signer, certificate status (OCSP) and ledger receipt.",
    ),
    "wallet": (
        "xid.cli_wallet:wallet",
        "The holder's wallet: keys, card enrollment, credentials, presentations, document signing, My Number handover.",
    ),
}
"""Each command group: where it lives and its short help (shown by ``xid --help`` without importing it)."""


@click.group(
    cls=XidGroup, lazy=COMMAND_GROUPS, epilog=CONTRACT, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="xid")
def main() -> None:
    """xid: digital identity anchored in the My Number card.

    State lives under $XID_HOME (default ./.xid).
    """


if __name__ == "__main__":
    main()
