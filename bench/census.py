"""Census: how many real SAM templates lambdakit loads, and why each other one does not.

Give it a directory holding SAM projects, e.g. a checkout of the public collection of SAM
patterns (https://github.com/aws-samples/serverless-patterns, with each pattern's code, since a
template's CodeUri must exist). Every ``template.yaml`` / ``template.yml`` / ``template.json``
under it whose Transform is ``AWS::Serverless-2016-10-31`` is loaded with ``load_template``,
as ``lambdakit serve`` loads it, and counted:

- *loads*: at least one function can run locally (warnings are fine);
- *does not load*: a ``TemplateError``, printed as one line (the template's path, then the
  reason: what lambdakit says to the user, on one line);
- *crash*: any other exception, a bug in lambdakit, printed with its traceback's last frame.

Usage: ``python bench/census.py DIRECTORY [--quiet]``. The exit status is 1 if any template
crashed the loader, else 0. ``tests/template/test_census.py`` runs it when
``LAMBDAKIT_CENSUS_DIR`` names such a directory.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdakit.template import TEMPLATE_NAMES, TemplateError, load_template

_SAM_TRANSFORM = re.compile(r"""\bTransform\b[\s"':\[\-]*AWS::Serverless-2016-10-31""")


@dataclass
class Census:
    """What loading every SAM template under a directory gave."""

    root: Path
    loaded: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    """(template, one-line reason) for each TemplateError."""
    crashes: list[tuple[Path, str]] = field(default_factory=list)
    """(template, exception and where it was raised) for any other exception."""

    @property
    def total(self) -> int:
        return len(self.loaded) + len(self.failures) + len(self.crashes)


def sam_templates(root: Path) -> Iterator[Path]:
    """The SAM templates under ROOT, sorted; files that only mention SAM in passing are not."""
    for path in sorted(p for name in TEMPLATE_NAMES for p in root.rglob(name)):
        if path.is_file() and "node_modules" not in path.parts and _is_sam(path):
            yield path


def _is_sam(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return False
    return _SAM_TRANSFORM.search(text) is not None


def take(root: Path) -> Census:
    """Load every SAM template under ROOT and sort the outcomes."""
    census = Census(root)
    for path in sam_templates(root):
        try:
            load_template(path)
        except TemplateError as error:
            census.failures.append((path, one_line(str(error), path)))
        except Exception as error:  # a crash: the census reports it instead of stopping
            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            census.crashes.append((path, f"{type(error).__name__} at {where}: {error}"))
        else:
            census.loaded.append(path)
    return census


def one_line(message: str, path: Path) -> str:
    """MESSAGE on one line, without the template's path (the listing names it)."""
    message = message.replace(f"{path}: ", "").replace(f"{path}:", "")
    lines = " | ".join(line.strip() for line in message.splitlines() if line.strip())
    return lines.replace(": | ", ": ")


def kind(reason: str) -> str:
    """A reason's family, for the summary: its words up to the first value or place."""
    words = re.split(r"[:;(]", re.sub(r"^\d+:\d+: ", "", reason), maxsplit=1)[0]
    return re.sub(r"^\S+\.\S+ ", "", words.strip())[:60] or reason[:60]


def report(census: Census, *, quiet: bool = False) -> str:
    lines = [
        f"{census.total} SAM templates under {census.root}: {len(census.loaded)} load, "
        f"{len(census.failures)} do not, {len(census.crashes)} crash the loader"
    ]
    if not quiet:
        for title, items in (("Do not load", census.failures), ("Crash", census.crashes)):
            if items:
                lines += ["", f"{title}:"]
                lines += [f"  {path.relative_to(census.root)}: {why}" for path, why in items]
    families = Counter(kind(why) for _, why in census.failures)
    if families:
        lines += ["", "Reasons, by kind:"]
        lines += [f"  {count:4d}  {family}" for family, count in families.most_common()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="a directory of SAM projects")
    parser.add_argument("--quiet", action="store_true", help="only the counts and reasons")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"{args.directory} is not a directory")
    census = take(args.directory.resolve())
    print(report(census, quiet=args.quiet))
    return 1 if census.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
