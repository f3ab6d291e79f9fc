"""``lambdakit init``: the projects it creates work at once (``lambdakit invoke``, their own
tests), their template.yaml passes cfn-lint and the SAM translator, and what the user can get
wrong is refused before anything is written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lambdakit.cli.init import init
from lambdakit.project.errors import ProjectError
from lambdakit.project.scaffold import (
    RUNTIME_DIR,
    TEMPLATES,
    create_project,
    render_template,
    vendor_runtime,
)

SHIPPED_BOOTSTRAP = (resources.files("lambdakit.runtime") / "bootstrap").read_bytes()
SOURCE = Path(str(resources.files("lambdakit")))

PROJECT_FILES = {
    ".dockerignore",
    ".gitignore",
    "Dockerfile",
    "README.md",
    "app.py",
    "bootstrap",
    "events/event.json",
    "requirements.txt",
    "template.yaml",
    "tests/conftest.py",
    "tests/test_app.py",
}
EXTRA_FILES = {"hello": set(), "streaming": {"events/prompt.json"}, "web": set()}

INVOKE_EVENT = {
    "hello": "events/event.json",
    "streaming": "events/prompt.json",
    "web": "events/event.json",
}
URL_INVOKE_MODE = {"hello": None, "streaming": "RESPONSE_STREAM", "web": "BUFFERED"}


@pytest.fixture(scope="module", params=TEMPLATES)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of each template, shared by the tests that only run or read it."""
    template: str = request.param
    path = tmp_path_factory.mktemp(template) / f"my-{template}"
    create_project(path, template=template)
    return path


def template_of(project: Path) -> str:
    return project.name.removeprefix("my-")


def relative_names(paths: list[Path], root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in paths}


# --- what a project contains --------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES)
def test_creates_the_template_files(tmp_path: Path, template: str) -> None:
    path = tmp_path / "fn"
    created = create_project(path, template=template)

    on_disk = {p for p in path.rglob("*") if p.is_file()}
    assert set(created) == on_disk
    own = [p for p in created if not p.is_relative_to(path / RUNTIME_DIR)]
    assert relative_names(own, path) == PROJECT_FILES | EXTRA_FILES[template]


@pytest.mark.parametrize("template", TEMPLATES)
def test_bootstrap_is_the_shipped_one_and_executable(tmp_path: Path, template: str) -> None:
    create_project(tmp_path / "fn", template=template)

    bootstrap = tmp_path / "fn" / "bootstrap"
    assert bootstrap.read_bytes() == SHIPPED_BOOTSTRAP
    assert bootstrap.stat().st_mode & 0o777 == 0o755
    assert not (tmp_path / "fn" / "app.py").stat().st_mode & 0o111


def test_vendors_the_runtime_only_part_of_lambdakit(tmp_path: Path) -> None:
    created = vendor_runtime(tmp_path)

    root = tmp_path / "lambdakit"
    expected = {"__init__.py", "_eventstream.py", "_hooks.py", "_version.py", "_wire.py"} | {
        p.relative_to(SOURCE).as_posix()
        for p in (SOURCE / "runtime").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert relative_names(created, root) == expected
    for name in expected:
        assert (root / name).read_bytes() == (SOURCE / name).read_bytes(), name
    assert not {"cli", "emulator", "project"} & {p.name for p in root.iterdir()}


def test_the_vendored_runtime_imports_on_its_own(tmp_path: Path) -> None:
    """Every runtime module imports from the copy alone: no site-packages, no lambdakit install."""
    vendor_runtime(tmp_path)
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import lambdakit, lambdakit.runtime\n"
        "modules = pkgutil.iter_modules(lambdakit.runtime.__path__, 'lambdakit.runtime.')\n"
        "for name in ['lambdakit._wire', 'lambdakit._eventstream', *(m.name for m in modules)]:\n"
        "    importlib.import_module(name)\n"
        "print(lambdakit.__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == tmp_path / "lambdakit" / "__init__.py"


def test_vendoring_again_replaces_the_old_copy(tmp_path: Path) -> None:
    stale = tmp_path / "lambdakit" / "runtime" / "gone.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")

    vendor_runtime(tmp_path)

    assert not stale.exists()
    assert (tmp_path / "lambdakit" / "runtime" / "__main__.py").is_file()


def test_templates_are_the_package_data_directories() -> None:
    root = resources.files("lambdakit.project") / "templates"
    directories = {entry.name for entry in root.iterdir() if entry.is_dir()}
    assert directories - {"__pycache__"} == {"_common", *TEMPLATES}


def test_every_template_file_renders() -> None:
    for template in TEMPLATES:
        files = render_template(template, {"name": "n", "python": "3.12", "logical_id": "NFn"})
        assert all(not path.name.endswith(".tmpl") for path in files)
        text = b"".join(files.values()).decode()
        assert not re.search(r"\$(name|python|logical_id)\b", text)


# --- the project works at once -------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES)
def test_lambdakit_invoke_runs_the_new_project(
    tmp_path_factory: pytest.TempPathFactory, template: str
) -> None:
    path = tmp_path_factory.mktemp("invoke") / "fn"
    create_project(path, template=template)

    result = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(path),
         "--event-file", str(path / INVOKE_EVENT[template])],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "REPORT RequestId" in result.stderr
    if template == "hello":
        assert json.loads(result.stdout)["message"] == "Hello, lambdakit!"
    elif template == "web":
        response = json.loads(result.stdout)
        assert response["statusCode"] == 200
        assert json.loads(response["body"]) == {"message": "Hello, lambdakit!"}
    else:
        assert result.stdout == "You said: tell me about streaming\n"


def test_the_project_tests_pass(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "--rootdir", str(project)],
        cwd=project, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout)


def test_the_project_python_is_lint_clean(project: Path) -> None:
    """The generated code passes ruff with its defaults, as in a project of its own."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    rules = "E,W,F,I,UP,B,SIM,RUF,C90"
    for command in (
        [ruff, "check", "--isolated", "--no-cache", "--select", rules],
        [ruff, "format", "--isolated", "--no-cache", "--check"],
    ):
        result = subprocess.run(
            [*command, "--exclude", ".lambdakit", "."],
            cwd=project, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


# --- template.yaml ------------------------------------------------------------------------------


def test_template_passes_cfn_lint(project: Path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(project / "template.yaml", config=ManualArgs(regions=["us-east-1"]))

    errors = [str(match) for match in matches if match.rule.id.startswith("E")]
    assert errors == []


def test_template_passes_the_sam_translator(project: Path) -> None:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((project / "template.yaml").read_text(encoding="utf-8"))
    # `sam package`/`sam deploy` replace the local CodeUri with the uploaded zip's S3 URI
    # before the transform runs; the translator accepts nothing else.
    for resource in template["Resources"].values():
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name="us-east-1"))

    output = translator.translate(template, parameter_values={}, get_managed_policy_map=dict)

    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in output["Resources"].values():
        by_type.setdefault(resource["Type"], []).append(resource["Properties"])
    [function] = by_type["AWS::Lambda::Function"]
    assert function["FunctionName"] == project.name
    assert function["Runtime"] == "python3.12"
    assert function["Handler"] == "app.handler"
    assert function["Architectures"] == ["x86_64"]
    [url] = by_type["AWS::Lambda::Url"]
    assert url.get("InvokeMode") == URL_INVOKE_MODE[template_of(project)]
    assert set(output["Outputs"]) == {"FunctionName", "FunctionArn", "FunctionUrl"}


@pytest.mark.parametrize(
    ("name", "logical_id"),
    [("hello", "HelloFunction"), ("my-fn_2", "MyFn2Function"), ("1st", "Fn1stFunction")],
)
def test_function_name_and_logical_id(tmp_path: Path, name: str, logical_id: str) -> None:
    create_project(tmp_path / "dir", name=name)

    text = (tmp_path / "dir" / "template.yaml").read_text()
    assert f'FunctionName: "{name}"' in text
    assert f"\n  {logical_id}:\n" in text


def test_the_name_defaults_to_the_directory_name(tmp_path: Path) -> None:
    create_project(tmp_path / "orders-api")

    assert 'FunctionName: "orders-api"' in (tmp_path / "orders-api" / "template.yaml").read_text()


# --- Dockerfile and .gitignore ------------------------------------------------------------------


@pytest.mark.parametrize("python", ["3.12", "3.13"])
def test_dockerfile(tmp_path: Path, python: str) -> None:
    create_project(tmp_path / "fn", python=python)

    text = (tmp_path / "fn" / "Dockerfile").read_text()
    lines = text.splitlines()
    assert "ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023" in lines
    assert f"ARG PYTHON=python{python}" in lines
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM ${BASE_IMAGE} AS build",
        "FROM ${BASE_IMAGE}",
    ]
    assert "COPY .lambdakit/runtime/lambdakit /build/runtime/lambdakit" in lines
    assert lines[-2:] == ['ENTRYPOINT ["/var/runtime/bootstrap"]', 'CMD ["app.handler"]']
    # Every file the build copies from the context is in the project.
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (tmp_path / "fn" / source).exists(), line


def test_gitignore_keeps_lambdakit_artifacts_out_of_git(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    path = tmp_path / "fn"
    create_project(path)
    subprocess.run([git, "init", "-q", str(path)], check=True, timeout=30)

    def ignored(name: str) -> bool:
        command = [git, "check-ignore", "-q", name]
        return subprocess.run(command, cwd=path, timeout=30).returncode == 0

    assert ignored(".lambdakit/runtime/lambdakit/__init__.py")
    assert ignored(".lambdakit/dead-letters.jsonl")
    assert not any(map(ignored, ["app.py", "bootstrap", "Dockerfile", "tests/test_app.py"]))


# --- what is refused ----------------------------------------------------------------------------


def test_an_empty_directory_is_fine(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()

    assert create_project(tmp_path / "fn")


def test_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "notes.txt").write_text("mine")

    with pytest.raises(ProjectError, match="already exists and is not empty") as info:
        create_project(tmp_path / "fn")

    assert "new directory" in str(info.value)
    assert [p.name for p in (tmp_path / "fn").iterdir()] == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "fn").write_text("")

    with pytest.raises(ProjectError, match="not a directory"):
        create_project(tmp_path / "fn")


def test_refuses_an_unknown_template(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"unknown template 'rust'.*hello, streaming, web"):
        create_project(tmp_path / "fn", template="rust")
    assert not (tmp_path / "fn").exists()


@pytest.mark.parametrize("python", ["3.9", "2.7", "3", "3.12.1", "python3.12", "3.x", ""])
def test_refuses_an_unsupported_python(tmp_path: Path, python: str) -> None:
    with pytest.raises(ProjectError, match="not a Python version lambdakit supports"):
        create_project(tmp_path / "fn", python=python)
    assert not (tmp_path / "fn").exists()


@pytest.mark.parametrize("name", ["", "a" * 65, "my.fn", "my fn", "fn/x", "café", "fn:1"])
def test_refuses_an_invalid_function_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ProjectError, match="not a valid function name"):
        create_project(tmp_path / "fn", name=name)
    assert not (tmp_path / "fn").exists()


@pytest.mark.parametrize("name", ["a", "a" * 64, "My_Fn-2", "123"])
def test_accepts_valid_function_names(tmp_path: Path, name: str) -> None:
    create_project(tmp_path / "fn", name=name)

    assert f'FunctionName: "{name}"' in (tmp_path / "fn" / "template.yaml").read_text()


def test_a_directory_name_that_is_no_function_name_asks_for_name(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="choose one with --name"):
        create_project(tmp_path / "my.project")

    create_project(tmp_path / "my.project", name="my-project")
    assert (tmp_path / "my.project" / "app.py").is_file()


# --- the command ---------------------------------------------------------------------------------


def test_init_command_lists_the_files_and_next_steps(tmp_path: Path) -> None:
    path = tmp_path / "fn"
    result = CliRunner().invoke(init, [str(path), "--template", "streaming", "--python", "3.13"])

    assert result.exit_code == 0, result.output
    assert f"Created a streaming project in {path}:" in result.output
    for name in ("app.py", "bootstrap", "Dockerfile", "template.yaml", "events/prompt.json"):
        assert f"\n  {name}\n" in result.output
    assert ".lambdakit/runtime/lambdakit/ (the lambdakit runtime for the image" in result.output
    next_steps = result.output.split("Next steps:\n", 1)[1]
    assert f"cd {path}" in next_steps
    assert "lambdakit invoke . --event-file events/prompt.json" in next_steps
    assert "python -m pytest" in next_steps
    assert "ARG PYTHON=python3.13" in (path / "Dockerfile").read_text()


def test_init_command_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "orders").mkdir()
    monkeypatch.chdir(tmp_path / "orders")

    result = CliRunner().invoke(init, ["."])

    assert result.exit_code == 0, result.output
    assert "\n  cd " not in result.output
    assert 'FunctionName: "orders"' in (tmp_path / "orders" / "template.yaml").read_text()


def test_init_command_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")

    result = CliRunner().invoke(init, [str(tmp_path)])

    assert result.exit_code == 1
    assert "already exists and is not empty" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--template", "rust"], "'rust' is not one of 'hello', 'streaming', 'web'"),
        (["--python", "3.9"], "Invalid value for '--python'"),
        (["--name", "my.fn"], "Invalid value for '--name'"),
    ],
)
def test_init_command_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(init, [str(tmp_path / "fn"), *args])

    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "fn").exists()
