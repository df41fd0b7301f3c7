"""Webhook signatures: verifying a request's proof of origin, and producing one.

Every scheme is an HMAC-SHA256 keyed by the trigger's named secret, compared in constant
time (``hmac.compare_digest``) on the decoded digest:

| scheme | header | signed text | digest |
|---|---|---|---|
| ``hmac`` | ``header`` (default ``X-Signature-256``) | the raw body | ``encoding`` (hex by default) after ``prefix`` |
| ``shopify`` | ``X-Shopify-Hmac-Sha256`` | the raw body | base64 |
| ``github`` | ``X-Hub-Signature-256`` | the raw body | ``sha256=`` + hex |
| ``stripe`` | ``Stripe-Signature`` (``t=<unix>,v1=<hex>[,v1=...]``) | ``<t>.<raw body>`` | hex; ``t`` within ``tolerance`` s of now |

Failures raise ``SignatureError`` with a message safe to return to the caller (it names
headers, never a secret or a digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from stepweave.errors import StepweaveError
from stepweave.triggers.declare import DEFAULT_TOLERANCE_SECONDS, Signature

__all__ = ["DEFAULT_HMAC_HEADER", "SignatureError", "sign", "signature_header", "verify"]

DEFAULT_HMAC_HEADER = "X-Signature-256"
_HEADERS = {"shopify": "X-Shopify-Hmac-Sha256", "github": "X-Hub-Signature-256",
            "stripe": "Stripe-Signature"}


class SignatureError(StepweaveError):
    """The request's signature is missing, malformed, wrong or too old."""


def signature_header(signature: Signature) -> str | None:
    """The header that carries the signature (None for ``none``)."""
    if signature.scheme == "none":
        return None
    if signature.scheme == "hmac":
        return signature.header or DEFAULT_HMAC_HEADER
    return _HEADERS[signature.scheme]


def _digest(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()


def _decode(text: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(text.strip())
        return base64.b64decode(text.strip(), validate=True)
    except (ValueError, binascii.Error):
        return None


def _equal(expected: bytes, given: bytes | None) -> bool:
    return given is not None and hmac.compare_digest(expected, given)


def verify(signature: Signature, headers: Mapping[str, str], body: bytes, secret: str | None,
           *, now: float) -> None:
    """Check the request; ``headers`` has lower-case names. Raises ``SignatureError``."""
    header = signature_header(signature)
    if header is None:
        return
    if not secret:
        raise ValueError("verify: no secret")  # the caller checks first: a server-side fault
    value = headers.get(header.lower())
    if not value:
        raise SignatureError(f"missing {header} header")
    if signature.scheme == "stripe":
        _verify_stripe(signature, value, body, secret, now)
        return
    expected = _digest(secret, body)
    if signature.scheme == "github":
        ok = value.startswith("sha256=") and _equal(expected, _decode(value[7:], "hex"))
    elif signature.scheme == "shopify":
        ok = _equal(expected, _decode(value, "base64"))
    else:
        prefix = signature.prefix or ""
        ok = value.startswith(prefix) and _equal(
            expected, _decode(value[len(prefix):], signature.encoding or "hex"))
    if not ok:
        raise SignatureError(f"the {header} signature does not match the body")


def _verify_stripe(signature: Signature, value: str, body: bytes, secret: str, now: float) -> None:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isdigit():
            timestamp = int(item)
        elif key == "v1":
            candidates.append(item)
    if timestamp is None or not candidates:
        raise SignatureError("Stripe-Signature needs t=<timestamp> and v1=<signature>")
    tolerance = signature.tolerance or DEFAULT_TOLERANCE_SECONDS
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"Stripe-Signature timestamp is outside the {tolerance} s tolerance")
    expected = _digest(secret, str(timestamp).encode() + b"." + body)
    if not any(_equal(expected, _decode(c, "hex")) for c in candidates):
        raise SignatureError("the Stripe-Signature signature does not match the body")


def sign(signature: Signature, body: bytes, secret: str, *, now: float) -> dict[str, str]:
    """The header(s) a sender adds so that ``verify`` accepts ``body`` (for tests and the CLI)."""
    header = signature_header(signature)
    if header is None:
        return {}
    if signature.scheme == "stripe":
        timestamp = int(now)
        digest = _digest(secret, str(timestamp).encode() + b"." + body).hex()
        return {header: f"t={timestamp},v1={digest}"}
    raw = _digest(secret, body)
    if signature.scheme == "github":
        return {header: "sha256=" + raw.hex()}
    if signature.scheme == "shopify":
        return {header: base64.b64encode(raw).decode()}
    encoded = raw.hex() if (signature.encoding or "hex") == "hex" else base64.b64encode(raw).decode()
    return {header: (signature.prefix or "") + encoded}
