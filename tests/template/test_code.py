"""Where a function's code comes from (lambdakit.template.code, .code_cache, .cfnresponse):
zips unpacked to a content-addressed cache, single files, inline code, image functions."""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from lambdakit.template import FunctionSpec, TemplateError, load_template
from lambdakit.template import cfnresponse as cfn
from lambdakit.template.code import IMAGE_RUNTIME
from lambdakit.template.code_cache import _cached, cache_root, unpacked_zip
from lambdakit.template.specs import ImageBuild


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "lambdakit" / "code"


def write_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """ENTRIES: (name, content, st_mode) as a Unix zip tool writes them."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return path


def functions(tmp_path: Path, resources: str) -> list[FunctionSpec]:
    (tmp_path / "template.yaml").write_text(f"Resources:\n{resources}")
    return load_template(tmp_path / "template.yaml").functions


def one(tmp_path: Path, properties: str, kind: str = "AWS::Serverless::Function") -> FunctionSpec:
    body = "\n".join(f"      {line}" for line in properties.strip().splitlines())
    (spec,) = functions(tmp_path, f"  Fn:\n    Type: {kind}\n    Properties:\n{body}\n")
    return spec


def error_of(tmp_path: Path, properties: str, kind: str = "AWS::Serverless::Function") -> str:
    with pytest.raises(TemplateError) as caught:
        one(tmp_path, properties, kind)
    return str(caught.value)


BOOTSTRAP = b"#!/bin/sh\necho hi\n"


# --- zips -------------------------------------------------------------------------------------


def test_a_zip_is_unpacked_with_its_modes_into_the_cache(tmp_path: Path, _cache: Path) -> None:
    write_zip(tmp_path / "fn.zip", [
        ("bootstrap", BOOTSTRAP, stat.S_IFREG | 0o755),
        ("lib/", b"", stat.S_IFDIR | 0o755),
        ("lib/data.txt", b"data", stat.S_IFREG | 0o600),
        ("lib/link", b"data.txt", stat.S_IFLNK | 0o777),
    ])  # fmt: skip
    spec = one(tmp_path, "CodeUri: fn.zip\nRuntime: provided.al2023")
    assert spec.code_dir.parent == _cache
    assert (spec.code_dir / "bootstrap").read_bytes() == BOOTSTRAP
    assert stat.S_IMODE((spec.code_dir / "bootstrap").stat().st_mode) == 0o755
    assert stat.S_IMODE((spec.code_dir / "lib" / "data.txt").stat().st_mode) == 0o600
    assert os.readlink(spec.code_dir / "lib" / "link") == "data.txt"
    assert sorted(p.name for p in _cache.iterdir()) == [spec.code_dir.name]  # no leftovers


def test_the_cache_is_addressed_by_content(tmp_path: Path) -> None:
    entries = [("bootstrap", BOOTSTRAP, stat.S_IFREG | 0o755)]
    first = unpacked_zip(write_zip(tmp_path / "a.zip", entries))
    (first / "marker").write_text("the same directory, not a new copy")
    assert unpacked_zip(write_zip(tmp_path / "b.zip", entries)) == first
    other = unpacked_zip(write_zip(tmp_path / "c.zip", [("bootstrap", b"other", 0o100755)]))
    assert other != first and (other / "bootstrap").read_bytes() == b"other"


def test_a_zip_without_unix_modes_gets_readable_files(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "win.zip", "w") as archive:
        archive.writestr("app.py", "x = 1\n")  # create_system 0 (MS-DOS) on some writers
        archive.infolist()[0].create_system = 0
    directory = unpacked_zip(tmp_path / "win.zip")
    assert stat.S_IMODE((directory / "app.py").stat().st_mode) == 0o644


def test_a_copy_made_by_another_process_first_wins(tmp_path: Path) -> None:
    """Two processes unpacking the same zip: the one whose rename comes second uses the first
    one's directory and leaves no staging directory behind."""
    root = tmp_path / "root"

    def fill(into: Path) -> None:
        (into / "mine").write_text("second")
        _cached("k" * 64, lambda other: (other / "theirs").write_text("first"), root)

    final = _cached("k" * 64, fill, root)
    assert sorted(p.name for p in final.iterdir()) == ["theirs"]
    assert [p.name for p in root.iterdir()] == [final.name]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil", "would be unpacked outside"),
        ("a/../../evil", "would be unpacked outside"),
        ("/etc/evil", "would be unpacked outside"),
        ("C:/evil", "would be unpacked outside"),
    ],
)
def test_entries_outside_the_directory_are_refused(tmp_path: Path, name: str, why: str) -> None:
    write_zip(tmp_path / "fn.zip", [(name, b"x", stat.S_IFREG | 0o644)])
    message = error_of(tmp_path, "CodeUri: fn.zip\nRuntime: provided.al2023")
    assert f"template.yaml: Fn.CodeUri: {tmp_path / 'fn.zip'} has an entry {name!r}" in message
    assert why in message and "rebuild the zip" in message
    assert not (tmp_path / "evil").exists()


def test_an_entry_through_a_link_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write_zip(tmp_path / "fn.zip", [
        ("link", str(outside).encode(), stat.S_IFLNK | 0o777),
        ("link/evil", b"x", stat.S_IFREG | 0o644),
    ])  # fmt: skip
    message = error_of(tmp_path, "CodeUri: fn.zip\nRuntime: provided.al2023")
    assert "'link/evil' that goes through a symbolic link out of" in message
    assert list(outside.iterdir()) == []


def test_a_corrupt_zip_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "garbage.zip").write_bytes(b"not a zip at all")
    message = error_of(tmp_path, "CodeUri: garbage.zip\nRuntime: provided.al2023")
    assert message.endswith(
        f"template.yaml: Fn.CodeUri: {tmp_path / 'garbage.zip'} is not a valid zip; rebuild it, "
        "or point CodeUri at its directory"
    )
    with zipfile.ZipFile(tmp_path / "stored.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("bootstrap", b"A" * 100)
    data = (tmp_path / "stored.zip").read_bytes()
    (tmp_path / "stored.zip").write_bytes(data.replace(b"A" * 100, b"B" * 100))  # a bad CRC
    message = error_of(tmp_path, "CodeUri: stored.zip\nRuntime: provided.al2023")
    assert f"Fn.CodeUri: {tmp_path / 'stored.zip'} is not a valid zip (Bad CRC-32" in message
    assert not any(cache_root().glob("*/bootstrap"))  # nothing half-unpacked was kept


def test_code_of_a_lambda_function_and_a_cdk_asset_may_be_zips(tmp_path: Path) -> None:
    write_zip(tmp_path / "fn.zip", [("bootstrap", BOOTSTRAP, 0o100755)])
    spec = one(tmp_path, "Code: fn.zip\nRuntime: provided.al2", kind="AWS::Lambda::Function")
    assert (spec.code_dir / "bootstrap").is_file()
    (spec,) = functions(
        tmp_path,
        """  Fn:
    Type: AWS::Lambda::Function
    Metadata: {aws:asset:path: fn.zip, aws:asset:property: Code}
    Properties:
      Code: {S3Bucket: cdk-assets, S3Key: abc.zip}
      Runtime: provided.al2023
""",
    )
    assert (spec.code_dir / "bootstrap").is_file()


# --- single files -----------------------------------------------------------------------------


def test_a_single_file_runs_from_a_directory_of_its_own(tmp_path: Path, _cache: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "other.py").write_text("not part of the function")
    spec = one(tmp_path, "CodeUri: app.py\nRuntime: python3.12\nHandler: app.handler")
    assert spec.code_dir.parent == _cache
    assert [p.name for p in spec.code_dir.iterdir()] == ["app.py"]
    (tmp_path / "bootstrap").write_bytes(BOOTSTRAP)
    (tmp_path / "bootstrap").chmod(0o750)
    spec = one(tmp_path, "CodeUri: bootstrap\nRuntime: provided.al2023")
    assert stat.S_IMODE((spec.code_dir / "bootstrap").stat().st_mode) == 0o750


def test_a_missing_code_path_is_an_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, "CodeUri: nowhere.zip\nRuntime: provided.al2023")
    assert "Fn.CodeUri: nowhere.zip does not exist (looked for " in message


# --- inline code ------------------------------------------------------------------------------


def test_inline_code_is_index_py(tmp_path: Path) -> None:
    spec = one(
        tmp_path,
        """
Runtime: python3.12
Handler: index.handler
InlineCode: |
  def handler(event, context):
      return event
""",
    )
    assert [p.name for p in spec.code_dir.iterdir()] == ["index.py"]
    assert "return event" in (spec.code_dir / "index.py").read_text()
    assert spec.handler == "index.handler"


def test_zip_file_code_is_resolved_and_gets_cfnresponse_when_it_imports_it(
    tmp_path: Path,
) -> None:
    spec = one(tmp_path, """
Runtime: python3.12
Handler: index.handler
Code:
  ZipFile: !Sub |
    import cfnresponse
    REGION = "${AWS::Region}"
""", kind="AWS::Lambda::Function")  # fmt: skip
    assert sorted(p.name for p in spec.code_dir.iterdir()) == ["cfnresponse.py", "index.py"]
    assert 'REGION = "us-east-1"' in (spec.code_dir / "index.py").read_text()
    source = Path(cfn.__file__).read_text()
    assert (spec.code_dir / "cfnresponse.py").read_text() == source


def test_inline_code_needs_a_python_runtime(tmp_path: Path) -> None:
    message = error_of(tmp_path, "Runtime: provided.al2023\nInlineCode: echo hi")
    assert message.endswith(
        "Fn.InlineCode: Lambda takes inline code for Node.js and Python runtimes only, not "
        "provided.al2023; put the code in a directory and point CodeUri (or Code) at it"
    )
    message = error_of(tmp_path, "Runtime: python3.12\nHandler: index.h\nInlineCode: [1]")
    assert "Fn.InlineCode: must be the function's source code, as a string" in message


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def do_PUT(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((self.command, self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def recorder() -> Iterator[str]:
    _Recorder.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_cfnresponse_puts_the_response_object(
    recorder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {
        "ResponseURL": f"{recorder}/signed?X-Amz-Signature=abc",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r-1",
        "LogicalResourceId": "Custom",
    }
    context = SimpleNamespace(log_stream_name="2024/01/01/[$LATEST]abc")
    cfn.send(event, context, cfn.SUCCESS, {"Answer": 42})
    ((method, path, headers, body),) = _Recorder.requests
    assert (method, path) == ("PUT", "/signed?X-Amz-Signature=abc")
    assert (headers["Content-Type"], headers["Content-Length"]) == ("", str(len(body)))
    assert json.loads(body) == {
        "Status": "SUCCESS",
        "Reason": "See the details in CloudWatch Log Stream: 2024/01/01/[$LATEST]abc",
        "PhysicalResourceId": "2024/01/01/[$LATEST]abc",
        "StackId": event["StackId"],
        "RequestId": "r-1",
        "LogicalResourceId": "Custom",
        "NoEcho": False,
        "Data": {"Answer": 42},
    }
    assert capsys.readouterr().out.endswith("Status code: 200\n")
    event["ResponseURL"] = "http://127.0.0.1:1/nothing-listens"
    cfn.send(event, context, cfn.FAILED, {}, physicalResourceId="p", reason="why")
    assert "send(..) failed executing http.request(..):" in capsys.readouterr().out


# --- image functions --------------------------------------------------------------------------


def test_an_image_function_with_metadata_is_built_as_sam_names_it(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "Lambda.Dockerfile").write_text("FROM scratch\n")
    (spec,) = functions(
        tmp_path,
        """  MyImageFn:
    Type: AWS::Serverless::Function
    Properties: {PackageType: Image, Timeout: 10}
    Metadata:
      Dockerfile: Lambda.Dockerfile
      DockerContext: ./img
      DockerTag: v2
      DockerBuildTarget: final
      DockerBuildArgs: {MODE: fast, COUNT: 3}
""",
    )
    assert (spec.image, spec.runtime, spec.handler, spec.timeout) == (
        "myimagefn:v2",
        IMAGE_RUNTIME,
        None,
        10.0,
    )
    assert spec.code_dir == tmp_path / "img"
    assert spec.image_build == ImageBuild(
        dockerfile="Lambda.Dockerfile", context=tmp_path / "img", tag="v2",
        build_args={"MODE": "fast", "COUNT": "3"}, target="final",
    )  # fmt: skip


def test_an_image_uri_runs_as_it_is(tmp_path: Path) -> None:
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest"
    spec = one(tmp_path, f"PackageType: Image\nImageUri: {uri}")
    assert (spec.image, spec.image_build, spec.code_dir) == (uri, None, tmp_path)
    spec = one(
        tmp_path, "PackageType: Image\nCode: {ImageUri: local:1}", kind="AWS::Lambda::Function"
    )
    assert spec.image == "local:1"


@pytest.mark.parametrize(
    ("properties", "metadata", "expected"),
    [
        ("PackageType: Image", None, "Fn.ImageUri: missing; an image function needs the image"),
        ("PackageType: Image", "{Dockerfile: Dockerfile}", "Fn.Metadata.DockerContext: missing"),
        ("PackageType: Image", "{Dockerfile: Nope, DockerContext: .}", "Fn.Metadata.Dockerfile: "),
        ("PackageType: Image", "{Dockerfile: D, DockerContext: gone}", "gone is not a directory"),
        (
            "PackageType: Image",
            "{Dockerfile: D, DockerContext: ., DockerBuildArgs: [a]}",
            "Fn.Metadata.DockerBuildArgs: must be a mapping of strings",
        ),
        (
            "PackageType: Image",
            "{Dockerfile: D, DockerContext: ., DockerTag: 'bad tag'}",
            "Fn.Metadata.DockerTag: 'bad tag' is not an image tag",
        ),
    ],
)
def test_image_function_mistakes(
    tmp_path: Path, properties: str, metadata: str | None, expected: str
) -> None:
    (tmp_path / "D").write_text("FROM scratch\n")
    meta = f"    Metadata: {metadata}\n" if metadata else ""
    text = f"  Fn:\n    Type: AWS::Serverless::Function\n{meta}    Properties: {{{properties}}}\n"
    with pytest.raises(TemplateError, match=r"template\.yaml: ") as caught:
        functions(tmp_path, text)
    assert expected in str(caught.value)


def test_image_config_is_named_as_not_honoured(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("""Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: repo:1
      ImageConfig: {EntryPoint: [/x], Command: [app.h], WorkingDirectory: /w}
""")
    result = load_template(tmp_path / "template.yaml")
    assert result.warnings == [
        f"{tmp_path / 'template.yaml'}: Fn.ImageConfig: Command, EntryPoint, WorkingDirectory "
        "not applied locally: the image's own ENTRYPOINT, CMD and WORKDIR run"
    ]
    # One difference, so `lambdakit check` lists it in its table.
    assert [(d.function, d.property) for d in result.differences] == [("Fn", "ImageConfig")]
