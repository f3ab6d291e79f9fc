"""Benchmark: preparing a function's dependencies (lambdakit.dependencies) against pip.

One ``requirements.txt`` of ten packages from PyPI (pure Python and compiled, with their own
dependencies: 19 distributions), installed for Lambda (CPython 3.12, Linux x86_64, glibc 2.34,
wheels only) into an empty directory, in the same run:

1. ``pip install --target`` with the wheel-tag flags ``lambdakit build`` used to pass
   (``--platform``, ``--implementation cp``, ``--python-version``, ``--only-binary=:all:``);
2. ``prepare()`` cold: its cache empty, so it installs (uv when installed, as a user has it);
3. ``prepare()`` with ``LAMBDAKIT_INSTALLER=pip``: the fallback, cold (information);
4. ``prepare()`` cached: a hit, in this process (what ``serve`` and ``build`` pay per
   function) and in a fresh interpreter including the import of lambdakit.dependencies.

1-3 alternate within each round (ABBA), so drift of a noisy machine hits all alike; the ratio
is taken per round. Download caches (pip's HTTP cache, uv's cache) are warm, as on any
developer's machine after the first install: the cold figures are what a changed
requirements.txt costs. A last phase repeats 1 and 2 with no download cache at all
(``--no-cache-dir``; a new ``UV_CACHE_DIR``), so network and unpacking count (information:
it measures the package index as much as the installers).

Targets (issue 10): cold at most half the time of pip; cached at most 50 ms.

Usage: ``python bench/dependencies.py [--quick] [--write]``. The exit status is 0 even when a
target is missed (this is a benchmark, not a test); 1 means the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import runtime as rt  # bench/runtime.py: tables, medians, the docs section, main()

REPO = rt.REPO
HEADING = "## Dependency preparation (bench/dependencies.py)"
START_MARK = "<!-- bench/dependencies.py --write: start -->"
END_MARK = "<!-- bench/dependencies.py --write: end -->"
PYTHON = (3, 12)
ARCH = "x86_64"
GLIBC_MINOR = 34
# Ten packages a Lambda function commonly has; pinned so that every run installs the same.
REQUIREMENTS = """\
requests==2.34.2
attrs==26.1.0
pydantic==2.14.4
orjson==3.13.0
PyYAML==6.0.4
python-dateutil==4.0.0
MarkupSafe==3.0.4
jmespath==1.1.0
wrapt==2.5.2
numpy==2.5.5
"""


@dataclass(frozen=True)
class Plan:
    name: str
    rounds: int  # of pip / prepare / prepare with pip, each cold
    hits: int  # cached prepare() calls in this process
    fresh_hits: int  # cached prepare() calls, each in a new interpreter
    uncached_rounds: int  # of pip and prepare without download caches


QUICK = Plan("quick", rounds=1, hits=5, fresh_hits=2, uncached_rounds=0)
FULL = Plan("full", rounds=5, hits=50, fresh_hits=10, uncached_rounds=2)


@dataclass
class Results:
    plan: Plan
    installer: str
    packages: int
    pip: list[float] = field(default_factory=list)
    prepare: list[float] = field(default_factory=list)
    fallback: list[float] = field(default_factory=list)
    hits: list[float] = field(default_factory=list)
    fresh_hits: list[float] = field(default_factory=list)
    pip_uncached: list[float] = field(default_factory=list)
    prepare_uncached: list[float] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)


def check_interpreter() -> None:
    try:
        import lambdakit.dependencies  # noqa: F401
    except ImportError as exc:
        raise rt.BenchError(
            f"{sys.executable} cannot import lambdakit.dependencies ({exc}); run this script "
            "with the project's virtual environment (.venv/bin/python)"
        ) from exc


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def pip_install(requirements: Path, target: Path, *, cache: bool = True) -> None:
    """``pip install --target`` with Lambda's wheel tags, as lambdakit build ran it."""
    from lambdakit.dependencies import platform_tags

    command = [sys.executable, "-m", "pip", "install", "--target", str(target), "--quiet"]
    for tag in platform_tags(ARCH, GLIBC_MINOR):
        command += ["--platform", tag]
    command += [
        "--implementation", "cp", "--python-version", "%d.%d" % PYTHON,
        "--only-binary=:all:", "--no-compile", "--disable-pip-version-check",
        "-r", str(requirements),
    ]  # fmt: skip
    if not cache:
        command.append("--no-cache-dir")
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise rt.BenchError(f"pip install failed:\n{done.stdout}{done.stderr}")


def prepare_into(requirements: Path, cache: Path, installer: str = "") -> Path:
    from lambdakit.dependencies import DependencyError, prepare

    saved = os.environ.get("LAMBDAKIT_INSTALLER")
    os.environ["LAMBDAKIT_INSTALLER"] = installer
    try:
        found = prepare([requirements], python_version=PYTHON, arch=ARCH, cache=cache)
    except DependencyError as exc:
        raise rt.BenchError(f"prepare failed: {exc}") from exc
    finally:
        if saved is None:
            os.environ.pop("LAMBDAKIT_INSTALLER", None)
        else:
            os.environ["LAMBDAKIT_INSTALLER"] = saved
    if found is None:
        raise rt.BenchError("prepare found nothing to install")
    return found


FRESH_HIT = """\
import sys, time
from pathlib import Path
started = time.perf_counter()
from lambdakit.dependencies import prepare
prepare([Path(sys.argv[1])], python_version=(3, 12), arch="x86_64", cache=Path(sys.argv[2]))
print(time.perf_counter() - started)
"""


def fresh_hit(requirements: Path, cache: Path) -> float:
    command = [sys.executable, "-c", FRESH_HIT, str(requirements), str(cache)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise rt.BenchError(f"a cached prepare() in a new interpreter failed:\n{done.stderr}")
    return float(done.stdout)


def cold_round(root: Path, requirements: Path, results: Results, index: int) -> None:
    """pip, prepare, prepare with pip: each into an empty directory; ABBA over rounds."""
    steps: list[tuple[list[float], Callable[[Path], object]]] = [
        (results.pip, lambda d: pip_install(requirements, d)),
        (results.prepare, lambda d: prepare_into(requirements, d)),
        (results.fallback, lambda d: prepare_into(requirements, d, "pip")),
    ]
    for samples, step in steps if index % 2 == 0 else reversed(steps):
        directory = Path(tempfile.mkdtemp(dir=root))
        samples.append(timed(lambda step=step, directory=directory: step(directory)))
        shutil.rmtree(directory)


def uncached_round(root: Path, requirements: Path, results: Results) -> None:
    directory = Path(tempfile.mkdtemp(dir=root))
    results.pip_uncached.append(timed(lambda: pip_install(requirements, directory, cache=False)))
    os.environ["UV_CACHE_DIR"] = str(root / "uv-cache")
    try:
        cache = Path(tempfile.mkdtemp(dir=root))
        results.prepare_uncached.append(timed(lambda: prepare_into(requirements, cache)))
    finally:
        os.environ.pop("UV_CACHE_DIR")
        shutil.rmtree(root / "uv-cache", ignore_errors=True)
    shutil.rmtree(directory)


def run(args: argparse.Namespace) -> Results:
    plan = QUICK if args.quick else FULL
    check_interpreter()
    from lambdakit.dependencies import installers

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lambdakit-bench-deps-") as directory:
        root = Path(directory)
        requirements = root / "requirements.txt"
        requirements.write_text(REQUIREMENTS)
        warm = root / "warm"  # fills the download caches; also the cache the hits read
        packages = prepare_into(requirements, warm)
        pip_install(requirements, root / "pip-warm")
        installer = installers.find().describe()
        count = len(list(packages.glob("*.dist-info")))
        results = Results(plan, installer, count)
        for index in range(plan.rounds):
            cold_round(root, requirements, results, index)
        for _ in range(plan.hits):
            results.hits.append(timed(lambda: prepare_into(requirements, warm)))
        for _ in range(plan.fresh_hits):
            results.fresh_hits.append(fresh_hit(requirements, warm))
        for _ in range(plan.uncached_rounds):
            uncached_round(root, requirements, results)
    results.load = (load, os.getloadavg()[0])
    return results


# --- report ---------------------------------------------------------------------------------


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def target_rows(results: Results) -> list[list[str]]:
    cold = rt.median(ratios(results.prepare, results.pip))
    hit = rt.median(results.hits) * 1000
    return [
        [
            "prepare() cold ÷ pip install --target (same run)",
            f"{cold:.2f}×",
            "≤ 0.5×",
            verdict(cold <= 0.5),
        ],
        ["prepare() cached, in process", f"{hit:.1f} ms", "≤ 50 ms", verdict(hit <= 50)],
    ]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def seconds(values: list[float]) -> str:
    if not values:
        return "–"
    spread = f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else ""
    return f"{rt.median(values):.2f} s{spread}"


def milliseconds(values: list[float]) -> str:
    spread = f" ({min(values) * 1000:.1f}–{max(values) * 1000:.1f})" if len(values) > 1 else ""
    return f"{rt.median(values) * 1000:.1f} ms{spread}"


def detail_rows(results: Results) -> list[list[str]]:
    rows = [
        ["pip install --target (Lambda's wheel tags)", seconds(results.pip)],
        [f"prepare(), cold ({results.installer})", seconds(results.prepare)],
        ["prepare(), cold, LAMBDAKIT_INSTALLER=pip", seconds(results.fallback)],
        ["prepare(), cached, in process", milliseconds(results.hits)],
        ["prepare(), cached, new interpreter (import + call)", milliseconds(results.fresh_hits)],
    ]
    if results.pip_uncached:
        rows += [
            ["no download cache: pip --no-cache-dir", seconds(results.pip_uncached)],
            ["no download cache: prepare(), new UV_CACHE_DIR", seconds(results.prepare_uncached)],
        ]
    return rows


def summary(results: Results) -> str:
    plan = results.plan
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"Mode {plan.name}, {when}; {rt.machine()}. Ten requirements ({results.packages} "
        f"distributions with their dependencies) for CPython 3.12 on Linux {ARCH} (glibc "
        f"2.{GLIBC_MINOR}); {plan.rounds} cold rounds (alternating order), {plan.hits} cached "
        f"calls in process and {plan.fresh_hits} in new interpreters, {plan.uncached_rounds} "
        "rounds without download caches. Medians (range). Load average (1 min) at the start and "
        f"the end: {results.load[0]:.1f} / {results.load[1]:.1f}."
    )


def report(results: Results, markdown: bool) -> str:
    parts = [
        textwrap.fill(summary(results), 100),
        rt.table(["target", "measured", "bound", "result"], target_rows(results), markdown),
        rt.table(["installing the ten requirements", "time"], detail_rows(results), markdown),
    ]
    return "\n\n".join(parts) + "\n"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, for CI")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {rt.DOC}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    section = (START_MARK, END_MARK, HEADING)
    return rt.bench_main(
        "bench/dependencies.py", parse_args(argv), run, report, section, lambda: None
    )


if __name__ == "__main__":
    sys.exit(main())
