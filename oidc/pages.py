"""Server-rendered pages of the facade: one layout, Japanese or English, strict security headers, CSRF tokens.

Every page goes through ``page`` (``unavailable_page``: the 503 page a person sees while the database is down): the
text is escaped by the caller's templates (``html.escape``), scripts run only
with the per-response CSP nonce, nothing may frame the page, and nothing is cached. Forms carry ``csrf_token``,
bound to the browser's session cookie with an HMAC, and handlers check it with ``check_csrf``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from collections.abc import Mapping, Sequence
from typing import Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse

from foundation.b64 import b64url_encode
from oidc.errors import OidcError

__all__ = [
    "CLAIM_LABELS",
    "CsrfError",
    "Locale",
    "check_csrf",
    "claim_label",
    "csrf_token",
    "locale",
    "page",
    "security_headers",
    "text",
    "unavailable_page",
]

Locale = Literal["ja", "en"]


class CsrfError(OidcError):
    """A form post without the CSRF token of this browser's session (403)."""

    code = "oidcCsrf"
    error = "invalid_request"
    status = 403


def locale(request: Request, ui_locales: Sequence[str] = ()) -> Locale:
    """The page language: the request's ``ui_locales`` first, then ``Accept-Language`` (quality order), else English."""
    wanted: list[tuple[float, str]] = []
    for index, part in enumerate(request.headers.get("accept-language", "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        wanted.append((-quality + index * 1e-6, tag.strip().lower()))
    for tag in [t.lower() for t in ui_locales] + [t for _, t in sorted(wanted)]:
        primary = tag.split("-")[0]
        if primary in ("ja", "en"):
            return "ja" if primary == "ja" else "en"
    return "en"


CLAIM_LABELS: Mapping[str, Mapping[Locale, str]] = {
    "name": {"ja": "氏名", "en": "Full name"},
    "address": {"ja": "住所", "en": "Address"},
    "birthdate": {"ja": "生年月日", "en": "Date of birth"},
    "gender": {"ja": "性別", "en": "Sex"},
    "verified_claims": {
        "ja": "本人確認の記録 (マイナンバーカードによる確認の方法と日時)",
        "en": "Identity verification record (how and when your My Number Card was checked)",
    },
}
"""What the person is shown for each OpenID Connect claim a website may receive (login, consent and account pages)."""


def claim_label(name: str, lang: Locale) -> str:
    """The plain-language label of a claim in ``lang``, HTML-escaped (the claim's own name when it has none)."""
    labels = CLAIM_LABELS.get(name)
    return html.escape(labels[lang] if labels else name)


def text(messages: Mapping[str, Mapping[Locale, str]], key: str, lang: Locale) -> str:
    """One message of a catalog (``{key: {"ja": ..., "en": ...}}``) in ``lang``, HTML-escaped."""
    return html.escape(messages[key][lang])


def security_headers(nonce: str, form_action: Sequence[str] = ()) -> dict[str, str]:
    """Headers for every page: a strict CSP (scripts only with ``nonce``), no framing, no sniffing, no caching.

    ``form_action``: origins besides the page's own a form may end up at (browsers apply ``form-action`` to the
    redirects after a form post, so a form whose answer redirects to a relying party names that RP's origin)."""
    targets = " ".join(["'self'", *form_action])
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
            f"connect-src 'self'; form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def page(
    title: str, body: str, *, lang: Locale, nonce: str, status: int = 200, form_action: Sequence[str] = ()
) -> HTMLResponse:
    """A complete page: ``title`` (plain text) and ``body`` (already-escaped HTML) in the one layout."""
    document = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html.escape(title)}</title><style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main>{body}</main></body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=security_headers(nonce, form_action))


UNAVAILABLE_RETRY_S = 30
"""The ``Retry-After`` of the unavailable page (seconds)."""

_UNAVAILABLE: Mapping[str, Mapping[Locale, str]] = {
    "title": {"ja": "ただいま利用できません", "en": "The service is temporarily unavailable"},
    "lead": {
        "ja": (
            "xIDのサービスが一時的に利用できません (The service is temporarily unavailable)。"
            "しばらくしてからこのページを再読み込みしてください。ログインはそのまま続けられます。"
        ),
        "en": (
            "The service is temporarily unavailable. Please reload this page in a little while: "
            "your login can continue where it stopped."
        ),
    },
}


def unavailable_page(lang: Locale, nonce: str) -> HTMLResponse:
    """The 503 page a person sees while the service's database is unavailable (with ``Retry-After``)."""
    body = f"<h1>{text(_UNAVAILABLE, 'title', lang)}</h1><p class=error>{text(_UNAVAILABLE, 'lead', lang)}</p>"
    response = page(_UNAVAILABLE["title"][lang], body, lang=lang, nonce=nonce, status=503)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_S)
    return response


def csrf_token(key: bytes, session: str, purpose: str) -> str:
    """The CSRF token of a form: HMAC-SHA256 of the browser session and the form's purpose."""
    mac = hmac.new(key, f"{purpose}\x00{session}".encode(), hashlib.sha256).digest()
    return b64url_encode(mac)


def check_csrf(key: bytes, session: str | None, purpose: str, presented: str | None) -> None:
    """Raise CsrfError unless ``presented`` is the CSRF token of ``session`` for ``purpose``."""
    if not session or not presented or not hmac.compare_digest(csrf_token(key, session, purpose), presented):
        raise CsrfError("this form does not belong to this browser session; reload the page and try again")


_STYLE = (
    "body{font-family:system-ui,"
    "'Noto Sans CJK JP','Hiragino Sans',sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}"
    "main{max-width:32rem;margin:0 auto;padding:1.5rem}h1{font-size:1.4rem}"
    ".code{font-size:2.2rem;letter-spacing:.4rem;font-weight:700}"
    "button,.button{display:inline-block;padding:.8rem 1.2rem;border-radius:.5rem;border:0;background:#0b5cad;"
    "color:#fff;font-size:1rem;text-decoration:none}img.qr{width:100%;max-width:18rem;image-rendering:pixelated}"
    ".error{color:#a4000f}"
)
