"""The S3 bucket a stack's artifacts go to, and content-addressed uploads into it.

Without ``--s3-bucket``, lambdakit creates (once) and reuses ``lambdakit-artifacts-<account>-
<region>``, set up as ``sam deploy --resolve-s3`` sets up its managed bucket: versioning on,
server-side encryption (SSE-S3, AES256), all public access blocked, and a policy that refuses
requests not made over TLS
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html).

An artifact's key is ``<stack>/<sha256 of its bytes><suffix>``: the same bytes have the same
key, so an object already there (``HeadObject``) is not uploaded again, and CloudFormation
sees an unchanged code location for unchanged code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdakit.project.deploy.aws import botocore_exceptions, error_code, error_message
from lambdakit.project.errors import DeployError

__all__ = ["Upload", "default_bucket_name", "ensure_bucket", "file_sha256", "upload"]

MANAGED_TAG = {"Key": "ManagedBy", "Value": "lambdakit"}


@dataclass(frozen=True, slots=True)
class Upload:
    """One artifact in S3."""

    local: str
    """The file uploaded (or found already there)."""
    uri: str
    """``s3://bucket/key``."""
    sha256: str
    uploaded: bool
    """False: an object with the same content (the same key) was there already."""


def default_bucket_name(account: str, region: str) -> str:
    return f"lambdakit-artifacts-{account}-{region}"


def ensure_bucket(
    s3: Any, name: str, region: str, *, create: bool, say: Callable[[str], None]
) -> None:
    """Check that bucket NAME can be used; create it (CREATE: lambdakit's own) if missing."""
    status = _bucket_status(s3, name)
    if status == "ok":
        return
    if status == "forbidden":
        raise DeployError(
            f"S3 bucket {name} exists but these credentials cannot use it (403); give a bucket "
            "of yours with --s3-bucket"
        )
    if not create:
        raise DeployError(
            f"S3 bucket {name} (--s3-bucket) does not exist; create it (aws s3 mb s3://{name}) "
            "or leave --s3-bucket out and lambdakit creates a bucket of its own"
        )
    say(f"creating the S3 bucket {name} for the stacks' artifacts")
    _create(s3, name, region)


def _bucket_status(s3: Any, name: str) -> str:
    errors = botocore_exceptions()
    try:
        s3.head_bucket(Bucket=name)
    except errors.ClientError as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return "missing"
        if code in ("403", "AccessDenied", "Forbidden"):
            return "forbidden"
        raise DeployError(f"S3 bucket {name}: {error_message(error) or code}") from error
    return "ok"


def _create(s3: Any, name: str, region: str) -> None:
    arguments: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":  # us-east-1 refuses its own name as a LocationConstraint
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    errors = botocore_exceptions()
    try:
        s3.create_bucket(**arguments)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration=dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                ),
                True,
            ),
        )
        if str(s3.meta.endpoint_url).startswith("https://"):
            # Over plain HTTP (a local S3 such as moto's server) the policy would lock lambdakit
            # out of its own bucket.
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(_tls_only(name)))
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [MANAGED_TAG]})
    except errors.ClientError as error:
        raise DeployError(
            f"cannot create the S3 bucket {name}: {error_message(error) or error_code(error)}; "
            "give a bucket of yours with --s3-bucket"
        ) from error


def _tls_only(name: str) -> dict[str, Any]:
    """The statement SAM CLI's managed bucket has: no request without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def upload(s3: Any, bucket: str, prefix: str, path: Path, *, sha256: str = "") -> Upload:
    """PATH in BUCKET under ``PREFIX/<sha256><suffix>``, uploaded unless already there
    (SHA256: PATH's, when the caller has it)."""
    sha256 = sha256 or file_sha256(path)
    key = f"{prefix}/{sha256}{path.suffix}"
    uploaded = not _exists(s3, bucket, key)
    if uploaded:
        errors = botocore_exceptions()
        try:
            s3.upload_file(str(path), bucket, key)
        except errors.BotoCoreError as error:
            raise DeployError(f"cannot upload {path} to s3://{bucket}/{key}: {error}") from error
        except errors.ClientError as error:
            message = error_message(error) or error_code(error)
            raise DeployError(f"cannot upload {path} to s3://{bucket}/{key}: {message}") from error
    return Upload(str(path), f"s3://{bucket}/{key}", sha256, uploaded)


def _exists(s3: Any, bucket: str, key: str) -> bool:
    errors = botocore_exceptions()
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except errors.ClientError as error:
        if error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        message = error_message(error) or error_code(error)
        raise DeployError(f"cannot read s3://{bucket}/{key}: {message}") from error
    return True
