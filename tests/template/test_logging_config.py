"""``LoggingConfig`` read from templates as Lambda reads it (lambdakit.template.logging_config).

https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html: LogFormat JSON|Text,
ApplicationLogLevel TRACE..FATAL, SystemLogLevel DEBUG|INFO|WARN (levels with JSON only),
LogGroup of 1 to 512 of ``[.\\-_/#A-Za-z0-9]``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdakit.template import TemplateError, load_template
from lambdakit.template.specs import LoggingConfig

HEADER = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
"""


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def serverless(logging: str, *, globals_: str = "") -> str:
    """A SAM function whose LoggingConfig block is LOGGING (YAML, indented 8)."""
    return (
        globals_
        + """
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Runtime: provided.al2023
"""
        + logging
    )


def logging_of(tmp_path: Path, body: str) -> LoggingConfig:
    (spec,) = load_template(write(tmp_path, body)).functions
    return spec.logging


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("", LoggingConfig()),
        ("      LoggingConfig:\n        LogFormat: Text\n", LoggingConfig(log_format="Text")),
        ("      LoggingConfig:\n        LogFormat: JSON\n", LoggingConfig(log_format="JSON")),
        (
            "      LoggingConfig:\n        LogFormat: JSON\n        ApplicationLogLevel: TRACE\n"
            "        SystemLogLevel: WARN\n",
            LoggingConfig(
                log_format="JSON", application_log_level="TRACE", system_log_level="WARN"
            ),
        ),
        (
            "      LoggingConfig:\n        LogGroup: /custom/group-1_#.x\n",
            LoggingConfig(log_group="/custom/group-1_#.x"),
        ),
    ],
)
def test_serverless_function(tmp_path: Path, block: str, expected: LoggingConfig) -> None:
    assert logging_of(tmp_path, serverless(block)) == expected


def test_lambda_function(tmp_path: Path) -> None:
    body = """
    Resources:
      Fn:
        Type: AWS::Lambda::Function
        Properties:
          Code: code
          Runtime: provided.al2023
          Handler: x
          LoggingConfig:
            LogFormat: JSON
            ApplicationLogLevel: ERROR
            LogGroup: shared
    """
    expected = LoggingConfig(log_format="JSON", application_log_level="ERROR", log_group="shared")
    assert logging_of(tmp_path, body) == expected


def test_globals_merge_key_by_key_and_the_function_wins(tmp_path: Path) -> None:
    globals_ = """
Globals:
  Function:
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: DEBUG
      SystemLogLevel: DEBUG
"""
    block = "      LoggingConfig:\n        SystemLogLevel: WARN\n"
    expected = LoggingConfig(
        log_format="JSON", application_log_level="DEBUG", system_log_level="WARN"
    )
    assert logging_of(tmp_path, serverless(block, globals_=globals_)) == expected


def test_values_from_parameters(tmp_path: Path) -> None:
    body = """
    Parameters:
      Level:
        Type: String
        Default: WARN
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: code
          Runtime: provided.al2023
          LoggingConfig:
            LogFormat: JSON
            ApplicationLogLevel: !Ref Level
            SystemLogLevel: !Ref AWS::NoValue
    """
    assert logging_of(tmp_path, body) == LoggingConfig(
        log_format="JSON", application_log_level="WARN"
    )


LEVEL_WITH_TEXT = 'LogLevel is not supported when LogFormat is set to "Text"'


@pytest.mark.parametrize(
    ("block", "where", "message"),
    [
        # What Lambda answers for a level without the JSON format, whether Text is written...
        (
            "LogFormat: Text\nApplicationLogLevel: DEBUG\n",
            "LoggingConfig.ApplicationLogLevel",
            LEVEL_WITH_TEXT,
        ),
        # ...or left to its default.
        ("SystemLogLevel: INFO\n", "LoggingConfig.SystemLogLevel", LEVEL_WITH_TEXT),
        ("LogFormat: json\n", "LoggingConfig.LogFormat", "'json' is not one of JSON, Text"),
        (
            "LogFormat: JSON\nApplicationLogLevel: VERBOSE\n",
            "LoggingConfig.ApplicationLogLevel",
            "'VERBOSE' is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
        ),
        (
            "LogFormat: JSON\nSystemLogLevel: ERROR\n",
            "LoggingConfig.SystemLogLevel",
            "'ERROR' is not one of DEBUG, INFO, WARN",
        ),
        ("LogGroup: has space\n", "LoggingConfig.LogGroup", "is not a log group name"),
        ("LogGroup: " + "a" * 513 + "\n", "LoggingConfig.LogGroup", "1 to 512"),
        ("Format: JSON\n", "LoggingConfig.Format", "is not a LoggingConfig property"),
        ("LogFormat: [JSON]\n", "LoggingConfig.LogFormat", "is not a string"),
    ],
)
def test_invalid(tmp_path: Path, block: str, where: str, message: str) -> None:
    indented = "      LoggingConfig:\n" + textwrap.indent(block, " " * 8)
    path = write(tmp_path, serverless(indented))
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: Fn.{where}: "), text
    assert message in text


def test_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, serverless("      LoggingConfig: JSON\n"))
    with pytest.raises(TemplateError, match=r"Fn\.LoggingConfig: must be a mapping"):
        load_template(path)
