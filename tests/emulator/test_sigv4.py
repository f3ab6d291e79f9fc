"""SigV4 verification against signatures made by botocore (``SigV4Auth`` and the presigning
``SigV4QueryAuth``), a signer we did not write; then ``AWS_IAM`` Function URLs end to end."""

from __future__ import annotations

import calendar
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from lambdakit.emulator.sigv4 import (
    Credentials,
    SignatureError,
    SignedRequest,
    canonical_query,
    canonical_uri,
    is_signed,
    verify,
)
from lambdakit.emulator.url_auth import authorize, local_credentials
from tests.emulator.conftest import Server
from tests.helpers import FUNCTIONS

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TEMPORARY = Credentials("ASIAEXAMPLE", "temporary-secret", "session-token")
KNOWN = (Credentials(KEY, SECRET), TEMPORARY)
URL = "http://127.0.0.1:9001"
BOTO_TEMPORARY = BotoCredentials("ASIAEXAMPLE", "temporary-secret", "session-token")


def signed(
    url: str,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    credentials: BotoCredentials | None = None,
    region: str = "us-east-1",
    service: str = "lambda",
    presign: bool = False,
) -> SignedRequest:
    """A request signed by botocore, as our server would receive it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = SigV4QueryAuth if presign else SigV4Auth
    signer(credentials or BotoCredentials(KEY, SECRET), service, region).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    sent = list(prepared.headers.items())
    if not any(name.lower() == "host" for name, _ in sent):
        sent.append(("Host", parts.netloc))  # what http.client adds
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return SignedRequest(method, target, sent, body)


def stamp_of(request: SignedRequest) -> float:
    header = dict((k.lower(), v) for k, v in request.headers).get("x-amz-date")
    text = header or request.target.split("X-Amz-Date=")[1][:16]
    return calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ"))


BOTOCORE = {
    "GET /": dict(url=f"{URL}/"),
    "a path": dict(url=f"{URL}/a/b/c.json"),
    "dot segments and repeated slashes": dict(url=f"{URL}/a//b/./c/../d"),
    "an encoded path": dict(url=f"{URL}/a%20b/%2Fc/x~y"),
    "a query, sorted and repeated": dict(url=f"{URL}/?z=1&a=2&a=1&empty=&flag"),
    "an encoded query": dict(url=f"{URL}/?q=hello%20world&path=%2Fx&u=%C3%A9"),
    "a raw + and * in the query, signed as sent": dict(url=f"{URL}/?q=a+b&r=*"),
    "a JSON POST": dict(
        url=f"{URL}/items", method="POST", body=b'{"a": 1}',
        headers={"Content-Type": "application/json"},
    ),
    "a binary PUT": dict(url=f"{URL}/", method="PUT", body=bytes(range(256))),
    "UNSIGNED-PAYLOAD": dict(
        url=f"{URL}/", method="POST", body=b"anything",
        headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    ),
    "extra headers, spaces squeezed": dict(
        url=f"{URL}/", headers={"X-Custom": "  a   b  ", "X-Other": "1"},
    ),
    "temporary credentials": dict(
        url=f"{URL}/", credentials=BOTO_TEMPORARY,
    ),
    "presigned": dict(url=f"{URL}/path?q=1", presign=True),
    "presigned, temporary credentials": dict(
        url=f"{URL}/", presign=True, credentials=BOTO_TEMPORARY,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BOTOCORE.values(), ids=BOTOCORE.keys())
def test_botocore_signatures_verify(case: dict) -> None:  # type: ignore[type-arg]
    request = signed(**case)
    assert is_signed(request.headers, request.target)
    found = verify(request, KNOWN, region="us-east-1", now=stamp_of(request))
    expected = case.get("credentials")
    assert found.access_key == (expected.access_key if expected else KEY)


def tampered(request: SignedRequest, **changes: object) -> SignedRequest:
    fields = {"method": request.method, "target": request.target}
    fields |= {"headers": request.headers, "body": request.body} | changes
    return SignedRequest(**fields)  # type: ignore[arg-type]


BASE = signed(f"{URL}/path?a=1", "POST", b'{"a": 1}', {"Content-Type": "application/json"})
MISMATCH = "The request signature we calculated does not match the signature you provided."
REFUSED = {
    "another body": (tampered(BASE, body=b'{"a": 2}'), "InvalidSignatureException", MISMATCH),
    "another path": (
        tampered(BASE, target="/other?a=1"), "InvalidSignatureException", MISMATCH,
    ),
    "another query": (tampered(BASE, target="/path?a=2"), "InvalidSignatureException", MISMATCH),
    "another method": (tampered(BASE, method="PUT"), "InvalidSignatureException", MISMATCH),
    "another host": (
        tampered(BASE, headers=[(k, "evil:1" if k.lower() == "host" else v)
                                for k, v in BASE.headers]),
        "InvalidSignatureException", MISMATCH,
    ),
    "the wrong secret": (
        signed(f"{URL}/", credentials=BotoCredentials(KEY, "wrong")),
        "InvalidSignatureException", MISMATCH,
    ),
    "an unknown key": (
        signed(f"{URL}/", credentials=BotoCredentials("AKIDOTHER", SECRET)),
        "UnrecognizedClientException", "The security token included in the request is invalid.",
    ),
    "a session token we did not issue": (
        signed(f"{URL}/", credentials=BotoCredentials("ASIAEXAMPLE", "temporary-secret", "x")),
        "UnrecognizedClientException", "The security token included",
    ),
    "another region": (
        signed(f"{URL}/", region="eu-west-1"),
        "InvalidSignatureException",
        "Credential should be scoped to a valid region, not 'eu-west-1'",
    ),
    "another service": (
        signed(f"{URL}/", service="execute-api"),
        "InvalidSignatureException", "Credential should be scoped to correct service: 'lambda'",
    ),
    "not SigV4": (
        SignedRequest("GET", "/", [("Host", "h"), ("Authorization", "Bearer x")]),
        "IncompleteSignatureException", "Authorization header requires 'Credential' parameter.",
    ),
    "no date": (
        tampered(BASE, headers=[(k, v) for k, v in BASE.headers if k.lower() != "x-amz-date"]),
        "IncompleteSignatureException",
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ),
    "host not signed": (
        SignedRequest("GET", "/", [("Host", "h"), ("X-Amz-Date", "20260101T000000Z"), (
            "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/"
            "aws4_request, SignedHeaders=x-amz-date, Signature=00")]),
        "InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader'",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "error_type", "message"), REFUSED.values(), ids=REFUSED.keys()
)
def test_refused(request_: SignedRequest, error_type: str, message: str) -> None:
    now = stamp_of(request_) if "X-Amz-Date" in str(request_.headers) else time.time()
    with pytest.raises(SignatureError) as caught:
        verify(request_, KNOWN, region="us-east-1", now=now)
    assert (caught.value.error_type, caught.value.message[: len(message)]) == (
        error_type,
        message,
    )


@pytest.mark.parametrize(
    ("offset", "verifies"), [(-300, True), (300, True), (-301, False), (301, False)]
)
def test_five_minutes_of_clock_skew(offset: int, verifies: bool) -> None:
    """``offset`` is our clock minus the signer's: a request may be 5 minutes old or early."""
    request = signed(f"{URL}/")
    now = stamp_of(request) - offset
    if verifies:
        verify(request, KNOWN, region="us-east-1", now=now)
        return
    with pytest.raises(SignatureError, match=r"Signature (expired|not yet current)"):
        verify(request, KNOWN, region="us-east-1", now=now)


def test_a_presigned_url_expires() -> None:
    request = signed(f"{URL}/", presign=True)  # botocore's default: 3600 s
    verify(request, KNOWN, region="us-east-1", now=stamp_of(request) + 3600)
    with pytest.raises(SignatureError, match="Signature expired"):
        verify(request, KNOWN, region="us-east-1", now=stamp_of(request) + 3601)


def test_canonical_forms() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a//b/./c/../d/") == "/a/b/d/"
    assert canonical_uri("/a%20b") == "/a%2520b"  # non-S3 services encode the path twice
    assert canonical_query("/?b=2&a=%7e&a=1&c") == "a=1&a=~&b=2&c="
    assert canonical_query("/?q=a+b*") == "q=a%2Bb%2A"
    assert canonical_query("/?q=a+b*", strict=False) == "q=a+b*"
    assert canonical_query("/?X-Amz-Signature=x&a=1", presigned=True) == "a=1"


def test_unsigned_requests() -> None:
    assert not is_signed([("Host", "h")], "/?a=1")
    assert is_signed([("authorization", "anything")], "/")
    assert is_signed([], "/?X-Amz-Signature=abc")


# --- the URL's answers ------------------------------------------------------------------------


def test_authorize_answers() -> None:
    request = signed(f"{URL}/")
    now = stamp_of(request)
    ok = authorize(request, KNOWN, region="us-east-1", account_id="111122223333", now=now)
    assert isinstance(ok, dict) and ok["iam"]["accessKey"] == KEY
    unsigned = SignedRequest("GET", "/", [("Host", "h")])
    refused = authorize(unsigned, KNOWN, region="us-east-1", account_id="1", now=now)
    assert not isinstance(refused, dict)
    assert refused.status == 403 and json.loads(refused.body)["Message"].startswith("Forbidden.")
    wrong = authorize(request, (Credentials(KEY, "other"),), region="us-east-1", account_id="1")
    assert not isinstance(wrong, dict) and wrong.status == 403
    assert ("x-amzn-ErrorType", "InvalidSignatureException") in wrong.headers
    assert json.loads(wrong.body) == {
        "message": "The request signature we calculated does not match the signature you "
        "provided. Check your AWS Secret Access Key and signing method. Consult the service "
        "documentation for details."
    }


def test_local_credentials_from_the_environment() -> None:
    found = local_credentials({"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "s3cret"})
    assert found.credentials == (Credentials("A", "s3cret"),)
    temporary = {"AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T"}
    assert local_credentials(temporary).credentials == (Credentials("A", "S", "T"),)
    assert "s3cret" not in repr(found)


def test_local_credentials_from_a_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "credentials"
    shared.write_text("[dev]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s3cret\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    found = local_credentials({})
    assert found.credentials == (Credentials("AKIDPROFILE", "s3cret"),)
    assert found.source.startswith("botocore")


# --- end to end: a real serve, requests signed by botocore, sent with http.client ---------------


@pytest.fixture(scope="module")
def iam_server() -> Iterator[Server]:
    server = Server(
        FUNCTIONS / "urls", env={"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    )
    yield server
    server.stop()


def send(url: str, request: SignedRequest) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
    for name, value in request.headers:
        connection.putheader(name, value)
    connection.endheaders(request.body or None)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def iam_url(server: Server) -> str:
    prefix = "lambdakit: iam Function URL"
    output = server.wait_for_output(prefix)
    return next(line.rsplit(" ", 1)[1] for line in output.splitlines() if line.startswith(prefix))


def test_a_botocore_signed_request_reaches_the_function(iam_server: Server) -> None:
    url = iam_url(iam_server).rstrip("/")
    request = signed(f"{url}/items?x=1", "POST", b'{"a": 1}', {"Content-Type": "application/json"})
    status, _, body = send(url, request)
    assert status == 200
    event = json.loads(body)
    assert event["authorizer"]["iam"]["accessKey"] == KEY
    assert event["accountId"] == "123456789012" and event["body"] == '{"a": 1}'


def test_a_presigned_url_reaches_the_function(iam_server: Server) -> None:
    url = iam_url(iam_server).rstrip("/")
    status, _, body = send(url, signed(f"{url}/?q=1", presign=True))
    assert status == 200 and json.loads(body)["authorizer"]["iam"]["accessKey"] == KEY


def test_a_bad_signature_is_refused_as_lambda_refuses_it(iam_server: Server) -> None:
    url = iam_url(iam_server).rstrip("/")
    wrong = signed(f"{url}/", "PATCH", credentials=BotoCredentials(KEY, "not-the-secret"))
    status, headers, body = send(url, wrong)
    assert status == 403
    assert headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert json.loads(body)["message"].startswith(MISMATCH)
    status, headers, body = send(url, tampered(signed(f"{url}/", "PUT", b"a"), body=b"b"))
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    unsigned = SignedRequest("DELETE", "/", [("Host", urlsplit(url).netloc)])
    status, headers, body = send(url, unsigned)
    assert status == 403 and headers["x-amzn-errortype"] == "AccessDeniedException"
    # A signed request last: once its line is out, the refused ones would have shown theirs.
    assert send(url, signed(f"{url}/", "OPTIONS"))[0] == 200
    output = iam_server.wait_for_output("invoked OPTIONS iam")
    assert not any(f"invoked {method} iam" in output for method in ("PATCH", "PUT", "DELETE"))
