"""prepare() with real packages from PyPI: a pure-Python one (six) and one with a compiled
extension (markupsafe), through uv and through pip, for both of Lambda's architectures.

Each test has its own cache directory; uv's and pip's download caches are the machine's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lambdakit.dependencies import DependencyError, prepare

pytestmark = pytest.mark.slow  # asks the package index

PURE = "six==1.16.0"
COMPILED = "markupsafe==3.0.2"


class Prepared:
    """prepare() for one test: a cache directory of its own, progress lines kept."""

    def __init__(self, tmp_path: Path) -> None:
        self.cache = tmp_path / "cache"
        self.directory = tmp_path / "function"
        self.directory.mkdir()
        self.lines: list[str] = []

    def write(self, text: str, name: str = "requirements.txt") -> Path:
        path = self.directory / name
        path.write_text(textwrap.dedent(text))
        return path

    def __call__(
        self, *sources: Path, python: tuple[int, int] = (3, 12), arch: str = "x86_64"
    ) -> Path:
        self.lines.clear()
        found = prepare(
            sources or [self.directory / "requirements.txt"], python_version=python, arch=arch,
            progress=self.lines.append, cache=self.cache,
        )  # fmt: skip
        assert found is not None
        return found

    def metadata(self, packages: Path) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(
            (packages.parent / "lambdakit-deps.json").read_text()
        )
        return loaded

    @property
    def installed(self) -> bool:
        return any(line.startswith("installed ") for line in self.lines)


@pytest.fixture
def prepared(tmp_path: Path) -> Prepared:
    return Prepared(tmp_path)


def extension(packages: Path) -> str:
    [found] = (packages / "markupsafe").glob("_speedups*.so")
    return found.name


def test_pure_and_compiled_packages_for_lambda(prepared: Prepared) -> None:
    prepared.write(f"{PURE}\n{COMPILED}\n")
    packages = prepared()
    assert (packages / "six.py").is_file()
    assert extension(packages) == "_speedups.cpython-312-x86_64-linux-gnu.so"
    assert sorted(os.listdir(packages)) == [
        "MarkupSafe-3.0.2.dist-info",
        "markupsafe",
        "six-1.16.0.dist-info",
        "six.py",
    ]  # fmt: skip  (nothing of lambdakit's environment, no lock file, no bytecode)
    assert prepared.metadata(packages)["packages"] == ["MarkupSafe==3.0.2", "six==1.16.0"]
    assert prepared.lines[0].startswith("installing ") and " with uv " in prepared.lines[0]
    assert prepared.lines[-1].startswith("installed 2 packages in ")


def test_a_cached_hit_runs_no_process(prepared: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared.write(f"{PURE}\n")
    first = prepared()

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached hit must not run a process")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert prepared() == first
    assert prepared.lines == [
        f"{prepared.directory / 'requirements.txt'}: 1 package, cached in {first}"
    ]


def test_the_content_is_the_key(prepared: Prepared) -> None:
    prepared.write(f"{PURE}\n")
    first = prepared()
    prepared.write(f"# our packages\n\n{PURE}    # pinned\n")
    assert prepared() == first and not prepared.installed  # comments and layout only
    prepared.write("six==1.15.0\n")
    changed = prepared()
    assert changed != first and prepared.installed
    assert (changed.parent.parent) == first.parent.parent
    assert prepared.metadata(changed)["packages"] == ["six==1.15.0"]
    assert prepared.metadata(first)["packages"] == ["six==1.16.0"]  # the old entry stays


def test_architecture_and_python_are_in_the_key(prepared: Prepared) -> None:
    prepared.write(f"{COMPILED}\n")
    x86 = prepared()
    arm = prepared(arch="arm64")
    newer = prepared(python=(3, 13))
    assert len({x86, arm, newer}) == 3
    assert extension(arm) == "_speedups.cpython-312-aarch64-linux-gnu.so"
    assert extension(newer) == "_speedups.cpython-313-x86_64-linux-gnu.so"


def test_pyproject_dependencies_with_requirements(prepared: Prepared) -> None:
    requirements = prepared.write(f"{PURE}\n")
    pyproject = prepared.write(
        f'[project]\nname = "fn"\ndependencies = ["{COMPILED}"]\n', "pyproject.toml"
    )
    packages = prepared(requirements, pyproject)
    assert prepared.metadata(packages)["packages"] == ["MarkupSafe==3.0.2", "six==1.16.0"]
    assert not (packages.parent / "pyproject-requirements.txt").exists()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_missing_package_is_named(
    prepared: Prepared, monkeypatch: pytest.MonkeyPatch, installer: str
) -> None:
    monkeypatch.setenv("LAMBDAKIT_INSTALLER", installer)
    prepared.write(f"{PURE}\nlambdakit-no-such-package-4f1c==1.0\n")
    with pytest.raises(DependencyError) as caught:
        prepared()
    message = str(caught.value)
    assert "no package `lambdakit-no-such-package-4f1c` on the package index (PyPI)" in message
    assert str(prepared.directory / "requirements.txt") in message and "wheel of" not in message
    assert not list(prepared.cache.glob(".tmp-*")) and not list(prepared.cache.glob("[0-9a-f]*"))


def test_a_package_without_a_wheel_for_lambda_is_named(prepared: Prepared) -> None:
    prepared.write("PyYAML<5.4\n")  # source archives only, for CPython 3.12
    with pytest.raises(DependencyError, match=r"no wheel of 'PyYAML<5\.4' for CPython 3\.12"):
        prepared()


def test_pip_when_uv_is_not_wanted(prepared: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared.write(f"{PURE}\n{COMPILED}\n")
    with_uv = prepared()
    monkeypatch.setenv("LAMBDAKIT_INSTALLER", "pip")
    with_pip = prepared()
    assert with_pip != with_uv  # the installer is part of the key
    assert str(prepared.metadata(with_pip)["installer"]).startswith("pip ")
    assert any(line.startswith("Collecting six") for line in prepared.lines)
    assert extension(with_pip) == extension(with_uv)
    assert (with_pip / "six.py").read_bytes() == (with_uv / "six.py").read_bytes()


RACER = """\
import sys, time
from pathlib import Path
from lambdakit.dependencies import prepare
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
lines = []
found = prepare([Path(sys.argv[2])], python_version=(3, 12), arch="x86_64",
                progress=lines.append, cache=Path(sys.argv[3]))
print(found)
print("INSTALLED" if any(l.startswith("installed ") for l in lines) else "CACHED")
"""


def test_two_processes_preparing_at_once_share_one_entry(prepared: Prepared) -> None:
    requirements = prepared.write(f"{COMPILED}\n")
    go = prepared.directory / "go"
    command = [sys.executable, "-c", RACER, str(go), str(requirements), str(prepared.cache)]
    racers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.5)  # both started and waiting (correct either way: the barrier only adds a race)
    go.touch()
    outputs = [racer.communicate(timeout=120)[0].split() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    assert outputs[0][0] == outputs[1][0]
    assert sorted(output[1] for output in outputs) == ["CACHED", "INSTALLED"]
    entries = [path.name for path in prepared.cache.iterdir() if not path.name.startswith(".")]
    assert len(entries) == 1 and not list(prepared.cache.glob(".tmp-*"))
