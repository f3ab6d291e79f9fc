"""Image functions in ``package_stack``: built, tagged by content, pushed to ECR and named in
the template, against the moto server's ECR (repositories, authorization token, images).

The engine is a fake ``podman`` on PATH (fake_engine.py) that records its argv and pushes into
moto's ECR, so the exact commands are checked; one test builds with this machine's real podman
(needs root and the local base image) and checks that the image id becomes the tag. A real push
cannot go to moto (it is no registry), so that test puts the image in moto's ECR itself and
checks that lambdakit finds it there and pushes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdakit.project.errors import DeployError, ImageError
from lambdakit.project.stack import Packaged, package_stack
from lambdakit.project.stack.delete import delete_repositories
from lambdakit.project.stack.images import ImageRepositories, repository_name
from tests.project.stack import fake_engine
from tests.project.test_image import base_image

__all__ = ["base_image"]

REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
PASSWORD = "123456789012-auth-token"  # moto's token is base64 of "AWS:" + this
DOCKERFILE = """\
ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023
FROM ${BASE_IMAGE}
COPY app.py /var/task/
CMD ["app.handler"]
"""
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      Architectures: [arm64]
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: ./orders
      DockerBuildArgs: {BASE_IMAGE: "@BASE@"}
  Billing:
    Type: AWS::Lambda::Function
    Properties:
      PackageType: Image
      Role: arn:aws:iam::123456789012:role/billing
    Metadata:
      Dockerfile: Dockerfile
      DockerContext: ./billing
      DockerTag: v1
"""


def write_project(directory: Path, base: str = "localhost/base:1") -> Path:
    for name in ("orders", "billing"):
        (directory / name).mkdir(parents=True)
        (directory / name / "Dockerfile").write_text(DOCKERFILE)
        (directory / name / "app.py").write_text(
            f"def handler(event, context):\n    return {name!r}\n"
        )
    (directory / "template.yaml").write_text(TEMPLATE.replace("@BASE@", base))
    return directory / "template.yaml"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake podman first on PATH, with no machine flags; yields its state directory."""
    state = tmp_path / "engine-state"
    fake_engine.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ENGINE_STATE", str(state))
    monkeypatch.setenv("LAMBDAKIT_CONTAINER_FLAGS", "")  # no global flags: exact argv
    return state


def package(template: Path, session: boto3.Session, stack: str, **kwargs: Any) -> Packaged:
    lines: list[str] = []
    packaged = package_stack(
        template, session=session, stack_name=stack, parameters={},
        progress=lines.append, warn=lines.append, **kwargs,
    )  # fmt: skip
    return packaged


def engine_calls(state: Path) -> list[list[str]]:
    """The fake's argv, its own path and the version/info probes left out."""
    return [
        call["argv"] for call in fake_engine.calls(state)
        if call["argv"][0] not in ("--version", "info")
    ]  # fmt: skip


def test_images_are_built_tagged_by_content_pushed_and_named_in_the_template(
    tmp_path: Path, session: boto3.Session, fake: Path
) -> None:
    template = write_project(tmp_path / "project")
    packaged = package(template, session, "Shop")

    ecr = session.client("ecr")
    orders_repo = f"{REGISTRY}/{repository_name('Shop', 'Orders')}"
    billing_repo = f"{REGISTRY}/{repository_name('Shop', 'Billing')}"
    assert repository_name("Shop", "Orders").startswith("shop-orders-")
    state = json.loads((fake / "state.json").read_text())
    orders_id, billing_id = state["images"]["orders:latest"], state["images"]["billing:v1"]
    orders_uri = f"{orders_repo}:orders-{orders_id[:12]}-latest"
    billing_uri = f"{billing_repo}:billing-{billing_id[:12]}-v1"

    project = tmp_path / "project"
    build = engine_calls(fake)[0]
    assert build[0] == "build"
    assert build[-9:] == [
        "-t", "orders:latest", "-f", str(project / "orders" / "Dockerfile"),
        "--build-arg", "BASE_IMAGE=localhost/base:1", "--platform", "linux/arm64",
        str(project / "orders"),
    ]  # fmt: skip
    assert engine_calls(fake)[1:] == [
        ["image", "inspect", "--format", "{{.Id}}", "orders:latest"],
        ["login", "--username", "AWS", "--password-stdin", REGISTRY],
        ["tag", "orders:latest", orders_uri],
        ["push", orders_uri],
        engine_calls(fake)[5],  # billing's build
        ["image", "inspect", "--format", "{{.Id}}", "billing:v1"],
        ["tag", "billing:v1", billing_uri],  # the same registry: logged in once
        ["push", billing_uri],
    ]
    assert engine_calls(fake)[5][-7:] == [
        "-t", "billing:v1", "-f", str(project / "billing" / "Dockerfile"), "--platform",
        "linux/amd64", str(project / "billing"),
    ]  # fmt: skip
    logins = [call for call in fake_engine.calls(fake) if call["argv"][0] == "login"]
    assert [call["password"] for call in logins] == [PASSWORD]

    resources = packaged.sam_template["Resources"]
    assert resources["Orders"]["Properties"]["ImageUri"] == orders_uri
    assert resources["Billing"]["Properties"]["Code"] == {"ImageUri": billing_uri}
    transformed = packaged.template["Resources"]["Orders"]["Properties"]
    assert transformed["Code"] == {"ImageUri": orders_uri}
    assert transformed["PackageType"] == "Image"
    assert [(i.logical_id, i.uri, i.pushed) for i in packaged.images] == [
        ("Orders", orders_uri, True), ("Billing", billing_uri, True),
    ]  # fmt: skip

    found = ecr.describe_images(repositoryName=repository_name("Shop", "Orders"))["imageDetails"]
    assert [d["imageTags"] for d in found] == [[f"orders-{orders_id[:12]}-latest"]]
    arn = ecr.describe_repositories(repositoryNames=[repository_name("Shop", "Orders")])[
        "repositories"
    ][0]["repositoryArn"]
    tags = ecr.list_tags_for_resource(resourceArn=arn)["tags"]
    assert {"Key": "ManagedBy", "Value": "lambdakit"} in tags


def test_an_unchanged_image_is_built_but_not_pushed_again_and_a_changed_one_is(
    tmp_path: Path, session: boto3.Session, fake: Path
) -> None:
    template = write_project(tmp_path / "project")
    first = package(template, session, "again")
    count = len(engine_calls(fake))

    second = package(template, session, "again")
    verbs = [argv[0] for argv in engine_calls(fake)[count:]]
    assert verbs == ["build", "image", "build", "image"]  # no login, tag or push
    assert second.images == tuple(
        type(image)(image.logical_id, image.local, image.uri, pushed=False)
        for image in first.images
    )
    repositories = session.client("ecr").describe_repositories()["repositories"]
    assert sum(r["repositoryName"].startswith("again-") for r in repositories) == 2  # reused

    (tmp_path / "project" / "orders" / "Dockerfile").write_text(DOCKERFILE + "ENV X=1\n")
    count = len(engine_calls(fake))
    third = package(template, session, "again")
    assert [argv[0] for argv in engine_calls(fake)[count:]] == [
        "build", "image", "login", "tag", "push", "build", "image",
    ]  # fmt: skip
    assert third.images[0].uri != first.images[0].uri
    assert third.images[1] == second.images[1]


def test_deleting_the_stack_deletes_only_the_repositories_lambdakit_created_for_it(
    tmp_path: Path, session: boto3.Session, fake: Path
) -> None:
    """As ``sam delete`` removes what ``--resolve-image-repos`` created: by both tags, not by
    name (``gone-`` begins ``gone-two``'s names too, and a user may name one alike)."""
    template = write_project(tmp_path / "project")
    package(template, session, "gone")
    package(template, session, "gone-two")
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName="gone-notes")  # the user's, untagged

    def names() -> set[str]:
        return {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}

    ours = {repository_name("gone", "Orders"), repository_name("gone", "Billing")}
    assert ours <= names()
    assert set(delete_repositories(ecr, "gone")) == ours
    left = names()
    assert not ours & left
    assert {"gone-notes", repository_name("gone-two", "Orders")} <= left
    assert delete_repositories(ecr, "gone") == ()  # nothing more, no error


def test_given_repositories_are_used_as_sam_deploy_takes_them(
    tmp_path: Path, session: boto3.Session, fake: Path
) -> None:
    ecr = session.client("ecr")
    shared = ecr.create_repository(repositoryName="shared")["repository"]["repositoryUri"]
    own = ecr.create_repository(repositoryName="team/billing")["repository"]["repositoryUri"]
    template = write_project(tmp_path / "project")
    repositories = ImageRepositories(shared, {"Billing": own})
    packaged = package(template, session, "given", image_repositories=repositories)

    uris = {image.logical_id: image.uri for image in packaged.images}
    assert uris["Orders"].startswith(f"{shared}:orders-")
    assert uris["Billing"].startswith(f"{own}:billing-")
    created = ecr.describe_repositories()["repositories"]
    assert not any(r["repositoryName"].startswith("given-") for r in created)


@pytest.mark.parametrize(
    ("repositories", "message"),
    [
        (
            ImageRepositories("docker.io/me/orders"),
            "--image-repository docker.io/me/orders is not an Amazon ECR repository URI",
        ),
        (
            ImageRepositories(f"{REGISTRY}/orders:v1"),
            f"--image-repository {REGISTRY}/orders:v1 is not an Amazon ECR repository URI",
        ),
        (
            ImageRepositories(None, {"Orders": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/o"}),
            "--image-repositories Orders=123456789012.dkr.ecr.eu-west-1.amazonaws.com/o is in "
            "eu-west-1, and Lambda takes images from the function's own region (us-east-1)",
        ),
        (
            ImageRepositories(None, {"Order": f"{REGISTRY}/o"}),
            "--image-repositories names Order, which the template has no image function to "
            "build for (functions with Dockerfile Metadata: Orders, Billing)",
        ),
        (
            ImageRepositories(f"{REGISTRY}/missing"),
            f"the ECR repository {REGISTRY}/missing does not exist: create it (aws ecr "
            "create-repository --repository-name missing)",
        ),
    ],
)
def test_wrong_repositories_are_refused_with_what_to_do(
    tmp_path: Path,
    session: boto3.Session,
    fake: Path,
    repositories: ImageRepositories,
    message: str,
) -> None:
    template = write_project(tmp_path / "project")
    with pytest.raises(DeployError) as caught:
        package(template, session, "wrong", image_repositories=repositories)
    assert message in str(caught.value)
    assert "push" not in [argv[0] for argv in engine_calls(fake)]


def test_without_an_engine_the_error_names_what_to_install_and_the_way_out(
    tmp_path: Path, session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    template = write_project(tmp_path / "project")
    with pytest.raises(ImageError) as caught:
        package(template, session, "bare")
    message = str(caught.value)
    assert message.startswith("Orders, Billing: image function(s) built from a Dockerfile")
    assert "no container engine to run images (docker is not installed; podman is not " in message
    assert "Install podman" in message and "or Docker" in message
    assert "set the function's ImageUri to it" in message


def test_a_refused_push_says_why(
    tmp_path: Path, session: boto3.Session, fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = write_project(tmp_path / "project")
    (fake / "state.json").write_text(json.dumps({"images": {}, "logins": ["elsewhere"]}))
    # A login the registry forgets: the fake refuses the push as podman would.
    monkeypatch.setattr(
        "lambdakit.project.stack.image_builds.login", lambda engine, registry, password: None
    )
    with pytest.raises(DeployError) as caught:
        package(template, session, "refused")
    assert str(caught.value).startswith(
        f"podman could not push {REGISTRY}/{repository_name('refused', 'Orders')}:orders-"
    )
    assert f"Error: authentication required: {REGISTRY}" in str(caught.value)


def test_a_real_build_is_tagged_by_its_image_id(
    base_image: str, tmp_path: Path, session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built by this machine's podman. Pushing to moto cannot work (it serves the ECR API, not
    a registry), so once the image id is known the test puts an image under the tag lambdakit
    must choose into moto's ECR, as an earlier deploy would have, and lambdakit must find it
    there and push nothing."""
    from lambdakit.emulator.containers import detect_engine
    from lambdakit.project.stack import image_builds

    template = write_project(tmp_path / "project", base=base_image)
    template.write_text(template.read_text().replace("[arm64]", "[x86_64]").split("  Billing:")[0])
    ecr = session.client("ecr")
    name = repository_name("real", "Orders")
    real_image_id = image_builds.image_id

    def pushed_before(engine: Any, image: str) -> str:
        found = real_image_id(engine, image)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"digest": f"sha256:{found}", "size": 1},
            "layers": [],
        }
        ecr.put_image(
            repositoryName=name, imageManifest=json.dumps(manifest),
            imageTag=f"orders-{found[:12]}-latest",
        )  # fmt: skip
        return found

    monkeypatch.setattr(image_builds, "image_id", pushed_before)
    podman = detect_engine("podman")
    try:
        packaged = package(template, session, "real")
        inspect = podman.argv("image", "inspect", "--format", "{{.Id}}", "orders:latest")
        done = subprocess.run(inspect, env=podman.environ(), capture_output=True, text=True)
    finally:
        remove = podman.argv("rmi", "-f", "orders:latest")
        subprocess.run(remove, env=podman.environ(), capture_output=True)
    image_id = done.stdout.strip().removeprefix("sha256:")
    assert len(image_id) == 64, done.stderr
    tag = f"orders-{image_id[:12]}-latest"
    assert [(i.uri, i.pushed) for i in packaged.images] == [(f"{REGISTRY}/{name}:{tag}", False)]
    assert packaged.sam_template["Resources"]["Orders"]["Properties"]["ImageUri"].endswith(tag)


def test_deploy_stack_takes_the_repository_flags(
    tmp_path: Path, session: boto3.Session, fake: Path, moto_server: str
) -> None:
    """``lambdakit deploy --stack`` as a process: the flags reach the pushes, and the change
    set is made (moto does not return a change set's template: the template is checked by the
    tests of package_stack above)."""
    ecr = session.client("ecr")
    shared = ecr.create_repository(repositoryName="cli-shared")["repository"]["repositoryUri"]
    billing = ecr.create_repository(repositoryName="cli-billing")["repository"]["repositoryUri"]
    template = write_project(tmp_path / "project")
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "deploy", str(template.parent), "--stack", "cli",
         "--image-repository", shared, "--image-repositories", f"Billing={billing}",
         "--capabilities", "CAPABILITY_IAM", "--no-execute", "--region", "us-east-1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pushes = [argv[1] for argv in engine_calls(fake) if argv[0] == "push"]
    assert [uri.rpartition(":")[0] for uri in pushes] == [shared, billing]
    assert f"Orders: pushed {pushes[0]}" in done.stdout
    summaries = session.client("cloudformation").list_change_sets(StackName="cli")["Summaries"]
    assert [summary["Status"] for summary in summaries] == ["CREATE_COMPLETE"]


def test_the_repository_flags_go_with_stack_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "deploy", str(tmp_path), "--image-repository",
         f"{REGISTRY}/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--image-repository go(es) with --stack NAME" in done.stderr
