"""Benchmark: ``lambdakit deploy --stack`` against ``sam deploy``, on one moto server, in one run.

What (issue 17): the wall time of (a) a first deploy, (b) re-deploying an unchanged project
and (c) deploying a project where one function's code changed, for ``python -m lambdakit
deploy PROJECT --stack NAME`` and for SAM CLI's ``sam deploy`` (aws-sam-cli from PyPI,
installed into ``bench/.venvs/aws-sam-cli`` on first use, as bench/runtime.py installs
awslambdaric). Target: lambdakit <= 0.5x SAM CLI's time for (b) and (c).

The same server and the same template: a ``moto.server.ThreadedMotoServer`` in this process
(CloudFormation, S3, Lambda, IAM, DynamoDB); both tools reach it through ``AWS_ENDPOINT_URL``
with dummy credentials. The project is a DynamoDB table and three python3.12 functions (one
names the table with ``!Ref``). SAM CLI gets the template lambdakit's packaging produced for
its stack (``package_stack``, run untimed on a copy of the project): its artifacts already at
their S3 locations, so ``sam deploy`` uploads nothing but the template, then creates and
executes a change set (``--no-confirm-changeset --no-fail-on-empty-changeset --capabilities
CAPABILITY_IAM``). SAM CLI leaves the SAM transform to CloudFormation, which moto does not
run (it fails on ``AWS::Serverless::Function``; the script tries it once and says so), so SAM
CLI is given the transformed template (plain CloudFormation, what lambdakit sends). What is
compared is therefore: lambdakit's whole path (build, hash-checked upload, local transform,
change set, execution) against ``sam deploy``'s (package check, template upload, change set,
execution) without ``sam build``: SAM CLI's side does less work than a user's ``sam build &&
sam deploy`` would.

Each round deploys new stacks (``lk-N`` and ``sam-N``), lambdakit's build directory removed
first and lambdakit's caches (``XDG_CACHE_HOME``: the transforms) empty at the start of a run,
so (a) is a real first deploy; within a round the tools alternate which goes first
at each step. Medians; ratio = lambdakit / SAM CLI.

Usage: ``python bench/deploy.py [--quick] [--write] [--rebuild-venvs]``. ``--quick`` (CI):
one round. If aws-sam-cli cannot be installed, the script says so and reports lambdakit's
times only (exit 0). The exit status is 0 even when the target is missed; 1 means the
benchmark itself failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import runtime as rt  # bench/runtime.py: tables, medians, virtual environments, main()

HEADING = "## Stack deploys (bench/deploy.py)"
START_MARK = "<!-- bench/deploy.py --write: start -->"
END_MARK = "<!-- bench/deploy.py --write: end -->"
SAM_CLI = "aws-sam-cli==1.170.0"
REGION = "us-east-1"
TARGET = 0.5
CASES = ("first deploy", "unchanged", "one function changed")
TARGETED = CASES[1:]
TOOLS = ("lambdakit", "sam")
FUNCTIONS = 3
TIMEOUT = 600.0
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
"""
FUNCTION = """\
  Fn{index}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn{index}/
      Handler: app.handler
      Runtime: python3.12
      Environment: {{Variables: {{TABLE: !Ref Table}}}}
"""


@dataclass
class Results:
    rounds: int
    sam: str
    """SAM CLI's version, or why it is missing."""
    sam_template: str = ""
    """What moto did with the SAM (untransformed) template."""
    times: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {case: {tool: [] for tool in TOOLS} for case in CASES}
    )
    load: tuple[float, float] = (0.0, 0.0)


# --- the project and the two tools ----------------------------------------------------------


def write_project(root: Path, version: int = 0) -> None:
    """The project; VERSION is what Fn0 returns (the one function that changes)."""
    for index in range(FUNCTIONS):
        (root / f"fn{index}").mkdir(parents=True, exist_ok=True)
        value = f"'v{version}'" if index == 0 else index
        code = f"def handler(event, context):\n    return {value}\n"
        (root / f"fn{index}" / "app.py").write_text(code)
    functions = "".join(FUNCTION.format(index=index) for index in range(FUNCTIONS))
    (root / "template.yaml").write_text(TEMPLATE + functions)


def environment(endpoint: str) -> dict[str, str]:
    """What both tools (and the in-process packaging) see: the moto server, dummy keys."""
    return {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "SAM_CLI_TELEMETRY": "0",
    }  # fmt: skip


def timed(argv: list[str], cwd: Path, what: str) -> float:
    """Seconds ARGV took; BenchError with its output when it failed."""
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise rt.BenchError(f"{what} did not finish within {TIMEOUT:.0f} s") from exc
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise rt.BenchError(f"{what} failed (exit {done.returncode}):\n{output}")
    return elapsed


def lambdakit_deploy(project: Path, stack: str) -> float:
    argv = [sys.executable, "-m", "lambdakit", "deploy", str(project), "--stack", stack,
            "--capabilities", "CAPABILITY_IAM"]  # fmt: skip
    return timed(argv, project, f"lambdakit deploy --stack {stack}")


def sam_deploy(sam: Path, template: Path, stack: str, bucket: str | None = None) -> float:
    """``sam deploy``; BUCKET: with ``--s3-bucket`` (the template then goes by S3)."""
    argv = [str(sam), "deploy", "--template-file", str(template), "--stack-name", stack,
            "--region", REGION, "--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset",
            "--no-fail-on-empty-changeset"]  # fmt: skip
    if bucket is not None:
        argv += ["--s3-bucket", bucket, "--s3-prefix", stack]
    return timed(argv, template.parent, f"sam deploy --stack-name {stack}")


def install_sam(venv: Path) -> None:
    try:
        rt.run_checked(rt.pip(venv, "install", "--quiet", SAM_CLI), SAM_CLI, rt.PIP_TIMEOUT)
    except rt.BenchError as exc:
        raise rt.BenchError(
            f"pip could not install {SAM_CLI} from PyPI into {venv}: {exc}"
        ) from exc


def find_sam(rebuild: bool) -> tuple[Path | None, str]:
    """SAM CLI's ``sam`` and its version, or None and why there is none."""
    try:
        python = rt.ensure_venv("aws-sam-cli", SAM_CLI, install_sam, rebuild)
    except rt.BenchError as exc:
        return None, f"not measured: {str(exc).splitlines()[0]}"
    sam = python.parent / "sam"
    try:
        version = subprocess.run(
            [str(sam), "--version"], capture_output=True, text=True, timeout=120, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"not measured: {sam} --version failed: {exc}"
    return sam, version


# --- SAM CLI's templates: lambdakit's packaging, untimed --------------------------------------


@dataclass(frozen=True)
class Prepared:
    bucket: str
    sam_template: Path
    """``sam package``'s kind of template: SAM resources, artifacts on S3."""
    transformed: Path
    """The same after the SAM transform: plain CloudFormation."""


def prepare(project: Path, stack: str, version: int, directory: Path) -> Prepared:
    """Package PROJECT (Fn0 at VERSION) for STACK as lambdakit does, and write its templates."""
    import boto3

    from lambdakit.project.stack.packaging import package_stack

    write_project(project, version)
    packaged = package_stack(
        project / "template.yaml", session=boto3.session.Session(region_name=REGION),
        stack_name=stack, parameters={}, progress=lambda text: None, warn=lambda text: None,
    )  # fmt: skip
    sam_template = directory / f"{stack}-v{version}.sam.json"
    transformed = directory / f"{stack}-v{version}.json"
    sam_template.write_text(json.dumps(packaged.sam_template))
    transformed.write_text(json.dumps(packaged.template))
    return Prepared(packaged.bucket, sam_template, transformed)


def try_with_moto(sam: Path, template: Path, stack: str, bucket: str | None = None) -> str:
    """What moto makes of ``sam deploy`` with TEMPLATE (and BUCKET): accepted, or its error."""
    try:
        seconds = sam_deploy(sam, template, stack, bucket)
    except rt.BenchError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if "rror" in line), lines[-1])
        return f"fails ({reason.strip()[:240]})"
    return f"works ({seconds:.1f} s)"


def probe(sam: Path, prepared: Prepared) -> str:
    """The two things SAM CLI would do that moto may not: the SAM template (the transform is
    CloudFormation's) and the template by S3 (``--s3-bucket``)."""
    transform = try_with_moto(sam, prepared.sam_template, "sam-probe-transform")
    if transform.startswith("works"):
        import boto3

        client = boto3.client("cloudformation", region_name=REGION)
        listed = client.describe_stack_resources(StackName="sam-probe-transform")
        kinds = [r.get("ResourceType") for r in listed["StackResources"]]
        functions = kinds.count("AWS::Lambda::Function")
        transform = (
            f"completes, but moto skips the AWS::Serverless::* resources it cannot parse "
            f"(Lambda functions created: {functions})"
        )
    by_s3 = try_with_moto(sam, prepared.transformed, "sam-probe-s3", prepared.bucket)
    return (
        f"the SAM template itself {transform}; the transformed template with --s3-bucket "
        f"(TemplateURL) {by_s3}"
    )


# --- the run ----------------------------------------------------------------------------------


def one_round(index: int, root: Path, sam: Path | None, results: Results) -> None:
    """Stacks lk-INDEX and sam-INDEX: first deploy, unchanged, one function changed."""
    lk_project, sam_project = root / "lk", root / "sam"
    shutil.rmtree(lk_project / ".lambdakit", ignore_errors=True)
    write_project(lk_project, 0)
    lk_stack, sam_stack = f"lk-{index}", f"sam-{index}"
    templates: dict[str, Prepared] = {}
    if sam is not None:
        before = prepare(sam_project, sam_stack, 0, root)
        after = prepare(sam_project, sam_stack, index + 1, root)
        if not results.sam_template:
            results.sam_template = probe(sam, before)
        templates = dict(zip(CASES, (before, before, after), strict=True))
    for step, case in enumerate(CASES):
        if case == CASES[2]:
            write_project(lk_project, index + 1)
        order = TOOLS if (index + step) % 2 == 0 else TOOLS[::-1]
        for tool in order:
            if tool == "lambdakit":
                results.times[case][tool].append(lambdakit_deploy(lk_project, lk_stack))
            elif sam is not None:
                template = templates[case]
                seconds = sam_deploy(sam, template.transformed, sam_stack)
                results.times[case][tool].append(seconds)


def patch_moto_layers() -> None:
    """moto 5.2 resolves ``!Ref`` to a layer version into its model object, not its ARN, and
    fails to update a function that has one (tests/project/stack/conftest.py patches the
    same): give it the ARN, as CloudFormation would. Both tools meet the patched server."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._get_layers_data

    def by_arn(self: Any, layers: list[Any]) -> Any:
        return original(self, [getattr(layer, "arn", layer) for layer in layers])

    setattr(LambdaFunction, "_get_layers_data", by_arn)  # noqa: B010


def run(args: argparse.Namespace) -> Results:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="moto")
    patch_moto_layers()

    sam, version = find_sam(args.rebuild_venvs)
    results = Results(rounds=1 if args.quick else 5, sam=version)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    saved = dict(os.environ)
    try:
        host, port = server.get_host_and_port()
        os.environ.update(environment(f"http://{host}:{port}"))
        os.environ.pop("AWS_PROFILE", None)
        results.load = (os.getloadavg()[0], 0.0)
        with tempfile.TemporaryDirectory(prefix="lambdakit-bench-deploy-") as directory:
            # lambdakit's caches (transforms, dependencies) start empty: each round's first
            # deploy is a first deploy; a stack's later ones use what its first one cached.
            os.environ["XDG_CACHE_HOME"] = str(Path(directory) / "cache")
            for index in range(results.rounds):
                one_round(index, Path(directory), sam, results)
        results.load = (results.load[0], os.getloadavg()[0])
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
    return results


# --- the report -------------------------------------------------------------------------------


def row(case: str, results: Results) -> list[str]:
    ours = rt.median(results.times[case]["lambdakit"])
    samples = results.times[case]["sam"]
    if not samples:
        return [case, f"{ours:.2f} s", "-", "-", "-", "-"]
    theirs = rt.median(samples)
    ratio = ours / theirs
    target = f"<= {TARGET:g}x" if case in TARGETED else ""
    verdict = ("PASS" if ratio <= TARGET else "MISS") if target else ""
    return [case, f"{ours:.2f} s", f"{theirs:.2f} s", f"{ratio:.2f}x", target, verdict]


def report(results: Results, markdown: bool) -> str:
    summary = (
        f"{results.rounds} round(s) of new stacks on one moto server "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {rt.machine()}; load "
        f"average {results.load[0]:.1f} before, {results.load[1]:.1f} after). SAM CLI: "
        f"{results.sam}. Wall time of the whole command, medians; ratio = lambdakit / SAM CLI."
    )
    parts = [textwrap.fill(summary, 100)]
    header = ["case", "lambdakit deploy --stack", "sam deploy", "ratio", "target", "result"]
    parts.append(rt.table(header, [row(case, results) for case in CASES], markdown))
    if results.sam_template:
        parts.append(textwrap.fill(
            "SAM CLI was given the transformed template lambdakit deploys (its artifacts "
            "already on S3) as a TemplateBody, without --s3-bucket. On moto, "
            f"{results.sam_template}.", 100,
        ))  # fmt: skip
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, for CI")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {rt.DOC}")
    parser.add_argument("--rebuild-venvs", action="store_true", help="reinstall aws-sam-cli")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    section = (START_MARK, END_MARK, HEADING)
    return rt.bench_main("bench/deploy.py", parse_args(argv), run, report, section, lambda: None)


if __name__ == "__main__":
    sys.exit(main())
