"""``AuthType: AWS_IAM`` Function URLs: which credentials the emulator accepts signatures
from, and the answer to a request that is not signed by them.

Lambda lets a signed request through when the signer's IAM policy allows
``lambda:InvokeFunctionUrl`` (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
Locally there is no IAM: a request is let through when it carries a valid SigV4 signature
(service ``lambda``, the emulator's region) made with the credentials the emulator was started
with. Those are, in order:

1. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) in the
   emulator's environment: what boto3 and the AWS CLI in the same shell sign with;
2. otherwise botocore's credential chain (``AWS_PROFILE``, ``~/.aws/credentials``,
   ``~/.aws/config``, SSO caches...), if botocore is installed, without the EC2 and container
   metadata endpoints (a developer's machine has none, and asking them takes seconds).

Answers, all 403 as the URL gives them:

- no signature at all: Lambda's ``{"Message":"Forbidden. ..."}`` (``url_responses.forbidden``);
- a signature that does not verify: ``{"message": "The request signature we calculated does
  not match ..."}`` with ``x-amzn-ErrorType: InvalidSignatureException`` ([aws]: reported for
  Function URLs in RJPearson94/terraform-aws-open-next#48; the same body as the Lambda API's);
- an access key or session token we do not know: ``{"message": "The security token included in
  the request is invalid."}``, ``UnrecognizedClientException`` (the Lambda API's; UNVERIFIED
  for Function URLs); a malformed or expired signature: SigV4's own messages.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lambdakit.emulator.sigv4 import (
    Credentials,
    SignatureError,
    SignedRequest,
    is_signed,
    verify,
)
from lambdakit.emulator.url_events import JSON, IamAuthorizer, iam_authorizer
from lambdakit.emulator.url_responses import HttpResponse, forbidden

__all__ = ["LocalCredentials", "authorize", "local_credentials", "signature_refused"]


@dataclass(frozen=True, slots=True)
class LocalCredentials:
    """The credentials signatures are checked against, and where they were found (for the
    start-up line; never the secret)."""

    credentials: tuple[Credentials, ...]
    source: str


def local_credentials(environ: Mapping[str, str] | None = None) -> LocalCredentials:
    """The emulator's credentials: its environment's, else botocore's chain, else none."""
    environ = os.environ if environ is None else environ
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        found = Credentials(key, secret, environ.get("AWS_SESSION_TOKEN") or None)
        return LocalCredentials((found,), "AWS_ACCESS_KEY_ID in the environment")
    return _botocore_credentials()


def _botocore_credentials() -> LocalCredentials:
    try:  # an optional dependency (boto3's), without type information
        botocore_session = importlib.import_module("botocore.session")
    except ImportError:
        return LocalCredentials((), "none: no AWS_ACCESS_KEY_ID, and botocore is not installed")
    session = botocore_session.get_session()
    resolver = session.get_component("credential_provider")
    for name in ("iam-role", "container-role"):  # network look-ups
        resolver.remove(name)
    try:
        found = session.get_credentials()
    except Exception as error:  # a broken profile must not stop the emulator
        return LocalCredentials((), f"none: botocore could not read them ({error})")
    if found is None:
        return LocalCredentials((), "none: no AWS_ACCESS_KEY_ID and no AWS profile")
    frozen = found.get_frozen_credentials()
    creds = Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)
    return LocalCredentials((creds,), f"botocore ({found.method})")


def authorize(
    request: SignedRequest,
    credentials: Sequence[Credentials],
    *,
    region: str,
    account_id: str,
    now: float | None = None,
) -> IamAuthorizer | HttpResponse:
    """The event's authorizer block for a request signed by ``credentials``, or the 403."""
    if not is_signed(request.headers, request.target):
        return forbidden()
    try:
        verified = verify(request, credentials, region=region, now=now)
    except SignatureError as error:
        return signature_refused(error)
    return iam_authorizer(verified.access_key, account_id=account_id)


def signature_refused(error: SignatureError) -> HttpResponse:
    body = json.dumps({"message": error.message}, separators=(",", ":")).encode()
    headers = [("content-type", JSON), ("x-amzn-ErrorType", error.error_type)]
    return HttpResponse(403, headers, body)
