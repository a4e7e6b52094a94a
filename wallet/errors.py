"""The wallet's errors: one root, ``WalletError``, with a stable code per condition. Error tree::

XidError
└── WalletError                    walletError         (the root; not raised itself)
    ├── WalletExistsError          walletExists        init on a directory that already holds a wallet
    ├── NoWalletError              noWallet            the wallet directory holds no wallet
    ├── WalletCorruptError         walletCorrupt       a wallet file is malformed or was tampered with
    ├── WrongPassphraseError       wrongPassphrase     the passphrase does not open the wallet
    ├── WalletWriteError           walletWriteFailed   a wallet file cannot be written
    ├── InvalidOfferError          invalidOffer        not an OpenID4VCI 1.0 credential offer
    ├── IssuerRefusedError         issuerRefused       the issuer answered with an error (status, error code)
    ├── IssuerProtocolError        issuerProtocol      the issuer's answer breaks the protocol
    │   ├── IssuerMismatchError    issuerMismatch      metadata for another issuer than the offer names
    │   └── PreFinalShapeError     preFinalShape       a pre-1.0 (draft) OpenID4VCI shape
    ├── IssuerUnreachableError     issuerUnreachable   no answer from the issuer (connect, timeout, size)
    ├── TxCodeMissingError         txCodeMissing       the offer needs a transaction code and none was given
    ├── TxCodeFormatError          txCodeFormat        the code does not have the length or kind the offer says
    ├── CardCheckError             cardCheckFailed     the card's signature does not verify with its certificate
    ├── PresentationRequestError   invalidVerifierRequest  an OpenID4VP request breaks the protocol or its rules
    │   └── UntrustedVerifierError untrustedVerifier   the request object's signature, certificate or DID fails
    ├── CannotSatisfyQueryError    cannotSatisfyQuery  the wallet holds nothing that answers the query (nothing sent)
    ├── ConsentDeclinedError       consentDeclined     the person declined to present (nothing sent)
    ├── VerifierRefusedError       verifierRefused     the verifier answered with an error (status, error code)
    ├── VerifierUnreachableError   verifierUnreachable no answer from the verifier (connect, timeout, size)
    ├── InvalidCertificateError    invalidCertificate  not a CA certificate the wallet can trust (trust add)
    ├── NoSuchCredentialError      noSuchCredential    no stored credential or certificate has this id
    └── Pkcs11KeyError             pkcs11Key           the PKCS#11 holder key cannot be found or used
"""

from __future__ import annotations

from foundation.errors import XidError

__all__ = [
    "CannotSatisfyQueryError",
    "CardCheckError",
    "ConsentDeclinedError",
    "InvalidCertificateError",
    "InvalidOfferError",
    "IssuerMismatchError",
    "IssuerProtocolError",
    "IssuerRefusedError",
    "IssuerUnreachableError",
    "NoSuchCredentialError",
    "NoWalletError",
    "Pkcs11KeyError",
    "PreFinalShapeError",
    "PresentationRequestError",
    "TxCodeFormatError",
    "TxCodeMissingError",
    "UntrustedVerifierError",
    "VerifierRefusedError",
    "VerifierUnreachableError",
    "WalletCorruptError",
    "WalletError",
    "WalletExistsError",
    "WalletWriteError",
    "WrongPassphraseError",
]


class WalletError(XidError):
    """Base of the wallet's errors."""

    code = "walletError"


class WalletExistsError(WalletError):
    """The wallet directory already holds a wallet (init never overwrites one)."""

    code = "walletExists"


class NoWalletError(WalletError):
    """The wallet directory holds no wallet ('xid wallet init' creates one)."""

    code = "noWallet"


class WalletCorruptError(WalletError):
    """A wallet file is malformed, or its authenticated encryption does not check (tampered with)."""

    code = "walletCorrupt"


class WrongPassphraseError(WalletError):
    """The passphrase does not open the wallet; nothing was decrypted or written."""

    code = "wrongPassphrase"


class WalletWriteError(WalletError):
    """A wallet file cannot be written (no permission, not a directory, disk full)."""

    code = "walletWriteFailed"


class InvalidOfferError(WalletError):
    """The text is not an OpenID4VCI 1.0 credential offer (by value or by reference)."""

    code = "invalidOffer"


class IssuerRefusedError(WalletError):
    """The issuer answered with an error response (``error`` and ``error_description``)."""

    code = "issuerRefused"

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class IssuerProtocolError(WalletError):
    """The issuer's answer breaks the protocol (wrong media type, missing or mistyped members)."""

    code = "issuerProtocol"


class IssuerMismatchError(IssuerProtocolError):
    """The issuer metadata names another credential issuer than the offer (compared exactly)."""

    code = "issuerMismatch"


class PreFinalShapeError(IssuerProtocolError):
    """The issuer used a pre-1.0 (draft) OpenID4VCI shape; the wallet speaks 1.0 only."""

    code = "preFinalShape"


class IssuerUnreachableError(WalletError):
    """The issuer could not be reached, was too slow, or sent more than the wallet reads."""

    code = "issuerUnreachable"


class TxCodeMissingError(WalletError):
    """The offer needs a transaction code and none was given."""

    code = "txCodeMissing"


class TxCodeFormatError(WalletError):
    """The transaction code does not have the length or the kind (digits) the offer says; it was not sent."""

    code = "txCodeFormat"


class CardCheckError(WalletError):
    """The card's signature does not verify with the certificate read from the card."""

    code = "cardCheckFailed"


class PresentationRequestError(WalletError):
    """An OpenID4VP request breaks OpenID4VP 1.0 or a rule of its client identifier prefix; nothing was sent."""

    code = "invalidVerifierRequest"


class UntrustedVerifierError(PresentationRequestError):
    """The request object's signature, certificate chain, certificate name or DID key does not check out."""

    code = "untrustedVerifier"


class CannotSatisfyQueryError(WalletError):
    """The wallet holds no credentials that answer the verifier's query; nothing was sent."""

    code = "cannotSatisfyQuery"


class ConsentDeclinedError(WalletError):
    """The person declined to present; nothing was sent."""

    code = "consentDeclined"


class VerifierRefusedError(WalletError):
    """The verifier answered with an error response (``error`` and ``error_description``) or broke the protocol."""

    code = "verifierRefused"

    def __init__(self, message: str, *, status: int = 0, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class VerifierUnreachableError(WalletError):
    """The verifier could not be reached, was too slow, or sent more than the wallet reads."""

    code = "verifierUnreachable"


class InvalidCertificateError(WalletError):
    """The file is not a PEM CA certificate the wallet can add as a trusted root."""

    code = "invalidCertificate"


class NoSuchCredentialError(WalletError):
    """The wallet holds no credential or certificate with this id ('xid wallet list' shows the ids)."""

    code = "noSuchCredential"


class Pkcs11KeyError(WalletError):
    """The PKCS#11 holder key cannot be found or used (module, token, label or PIN)."""

    code = "pkcs11Key"
