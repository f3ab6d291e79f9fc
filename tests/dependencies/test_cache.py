"""The cache's entries, without an installer: publishing, races, damaged entries, and what
prepare() answers before it would install anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lambdakit.dependencies import DependencyError, cache, installers, prepare


def staged_with(root: Path, content: str) -> Path:
    staged = cache.stage(root)
    (staged / cache.PACKAGES).mkdir()
    (staged / cache.PACKAGES / "mod.py").write_text(content)
    return staged


def test_the_first_rename_wins_and_the_loser_uses_the_winners_entry(tmp_path: Path) -> None:
    first, second = staged_with(tmp_path, "first"), staged_with(tmp_path, "second")
    winner = cache.publish(first, tmp_path, "k", {"packages": ["a==1"]})
    loser = cache.publish(second, tmp_path, "k", {"packages": ["a==1"]})
    assert winner == loser == tmp_path / "k" / cache.PACKAGES
    assert (winner / "mod.py").read_text() == "first"
    assert not first.exists() and not second.exists()  # the loser's staging dir is gone
    found = cache.lookup(tmp_path, "k")
    assert found is not None and found[1] == {"packages": ["a==1"]}
    assert oct((tmp_path / "k").stat().st_mode & 0o777) == oct(0o755)


def test_a_damaged_entry_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "k" / "junk").mkdir(parents=True)  # no metadata: not made by publish
    assert cache.lookup(tmp_path, "k") is None
    packages = cache.publish(staged_with(tmp_path, "new"), tmp_path, "k", {})
    assert (packages / "mod.py").read_text() == "new" and not (tmp_path / "k" / "junk").exists()


def test_the_key_covers_every_part() -> None:
    base = ("fingerprint", "3.12", "x86_64", "34", "uv 1")
    keys = {cache.key(*base)}
    for index in range(len(base)):
        keys.add(cache.key(*base[:index], base[index] + "x", *base[index + 1 :]))
    assert len(keys) == len(base) + 1


def test_the_default_root_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_root() == tmp_path / "lambdakit" / "deps"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_root() == tmp_path / "home" / ".cache" / "lambdakit" / "deps"


def test_an_unwritable_cache_is_said(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    with pytest.raises(DependencyError, match=r"cannot create the dependency cache .*XDG_CACHE"):
        prepare([requirements], python_version=(3, 12), arch="x86_64", cache=tmp_path / "file")


def test_sources_that_name_nothing_give_none_and_install_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("no process may run")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing\n\n   # still nothing\n")
    missing = tmp_path / "pyproject.toml"
    answer = prepare([requirements, missing], python_version=(3, 12), arch="x86_64", cache=tmp_path)
    assert answer is None and not list(tmp_path.glob(".tmp-*"))


def test_a_poetry_project_is_told_how_to_export(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.poetry.dependencies]\npython = "^3.12"\nrequests = "^2"\n')
    lines: list[str] = []
    assert (
        prepare([pyproject], python_version=(3, 12), arch="x86_64", progress=lines.append) is None
    )
    assert len(lines) == 1 and "poetry export" in lines[0]


@pytest.mark.parametrize(
    ("arch", "variable", "message"),
    [
        ("x86", "", "architecture 'x86': Lambda runs x86_64 and arm64"),
        ("x86_64", "conda", "LAMBDAKIT_INSTALLER=conda: give uv or pip"),
    ],
)
def test_bad_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str, variable: str, message: str
) -> None:
    monkeypatch.setenv("LAMBDAKIT_INSTALLER", variable)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\n")
    with pytest.raises(DependencyError, match=message):
        prepare([requirements], python_version=(3, 12), arch=arch, cache=tmp_path / "c")


def test_metadata_is_json(tmp_path: Path) -> None:
    cache.publish(staged_with(tmp_path, "x"), tmp_path, "k", {"packages": []})
    assert json.loads((tmp_path / "k" / cache.METADATA).read_text()) == {"packages": []}


def test_pip_is_the_installer_where_uv_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uv", None)  # `import uv` fails: the package is absent
    monkeypatch.setenv("PATH", "")  # and no uv on PATH
    monkeypatch.delenv("LAMBDAKIT_INSTALLER", raising=False)
    found = installers.find()
    assert (found.name, found.program) == ("pip", sys.executable)
    assert found.describe().startswith("pip ")
    monkeypatch.setenv("LAMBDAKIT_INSTALLER", "uv")
    with pytest.raises(DependencyError, match="LAMBDAKIT_INSTALLER=uv, but uv is not installed"):
        installers.find()


def test_uv_is_the_installer_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDAKIT_INSTALLER", raising=False)
    found = installers.find()
    assert found.name == "uv" and found.describe().startswith("uv ")
    monkeypatch.setenv("LAMBDAKIT_INSTALLER", "pip")
    assert installers.find().name == "pip"
