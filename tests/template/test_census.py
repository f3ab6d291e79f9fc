"""The census of real SAM templates (bench/census.py): every template loads or says why in one
line, and none crashes the loader.

The collection is not vendored: point LAMBDAKIT_CENSUS_DIR at a checkout of
https://github.com/aws-samples/serverless-patterns (with the patterns' code) to run it. The
census script itself is tested here on a small directory made on the spot.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _census() -> ModuleType:
    spec = importlib.util.spec_from_file_location("census", ROOT / "bench" / "census.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["census"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


census = _census()


@pytest.fixture(autouse=True)
def _default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def sam(name: str, runtime: str = "provided.al2023", extra: str = "") -> str:
    return (
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        f"  {name}:\n    Type: AWS::Serverless::Function\n"
        f"    Properties: {{CodeUri: code, Runtime: {runtime}, Handler: h{extra}}}\n"
    )


def project(root: Path, name: str, text: str, file: str = "template.yaml") -> None:
    (root / name / "code").mkdir(parents=True)
    (root / name / file).write_text(text)


def test_the_census_sorts_templates_by_outcome(tmp_path: Path) -> None:
    project(tmp_path, "ok", sam("Fn", extra=", Tracing: Active"))
    project(tmp_path, "json", '{"Transform": ["AWS::Serverless-2016-10-31"], "Resources": {}}',
            "template.json")  # fmt: skip
    project(tmp_path, "node", sam("Node", runtime="nodejs20.x"))
    project(tmp_path, "broken", sam("Fn").replace("Handler: h", "Handler: h: x"))
    project(tmp_path, "plain", "Resources: {Q: {Type: AWS::SQS::Queue}}\n")  # not SAM: not counted
    taken = census.take(tmp_path)
    assert [p.parent.name for p in taken.loaded] == ["ok"]
    reasons = {path.parent.name: why for path, why in taken.failures}
    assert reasons.keys() == {"json", "node", "broken"}
    assert reasons["node"].startswith("none of its functions can run locally: Node: skipped:")
    assert reasons["json"].startswith("no functions found")
    assert reasons["broken"].startswith("5:69: YAML error")  # line:column, not the path
    assert taken.crashes == []
    text = census.report(taken)
    assert (
        text.splitlines()[0]
        == f"4 SAM templates under {tmp_path}: 1 load, 3 do not, 0 crash the loader"
    )
    assert "  node/template.yaml: none of its functions can run locally: Node: skipped:" in text


def test_the_census_reports_a_crash_instead_of_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, "a", sam("Fn"))
    project(tmp_path, "b", sam("Fn"))

    def crash(path: Path) -> None:
        if path.parent.name == "a":
            raise KeyError("boom")

    monkeypatch.setattr(census, "load_template", crash)
    taken = census.take(tmp_path)
    assert [p.parent.name for p in taken.loaded] == ["b"]
    ((path, why),) = taken.crashes
    assert path.parent.name == "a" and why.startswith("KeyError at test_census.py:")
    assert census.main([str(tmp_path), "--quiet"]) == 1


CENSUS_DIR = os.environ.get("LAMBDAKIT_CENSUS_DIR")


@pytest.mark.skipif(
    not CENSUS_DIR,
    reason="LAMBDAKIT_CENSUS_DIR is not set: point it at a checkout of "
    "aws-samples/serverless-patterns to run the census",
)
def test_census_of_real_templates(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(str(CENSUS_DIR))
    taken = census.take(root)
    with capsys.disabled():
        print("\n" + census.report(taken, quiet=True))
    assert taken.total > 0, f"no SAM templates under {root}"
    assert taken.crashes == [], "\n".join(f"{path}: {why}" for path, why in taken.crashes)
    for path, why in taken.failures:
        assert why and "\n" not in why, path
        assert "Traceback" not in why, path
