"""Signature Version 4 verification, sans-IO: a request's method, raw target, headers and body
in; the access key that signed it out, or the reason it is refused.

This is the server's side of https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-
create-signed-request.html: the canonical request is rebuilt from what arrived on the wire, the
signing key is derived from *our* secret for the key id the request names, and the two
signatures are compared in constant time. Both forms are accepted: the ``Authorization`` header
and presigned URLs (``X-Amz-Signature`` and friends in the query string).

Canonicalisation follows the document and botocore's ``SigV4Auth`` (the client most callers
use): the path has its dot segments and repeated slashes removed and is percent-encoded once
more (services other than S3 sign the encoded path); query names and values are percent-decoded
then encoded with only ``A-Z a-z 0-9 - _ . ~`` left as they are, and sorted by name then value;
header values are trimmed and inner runs of spaces squeezed, repeats joined with ``,``. The
payload hash is ``x-amz-content-sha256`` when the request sends one (``UNSIGNED-PAYLOAD``
included), else the SHA-256 of the body. A request is refused when its time (``X-Amz-Date`` or
``Date``) is more than 5 minutes from ours, or a presigned URL is past its ``X-Amz-Expires``.

Exceptions::

    Exception
    └── SignatureError   .error_type is AWS's x-amzn-ErrorType, .message its message
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

__all__ = [
    "ALGORITHM",
    "Credentials",
    "SignatureError",
    "SignedRequest",
    "is_signed",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SKEW = 5 * 60
"""Seconds a request's time may be from ours (AWS's limit for every SigV4 service)."""
MAX_EXPIRES = 7 * 24 * 3600  # X-Amz-Expires: at most 7 days
_STAMP = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_BAD_TOKEN = "The security token included in the request is invalid."


@dataclass(frozen=True, slots=True)
class Credentials:
    """A key pair the server accepts signatures from (``token`` for temporary credentials)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key={self.access_key!r})"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request as received: ``target`` is the raw request-target (path and query)."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes = b""


class SignatureError(Exception):
    """The request is not signed by credentials we know, or not signed correctly."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True, slots=True)
class _Authorization:
    """What a request claims: from its Authorization header, or from a presigned query."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    stamp: str
    expires: int | None  # presigned URLs only
    token: str | None


def is_signed(headers: Sequence[tuple[str, str]], target: str) -> bool:
    """Whether the request tries to authenticate at all (an unsigned one is simply Forbidden)."""
    if any(name.lower() == "authorization" for name, _ in headers):
        return True
    return any(name == "X-Amz-Signature" for name, _ in _query_pairs(target))


def verify(
    request: SignedRequest,
    credentials: Sequence[Credentials],
    *,
    region: str,
    service: str = "lambda",
    now: float | None = None,
) -> Credentials:
    """The credentials that signed ``request``; raises ``SignatureError`` otherwise."""
    claim = _claim(request)
    _check_scope(claim, region, service)
    _check_time(claim, time.time() if now is None else now)
    known = next((c for c in credentials if c.access_key == claim.access_key), None)
    if known is None or (known.token or None) != (claim.token or None):
        raise SignatureError("UnrecognizedClientException", _BAD_TOKEN)
    for strict in (True, False):
        expected = _signature(request, claim, known.secret_key, strict=strict)
        if hmac.compare_digest(expected, claim.signature):
            return known
    raise SignatureError("InvalidSignatureException", _SIGNATURE_MISMATCH)


def _signature(request: SignedRequest, claim: _Authorization, secret: str, *, strict: bool) -> str:
    """The hex signature that ``secret`` gives this request under the claim's scope."""
    scope = f"{claim.date}/{claim.region}/{claim.service}/aws4_request"
    digest = hashlib.sha256(_canonical_request(request, claim, strict).encode()).hexdigest()
    string_to_sign = "\n".join((ALGORITHM, claim.stamp, scope, digest))
    key = f"AWS4{secret}".encode()
    for part in (claim.date, claim.region, claim.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _canonical_request(request: SignedRequest, claim: _Authorization, strict: bool) -> str:
    path, _, _ = request.target.partition("?")
    headers = _header_map(request.headers)
    lines = [
        request.method.upper(),
        canonical_uri(path),
        canonical_query(request.target, presigned=claim.expires is not None, strict=strict),
        "".join(f"{name}:{headers.get(name, '')}\n" for name in claim.signed_headers),
        ";".join(claim.signed_headers),
        headers.get("x-amz-content-sha256") or hashlib.sha256(request.body).hexdigest(),
    ]
    return "\n".join(lines)


def canonical_uri(path: str) -> str:
    """Dot segments and empty segments removed (as botocore does), then encoded once more."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    normal = "/" + "/".join(segments)
    if path.endswith("/") and segments:
        normal += "/"
    return quote(normal, safe="/~")


def canonical_query(target: str, *, presigned: bool = False, strict: bool = True) -> str:
    """Names and values decoded then strictly encoded, sorted by name then value; a presigned
    URL's own ``X-Amz-Signature`` is left out.

    ``strict=False`` gives the query as sent, only sorted: what botocore signs when a URL
    already carries its query (``SigV4Auth._canonical_query_string_url``), so that a value
    sent with a raw ``+`` or ``*`` verifies too.
    """
    raw = [part.partition("=")[::2] for part in target.partition("?")[2].split("&") if part]
    pairs = [
        (_encode(unquote(name)), _encode(unquote(value))) if strict else (name, value)
        for name, value in raw
        if not (presigned and unquote(name) == "X-Amz-Signature")
    ]
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _query_pairs(target: str) -> list[tuple[str, str]]:
    query = target.partition("?")[2]
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        key, text = name.lower(), " ".join(value.split())
        joined[key] = f"{joined[key]},{text}" if key in joined else text
    return joined


# --- what the request claims ------------------------------------------------------------------


def _claim(request: SignedRequest) -> _Authorization:
    headers = _header_map(request.headers)
    if "authorization" in headers:
        return _from_header(headers["authorization"], headers)
    return _from_query(dict(_query_pairs(request.target)))


def _from_header(value: str, headers: Mapping[str, str]) -> _Authorization:
    algorithm, _, rest = value.partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    stamp = headers.get("x-amz-date") or _http_date(headers.get("date"))
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    if not stamp:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if algorithm != ALGORITHM or missing or not stamp:
        reasons = " ".join(missing) or f"Unsupported algorithm {algorithm!r}."
        raise SignatureError("IncompleteSignatureException", f"{reasons} Authorization={value}")
    return _authorization(
        fields["Credential"], fields["SignedHeaders"], fields["Signature"], stamp,
        None, headers.get("x-amz-security-token"),
    )  # fmt: skip


def _from_query(query: Mapping[str, str]) -> _Authorization:
    names = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders")
    missing = [name for name in names if not query.get(name)]
    if missing or query.get("X-Amz-Algorithm") != ALGORITHM:
        detail = ", ".join(missing) if missing else f"X-Amz-Algorithm {query['X-Amz-Algorithm']}"
        raise SignatureError(
            "IncompleteSignatureException",
            f"AWS query-string parameters must include {', '.join(names)}; missing or wrong: "
            f"{detail}. Re-examine the query-string parameters.",
        )
    expires = query.get("X-Amz-Expires", "")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES:
        raise SignatureError(
            "IncompleteSignatureException",
            f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_EXPIRES}.",
        )
    return _authorization(
        query["X-Amz-Credential"], query["X-Amz-SignedHeaders"],
        query.get("X-Amz-Signature", ""), query["X-Amz-Date"], int(expires),
        query.get("X-Amz-Security-Token"),
    )  # fmt: skip


def _authorization(
    credential: str, signed: str, signature: str, stamp: str, expires: int | None,
    token: str | None,
) -> _Authorization:  # fmt: skip
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not _STAMP.fullmatch(stamp):
        raise SignatureError(
            "IncompleteSignatureException",
            f"Credential must have the form <key>/<date>/<region>/<service>/aws4_request and "
            f"the date the form YYYYMMDD'T'HHMMSS'Z': got Credential={credential}, "
            f"date {stamp}",
        )
    names = tuple(signed.split(";"))
    if "host" not in names:
        raise SignatureError(
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        )
    return _Authorization(
        access_key=parts[0], date=parts[1], region=parts[2], service=parts[3],
        signed_headers=names, signature=signature, stamp=stamp, expires=expires, token=token,
    )  # fmt: skip


def _http_date(value: str | None) -> str | None:
    """A ``Date`` header (RFC 7231) as an X-Amz-Date stamp."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _stamp(moment.timestamp())


def _check_scope(claim: _Authorization, region: str, service: str) -> None:
    if claim.date != claim.stamp[:8]:
        raise SignatureError(
            "InvalidSignatureException",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{claim.date}' != '{claim.stamp[:8]}', from '{claim.stamp}'.",
        )
    if claim.region != region:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{claim.region}'. "
            f"This Function URL is in '{region}'.",
        )
    if claim.service != service:
        raise SignatureError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'. ",
        )


def _check_time(claim: _Authorization, now: float) -> None:
    signed_at = calendar.timegm(time.strptime(claim.stamp, "%Y%m%dT%H%M%SZ"))
    if claim.expires is not None:
        if now > signed_at + claim.expires:
            raise SignatureError(
                "InvalidSignatureException",
                f"Signature expired: {claim.stamp} is now earlier than {_stamp(now)} "
                f"(it was valid for {claim.expires} s).",
            )
        if signed_at > now + SKEW:
            raise SignatureError("InvalidSignatureException", _not_yet(claim.stamp, now))
        return
    if signed_at < now - SKEW:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {claim.stamp} is now earlier than {_stamp(now - SKEW)} "
            f"({_stamp(now)} - 5 min.)",
        )
    if signed_at > now + SKEW:
        raise SignatureError("InvalidSignatureException", _not_yet(claim.stamp, now))


def _not_yet(stamp: str, now: float) -> str:
    return (
        f"Signature not yet current: {stamp} is still later than {_stamp(now + SKEW)} "
        f"({_stamp(now)} + 5 min.)"
    )


def _stamp(moment: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
