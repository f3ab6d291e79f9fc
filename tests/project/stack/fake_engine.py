"""A stand-in for ``podman`` that answers as podman does and records what it was asked.

Installed as an executable ``podman`` on PATH by ``test_images.py`` (``install``). Each call
appends its argv (and, for ``login``, the password read from stdin) to ``calls.jsonl`` in
``$FAKE_ENGINE_STATE``; images and logins persist in ``state.json`` there, so a later call sees
what an earlier one did:

    build ... -t NAME ... CONTEXT   an image whose id is the sha256 of the Dockerfile and the
                                    build arguments (the same inputs give the same id)
    image inspect --format {{.Id}}  that id, or podman's "image not known" (exit 125)
    login --username AWS --password-stdin REGISTRY    "Login Succeeded!"
    tag SOURCE TARGET               TARGET names SOURCE's image
    push TARGET                     refused unless logged in to TARGET's registry; else the
                                    image goes into the registry, which is the moto server's
                                    ECR (ecr:PutImage with a manifest naming the image id)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    global STATE
    STATE = Path(os.environ["FAKE_ENGINE_STATE"])
    record = {"argv": argv}
    state = _load()
    verb = argv[0] if argv else ""
    if verb == "login":
        record["password"] = sys.stdin.read()
    with (STATE / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps(record) + "\n")
    handler = HANDLERS.get(verb)
    if handler is None:
        print(f"Error: unrecognized command `podman {verb}`", file=sys.stderr)
        return 125
    status = handler(argv[1:], state, record)
    (STATE / "state.json").write_text(json.dumps(state))
    return status


STATE = Path()


def _load() -> dict:
    path = STATE / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {"images": {}, "logins": []}


def version(args: list[str], state: dict, record: dict) -> int:
    print("podman version 4.3.1")
    return 0


def info(args: list[str], state: dict, record: dict) -> int:
    print("vfs")
    return 0


def build(args: list[str], state: dict, record: dict) -> int:
    name = args[args.index("-t") + 1]
    dockerfile = Path(args[args.index("-f") + 1])
    build_args = [args[i + 1] for i, arg in enumerate(args) if arg == "--build-arg"]
    content = dockerfile.read_bytes() + json.dumps(sorted(build_args)).encode()
    image_id = hashlib.sha256(content).hexdigest()
    print(f"STEP 1/1: FROM {dockerfile.name}")
    print(f"COMMIT {name}")
    print(image_id)
    state["images"][name] = image_id
    return 0


def image(args: list[str], state: dict, record: dict) -> int:
    if args[:3] != ["inspect", "--format", "{{.Id}}"]:
        print(f"Error: fake podman: unexpected image {args}", file=sys.stderr)
        return 125
    found = state["images"].get(args[3])
    if found is None:
        print(f"Error: {args[3]}: image not known", file=sys.stderr)
        return 125
    print(found)
    return 0


def login(args: list[str], state: dict, record: dict) -> int:
    if args[:3] != ["--username", "AWS", "--password-stdin"] or not record["password"]:
        print("Error: fake podman: login without --password-stdin", file=sys.stderr)
        return 125
    state["logins"].append(args[3])
    print("Login Succeeded!")
    return 0


def tag(args: list[str], state: dict, record: dict) -> int:
    source, target = args
    if source not in state["images"]:
        print(f"Error: {source}: image not known", file=sys.stderr)
        return 125
    state["images"][target] = state["images"][source]
    return 0


def push(args: list[str], state: dict, record: dict) -> int:
    target = args[-1]
    registry, _, rest = target.partition("/")
    if target not in state["images"]:
        print(f"Error: {target}: image not known", file=sys.stderr)
        return 125
    if registry not in state["logins"]:
        print(f"Error: authentication required: {registry}", file=sys.stderr)
        return 125
    repository, _, image_tag = rest.rpartition(":")
    _put_image(repository, image_tag, state["images"][target])
    print("Writing manifest to image destination")
    return 0


def _put_image(repository: str, image_tag: str, image_id: str) -> None:
    import boto3

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": f"sha256:{image_id}",
            "size": 1,
        },
        "layers": [],
    }
    ecr = boto3.client("ecr", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=image_tag)


HANDLERS = {
    "--version": version, "info": info, "build": build, "image": image, "login": login,
    "tag": tag, "push": push,
}  # fmt: skip


def install(directory: Path, state: Path) -> Path:
    """Write executables ``podman`` (this module) and ``docker`` (a client whose daemon does
    not answer) into DIRECTORY; returns the podman path. The caller puts DIRECTORY first on
    PATH and FAKE_ENGINE_STATE=STATE in the environment."""
    directory.mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    podman = directory / "podman"
    podman.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from fake_engine import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    docker = directory / "docker"
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    for path in (podman, docker):
        path.chmod(0o755)
    return podman


def calls(state: Path) -> list[dict]:
    path = state / "calls.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
