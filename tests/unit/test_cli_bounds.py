"""Every whole number the `siyu` command takes has bounds, as every number the API takes does
(tests/e2e/test_api_bounds.py): an id past what the database holds is refused by the command
line with a usage error, not carried to the driver to fail there with a trace."""

from __future__ import annotations

import typing
from typing import Any

import typer

from siyu.cli import app


def _commands(command: Any, path: str) -> list[tuple[str, Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, f"{path} {name}")
    return found


def _is_int(annotation: Any) -> bool:
    return annotation is int or (
        int in typing.get_args(annotation) and bool not in typing.get_args(annotation)
    )


def test_every_integer_of_every_command_has_bounds() -> None:
    unbounded: list[str] = []
    checked = 0
    for path, command in _commands(typer.main.get_command(app), "siyu"):
        for param in command.params:
            if _is_int(param.type_descriptor.annotation):  # Typer's own parameters
                checked += 1
                if param.min is None or param.max is None:
                    unbounded.append(f"{path} {param.name}")
    assert checked > 40
    assert not unbounded, "integers without bounds:\n" + "\n".join(unbounded)


def test_an_id_past_the_column_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    out = CliRunner().invoke(app, ["campaigns", "show", str(2**70)])
    assert out.exit_code == 2 and "less than or equal" in out.output and "2147483647" in out.output
