"""A stack's image functions: built, pushed to Amazon ECR and named in the template, as
``sam build`` then ``sam deploy --image-repository`` / ``--resolve-image-repos`` do
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html).

Which functions: each ``PackageType: Image`` function with ``Metadata`` ``Dockerfile`` and
``DockerContext`` (``FunctionSpec.image_build``); as with ``sam build``, its ImageUri, if any,
is replaced by the image built. A function with only an ImageUri is deployed as it is.

Where each image goes:

    --image-repositories Fn=URI   function Fn's repository
    --image-repository URI        every other image function's
    neither                       a repository lambdakit creates on first use and reuses,
                                  ``<stack>-<function>-<hash>`` in lower case (the hash, of
                                  the names as written, keeps apart names that differ only
                                  in case), tagged ManagedBy=lambdakit

Lambda takes images from an ECR repository in the function's own region only
(https://docs.aws.amazon.com/lambda/latest/dg/images-create.html), so any other URI is refused.

Each image is tagged by its content (``image_builds.content_tag``); when the repository has
that tag already (ecr:DescribeImages), nothing is logged in to or pushed. The template's
ImageUri becomes ``REPOSITORY:TAG``, as ``sam package`` writes it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambdakit.project.deploy.aws import botocore_exceptions, error_code, error_message
from lambdakit.project.errors import DeployError
from lambdakit.project.stack import image_builds
from lambdakit.template import FunctionSpec

if TYPE_CHECKING:
    from lambdakit.emulator.containers import Engine

__all__ = [
    "ImageRepositories",
    "PushedImage",
    "parse_image_repositories",
    "publish_images",
    "repository_name",
    "repository_prefix",
    "set_image_uri",
]

MANAGED_TAG = {"Key": "ManagedBy", "Value": "lambdakit"}
STACK_TAG = "lambdakit:stack"  # its value: the stack a repository was created for
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
_NAME = r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
_ECR_URI = re.compile(
    r"(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    rf"(?:\.cn)?)/(?P<name>{_NAME})"
)
MAX_NAME = 256


@dataclass(frozen=True, slots=True)
class ImageRepositories:
    """``--image-repository`` and ``--image-repositories``; empty: lambdakit's own."""

    default: str | None = None
    functions: Mapping[str, str] = field(default_factory=dict)
    """Logical id -> repository URI."""


@dataclass(frozen=True, slots=True)
class PushedImage:
    """One function's image in ECR."""

    logical_id: str
    local: str
    """The image as built (``<logical id>:<DockerTag or latest>``)."""
    uri: str
    """``REPOSITORY:TAG``, the function's ImageUri."""
    pushed: bool
    """False: the repository had an image with this content's tag already."""


@dataclass(frozen=True, slots=True)
class _Repository:
    uri: str
    registry: str
    account: str
    name: str


def parse_image_repositories(values: Sequence[str]) -> dict[str, str]:
    """``--image-repositories`` as SAM CLI takes them: ``Fn=URI``, repeated or several in one
    argument."""
    result: dict[str, str] = {}
    for value in values:
        for pair in value.split():
            function, sign, uri = pair.partition("=")
            if not sign or not function or not uri:
                raise DeployError(
                    f"--image-repositories {pair!r}: give FunctionLogicalId=REPOSITORY_URI "
                    "(e.g. Orders=123456789012.dkr.ecr.us-east-1.amazonaws.com/orders)"
                )
            result[function] = uri
    return result


_STEM = MAX_NAME - 9  # a repository name's room before "-" and its 8-hex digest


def repository_name(stack: str, logical_id: str) -> str:
    """The repository lambdakit creates for function LOGICAL_ID of STACK."""
    digest = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:8]
    return f"{stack}-{logical_id}"[:_STEM].lower() + f"-{digest}"


def repository_prefix(stack: str) -> str:
    """What the name of every repository lambdakit creates for STACK begins with."""
    return f"{stack}-"[:_STEM].lower()


def set_image_uri(resource: dict[str, Any], uri: str) -> None:
    """Write URI into RESOURCE as its type takes it (``ImageUri`` or ``Code.ImageUri``)."""
    properties = resource.setdefault("Properties", {})
    if resource.get("Type") == "AWS::Lambda::Function":
        properties["Code"] = {"ImageUri": uri}
    else:
        properties["ImageUri"] = uri


def publish_images(
    specs: Sequence[FunctionSpec],
    *,
    session: Any,
    stack: str,
    repositories: ImageRepositories,
    progress: Callable[[str], None],
    engine: Engine | None = None,
) -> list[PushedImage]:
    """Build and push the image of each function of SPECS that has Metadata to build it
    (module docstring). SESSION is a boto3 Session; ENGINE is found when None (and only when
    there is an image to build). Raises ProjectError saying what to do."""
    chosen = [spec for spec in specs if spec.image_build is not None]
    _check_mapping(repositories, [_logical_id(spec) for spec in chosen])
    if not chosen:
        return []
    engine = engine or image_builds.find_engine([_logical_id(spec) for spec in chosen])
    publisher = _Publisher(session.client("ecr"), engine, stack, repositories, session.region_name)
    return [publisher.publish(spec, progress) for spec in chosen]


def _logical_id(spec: FunctionSpec) -> str:
    return spec.logical_id or spec.name


def _check_mapping(repositories: ImageRepositories, names: list[str]) -> None:
    unknown = sorted(set(repositories.functions) - set(names))
    if unknown:
        built = ", ".join(names) or "none"
        raise DeployError(
            f"--image-repositories names {', '.join(unknown)}, which the template has no image "
            f"function to build for (functions with Dockerfile Metadata: {built}); give their "
            "logical ids"
        )


class _Publisher:
    """One deploy's pushes: the ECR client, the engine, and the registries logged in to."""

    def __init__(
        self, ecr: Any, engine: Engine, stack: str, repositories: ImageRepositories, region: str
    ) -> None:
        self.ecr, self.engine, self.stack, self.region = ecr, engine, stack, region
        self.repositories = repositories
        self.logged_in: set[str] = set()

    def publish(self, spec: FunctionSpec, progress: Callable[[str], None]) -> PushedImage:
        logical_id = _logical_id(spec)

        def say(text: str) -> None:
            progress(f"{logical_id}: {text}")

        repository = self.repository(logical_id, say)  # a wrong URI fails before the build
        local = image_builds.build(self.engine, spec, say)
        tag = image_builds.content_tag(local, image_builds.image_id(self.engine, local))
        target = f"{repository.uri}:{tag}"
        if self.has_tag(repository, tag):
            say(f"unchanged, already at {target}")
            return PushedImage(logical_id, local, target, pushed=False)
        if repository.registry not in self.logged_in:
            image_builds.login(self.engine, repository.registry, self.password(repository))
            self.logged_in.add(repository.registry)
        image_builds.push(self.engine, local, target, say)
        say(f"pushed {target}")
        return PushedImage(logical_id, local, target, pushed=True)

    def repository(self, logical_id: str, say: Callable[[str], None]) -> _Repository:
        given = self.repositories.functions.get(logical_id) or self.repositories.default
        if given:
            flag = (
                f"--image-repositories {logical_id}="
                if logical_id in self.repositories.functions
                else "--image-repository "
            )
            return self.parse(given, flag)
        return self.parse(self.own_repository(logical_id, say), "")

    def parse(self, uri: str, flag: str) -> _Repository:
        match = _ECR_URI.fullmatch(uri)
        if match is None:
            raise DeployError(
                f"{flag}{uri} is not an Amazon ECR repository URI, and Lambda runs images from "
                "ECR only; give ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME, without a tag"
            )
        if match["region"] != self.region:
            raise DeployError(
                f"{flag}{uri} is in {match['region']}, and Lambda takes images from the "
                f"function's own region ({self.region}) only; give a repository in {self.region}"
            )
        return _Repository(uri, match["registry"], match["account"], match["name"])

    def own_repository(self, logical_id: str, say: Callable[[str], None]) -> str:
        """lambdakit's repository for LOGICAL_ID: found, else created (as SAM's companion
        stack makes one per function)."""
        name = repository_name(self.stack, logical_id)
        errors = botocore_exceptions()
        try:
            found = self.ecr.describe_repositories(repositoryNames=[name])["repositories"]
            return str(found[0]["repositoryUri"])
        except errors.ClientError as error:
            if error_code(error) != "RepositoryNotFoundException":
                raise _refused(error, f"ecr:DescribeRepositories {name}") from error
        with _ecr_errors(f"ecr:CreateRepository {name}"):
            created = self.ecr.create_repository(
                repositoryName=name,
                tags=[MANAGED_TAG, {"Key": STACK_TAG, "Value": self.stack}],
            )["repository"]
        say(f"created the ECR repository {created['repositoryUri']}")
        return str(created["repositoryUri"])

    def has_tag(self, repository: _Repository, tag: str) -> bool:
        errors = botocore_exceptions()
        try:
            self.ecr.describe_images(
                registryId=repository.account,
                repositoryName=repository.name,
                imageIds=[{"imageTag": tag}],
            )
        except errors.ClientError as error:
            code = error_code(error)
            if code == "ImageNotFoundException":
                return False
            if code == "RepositoryNotFoundException":
                raise DeployError(
                    f"the ECR repository {repository.uri} does not exist: create it (aws ecr "
                    f"create-repository --repository-name {repository.name}), or leave "
                    "--image-repository out and lambdakit creates one per function"
                ) from error
            raise _refused(error, f"ecr:DescribeImages {repository.uri}") from error
        return True

    def password(self, repository: _Repository) -> str:
        """ECR's token is base64 of ``AWS:<password>``."""
        with _ecr_errors("ecr:GetAuthorizationToken"):
            data = self.ecr.get_authorization_token()["authorizationData"][0]
        token = base64.b64decode(data["authorizationToken"]).decode()
        return token.partition(":")[2]


@contextlib.contextmanager
def _ecr_errors(action: str) -> Iterator[None]:
    errors = botocore_exceptions()
    try:
        yield
    except (errors.ClientError, errors.BotoCoreError) as error:
        raise _refused(error, action) from error


def _refused(error: Exception, action: str) -> DeployError:
    message = error_message(error) or error_code(error) or str(error)
    return DeployError(f"ECR refused {action}: {message}")
