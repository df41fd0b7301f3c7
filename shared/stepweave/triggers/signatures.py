"""Webhook signatures: verifying a request's proof of origin, and producing one.

Every scheme is an HMAC-SHA256 keyed by the trigger's named secret, compared in constant
time (``hmac.compare_digest``) on the decoded digest:

| scheme | header | signed text | digest |
|---|---|---|---|
| ``hmac`` | ``header`` (default ``X-Signature-256``) | the raw body, or ``<timestamp>.<raw body>`` with ``timestampHeader`` | ``encoding`` (hex by default) after ``prefix``; the timestamp within ``tolerance`` s of now |
| ``shopify`` | ``X-Shopify-Hmac-Sha256`` | the raw body | base64 |
| ``github`` | ``X-Hub-Signature-256`` | the raw body | ``sha256=`` + hex |
| ``stripe`` | ``Stripe-Signature`` (``t=<unix>,v1=<hex>[,v1=...]``) | ``<t>.<raw body>`` | hex; ``t`` within ``tolerance`` s of now |
| ``slack`` | ``X-Slack-Signature`` (``v0=<hex>``), ``X-Slack-Request-Timestamp`` | ``v0:<timestamp>:<raw body>`` | hex; the timestamp within ``tolerance`` s of now |

Header values are checked before anything is parsed: a signature header over
``MAX_SIGNATURE_HEADER`` characters, a timestamp that is not 1 to 12 ASCII digits, more than
``MAX_SIGNATURES`` candidate signatures are refused as malformed. Failures raise
``SignatureError`` with a message safe to return to the caller (it names headers, never a
secret or a digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from stepweave.errors import StepweaveError
from stepweave.triggers.declare import DEFAULT_TOLERANCE_SECONDS, Signature

__all__ = ["DEFAULT_HMAC_HEADER", "MAX_SIGNATURE_HEADER", "MAX_SIGNATURES",
           "SLACK_TIMESTAMP_HEADER", "SignatureError",
           "sign", "signature_header", "signed_timestamp", "verify"]

DEFAULT_HMAC_HEADER = "X-Signature-256"
#: Longer signature headers are malformed (Stripe's, with several ``v1``, are ~200 characters).
MAX_SIGNATURE_HEADER = 1024
#: At most this many ``v1=`` candidates in a ``Stripe-Signature`` header.
MAX_SIGNATURES = 8
_TIMESTAMP_DIGITS = 12
_HEADERS = {"shopify": "X-Shopify-Hmac-Sha256", "github": "X-Hub-Signature-256",
            "stripe": "Stripe-Signature", "slack": "X-Slack-Signature"}
#: Slack's send time (unix seconds), covered by its signature.
SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"


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


def _timestamp(text: str) -> int | None:
    """Unix seconds from 1 to 12 ASCII digits (``str.isdigit`` also takes ``²``), else None."""
    text = text.strip()
    if not text or len(text) > _TIMESTAMP_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)


def _check_time(header: str, timestamp: int, tolerance: int, now: float) -> None:
    if abs(now - timestamp) > tolerance:
        raise SignatureError(f"the {header} timestamp is outside the {tolerance} s tolerance")


def signed_timestamp(signature: Signature, headers: Mapping[str, str]) -> int | None:
    """The send time covered by the signature (Stripe's ``t``, ``hmac``'s ``timestampHeader``)
    of a request ``verify`` accepted; None for schemes without one."""
    if signature.scheme == "stripe":
        for part in headers.get("stripe-signature", "").split(","):
            key, _, item = part.strip().partition("=")
            if key == "t":
                return _timestamp(item)
    elif signature.scheme == "hmac" and signature.timestampHeader:
        return _timestamp(headers.get(signature.timestampHeader.lower(), ""))
    elif signature.scheme == "slack":
        return _timestamp(headers.get(SLACK_TIMESTAMP_HEADER.lower(), ""))
    return None


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
    if len(value) > MAX_SIGNATURE_HEADER:
        raise SignatureError(f"the {header} header is malformed (over {MAX_SIGNATURE_HEADER} characters)")
    if signature.scheme == "stripe":
        _verify_stripe(signature, value, body, secret, now)
        return
    if signature.scheme == "slack":
        _verify_slack(signature, value, headers, body, secret, now)
        return
    if signature.scheme == "hmac" and signature.timestampHeader:
        body = _timestamped(signature, signature.timestampHeader, headers, body, now)
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


def _timestamped(signature: Signature, header: str, headers: Mapping[str, str], body: bytes,
                 now: float) -> bytes:
    """``<timestamp>.<body>``, the text an ``hmac`` signature with a timestamp covers."""
    given = headers.get(header.lower())
    if not given:
        raise SignatureError(f"missing {header} header")
    timestamp = _timestamp(given)
    if timestamp is None:
        raise SignatureError(f"the {header} header must be a unix time in seconds")
    _check_time(header, timestamp, signature.tolerance or DEFAULT_TOLERANCE_SECONDS, now)
    return str(timestamp).encode() + b"." + body


def _slack_text(timestamp: int, body: bytes) -> bytes:
    """Slack's base string: ``v0:<timestamp>:<raw body>``."""
    return b"v0:" + str(timestamp).encode() + b":" + body


def _verify_slack(signature: Signature, value: str, headers: Mapping[str, str], body: bytes,
                  secret: str, now: float) -> None:
    given = headers.get(SLACK_TIMESTAMP_HEADER.lower())
    if not given:
        raise SignatureError(f"missing {SLACK_TIMESTAMP_HEADER} header")
    timestamp = _timestamp(given)
    if timestamp is None:
        raise SignatureError(f"the {SLACK_TIMESTAMP_HEADER} header must be a unix time in seconds")
    if not value.startswith("v0="):
        raise SignatureError("the X-Slack-Signature header is malformed (expected v0=<hex>)")
    _check_time(SLACK_TIMESTAMP_HEADER, timestamp,
                signature.tolerance or DEFAULT_TOLERANCE_SECONDS, now)
    if not _equal(_digest(secret, _slack_text(timestamp, body)), _decode(value[3:], "hex")):
        raise SignatureError("the X-Slack-Signature signature does not match the body")


def _verify_stripe(signature: Signature, value: str, body: bytes, secret: str, now: float) -> None:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            timestamp = _timestamp(item)
            if timestamp is None:
                raise SignatureError("Stripe-Signature: t must be a unix time in seconds")
        elif key == "v1":
            candidates.append(item)
    if timestamp is None or not candidates:
        raise SignatureError("Stripe-Signature needs t=<timestamp> and v1=<signature>")
    if len(candidates) > MAX_SIGNATURES:
        raise SignatureError(f"Stripe-Signature has more than {MAX_SIGNATURES} v1 signatures")
    _check_time("Stripe-Signature", timestamp, signature.tolerance or DEFAULT_TOLERANCE_SECONDS, now)
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
    if signature.scheme == "slack":
        timestamp = int(now)
        return {header: "v0=" + _digest(secret, _slack_text(timestamp, body)).hex(),
                SLACK_TIMESTAMP_HEADER: str(timestamp)}
    stamp: dict[str, str] = {}
    if signature.scheme == "hmac" and signature.timestampHeader:
        stamp = {signature.timestampHeader: str(int(now))}
        body = stamp[signature.timestampHeader].encode() + b"." + body
    raw = _digest(secret, body)
    if signature.scheme == "github":
        return {header: "sha256=" + raw.hex()}
    if signature.scheme == "shopify":
        return {header: base64.b64encode(raw).decode()}
    encoded = raw.hex() if (signature.encoding or "hex") == "hex" else base64.b64encode(raw).decode()
    return {header: (signature.prefix or "") + encoded, **stamp}
