"""GitHub Actions glue: workflow-command annotations (more to come)."""

from __future__ import annotations


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, file: str, line: int, message: str) -> str:
    """``::error file=F,line=L::message``, escaped the way the runner expects."""
    props = f"file={_escape_property(file)}"
    if line:
        props += f",line={line}"
    return f"::{level} {props}::{_escape_data(message)}"
