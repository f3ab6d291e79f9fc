"""`lambdakit build`: what goes into the zips, that they run, and that they are reproducible.

Tests marked slow download wheels from the package index (PyPI, reachable in CI).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from lambdakit.cli.build import build
from lambdakit.dependencies import platform_tags
from lambdakit.emulator import sandbox
from lambdakit.project import bundle
from lambdakit.project.bundle import SYMLINK, BuildResult, build_function, write_zip
from lambdakit.project.errors import BuildError
from lambdakit.template import FunctionSpec

ROOT = Path(__file__).parent.parent.parent
HELLO = ROOT / "examples" / "hello"
WHERE = Path(__file__).parent / "build_fixtures" / "where"
THIS_PYTHON = "%d.%d" % sys.version_info[:2]
CACHE_TAG = sys.implementation.cache_tag


# ---------------------------------------------------------------------------------------------
# Helpers


def project(tmp_path: Path, source: Path = WHERE, name: str = "project") -> Path:
    directory = tmp_path / name
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("__pycache__"))
    return directory


def spec_of(path: Path) -> FunctionSpec:
    specs, _ = bundle.select_functions(path)
    return specs[0]


def build_one(
    path: Path, output: Path, *, python: str = THIS_PYTHON, target: str = "provided.al2023",
    python_layer: Path | None = None,
) -> list[BuildResult]:  # fmt: skip
    return build_function(
        spec_of(path), output=output, arch="x86_64", python=python, target=target,
        python_layer=python_layer,
    )  # fmt: skip


def entries(zip_path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(zip_path) as archive:
        return {info.filename: info for info in archive.infolist()}


def mode_of(info: zipfile.ZipInfo) -> int:
    return info.external_attr >> 16


def unzip(zip_path: Path, dest: Path) -> Path:
    """Extract as Lambda does: modes kept, symbolic links made."""
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode_of(info)):
                target.symlink_to(archive.read(info).decode())
            else:
                target.write_bytes(archive.read(info))
                target.chmod(stat.S_IMODE(mode_of(info)))
    return dest


def invoke(
    code: Path, *env: str, layers: tuple[Path, ...] = (), runtime: str = "provided.al2023"
) -> dict[str, object]:
    """Run CODE once in the emulator from a template beside it; the function's answer."""
    layer_list = ", ".join(str(layer) for layer in layers)
    template = code.parent / "run" / "template.yaml"
    template.parent.mkdir()
    template.write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      FunctionName: fn\n      CodeUri: {code}\n      Handler: app.handler\n"
        f"      Runtime: {runtime}\n      Timeout: 30\n      Layers: [{layer_list}]\n"
    )
    command = [sys.executable, "-m", "lambdakit", "invoke", str(template.parent)]
    command += ["--event", '{"name": "zip"}']
    for pair in env:
        command += ["--env", pair]
    done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def make_wheel(directory: Path) -> Path:
    """A tiny pure-Python wheel with a console script, made here: no download needed."""
    files = {
        "tinypkg/__init__.py": b"VALUE = 42\n\n\ndef main():\n    print(VALUE)\n",
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        "tinypkg-1.0.dist-info/entry_points.txt": b"[console_scripts]\ntiny = tinypkg:main\n",
    }
    record = ""
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    files["tinypkg-1.0.dist-info/RECORD"] = (record + "tinypkg-1.0.dist-info/RECORD,,\n").encode()
    wheel = directory / "tinypkg-1.0-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


# ---------------------------------------------------------------------------------------------
# provided.al2023: contents, and the zip runs


def test_hello_zip_has_bootstrap_code_and_runtime_only(tmp_path: Path) -> None:
    hello = project(tmp_path, HELLO, "hello")
    (hello / "tests").mkdir()
    (hello / "tests" / "test_app.py").write_text("def test(): pass\n")
    (hello / "__pycache__").mkdir(exist_ok=True)
    (hello / "__pycache__" / "app.cpython-39.pyc").write_bytes(b"stale")
    (hello / "stale.pyc").write_bytes(b"stale")
    (hello / ".venv" / "lib").mkdir(parents=True)
    (hello / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (hello / "env2").mkdir()
    (hello / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (hello / "env2" / "x.py").write_text("")
    for junk in (".git", ".pytest_cache", "node_modules"):
        (hello / junk).mkdir()
        (hello / junk / "file").write_text("")
    (hello / ".DS_Store").write_bytes(b"")

    [result] = build_one(
        hello, tmp_path / "out", python="3.10" if THIS_PYTHON != "3.10" else "3.11"
    )

    names = entries(result.path)
    assert result.kind == "function" and result.path == tmp_path / "out" / "hello.zip"
    assert mode_of(names["bootstrap"]) == stat.S_IFREG | 0o755
    assert mode_of(names["app.py"]) == stat.S_IFREG | 0o644
    assert mode_of(names["lambdakit/"]) == stat.S_IFDIR | 0o755
    assert {"app.py", "lambdakit/runtime/__main__.py", "lambdakit/_wire.py"} <= names.keys()
    assert (hello / "bootstrap").read_bytes() == zipfile.ZipFile(result.path).read("bootstrap")
    assert not [n for n in names if n.startswith(("lambdakit/cli", "lambdakit/emulator"))]
    assert not [n for n in names if n.startswith("lambdakit/project")]
    assert not [n for n in names if ".pyc" in n or "__pycache__" in n]  # other Python: none
    for junk in ("tests/", ".venv/", "env2/", ".git/", ".pytest_cache/", "node_modules/"):
        assert junk not in names
    assert ".DS_Store" not in names and "template.yaml" not in names
    assert "Dockerfile" not in names and ".lambdakit/" not in names
    assert {info.date_time for info in names.values()} == {(1980, 1, 1, 0, 0, 0)}
    assert all(not info.extra for info in names.values())
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.size == result.path.stat().st_size
    assert result.unzipped_size == sum(info.file_size for info in names.values())


def test_hello_zip_runs_under_the_emulator(tmp_path: Path) -> None:
    [result] = build_one(project(tmp_path, HELLO, "hello"), tmp_path / "out")
    code = unzip(result.path, tmp_path / "unzipped")
    answer = invoke(code, f"LAMBDAKIT_PYTHON={sys.executable}")
    assert answer == {"message": "Hello, zip!"}


def test_the_vendored_runtime_and_bytecode_are_the_ones_used(tmp_path: Path) -> None:
    where = project(tmp_path)
    [result] = build_one(where, tmp_path / "out")
    names = entries(result.path)
    assert f"__pycache__/app.{CACHE_TAG}.pyc" in names
    assert f"lambdakit/runtime/__pycache__/loop.{CACHE_TAG}.pyc" in names
    assert f"lib/__pycache__/helper.{CACHE_TAG}.pyc" in names
    code = unzip(result.path, tmp_path / "unzipped")
    # Unchecked-hash .pyc files are used without looking at the source: prove it by editing it.
    app = code / "app.py"
    app.write_text(app.read_text().replace('"name": event.get("name")', '"name": "edited"'))
    answer = invoke(code, f"LAMBDAKIT_PYTHON={sys.executable}")
    # The emulator's LAMBDA_RUNTIME_DIR holds the installed lambdakit; the zip's copy wins.
    task = Path("/var/task") if sandbox.choose().active else code  # where Lambda extracts it
    assert answer["lambdakit"] == str(task / "lambdakit")
    assert answer["name"] == "zip"


def test_a_function_with_its_own_bootstrap_keeps_it(tmp_path: Path) -> None:
    where = project(tmp_path)
    (where / "bootstrap").write_text("#!/bin/sh\necho mine\n")  # not executable: made so
    [result] = build_one(where, tmp_path / "out")
    with zipfile.ZipFile(result.path) as archive:
        assert archive.read("bootstrap") == b"#!/bin/sh\necho mine\n"
        assert mode_of(archive.getinfo("bootstrap")) == stat.S_IFREG | 0o755


def test_a_custom_output_inside_the_code_is_left_out(tmp_path: Path) -> None:
    where = project(tmp_path)
    build_one(where, where / "dist")
    [result] = build_one(where, where / "dist")
    assert not [name for name in entries(result.path) if name.startswith("dist")]


def test_links_are_followed_once_and_old_python_is_left_as_source(tmp_path: Path) -> None:
    where = project(tmp_path)
    (where / "lib" / "loop").symlink_to("..")  # back up the tree: walked once only
    (where / "shared.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "outside.py").write_text("X = 1\n")
    (where / "old.py").write_text("print 'Python 2'\n")
    [result] = build_one(where, tmp_path / "out")
    names = entries(result.path)
    assert not [n for n in names if n.startswith("lib/loop")]
    assert mode_of(names["shared.py"]) == stat.S_IFREG | 0o644  # the content, not a link
    assert "old.py" in names and f"__pycache__/old.{CACHE_TAG}.pyc" not in names
    (where / "gone.py").symlink_to("nowhere.py")
    with pytest.raises(BuildError, match=r"cannot read .*gone\.py: .*fix the link"):
        build_one(where, tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# Determinism


@pytest.fixture(scope="module")
def with_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, BuildResult]:
    """The fixture function with a local wheel as its requirement, built twice."""
    tmp_path = tmp_path_factory.mktemp("with_wheel")
    where = project(tmp_path)
    make_wheel(where / "wheels")
    (where / "requirements.txt").write_text("./wheels/tinypkg-1.0-py3-none-any.whl\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIP_NO_INDEX", "1")  # everything is local
        first = build_one(where, tmp_path / "one")[0]
        second = build_one(where, tmp_path / "two")[0]
    return first, second


def test_two_builds_give_the_same_bytes(with_wheel: tuple[BuildResult, BuildResult]) -> None:
    first, second = with_wheel
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()


def test_mtimes_do_not_matter_and_contents_do(tmp_path: Path) -> None:
    where = project(tmp_path)
    first = build_one(where, tmp_path / "one")[0]
    os.utime(where / "app.py", (1_000_000_000, 1_000_000_000))
    (where / "lib" / "helper.py").touch()
    assert build_one(where, tmp_path / "two")[0].sha256 == first.sha256
    (where / "lib" / "helper.py").write_text('GREETING = "hello"\n')
    assert build_one(where, tmp_path / "three")[0].sha256 != first.sha256


def test_pip_output_is_cleaned(with_wheel: tuple[BuildResult, BuildResult]) -> None:
    result = with_wheel[0]
    names = entries(result.path)
    assert "tinypkg/__init__.py" in names and "tinypkg-1.0.dist-info/RECORD" in names
    assert not [n for n in names if n.endswith("direct_url.json")]  # it names the local path
    with zipfile.ZipFile(result.path) as archive:
        assert b"direct_url" not in archive.read("tinypkg-1.0.dist-info/RECORD")
        script = archive.read("bin/tiny")
    assert script.startswith(b"#!/usr/bin/env python3\n"), script  # not this machine's Python
    assert mode_of(names["bin/tiny"]) == stat.S_IFREG | 0o755
    pycache = [n for n in names if n.startswith("tinypkg/__pycache__/") and n.endswith(".pyc")]
    assert pycache == [f"tinypkg/__pycache__/__init__.{CACHE_TAG}.pyc"]  # ours, not pip's


def test_source_date_epoch_sets_the_timestamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    result = write_zip([("a.txt", b"a", 0o644)], tmp_path / "a.zip")
    assert {i.date_time for i in entries(result.path).values()} == {(2023, 11, 14, 22, 13, 20)}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(BuildError, match="SOURCE_DATE_EPOCH"):
        write_zip([("a.txt", b"a", 0o644)], tmp_path / "b.zip")


def test_write_zip_sorts_adds_directories_and_keeps_links(tmp_path: Path) -> None:
    source = tmp_path / "s.py"
    source.write_text("x = 1\n")
    files: list[tuple[str, Path | bytes, int]] = [
        ("z/b.py", source, 0o644),
        ("a", b"#!/bin/sh\n", 0o755),
        ("z/l", b"b.py", SYMLINK),
    ]
    result = write_zip(files, tmp_path / "x.zip")
    names = entries(result.path)
    assert list(names) == ["a", "z/", "z/b.py", "z/l"]
    assert mode_of(names["z/l"]) == SYMLINK and mode_of(names["a"]) == stat.S_IFREG | 0o755
    assert result.sha256 == write_zip(reversed(files), tmp_path / "y.zip").sha256
    assert result.unzipped_size == len("x = 1\n") + len("#!/bin/sh\n") + len("b.py")


# ---------------------------------------------------------------------------------------------
# Requirements from the index


@pytest.mark.slow  # downloads six from the package index
def test_requirements_are_installed_for_lambda(tmp_path: Path) -> None:
    where = project(tmp_path)
    (where / "requirements.txt").write_text("six==1.16.0\n")
    [result] = build_one(where, tmp_path / "out", python="3.12")
    names = entries(result.path)
    assert "six.py" in names and "six-1.16.0.dist-info/METADATA" in names
    assert not [n for n in names if n.endswith("direct_url.json")]
    stray = [n for n in names if n.endswith(".pyc") and CACHE_TAG not in n]
    assert not stray
    if THIS_PYTHON != "3.12":
        assert not [n for n in names if "__pycache__" in n]


@pytest.mark.slow  # asks the package index
def test_a_package_not_on_the_index_is_named(tmp_path: Path) -> None:
    where = project(tmp_path)
    (where / "requirements.txt").write_text("lambdakit-no-such-package-4f1c==1.0\n")
    with pytest.raises(BuildError) as caught:
        build_one(where, tmp_path / "out")
    message = str(caught.value)
    assert "no package `lambdakit-no-such-package-4f1c` on the package index" in message
    assert "check the name" in message
    assert not (tmp_path / "out" / "where.zip").exists()


def test_a_pip_failure_shows_pip_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    where = project(tmp_path)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    (where / "requirements.txt").write_text("this is not a requirement\n")
    with pytest.raises(BuildError, match=r"(pip|uv) could not install .*requirements\.txt"):
        build_one(where, tmp_path / "out")


@pytest.mark.parametrize(
    ("runtime", "python", "glibc"),
    [
        ("provided.al2023", "3.11", 34),
        ("provided.al2", "3.12", 26),
        ("python3.11", "3.11", 26),
        ("python3.12", "3.12", 34),
        ("python3.13", "3.13", 34),
    ],
)
def test_the_glibc_of_each_target(runtime: str, python: str, glibc: int) -> None:
    assert bundle._Target(runtime, python, "x86_64").glibc_minor == glibc


def test_platform_tags() -> None:
    tags = platform_tags("arm64", 34)
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-2:] == [
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ]


# ---------------------------------------------------------------------------------------------
# Limits


def test_over_the_zipped_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_ZIPPED", 1000)
    with pytest.raises(BuildError) as caught:
        build_one(project(tmp_path), tmp_path / "out")
    message = str(caught.value)
    assert "where.zip is " in message and "at most 1 KB (1,000 bytes)" in message
    assert "layer" in message and "lambdakit image" in message
    assert not (tmp_path / "out" / "where.zip").exists()


def test_over_the_unzipped_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_UNZIPPED", 5000)
    where = project(tmp_path)
    (where / "data.bin").write_bytes(os.urandom(3 * 1048576))
    with pytest.raises(BuildError) as caught:
        build_one(where, tmp_path / "out")
    message = str(caught.value)
    assert "unzipped" in message and "(5,000 bytes)" in message
    assert "largest parts of the function are data.bin 3 MB, lambdakit " in message
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# python3.X: the function on the managed runtime, lambdakit's runtime in a layer


def test_managed_target_builds_a_function_and_a_runtime_layer(tmp_path: Path) -> None:
    where = project(tmp_path)
    (where / "bootstrap").write_text("#!/bin/sh\n")
    function, layer = build_one(where, tmp_path / "out", target=f"python{THIS_PYTHON}")
    assert (function.kind, layer.kind) == ("function", "runtime-layer")
    assert layer.path.name == "where-runtime-layer.zip"
    code = entries(function.path)
    assert "app.py" in code and "bootstrap" not in code
    assert not [n for n in code if n.startswith("lambdakit/")]
    names = entries(layer.path)
    assert mode_of(names["lambdakit-wrapper"]) == stat.S_IFREG | 0o755
    assert "python/lambdakit/runtime/__main__.py" in names
    assert f"python/lambdakit/runtime/__pycache__/loop.{CACHE_TAG}.pyc" in names
    assert not [n for n in names if n.startswith("python/lambdakit/cli")]


def test_the_wrapper_runs_the_layers_runtime_in_lambdas_interpreter(tmp_path: Path) -> None:
    function, layer = build_one(project(tmp_path), tmp_path / "out", target=f"python{THIS_PYTHON}")
    opt = unzip(layer.path, tmp_path / "opt")
    code = unzip(function.path, tmp_path / "task")
    # What Lambda's /var/runtime/bootstrap does when AWS_LAMBDA_EXEC_WRAPPER is set.
    (code / "bootstrap").write_text(
        '#!/bin/sh\nexec "$AWS_LAMBDA_EXEC_WRAPPER" "$MANAGED_PYTHON" /var/runtime/bootstrap.py\n'
    )
    (code / "bootstrap").chmod(0o755)
    # In the sandbox the layer is at /opt, as on Lambda; without it, where it was unzipped.
    boxed = sandbox.choose().active
    at = Path("/opt") if boxed else opt
    answer = invoke(
        code, f"AWS_LAMBDA_EXEC_WRAPPER={at / 'lambdakit-wrapper'}", f"LAMBDAKIT_OPT={at}",
        f"MANAGED_PYTHON={sys.executable}", layers=(opt,) if boxed else (),
    )  # fmt: skip
    assert answer["lambdakit"] == str(at / "python" / "lambdakit")


def test_the_wrapper_command_line(tmp_path: Path) -> None:
    layer = build_one(project(tmp_path), tmp_path / "out", target=f"python{THIS_PYTHON}")[1]
    opt = unzip(layer.path, tmp_path / "opt")
    fake = tmp_path / "python3.12"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n---\\n" "$a"; done\n')
    fake.chmod(0o755)
    wrapper = str(opt / "lambdakit-wrapper")

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {"PATH": os.environ["PATH"], "LAMBDAKIT_OPT": str(opt), **env}
        return subprocess.run([wrapper, *args], capture_output=True, text=True, env=environ)

    done = run(str(fake), "-X", "importtime", "/var/runtime/bootstrap.py")
    flags, option, code, path, _ = done.stdout.split("\n---\n")
    assert (flags, option, path) == ("-S", "-c", f"{opt}/python")
    assert "from lambdakit.runtime.__main__ import main" in code
    assert run(str(fake), "/var/runtime/bootstrap.py", LAMBDAKIT_PYTHON_FLAGS="").stdout.startswith(
        "-c\n---\n"
    )
    shutil.rmtree(opt / "python")
    done = run(str(fake), "/var/runtime/bootstrap.py")
    assert done.stdout == "-m\n---\nlambdakit.runtime\n---\n"
    done = run()
    assert done.returncode == 127 and "no command to wrap" in done.stderr


# ---------------------------------------------------------------------------------------------
# provided.al2023 with an interpreter layer


def fake_interpreter(root: Path, version: str = THIS_PYTHON) -> Path:
    """A relocatable-CPython look-alike: bin/python3 runs this Python and marks the process."""
    (root / "bin").mkdir(parents=True)
    python3 = root / "bin" / "python3"
    # The base interpreter, which the sandbox shows wherever it is (a virtual environment's
    # may lie under /tmp, which the sandbox replaces); what runs needs only the zips.
    python = os.path.realpath(sys.executable)
    python3.write_text(f'#!/bin/sh\nexport FAKE_PYTHON_LAYER=1\nexec {python} "$@"\n')
    python3.chmod(0o755)
    (root / "bin" / "python").symlink_to("python3")
    for kept in (f"lib/python{version}/json/__init__.py", f"lib/python{version}/os.py"):
        (root / kept).parent.mkdir(parents=True, exist_ok=True)
        (root / kept).write_text("")
    for stripped in (f"lib/python{version}/test/test_os.py", "include/Python.h", "lib/libx.a"):
        (root / stripped).parent.mkdir(parents=True, exist_ok=True)
        (root / stripped).write_text("")
    return root


def test_python_layer_from_a_directory_runs_the_bootstrap(tmp_path: Path) -> None:
    interpreter = fake_interpreter(tmp_path / "cpython")
    function, layer = build_one(project(tmp_path), tmp_path / "out", python_layer=interpreter)
    assert layer.kind == "python-layer" and layer.path.name == "where-python-layer.zip"
    names = entries(layer.path)
    assert mode_of(names["bin/python3"]) == stat.S_IFREG | 0o755
    assert mode_of(names["bin/python"]) == SYMLINK
    assert f"lib/python{THIS_PYTHON}/os.py" in names
    assert not [n for n in names if "/test/" in n or n.startswith("include") or n.endswith(".a")]
    # No LAMBDAKIT_PYTHON: the bootstrap's python3 is the layer's, first on PATH (/opt/bin).
    opt = unzip(layer.path, tmp_path / "opt")
    answer = invoke(unzip(function.path, tmp_path / "task"), layers=(opt,))
    assert answer["python_layer"] == "1"


def test_python_layer_from_a_tarball_is_the_same_layer(tmp_path: Path) -> None:
    interpreter = fake_interpreter(tmp_path / "python")
    tarball = tmp_path / "cpython-install_only.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(interpreter, arcname="python")
    where = project(tmp_path)
    from_dir = build_one(where, tmp_path / "a", python_layer=interpreter)[1]
    from_tar = build_one(where, tmp_path / "b", python_layer=tarball)[1]
    assert from_tar.sha256 == from_dir.sha256


def test_python_layer_links_out_of_the_tree(tmp_path: Path) -> None:
    interpreter = fake_interpreter(tmp_path / "cpython")
    (tmp_path / "libextra.so").write_bytes(b"elf")
    (interpreter / "lib" / "libextra.so").symlink_to(tmp_path / "libextra.so")
    layer = build_one(project(tmp_path), tmp_path / "out", python_layer=interpreter)[1]
    assert mode_of(entries(layer.path)["lib/libextra.so"]) == stat.S_IFREG | 0o644  # copied
    (interpreter / "lib" / "elsewhere").symlink_to(tmp_path)
    with pytest.raises(BuildError, match="outside the interpreter's directory"):
        build_one(project(tmp_path, name="again"), tmp_path / "out", python_layer=interpreter)


def test_python_layer_mistakes(tmp_path: Path) -> None:
    where = project(tmp_path)
    with pytest.raises(BuildError, match="no bin/python3"):
        build_one(where, tmp_path / "out", python_layer=tmp_path / "out")
    other = fake_interpreter(tmp_path / "old", version="3.9")
    with pytest.raises(BuildError, match=r"is CPython 3\.9, and the function is built for"):
        build_one(where, tmp_path / "out", python_layer=other)
    arm = fake_interpreter(tmp_path / "arm")
    (arm / "bin" / "python3").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + b"\xb7\x00")
    with pytest.raises(BuildError, match="built for arm64 and the function for x86_64"):
        build_one(where, tmp_path / "out", python_layer=arm)
    with pytest.raises(BuildError, match="--python-layer is for provided"):
        build_one(where, tmp_path / "out", target=f"python{THIS_PYTHON}", python_layer=arm)
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(BuildError, match="cannot extract"):
        build_one(where, tmp_path / "out", python_layer=tmp_path / "broken.tar.gz")


# ---------------------------------------------------------------------------------------------
# Settings


def test_settings_come_from_the_template_unless_given(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path))
    assert bundle.resolve_settings(spec) == ("x86_64", "3.12", "provided.al2023")
    assert bundle.resolve_settings(spec, target="python3.11") == ("x86_64", "3.11", "python3.11")
    assert bundle.resolve_settings(spec, arch="arm64", python="3.13")[:2] == ("arm64", "3.13")
    node = FunctionSpec(name="n", code_dir=tmp_path, runtime="nodejs20.x", handler="i.h")
    with pytest.raises(BuildError, match=r"Runtime nodejs20\.x"):
        bundle.resolve_settings(node)


@pytest.mark.parametrize(
    ("python", "target", "message"),
    [
        ("3.9", "provided.al2023", "needs 3.10 or newer"),
        ("3.12", "python3.11", "does not match the python3.11 runtime"),
        ("3.12", "provided", "cannot build for provided"),
    ],
)
def test_bad_settings(tmp_path: Path, python: str, target: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build_one(project(tmp_path), tmp_path / "out", python=python, target=target)


def test_next_steps_say_what_to_set(tmp_path: Path) -> None:
    spec = spec_of(project(tmp_path))
    layer = BuildResult(tmp_path / "l.zip", "0", 1, 1, "runtime-layer")
    [managed] = bundle.next_steps(spec, [layer], "python3.12", "x86_64")
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdakit-wrapper" in managed
    assert f"fileb://{tmp_path / 'l.zip'}" in managed
    python = BuildResult(tmp_path / "p.zip", "0", 1, 1, "python-layer")
    [interpreter] = bundle.next_steps(spec, [python], "provided.al2023", "arm64")
    assert "--compatible-architectures arm64" in interpreter and "/opt/bin/python3" in interpreter
    [bare] = bundle.next_steps(spec, [], "provided.al2023", "x86_64")
    assert "--python-layer" in bare and "lambdakit image" in bare


# ---------------------------------------------------------------------------------------------
# The command


def test_cli_prints_path_size_and_sha256(tmp_path: Path) -> None:
    where = project(tmp_path)
    done = CliRunner().invoke(build, [str(where), "--python", THIS_PYTHON])
    assert done.exit_code == 0, done.output
    zip_path = where / ".lambdakit" / "build" / "where.zip"
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    size = zip_path.stat().st_size
    assert done.stdout.startswith(f"{zip_path}  {size:,} bytes (")
    assert done.stdout.rstrip().endswith(f"sha256:{digest}")
    assert "where: precompiling" in done.stderr and "--python-layer" in done.stderr


def test_cli_managed_target_prints_what_to_set(tmp_path: Path) -> None:
    where = project(tmp_path)
    out = tmp_path / "out"
    done = CliRunner().invoke(build, [str(where), "--target", "python3.12", "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert len(done.stdout.splitlines()) == 2
    assert "AWS_LAMBDA_EXEC_WRAPPER=/opt/lambdakit-wrapper" in done.stderr


def test_cli_build_error_exits_1_with_the_message(tmp_path: Path) -> None:
    done = CliRunner().invoke(build, [str(project(tmp_path)), "--function", "nope"])
    assert done.exit_code == 1
    assert "no function 'nope'" in done.stderr and "where" in done.stderr
    done = CliRunner().invoke(build, [str(tmp_path / "missing")])
    assert done.exit_code == 1 and "does not exist" in done.stderr
