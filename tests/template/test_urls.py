"""A Function URL's ``Cors`` is checked at load, with CloudFormation's limits, in both forms
(SAM's ``FunctionUrlConfig`` and an ``AWS::Lambda::Url`` resource)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import TemplateError, load_template

SAM = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Handler: app.handler
      Runtime: python3.12
      FunctionUrlConfig:
        AuthType: NONE
        Cors: {cors}
"""
RESOURCE = """\
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: fn
      Code: code
      Handler: app.handler
      Runtime: python3.12
  FnUrl:
    Type: AWS::Lambda::Url
    Properties:
      TargetFunctionArn: !GetAtt Fn.Arn
      AuthType: NONE
      Cors: {cors}
"""


def load(tmp_path: Path, cors: str, form: str = SAM) -> tuple[object, list[str]]:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    path = tmp_path / "template.yaml"
    path.write_text(form.format(cors=cors))
    loaded = load_template(path)
    url = loaded.functions[0].url
    assert url is not None
    return url.cors, loaded.warnings


def test_a_full_cors_gets_proper_types(tmp_path: Path) -> None:
    cors, warnings = load(
        tmp_path,
        "{AllowOrigins: [https://a.example], AllowMethods: [GET, '*'], AllowHeaders: [X-A],"
        " ExposeHeaders: [X-B], AllowCredentials: 'true', MaxAge: '300'}",
    )
    assert cors == {
        "AllowOrigins": ["https://a.example"],
        "AllowMethods": ["GET", "*"],
        "AllowHeaders": ["X-A"],
        "ExposeHeaders": ["X-B"],
        "AllowCredentials": True,
        "MaxAge": 300,
    }
    assert not [w for w in warnings if "Cors" in w]


def test_methods_in_any_case_are_kept_in_capitals_as_lambda_keeps_them(tmp_path: Path) -> None:
    cors, _ = load(tmp_path, "{AllowMethods: [get, Post]}")
    assert cors == {"AllowMethods": ["GET", "POST"]}


def test_an_aws_lambda_url_resource_is_checked_too(tmp_path: Path) -> None:
    cors, _ = load(tmp_path, "{AllowOrigins: ['*'], AllowCredentials: true}", RESOURCE)
    assert cors == {"AllowOrigins": ["*"], "AllowCredentials": True}  # Lambda accepts it
    with pytest.raises(TemplateError, match=r"FnUrl\.Cors\.MaxAge: 86401 is out of range"):
        load(tmp_path, "{MaxAge: 86401}", RESOURCE)


ERRORS = {
    "not a mapping": ("[a]", r"Fn\.FunctionUrlConfig\.Cors: must be a mapping"),
    "an unknown key": (
        "{AllowOrigin: ['*']}",
        r"Cors\.AllowOrigin: is not a CORS setting of Function URLs; use AllowCredentials",
    ),
    "OPTIONS": (
        "{AllowMethods: [OPTIONS]}",
        r"Cors\.AllowMethods: 'OPTIONS' is not allowed \(preflights are answered by the URL",
    ),
    "an unknown method": ("{AllowMethods: [trace]}", r"'trace' is not allowed; use GET, PUT"),
    "seven methods": (
        "{AllowMethods: [GET, PUT, HEAD, POST, PATCH, DELETE, '*']}",
        r"AllowMethods: has 7 entries; Lambda allows at most 6",
    ),
    "a string for a list": ("{AllowOrigins: https://a.example}", r"is not a list of strings"),
    "a long origin": ("{AllowOrigins: [" + "a" * 254 + "]}", r"must be 1 to 253 characters"),
    "a negative MaxAge": ("{MaxAge: -1}", r"Cors\.MaxAge: -1 is not a whole number of seconds"),
    "a large MaxAge": ("{MaxAge: 86401}", r"86401 is out of range; Lambda allows 0 to 86400"),
    "a bad boolean": ("{AllowCredentials: yes please}", r"AllowCredentials: 'yes please': use"),
}


@pytest.mark.parametrize(("cors", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_invalid_cors_is_a_clear_error(tmp_path: Path, cors: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        load(tmp_path, cors)
    assert str(caught.value).startswith(f"{tmp_path / 'template.yaml'}: Fn.")


WARNINGS = {
    "headers in one entry": (
        "{AllowHeaders: ['Content-Type,Authorization']}",
        "'Content-Type,Authorization' is one header name to Lambda; list each header separately",
    ),
    "an origin with a path": (
        "{AllowOrigins: ['https://a.example/']}",
        "'https://a.example/' matches no browser's Origin exactly",
    ),
    "a pattern": (
        "{AllowOrigins: ['https://*.example.com']}",
        "'https://*.example.com' matches no browser's Origin exactly",
    ),
}


@pytest.mark.parametrize(("cors", "message"), WARNINGS.values(), ids=WARNINGS.keys())
def test_likely_mistakes_are_warned_about(tmp_path: Path, cors: str, message: str) -> None:
    _, warnings = load(tmp_path, cors)
    assert any(message in w and "Fn.FunctionUrlConfig.Cors." in w for w in warnings), warnings
