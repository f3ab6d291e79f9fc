"""What requirements.txt and pyproject.toml ask for, and the fingerprint the cache keys on.

No installer runs here: these tests read files only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.dependencies import DependencyError, platform_tags, uv_platform
from lambdakit.dependencies.sources import Requirements, read


def requirements(tmp_path: Path, text: str, name: str = "requirements.txt") -> Requirements:
    path = tmp_path / name
    path.write_text(text)
    return read((path,))


def fingerprint(tmp_path: Path, text: str) -> str:
    return requirements(tmp_path, text).fingerprint


def test_comments_blank_lines_and_layout_do_not_change_the_fingerprint(tmp_path: Path) -> None:
    plain = fingerprint(tmp_path, "six==1.16.0\nattrs\n")
    dressed = "# the function's packages\n\n  six==1.16.0   # pinned\r\nattrs  \n\n"
    assert fingerprint(tmp_path, dressed) == plain
    assert fingerprint(tmp_path, "six==\\\n1.16.0\nattrs\n") == plain  # a continuation line


@pytest.mark.parametrize(
    "changed",
    [
        "six==1.17.0\nattrs\n",  # a pin
        "attrs\nsix==1.16.0\n",  # the order
        "six==1.16.0\nattrs\n--pre\n",  # an option
        "six==1.16.0\nattrs[tests]\n",  # an extra
        "six==1.16.0#egg\nattrs\n",  # '#' without a space before it is not a comment
    ],
)
def test_any_other_change_does(tmp_path: Path, changed: str) -> None:
    assert fingerprint(tmp_path, changed) != fingerprint(tmp_path, "six==1.16.0\nattrs\n")


def test_a_file_of_comments_and_options_names_nothing(tmp_path: Path) -> None:
    assert requirements(tmp_path, "# nothing\n\n   # still nothing\n").empty
    assert requirements(tmp_path, "--index-url https://example.invalid/simple\n").empty
    assert not requirements(tmp_path, "six  # a comment\n").empty


def test_included_files_count_by_content(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("six==1.16.0\n")
    (tmp_path / "constraints.txt").write_text("six<2\n")
    text = "-r base.txt\n--constraint=constraints.txt\n"
    first = requirements(tmp_path, text)
    assert [r.text for r in first.requirements] == ["six==1.16.0", "six<2"]
    (tmp_path / "base.txt").write_text("six==1.17.0\n")
    assert fingerprint(tmp_path, text) != first.fingerprint


def test_an_include_cycle_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("-r requirements.txt\nsix\n")
    assert [r.text for r in requirements(tmp_path, "-ra.txt\n").requirements] == ["six"]


def test_local_wheels_and_find_links_directories_count_by_content(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "tinypkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    by_path = "./wheels/tinypkg-1.0-py3-none-any.whl\n"
    by_url = f"tinypkg @ file://{wheel}\n"
    by_links = "--find-links wheels\ntinypkg\n"
    before = [fingerprint(tmp_path, text) for text in (by_path, by_url, by_links)]
    wheel.write_bytes(b"two")
    after = [fingerprint(tmp_path, text) for text in (by_path, by_url, by_links)]
    assert all(b != a for b, a in zip(before, after, strict=True))


def test_pyproject_dependencies_are_read(tmp_path: Path) -> None:
    text = '[project]\nname = "fn"\nversion = "1"\ndependencies = ["six==1.16.0", " attrs "]\n'
    read_ = requirements(tmp_path, text, "pyproject.toml")
    assert read_.generated == ("six==1.16.0", "attrs")
    assert [r.source.name for r in read_.requirements] == ["pyproject.toml"] * 2
    assert read_.requirement_files == () and not read_.warnings


def test_both_sources_together(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["attrs"]\n')
    both = read((tmp_path / "requirements.txt", tmp_path / "pyproject.toml"))
    assert [r.text for r in both.requirements] == ["six", "attrs"]
    assert both.names.endswith("requirements.txt and " + str(tmp_path / "pyproject.toml"))
    alone = read((tmp_path / "requirements.txt",))
    assert alone.fingerprint != both.fingerprint


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ('[tool.poetry.dependencies]\npython = "^3.12"\nrequests = "^2"\n', "poetry export"),
        ('[project]\nname = "fn"\ndynamic = ["dependencies"]\n', "dynamic dependencies"),
        ('[project]\nname = "fn"\n', None),  # a project without dependencies: nothing to say
        ("[tool.ruff]\nline-length = 100\n", None),
    ],
)
def test_pyproject_without_pep621_dependencies(
    tmp_path: Path, text: str, warning: str | None
) -> None:
    read_ = requirements(tmp_path, text, "pyproject.toml")
    assert read_.empty
    if warning is None:
        assert not read_.warnings
    else:
        [message] = read_.warnings
        assert warning in message and str(tmp_path / "pyproject.toml") in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[project\n", "is not valid TOML"),
        ('[project]\ndependencies = "six"\n', "must be a list of strings"),
    ],
)
def test_bad_pyproject(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DependencyError, match=message):
        requirements(tmp_path, text, "pyproject.toml")


def test_an_unreadable_source(tmp_path: Path) -> None:
    with pytest.raises(DependencyError, match="not UTF-8"):
        (tmp_path / "requirements.txt").write_bytes(b"\xff\xfe")
        read((tmp_path / "requirements.txt",))


def test_wheel_tags() -> None:
    assert platform_tags("x86_64", 26)[0] == "manylinux_2_26_x86_64"
    assert uv_platform("x86_64", 34) == "x86_64-manylinux_2_34"
    assert uv_platform("arm64", 34) == "aarch64-manylinux_2_34"
    assert uv_platform("x86_64", 26) == "x86_64-manylinux_2_17"  # uv names no 2.26
