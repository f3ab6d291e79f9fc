"""A project from a public collection of SAM patterns runs with no manual install: its
requirements.txt (aws-lambda-powertools) is installed for it, as `sam build` would, and
nothing of lambdakit's environment is needed.

The collection is fetched, not vendored: point LAMBDAKIT_CENSUS_DIR at a checkout of
aws-samples/serverless-patterns (as for tests/template/test_census.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PATTERN = "alb-lambda-rest-api-sam-py"  # Powertools' ALB resolver behind a python3.x function


@pytest.mark.slow  # installs the pattern's requirements from the package index
def test_a_public_sam_pattern_runs_as_it_is(tmp_path: Path) -> None:
    collection = os.environ.get("LAMBDAKIT_CENSUS_DIR")
    if not collection or not (Path(collection) / PATTERN / "template.yaml").is_file():
        pytest.skip(
            f"LAMBDAKIT_CENSUS_DIR does not hold {PATTERN}: point it at a checkout of "
            "aws-samples/serverless-patterns to run this"
        )
    project = shutil.copytree(Path(collection) / PATTERN, tmp_path / PATTERN)
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(project),
         "--event-file", str(project / "events" / "event.json")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"]) == {"message": "Hi from API behind ALB"}
